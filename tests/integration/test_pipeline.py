"""10,000 messages through a real worker on the real broker: nothing lost, scores exact."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import numpy as np
import orjson
import pytest

from classifiers.normalize import normalize_text
from classifiers.onnx_classifier import OnnxClassifier
from stream.demo import sample_messages
from stream.settings import Settings
from stream.worker_process import WorkerProcess
from tests.conftest import consume_until, encode, message, produce

pytestmark = pytest.mark.integration

N = 10_000
# The shipped int8 model scores one text per ONNX run, so a score depends only on its text
# (the model card's "Runtime" note); only float noise remains.
SCORE_TOLERANCE = 1e-5


def test_ten_thousand_messages_complete_with_classifier_scores(
    settings: Settings, start_worker: Callable[..., WorkerProcess]
) -> None:
    sample = [m["content"] for m in sample_messages()]
    inputs = [message(i, sample[i % len(sample)]) for i in range(N)]
    produce(settings, [encode(m) for m in inputs])
    worker = start_worker()

    seen = consume_until(
        settings,
        [settings.decisions_topic, settings.actions_topic, settings.dlq_topic],
        lambda s: len(s[settings.decisions_topic]) + len(s[settings.dlq_topic]) >= N,
        timeout_seconds=900,
    )
    assert worker.alive(), worker.log_path.read_text()[-3000:]

    decisions = [orjson.loads(r.value) for r in seen[settings.decisions_topic]]
    counts = Counter(d["message_id"] for d in decisions)
    assert seen[settings.dlq_topic] == []
    assert set(counts) == {m["message_id"] for m in inputs}
    assert len(decisions) + len(seen[settings.dlq_topic]) == N  # no duplicates without faults

    # Keyed by author: a decision lands on the same partition key as its input.
    for record in seen[settings.decisions_topic][:100]:
        assert record.key == orjson.loads(record.value)["author_id"].encode()

    classifier = OnnxClassifier(settings.model_dir)
    content = {m["message_id"]: m["content"] for m in inputs}
    texts = sorted({normalize_text(t) for t in sample})
    expected = dict(zip(texts, classifier.predict(texts), strict=True))
    worst = 0.0
    for d in decisions:
        want = expected[normalize_text(content[d["message_id"]])]
        got = np.array([d["scores"][c] for c in classifier.categories])
        worst = max(worst, float(np.abs(got - want).max()))
        assert d["model_version"] == classifier.version
    assert worst <= SCORE_TOLERANCE

    actions = [orjson.loads(r.value) for r in seen[settings.actions_topic]]
    assert len(actions) == sum(d["action"] != "allow" for d in decisions)
    assert len({a["action_id"] for a in actions}) == len(actions)
    assert all(a["reasons"] and a["rule_ids"] for a in actions)
