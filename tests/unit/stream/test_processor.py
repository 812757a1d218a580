"""The per-batch contract: every input yields exactly one decision or one dead letter."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import orjson
import pytest

from classifiers.base import Scores, Scoring
from policies.base import PolicyInput, Verdict
from policies.engine import RuleEngine
from policies.state import AuthorHistory, stable_key
from stream.author_history import AuthorHistories
from stream.metrics import PipelineMetrics
from stream.processor import BatchProcessor
from stream.records import InboundRecord, OutboundRecord, SourcePosition
from stream.settings import Settings

CATEGORIES = ("offensive", "hate", "spam", "targeted")


class KeywordClassifier:
    """Deterministic stand-in for the ONNX model: a word → fixed score per category."""

    categories = CATEGORIES
    thresholds: Mapping[str, float] = {c: 0.5 for c in CATEGORIES}
    version = "keywords@test"

    def __init__(self, fail_on: str | None = None, nan_on: str | None = None) -> None:
        self.fail_on, self.nan_on = fail_on, nan_on
        self.calls: list[list[str]] = []

    def predict(self, texts: Sequence[str]) -> Scores:
        self.calls.append(list(texts))
        if self.fail_on and any(self.fail_on in t for t in texts):
            raise RuntimeError(f"cannot score {texts[0]!r}")
        rows = [
            [
                0.99 if "idiot" in t else 0.01,
                0.95 if "vermin" in t else 0.01,
                0.99 if "prize" in t else 0.01,
                0.01,
            ]
            for t in texts
        ]
        out = np.asarray(rows, dtype=np.float32).reshape(len(texts), len(CATEGORIES))
        if self.nan_on:
            for i, t in enumerate(texts):
                if self.nan_on in t:
                    out[i, 0] = np.nan
        return out


class ExplodingPolicy:
    version = "boom@1"
    history_seconds = 0.0

    def decide(self, item: PolicyInput) -> Verdict:
        if "explode" in item.event.content:
            raise ValueError(f"policy bug on {item.event.content}")
        return Verdict(action="allow")


RULES = Path(__file__).resolve().parents[3] / "policies" / "rules"


def record(offset: int, value: bytes | None) -> InboundRecord:
    return InboundRecord(b"a1", value, (("h", b"v"),), SourcePosition("messages", 0, offset, 1.0))


def event_bytes(i: int, content: str, **extra: Any) -> bytes:
    return orjson.dumps(
        {"message_id": f"m{i}", "author_id": "a1", "channel_id": "c1", "content": content, **extra}
    )


def run(
    batch: list[InboundRecord],
    classifier: Any = None,
    policy: Any = None,
    history: AuthorHistories | None = None,
    **settings: Any,
) -> tuple[list[OutboundRecord], PipelineMetrics]:
    classifier = classifier or KeywordClassifier()
    metrics = PipelineMetrics()
    processor = BatchProcessor(
        classifier=classifier,
        policy=policy or RuleEngine.load(RULES, CATEGORIES),
        settings=Settings(**settings),
        metrics=metrics,
        executor=ThreadPoolExecutor(1),
        history=history,
    )
    return asyncio.run(processor.process(batch)), metrics


def by_topic(out: list[OutboundRecord], topic: str) -> list[OutboundRecord]:
    return [r for r in out if r.topic == topic]


def test_mixed_batch_is_complete() -> None:
    batch = [
        record(0, event_bytes(0, "have a nice day")),
        record(1, b"{not json"),
        record(2, event_bytes(2, "you idiot")),
        record(3, None),
        record(4, event_bytes(4, "claim your prize now")),
    ]
    out, metrics = run(batch)
    decisions = [orjson.loads(r.value or b"") for r in by_topic(out, "decisions")]
    dlq = by_topic(out, "messages.dlq")
    assert len(decisions) + len(dlq) == len(batch)
    assert [d["message_id"] for d in decisions] == ["m0", "m2", "m4"]
    assert [d["action"] for d in decisions] == ["allow", "delete_message", "delete_message"]
    assert [dict(r.headers)["vigil.source.offset"] for r in dlq] == [b"1", b"3"]
    actions = [orjson.loads(r.value or b"") for r in by_topic(out, "actions")]
    assert [a["message_id"] for a in actions] == ["m2", "m4"]
    assert actions[0]["rule_ids"] == ["offensive_review", "offensive_remove"]
    assert actions[0]["reasons"][0].startswith("offensive score 0.99")
    assert (
        metrics.registry.get_sample_value("vigil_messages_consumed_total", {"topic": "messages"})
        == 5
    )


def test_decision_carries_scores_versions_and_source() -> None:
    out, _ = run([record(7, event_bytes(1, "you idiot", guild_id="g"))])
    decision = orjson.loads(by_topic(out, "decisions")[0].value or b"")
    assert decision["scores"]["offensive"] == pytest.approx(0.99)
    assert decision["flagged"] == ["offensive"]
    assert decision["model_version"] == "keywords@test"
    assert decision["policy_version"].startswith("rules@")
    assert decision["source"] == {"topic": "messages", "partition": 0, "offset": 7}
    assert decision["guild_id"] == "g"
    assert decision["processing_latency_seconds"] >= 0
    assert [m["rule_id"] for m in decision["matched_rules"]] == [
        "offensive_review",
        "offensive_remove",
    ]


def test_batch_classifier_failure_isolates_the_bad_input() -> None:
    classifier = KeywordClassifier(fail_on="poison")
    batch = [record(i, event_bytes(i, t)) for i, t in enumerate(["ok", "poison pill", "fine"])]
    out, metrics = run(batch, classifier=classifier)
    assert [orjson.loads(r.value or b"")["message_id"] for r in by_topic(out, "decisions")] == [
        "m0",
        "m2",
    ]
    (dead,) = by_topic(out, "messages.dlq")
    headers = dict(dead.headers)
    assert headers["vigil.error.stage"] == b"classify"
    assert headers["vigil.error.class"] == b"RuntimeError"
    assert b"poison" not in headers["vigil.error.message"]
    assert dead.value == batch[1].value
    assert (
        metrics.registry.get_sample_value(
            "vigil_messages_dead_lettered_total",
            {"stage": "classify", "reason": "classifier_error"},
        )
        == 1
    )


def test_non_finite_scores_are_dead_lettered() -> None:
    out, _ = run(
        [record(0, event_bytes(0, "ok")), record(1, event_bytes(1, "nan here"))],
        classifier=KeywordClassifier(nan_on="nan here"),
    )
    assert len(by_topic(out, "decisions")) == 1
    assert (
        dict(by_topic(out, "messages.dlq")[0].headers)["vigil.error.class"]
        == b"ClassifierOutputError"
    )


def test_policy_exception_is_dead_lettered_without_content() -> None:
    out, _ = run(
        [record(0, event_bytes(0, "please explode now")), record(1, event_bytes(1, "calm"))],
        policy=ExplodingPolicy(),
    )
    (dead,) = by_topic(out, "messages.dlq")
    headers = dict(dead.headers)
    assert headers["vigil.error.stage"] == b"policy"
    assert b"explode" not in headers["vigil.error.message"]
    assert len(by_topic(out, "decisions")) == 1


def test_long_content_is_scored_on_its_prefix_not_dropped() -> None:
    classifier = KeywordClassifier()
    out, metrics = run(
        [record(0, event_bytes(0, "a" * 50 + " idiot"))],
        classifier=classifier,
        max_content_chars=20,
    )
    decision = orjson.loads(by_topic(out, "decisions")[0].value or b"")
    assert decision["content_truncated"] is True
    assert decision["action"] == "allow"  # the insult lies beyond the scored prefix
    assert classifier.calls == [["a" * 20]]
    assert metrics.registry.get_sample_value("vigil_content_truncated_total") == 1


def test_content_is_normalized_before_scoring() -> None:
    classifier = KeywordClassifier()
    run([record(0, event_bytes(0, "ｙｏｕ  i\u200bdiot"))], classifier=classifier)
    assert classifier.calls == [["you idiot"]]


def test_empty_batch() -> None:
    out, _ = run([])
    assert out == []


def test_author_history_escalates_within_and_across_batches() -> None:
    """Third abuse strike within a day → timeout; strikes come from the history store."""
    history = AuthorHistories(topic=None)
    run([record(0, event_bytes(0, "you idiot"))], history=history)
    batch = [record(1, event_bytes(1, "idiot again")), record(2, event_bytes(2, "still an idiot"))]
    out, metrics = run(batch, history=history)
    actions = [orjson.loads(r.value or b"")["action"] for r in by_topic(out, "decisions")]
    assert actions == ["delete_message", "timeout_user"]
    decision = orjson.loads(by_topic(out, "decisions")[1].value or b"")
    assert decision["params"] == {"duration_seconds": 3600}
    assert (
        metrics.registry.get_sample_value(
            "vigil_rule_matches_total", {"rule": "offensive_remove", "mode": "enforce"}
        )
        == 2
    )


def test_redelivered_message_gets_the_same_verdict() -> None:
    """At-least-once: re-processing a message neither adds a strike nor sees its own."""
    history = AuthorHistories(topic=None)
    batch = [record(0, event_bytes(0, "you idiot"))]
    first, _ = run(batch, history=history)
    again, _ = run(batch, history=history)
    decided = [orjson.loads(r.value or b"") for r in (*first, *again) if r.topic == "actions"]
    assert decided[0]["action_id"] == decided[1]["action_id"]
    assert decided[0]["action"] == decided[1]["action"] == "delete_message"


def test_history_changes_leave_as_records_of_the_batch() -> None:
    history = AuthorHistories(topic="hist")
    history.load(0, [])  # partition 0 assigned, its (empty) history read
    out, _ = run(
        [record(0, event_bytes(0, "you idiot")), record(1, event_bytes(1, "hi"))], history=history
    )
    (write,) = by_topic(out, "hist")  # one record per author per batch, the latest history
    assert (write.key, write.partition) == (b"a1", 0)
    posts = AuthorHistory.from_bytes(write.value).posts
    assert [p.message for p in posts] == [stable_key("m0"), stable_key("m1")]


def test_cached_scores_skip_the_model_across_batches() -> None:
    classifier = KeywordClassifier()
    metrics = PipelineMetrics()
    processor = BatchProcessor(
        classifier=classifier,
        policy=RuleEngine.load(RULES, CATEGORIES),
        settings=Settings(),
        metrics=metrics,
        executor=ThreadPoolExecutor(1),
    )
    first = asyncio.run(processor.process([record(0, event_bytes(0, "you idiot"))]))
    second = asyncio.run(processor.process([record(1, event_bytes(1, "you idiot"))]))
    assert classifier.calls == [["you idiot"]]
    scores = [
        orjson.loads(r.value or b"")["scores"] for r in (*first, *second) if r.topic == "decisions"
    ]
    assert scores[0] == scores[1]
    hit = metrics.registry.get_sample_value("vigil_score_cache_requests_total", {"result": "hit"})
    assert hit == 1


STAGES = MappingProxyType({"tokenize": 0.25, "infer": 0.5, "queued": 0.015})


class Timed(KeywordClassifier):
    """Computes in the caller's thread and reports its stages (``StageTimed``)."""

    last_stage_seconds: Mapping[str, float] = MappingProxyType({})

    def predict(self, texts: Sequence[str]) -> Scores:
        time.sleep(0.02)
        self.last_stage_seconds = STAGES
        return super().predict(texts)


class Awaited:
    """Scores elsewhere and is awaited (an ``AsyncClassifier``), as the model process is."""

    categories, thresholds, version = CATEGORIES, KeywordClassifier.thresholds, "awaited@test"

    def __init__(self, nan_on: str | None = None) -> None:
        self._inner = KeywordClassifier(nan_on=nan_on)

    async def predict_async(self, texts: Sequence[str]) -> Scoring:
        await asyncio.sleep(0.02)
        return Scoring(self._inner.predict(texts), STAGES)


@pytest.mark.parametrize("classifier", [Timed, Awaited])
def test_classifiers_report_their_stages_and_classify_leaves_out_queueing(
    classifier: type[Any],
) -> None:
    _, metrics = run([record(0, event_bytes(0, "hello"))], classifier=classifier())
    get = metrics.registry.get_sample_value
    assert get("vigil_stage_duration_seconds_sum", {"stage": "tokenize"}) == 0.25
    assert get("vigil_stage_duration_seconds_sum", {"stage": "infer"}) == 0.5
    # classify is the call's wall time less the time it queued behind other calls
    assert 0.004 < (get("vigil_stage_duration_seconds_sum", {"stage": "classify"}) or 0) < 0.05
    assert get("vigil_stage_duration_seconds_count", {"stage": "queued"}) is None


def test_an_awaited_classifier_is_held_to_the_same_output_contract() -> None:
    out, _ = run(
        [record(0, event_bytes(0, "idiot")), record(1, event_bytes(1, "nan here"))],
        classifier=Awaited(nan_on="nan here"),
    )
    [decision] = by_topic(out, "decisions")
    assert orjson.loads(decision.value)["message_id"] == "m0"
    [dead] = by_topic(out, "messages.dlq")
    assert dict(dead.headers)["vigil.error.class"] == b"ClassifierOutputError"


def test_a_text_in_flight_for_an_earlier_batch_is_not_scored_again() -> None:
    classifier = KeywordClassifier()
    processor = BatchProcessor(
        classifier=classifier,
        policy=RuleEngine.load(RULES, CATEGORIES),
        settings=Settings(),
        metrics=PipelineMetrics(),
        executor=ThreadPoolExecutor(1),
    )

    async def overlapped() -> list[list[OutboundRecord]]:
        # Submitted before the first completes, as the agent does under load.
        first = processor.submit([record(0, event_bytes(0, "you idiot"))])
        second = processor.submit(
            [record(1, event_bytes(1, "you idiot")), record(2, event_bytes(2, "hello"))]
        )
        return [await processor.complete(first), await processor.complete(second)]

    first, second = asyncio.run(overlapped())
    assert classifier.calls == [["you idiot"], ["hello"]]
    decisions = [orjson.loads(r.value or b"") for r in (*first, *second) if r.topic == "decisions"]
    assert [d["message_id"] for d in decisions] == ["m0", "m1", "m2"]
    assert decisions[0]["scores"] == decisions[1]["scores"]


def test_a_failed_scoring_dead_letters_the_batches_that_shared_it() -> None:
    class Failing(KeywordClassifier):
        def predict(self, texts: Sequence[str]) -> Scores:
            if "boom" in texts:
                raise RuntimeError("model exploded")
            return super().predict(texts)

    processor = BatchProcessor(
        classifier=Failing(),
        policy=RuleEngine.load(RULES, CATEGORIES),
        settings=Settings(dlq_topic="dlq"),
        metrics=PipelineMetrics(),
        executor=ThreadPoolExecutor(1),
    )

    async def overlapped() -> list[list[OutboundRecord]]:
        first = processor.submit([record(0, event_bytes(0, "boom"))])
        second = processor.submit([record(1, event_bytes(1, "boom"))])
        return [await processor.complete(first), await processor.complete(second)]

    for out in asyncio.run(overlapped()):
        (dead,) = by_topic(out, "dlq")
        assert dict(dead.headers)["vigil.error.stage"] == b"classify"
        assert by_topic(out, "decisions") == []


def test_a_batch_completed_after_its_partition_was_revoked_writes_no_history() -> None:
    history = AuthorHistories(topic="hist")
    history.load(0, [])
    history.drop([0])
    out, _ = run([record(0, event_bytes(0, "you idiot"))], history=history)
    assert len(by_topic(out, "decisions")) == 1  # a duplicate the new owner decides again
    assert by_topic(out, "hist") == []


def test_state_held_in_memory_is_exported() -> None:
    history = AuthorHistories(topic=None)
    batch = [record(i, event_bytes(i, t)) for i, t in enumerate(["hi", "hi", "you idiot"])]
    _, metrics = run(batch, history=history)
    get = metrics.registry.get_sample_value
    assert get("vigil_score_cache_entries") == 2
    assert get("vigil_author_histories") == 1
