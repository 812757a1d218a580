"""The model process: same answers as in-process, errors explained, crashes survived."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from classifiers.base import Classifier, Pipelined, Scores, StageTimed
from classifiers.isolated import ChildClassifierError, ClassifierCrashed, IsolatedClassifier
from policies.engine import RuleEngine
from stream.metrics import PipelineMetrics
from stream.processor import BatchProcessor
from stream.records import InboundRecord, SourcePosition
from stream.settings import Settings

CATEGORIES = ("offensive", "hate", "spam", "targeted")
RULES = Path(__file__).parents[3] / "policies" / "rules"


class Fake:
    """Top-level, so the spawned child can import it. ``crash`` kills the process."""

    categories = CATEGORIES
    thresholds: Mapping[str, float] = {c: 0.5 for c in CATEGORIES}
    version = "fake@1"

    last_stage_seconds: Mapping[str, float] = {}

    def predict(self, texts: Sequence[str]) -> Scores:
        if "slow" in texts:
            time.sleep(0.3)
        if "crash" in texts:
            os._exit(3)
        if "raise" in texts:
            raise ValueError("cannot score this")
        self.last_stage_seconds = {"tokenize": 0.0, "infer": 0.5 * len(texts)}
        return np.array([[len(t) / 100, 0.1, 0.2, 0.3] for t in texts], dtype=np.float32)


def broken_model() -> Classifier:
    raise FileNotFoundError("model.onnx is missing from /models/x")


@pytest.fixture
def isolated() -> Iterator[IsolatedClassifier]:
    classifier = IsolatedClassifier(Fake)
    yield classifier
    classifier.close()


def test_answers_like_the_classifier_it_runs(isolated: IsolatedClassifier) -> None:
    assert isinstance(isolated, Classifier)
    assert isinstance(isolated, StageTimed)
    assert (isolated.categories, isolated.version) == (CATEGORIES, "fake@1")
    assert dict(isolated.thresholds) == dict(Fake.thresholds)
    scores = isolated.predict(["ab", "abcd"])
    np.testing.assert_array_equal(scores, Fake().predict(["ab", "abcd"]))
    assert dict(isolated.last_stage_seconds, queued=0) == {"tokenize": 0, "infer": 1, "queued": 0}
    assert isolated.pid not in (None, os.getpid())


def test_overlapping_calls_are_pipelined_in_order(isolated: IsolatedClassifier) -> None:
    """The second call waits in the pipe while the child scores the first, then gets its own
    answer, and its stages say how long it queued."""
    assert isinstance(isolated, Pipelined)
    with ThreadPoolExecutor(isolated.pipeline_depth) as pool:
        slow = pool.submit(lambda: (isolated.predict(["slow"]), dict(isolated.last_stage_seconds)))
        time.sleep(0.05)
        quick = pool.submit(lambda: (isolated.predict(["ab"]), dict(isolated.last_stage_seconds)))
        (slow_scores, slow_stages), (quick_scores, quick_stages) = slow.result(), quick.result()
    assert slow_scores[0, 0] == pytest.approx(0.04)
    assert quick_scores[0, 0] == pytest.approx(0.02)
    assert slow_stages["queued"] < 0.1
    assert quick_stages["queued"] > 0.15  # sent while "slow" was scored


def test_a_crash_fails_every_call_in_flight_and_the_next_call_restarts(
    isolated: IsolatedClassifier,
) -> None:
    pid = isolated.pid
    with ThreadPoolExecutor(2) as pool:
        dying = pool.submit(isolated.predict, ["slow", "crash"])
        time.sleep(0.05)
        queued = pool.submit(isolated.predict, ["fine"])
        with pytest.raises(ClassifierCrashed, match="exit code 3"):
            dying.result()
        with pytest.raises(ClassifierCrashed, match="exit code 3"):
            queued.result()
    assert isolated.predict(["fine"]).shape == (1, 4)
    assert isolated.pid not in (None, pid)


def test_an_error_in_the_child_is_raised_with_its_message(isolated: IsolatedClassifier) -> None:
    pid = isolated.pid
    with pytest.raises(ChildClassifierError, match="ValueError: cannot score this"):
        isolated.predict(["raise"])
    assert isolated.predict(["ok"]).shape == (1, 4)
    assert isolated.pid == pid  # an exception is not a crash


def test_a_crashed_child_is_replaced_on_the_next_call(isolated: IsolatedClassifier) -> None:
    pid = isolated.pid
    with pytest.raises(ClassifierCrashed, match="exit code 3"):
        isolated.predict(["fine", "crash"])
    assert isolated.predict(["fine"]).shape == (1, 4)
    assert isolated.pid not in (None, pid)


def test_a_model_that_cannot_load_fails_at_start_with_the_reason() -> None:
    with pytest.raises(RuntimeError, match=r"FileNotFoundError: model\.onnx is missing"):
        IsolatedClassifier(broken_model)


def test_the_batch_processor_dead_letters_only_the_text_that_kills_the_model(
    isolated: IsolatedClassifier,
) -> None:
    processor = BatchProcessor(
        classifier=isolated,
        policy=RuleEngine.load(RULES, CATEGORIES),
        settings=Settings(dlq_topic="dlq", decisions_topic="decisions"),
        metrics=PipelineMetrics(),
        executor=ThreadPoolExecutor(1),
    )
    batch = [
        InboundRecord(
            key=b"a1",
            value=(
                f'{{"message_id": "m{i}", "author_id": "a1", "channel_id": "c1", '
                f'"content": "{text}"}}'
            ).encode(),
            headers=(),
            source=SourcePosition(topic="messages", partition=0, offset=i, timestamp=None),
        )
        for i, text in enumerate(["ok", "crash", "fine"])
    ]
    out = asyncio.run(processor.process(batch))
    assert [r.value for r in out if r.topic == "dlq"] == [batch[1].value]
    assert len([r for r in out if r.topic == "decisions"]) == 2
