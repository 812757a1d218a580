"""The recent-score cache: bounded LRU; the processor scores each distinct text once."""

from __future__ import annotations

import numpy as np

from stream.score_cache import ScoreCache
from tests.unit.stream.test_processor import KeywordClassifier, by_topic, event_bytes, record, run


def row(x: float) -> np.ndarray:
    return np.asarray([x], dtype=np.float32)


def test_lru_eviction_and_disabled_cache() -> None:
    cache = ScoreCache(2)
    cache.put_many([("a", row(1)), ("b", row(2))])
    assert cache.get("a") is not None  # a is now the most recent
    cache.put_many([("c", row(3))])
    assert cache.get("b") is None
    assert len(cache) == 2
    big = ScoreCache(16)
    big.put_many((str(i), row(i)) for i in range(16))
    assert big.get("0") is not None  # the newest now
    big.put_many([("16", row(16))])  # over capacity: down to 14, the oldest (1, 2, 3) go
    assert len(big) == 14
    assert [big.get(str(i)) for i in (1, 2, 3)] == [None] * 3
    assert big.get("0") is not None
    assert big.get("4") is not None
    assert np.array_equal(cache.get("a"), row(1))  # type: ignore[arg-type]
    off = ScoreCache(0)
    off.put_many([("a", row(1))])
    assert off.get("a") is None


def test_repeats_are_scored_once_and_counted() -> None:
    classifier = KeywordClassifier()
    texts = ["gg", "gg", "you idiot", "GG", "gg"]
    out, metrics = run(
        [record(i, event_bytes(i, t)) for i, t in enumerate(texts)], classifier=classifier
    )
    assert classifier.calls == [["gg", "you idiot", "GG"]]
    assert len(by_topic(out, "decisions")) == 5
    hits = metrics.registry.get_sample_value("vigil_score_cache_requests_total", {"result": "hit"})
    assert hits == 0  # duplicates inside one batch are deduplicated, not cache hits
    misses = metrics.registry.get_sample_value(
        "vigil_score_cache_requests_total", {"result": "miss"}
    )
    assert misses == 5


def test_a_failing_text_dead_letters_every_copy_but_not_the_others() -> None:
    classifier = KeywordClassifier(fail_on="poison")
    texts = ["poison", "fine", "poison"]
    out, _ = run([record(i, event_bytes(i, t)) for i, t in enumerate(texts)], classifier=classifier)
    assert len(by_topic(out, "messages.dlq")) == 2
    assert len(by_topic(out, "decisions")) == 1


def test_cache_disabled_scores_everything() -> None:
    classifier = KeywordClassifier()
    run([record(0, event_bytes(0, "gg"))], classifier=classifier, score_cache_size=0)
    assert classifier.calls == [["gg"]]
