"""Failure scenario: the model cannot score anything (its runtime cannot start).

Expected: nothing is dead-lettered (no input is at fault), the worker exits with an error
instead of idling with a dead agent, and a restarted worker decides every input.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from stream.settings import Settings
from stream.worker_process import WorkerProcess
from tests.conftest import consume_until, encode, message, produce
from tests.integration.faults import CLASSIFIER_OUTAGE

pytestmark = pytest.mark.integration


def test_an_outage_stops_the_worker_and_a_restart_decides_everything(
    settings: Settings, start_worker: Callable[..., WorkerProcess]
) -> None:
    texts = ["good morning", "see you later", f"hello {CLASSIFIER_OUTAGE}", "thanks!"]
    messages = [message(i, t) for i, t in enumerate(texts * 10)]
    produce(settings, [encode(m) for m in messages])

    failing = start_worker(
        PYTHONPATH=str(Path(__file__).resolve().parent),
        VIGIL_CLASSIFIER_FACTORY="faults:classifier",
    )
    deadline = time.monotonic() + 120
    while failing.alive() and time.monotonic() < deadline:
        time.sleep(0.5)
    log = failing.log_path.read_text()
    assert not failing.alive(), log[-3000:]
    assert failing.stop() != 0
    assert "stopping the worker" in log

    start_worker()  # the outage is over: the real classifier
    seen = consume_until(
        settings,
        [settings.decisions_topic, settings.dlq_topic],
        lambda s: (
            {orjson.loads(r.value)["message_id"] for r in s[settings.decisions_topic]}
            >= {m["message_id"] for m in messages}
        ),
        timeout_seconds=180,
    )
    decided = {orjson.loads(r.value)["message_id"] for r in seen[settings.decisions_topic]}
    assert decided == {m["message_id"] for m in messages}
    assert seen[settings.dlq_topic] == []
