"""The model process: same answers as in-process, errors explained, crashes survived."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Coroutine, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest

from classifiers.base import AsyncClassifier, Classifier, Scores, Scoring
from classifiers.isolated import ChildClassifierError, ClassifierCrashed, IsolatedClassifier
from policies.engine import RuleEngine
from stream.metrics import PipelineMetrics
from stream.processor import BatchProcessor
from stream.records import InboundRecord, SourcePosition
from stream.settings import Settings

CATEGORIES = ("offensive", "hate", "spam", "targeted")
RULES = Path(__file__).parents[3] / "policies" / "rules"
T = TypeVar("T")


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


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def test_answers_like_the_classifier_it_runs(isolated: IsolatedClassifier) -> None:
    assert isinstance(isolated, AsyncClassifier)
    assert not isinstance(isolated, Classifier)  # awaited, never called on a thread
    assert (isolated.categories, isolated.version) == (CATEGORIES, "fake@1")
    assert dict(isolated.thresholds) == dict(Fake.thresholds)
    scoring = run(isolated.predict_async(["ab", "abcd"]))
    np.testing.assert_array_equal(scoring.scores, Fake().predict(["ab", "abcd"]))
    assert dict(scoring.stage_seconds, queued=0) == {"tokenize": 0, "infer": 1, "queued": 0}
    assert isolated.pid not in (None, os.getpid())


def test_overlapping_calls_are_pipelined_and_answered_in_order(
    isolated: IsolatedClassifier,
) -> None:
    """The second call waits in the socket while the child scores the first, then gets its
    own answer, and its stages say how long it queued."""

    async def both() -> tuple[Scoring, Scoring]:
        slow = asyncio.ensure_future(isolated.predict_async(["slow"]))
        await asyncio.sleep(0.05)
        quick = asyncio.ensure_future(isolated.predict_async(["ab"]))
        return await slow, await quick

    slow, quick = run(both())
    assert slow.scores[0, 0] == pytest.approx(0.04)
    assert quick.scores[0, 0] == pytest.approx(0.02)
    assert slow.stage_seconds["queued"] < 0.1
    assert quick.stage_seconds["queued"] > 0.15  # sent while "slow" was scored


def test_a_request_larger_than_the_socket_buffer_arrives_whole(
    isolated: IsolatedClassifier,
) -> None:
    """While the child is busy the socket fills; the rest is written when it drains,
    after the requests before it and before those after it."""
    big = [f"{n:04d}" + "x" * 1996 for n in range(400)]  # ~800 KB, the socket takes ~200

    async def three() -> list[Scoring]:
        return list(
            await asyncio.gather(
                isolated.predict_async(["slow"]),
                isolated.predict_async(big),
                isolated.predict_async(["abc"]),
            )
        )

    slow, large, after = run(three())
    assert slow.scores.shape == (1, 4)
    np.testing.assert_array_equal(large.scores, Fake().predict(big))
    assert after.scores[0, 0] == pytest.approx(0.03)


def test_a_cancelled_call_does_not_shift_the_answers_of_the_next(
    isolated: IsolatedClassifier,
) -> None:
    async def cancel_then_ask() -> Scoring:
        first = asyncio.ensure_future(isolated.predict_async(["slow"]))
        await asyncio.sleep(0.05)
        first.cancel()
        return await isolated.predict_async(["abcd"])

    assert run(cancel_then_ask()).scores[0, 0] == pytest.approx(0.04)


def test_another_event_loop_takes_over_once_the_first_has_stopped(
    isolated: IsolatedClassifier,
) -> None:
    """Even with a call of the first loop unanswered when it stopped: the new loop's call
    gets its own answer, from the same child."""
    pid = isolated.pid

    async def leave_a_call_in_flight() -> None:
        pending = asyncio.ensure_future(isolated.predict_async(["slow"]))
        await asyncio.sleep(0.05)
        assert not pending.done()  # sent and unanswered; asyncio.run then cancels it

    run(leave_a_call_in_flight())
    assert run(isolated.predict_async(["abc"])).scores[0, 0] == pytest.approx(0.03)
    assert run(isolated.predict_async(["ab"])).scores[0, 0] == pytest.approx(0.02)
    assert isolated.pid == pid


def test_a_crash_fails_every_call_in_flight_and_the_next_call_restarts(
    isolated: IsolatedClassifier,
) -> None:
    pid = isolated.pid

    async def crash_then_ask() -> tuple[list[Any], Scoring]:
        dying = asyncio.ensure_future(isolated.predict_async(["slow", "crash"]))
        await asyncio.sleep(0.05)
        queued = asyncio.ensure_future(isolated.predict_async(["fine"]))
        failed = await asyncio.gather(dying, queued, return_exceptions=True)
        return failed, await isolated.predict_async(["fine"])

    failed, after = run(crash_then_ask())
    assert [type(f) for f in failed] == [ClassifierCrashed, ClassifierCrashed]
    assert all("exit code 3" in str(f) for f in failed)
    assert after.scores.shape == (1, 4)
    assert isolated.pid not in (None, pid)


def test_an_error_in_the_child_is_raised_with_its_message(isolated: IsolatedClassifier) -> None:
    pid = isolated.pid
    with pytest.raises(ChildClassifierError, match="ValueError: cannot score this"):
        run(isolated.predict_async(["raise"]))
    assert run(isolated.predict_async(["ok"])).scores.shape == (1, 4)
    assert isolated.pid == pid  # an exception is not a crash


def test_a_crashed_child_is_replaced_on_the_next_call(isolated: IsolatedClassifier) -> None:
    pid = isolated.pid
    with pytest.raises(ClassifierCrashed, match="exit code 3"):
        run(isolated.predict_async(["fine", "crash"]))
    assert run(isolated.predict_async(["fine"])).scores.shape == (1, 4)
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
