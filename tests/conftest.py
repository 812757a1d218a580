"""Shared fixtures: the real Kafka broker, per-test topics, and a worker process."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from kafka import KafkaAdminClient
from prometheus_client.parser import text_string_to_metric_families

from bench import kafka_io
from bench.kafka_io import Record
from stream.settings import Settings
from stream.worker_process import WorkerProcess

REPO = Path(__file__).resolve().parent.parent
BROKER_SCRIPT = REPO / "deploy" / "kafka" / "broker"


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[str]:
    """Bootstrap address of the real Apache Kafka broker; started here if not running."""
    port = os.environ.get("KAFKA_PORT", "19092")
    env = {**os.environ, "KAFKA_PORT": port}
    running = (
        subprocess.run([BROKER_SCRIPT, "status"], env=env, capture_output=True).returncode == 0
    )
    if not running:
        subprocess.run([BROKER_SCRIPT, "start"], env=env, check=True, capture_output=True)
    yield f"127.0.0.1:{port}"
    if not running:
        subprocess.run([BROKER_SCRIPT, "stop"], env=env, check=False)


@pytest.fixture
def settings(kafka_broker: str) -> Iterator[Settings]:
    """Settings with topics and consumer group unique to this test: topics created, and
    deleted after the test (its workers are stopped first: fixtures end in reverse)."""
    with kafka_io.isolated_topics(
        kafka_broker, f"t{uuid.uuid4().hex[:8]}", partitions=4, metrics_port=0
    ) as settings:
        yield settings


@pytest.fixture
def start_worker(tmp_path: Path, settings: Settings) -> Iterator[Callable[..., WorkerProcess]]:
    """``start_worker(**env)`` starts a worker process; all are stopped after the test."""
    started: list[WorkerProcess] = []

    def start(**extra: str) -> WorkerProcess:
        env = {**settings.to_env(), **extra}
        worker = WorkerProcess(env, tmp_path / f"worker{len(started)}.log")
        worker.start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def topic_names(broker: str) -> set[str]:
    """Every topic the broker has."""
    admin = KafkaAdminClient(bootstrap_servers=broker)
    try:
        return set(admin.list_topics())
    finally:
        admin.close()


def produce(settings: Settings, records: list[Record]) -> None:
    """Produce ``(key, value, headers)`` records to the input topic; wait for all acks."""
    kafka_io.produce(settings.broker, settings.input_topic, records)


def consume_until(
    settings: Settings,
    topics: list[str],
    done: Callable[[dict[str, list[Any]]], bool],
    timeout_seconds: float,
) -> dict[str, list[Any]]:
    """Read ``topics`` from the beginning until ``done(records_by_topic)`` or the timeout."""
    return kafka_io.consume_until(settings.broker, topics, done, timeout_seconds)


def message(i: int, content: str, **fields: Any) -> dict[str, Any]:
    """A valid input event (the DESIGN.md contract) with id ``m{i}``."""
    return {
        "message_id": f"m{i}",
        "author_id": f"a{i % 97}",
        "channel_id": f"c{i % 7}",
        "guild_id": "g1",
        "content": content,
        "created_at": "2026-11-27T12:00:00Z",
        "author": {"account_age_days": i % 400, "roles": [], "verified": i % 2 == 0},
        "channel": {"nsfw": False, "type": "text"},
        **fields,
    }


def encode(msg: dict[str, Any]) -> Record:
    return (
        msg["author_id"].encode(),
        orjson.dumps(msg),
        [("trace-id", f"tr-{msg['message_id']}".encode())],
    )


Samples = dict[str, list[tuple[dict[str, str], float]]]
"""Scraped ``/metrics``: sample name → (labels, value) of each series."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scrape(port: int) -> Samples:
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    samples: Samples = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples


def scrape_until(
    port: int,
    done: Callable[[Samples], bool],
    timeout_seconds: float,
) -> Samples:
    """Scrape ``/metrics`` until ``done(samples)``; the worker may not be serving yet."""
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        try:
            samples = scrape(port)
        except OSError:
            samples = {}
        if done(samples):
            return samples
        time.sleep(0.3)
    raise AssertionError(f"metrics on port {port} not as expected after {timeout_seconds} s")


def value(samples: Samples, name: str, **labels: str) -> float:
    return sum(v for lbl, v in samples.get(name, []) if labels.items() <= lbl.items())
