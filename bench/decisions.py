"""Reading a run's decisions back with librdkafka, no consumer group, nothing decoded that
is not needed."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer
from confluent_kafka import TopicPartition as ConfluentPartition

from stream.worker_process import WorkerProcess


def reader(broker: str, topic: str, **config: Any) -> Consumer:
    """A librdkafka consumer of every partition of ``topic`` from the beginning, no group."""
    consumer = Consumer(
        {
            "bootstrap.servers": broker,
            "group.id": f"bench-{uuid.uuid4().hex}",  # required, never joined or committed
            "enable.auto.commit": False,
            **config,
        }
    )
    partitions = consumer.list_topics(topic, timeout=30).topics[topic].partitions
    consumer.assign([ConfluentPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
    return consumer


def decision_times(
    broker: str,
    topic: str,
    n: int,
    timeout_seconds: float,
    workers: Sequence[WorkerProcess] = (),
) -> list[float]:
    """Kafka timestamps (s) of the first ``n`` records of ``topic``, read from the start;
    fewer if the time runs out or one of ``workers`` exits (no waiting on a dead worker).

    librdkafka reads them and no value is decoded: kafka-python took ~50 % of a core to
    drain a backlog's decisions, CPU that the worker under test then did not get."""
    consumer = reader(broker, topic)
    stamps: list[float] = []
    deadline = time.monotonic() + timeout_seconds
    try:
        while len(stamps) < n and time.monotonic() < deadline:
            if not all(w.alive() for w in workers):
                break
            for r in consumer.consume(num_messages=10_000, timeout=0.5):
                if r.error() is None:
                    stamps.append(r.timestamp()[1] / 1000.0)
        return stamps
    finally:
        consumer.close()
