"""Failure scenario: the model process dies (segfault, OOM kill) while the worker runs.

Expected: the worker stays up, starts a new model process, retries the batch in flight text
by text, and decides every input; nothing is dead-lettered (no input was at fault).
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from stream.settings import Settings
from stream.worker_process import WorkerProcess
from tests.conftest import consume_until, encode, message, produce

pytestmark = pytest.mark.integration


def model_process(worker_pid: int) -> int | None:
    """The worker's spawned model process (the child running ``multiprocessing.spawn``)."""
    for children in Path(f"/proc/{worker_pid}/task").glob("*/children"):
        for pid in children.read_text().split():
            if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                return int(pid)
    return None


def test_a_killed_model_process_is_replaced_and_nothing_is_lost(
    settings: Settings, start_worker: Callable[..., WorkerProcess]
) -> None:
    first = [message(i, f"message number {i} of the first half") for i in range(300)]
    second = [message(i, f"message number {i} of the second half") for i in range(300, 600)]
    worker = start_worker()
    produce(settings, [encode(m) for m in first])
    consume_until(
        settings,
        [settings.decisions_topic],
        lambda s: len(s[settings.decisions_topic]) >= 50,
        timeout_seconds=120,
    )
    assert worker.pid is not None
    victim = model_process(worker.pid)
    assert victim is not None, worker.log_path.read_text()[-3000:]
    os.kill(victim, signal.SIGKILL)
    produce(settings, [encode(m) for m in second])

    wanted = {m["message_id"] for m in first + second}
    seen = consume_until(
        settings,
        [settings.decisions_topic, settings.dlq_topic],
        lambda s: (
            {orjson.loads(r.value)["message_id"] for r in s[settings.decisions_topic]} >= wanted
        ),
        timeout_seconds=180,
    )
    decided = {orjson.loads(r.value)["message_id"] for r in seen[settings.decisions_topic]}
    assert decided == wanted
    assert seen[settings.dlq_topic] == []
    assert worker.alive()
    time.sleep(0.5)
    replacement = model_process(worker.pid)
    assert replacement not in (None, victim)
    assert "model process restarted" in worker.log_path.read_text()
