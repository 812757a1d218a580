"""Failure scenario: the decisions topic rejects writes.

An input's offset must never be committed before its decision is produced. We make the
broker reject every decision (topic ``max.message.bytes`` below a decision's size): the
worker must keep retrying, commit nothing, and once the topic accepts writes again, decide
everything.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType

from stream.settings import Settings
from stream.worker_process import WorkerProcess
from tests.conftest import consume_until, encode, message, produce

pytestmark = pytest.mark.integration

N = 200


def set_max_message_bytes(settings: Settings, value: int) -> None:
    admin = KafkaAdminClient(bootstrap_servers=settings.broker)
    try:
        admin.alter_configs(
            [
                ConfigResource(
                    ConfigResourceType.TOPIC,
                    settings.decisions_topic,
                    configs={"max.message.bytes": str(value)},
                )
            ]
        )
    finally:
        admin.close()


def committed(settings: Settings) -> int:
    consumer = KafkaConsumer(bootstrap_servers=settings.broker, group_id=settings.app_id)
    try:
        tps = [TopicPartition(settings.input_topic, p) for p in range(settings.partitions)]
        return sum(consumer.committed(tp) or 0 for tp in tps)
    finally:
        consumer.close()


def test_no_commit_while_outputs_are_rejected(
    settings: Settings, start_worker: Callable[..., WorkerProcess]
) -> None:
    set_max_message_bytes(settings, 64)
    produce(settings, [encode(message(i, "good morning")) for i in range(N)])
    worker = start_worker(
        VIGIL_PRODUCE_TIMEOUT_SECONDS="5", VIGIL_PRODUCE_RETRY_BACKOFF_MAX_SECONDS="1"
    )
    # Long enough for several commit intervals and delivery retries.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and "will retry" not in worker.log_path.read_text():
        time.sleep(1)
    time.sleep(5)
    assert "will retry" in worker.log_path.read_text(), worker.log_path.read_text()[-2000:]
    assert worker.alive()
    assert committed(settings) == 0

    set_max_message_bytes(settings, 1_048_588)
    seen = consume_until(
        settings,
        [settings.decisions_topic],
        lambda s: len(s[settings.decisions_topic]) >= N,
        timeout_seconds=120,
    )
    assert len(seen[settings.decisions_topic]) >= N
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and committed(settings) < N:
        time.sleep(1)
    assert committed(settings) == N
