"""Failure scenario: the broker restarts under a running worker.

The worker must ride out the outage (consumer and producer reconnect; sinks retry until
delivered) and decide every message, the ones produced before and after the restart alike.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable

import orjson
import pytest

from stream.settings import Settings
from stream.worker_process import WorkerProcess
from tests.conftest import BROKER_SCRIPT, consume_until, encode, message, produce

pytestmark = pytest.mark.integration

N = 600


def broker(command: str, settings: Settings) -> None:
    port = settings.broker.rsplit(":", 1)[1]
    subprocess.run(
        [BROKER_SCRIPT, command], env={**os.environ, "KAFKA_PORT": port}, check=True,
        capture_output=True, timeout=120,
    )  # fmt: skip


def test_worker_survives_a_broker_restart(
    settings: Settings, start_worker: Callable[..., WorkerProcess]
) -> None:
    topics = [settings.decisions_topic, settings.dlq_topic]
    produce(settings, [encode(message(i, "good morning")) for i in range(N)])
    worker = start_worker()
    consume_until(settings, topics, lambda s: len(s[settings.decisions_topic]) >= N, 120)

    broker("stop", settings)
    time.sleep(3)
    assert worker.alive()
    broker("start", settings)
    produce(settings, [encode(message(i, "see you later")) for i in range(N, 2 * N)])

    seen = consume_until(
        settings,
        topics,
        lambda s: (
            len({orjson.loads(r.value)["message_id"] for r in s[settings.decisions_topic]}) >= 2 * N
        ),
        timeout_seconds=180,
    )
    ids = {orjson.loads(r.value)["message_id"] for r in seen[settings.decisions_topic]}
    assert worker.alive(), worker.log_path.read_text()[-3000:]
    assert ids == {f"m{i}" for i in range(2 * N)}
    assert seen[settings.dlq_topic] == []
