"""Consumer-group changes on the real broker: a graceful stop and a worker joining.

The Kafka consumer shares the worker's event loop (``stream/consumer.py``), so these paths
run there too: leaving the group on SIGTERM after committing what was decided, and the
rebalance callbacks while batches are in flight.

Failure scenarios:
- a worker is stopped with SIGTERM: it commits the offsets of everything it decided before
  it exits, so its successor decides nothing twice;
- a second worker joins mid-stream: partitions move between the two, every message is
  decided, and only records in flight at the move may be decided twice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from stream.demo import sample_messages
from stream.settings import Settings
from stream.worker_process import WorkerProcess
from tests.conftest import (
    consume_until,
    encode,
    free_port,
    message,
    produce,
    scrape,
    scrape_until,
    value,
)

pytestmark = pytest.mark.integration


def _inputs(start: int, count: int) -> list[dict[str, Any]]:
    sample = [m["content"] for m in sample_messages()]
    return [message(i, sample[i % len(sample)]) for i in range(start, start + count)]


def _decided(settings: Settings, at_least: int, timeout_seconds: float) -> Counter[str]:
    topics = [settings.decisions_topic, settings.dlq_topic]

    def ids(seen: dict[str, list[Any]]) -> set[str]:
        return {orjson.loads(r.value)["message_id"] for r in seen[settings.decisions_topic]}

    seen = consume_until(settings, topics, lambda s: len(ids(s)) >= at_least, timeout_seconds)
    assert seen[settings.dlq_topic] == []
    return Counter(orjson.loads(r.value)["message_id"] for r in seen[settings.decisions_topic])


def test_a_graceful_stop_commits_what_was_decided(
    settings: Settings, start_worker: Callable[..., WorkerProcess]
) -> None:
    # No periodic commit within the test: only the stop can have committed the offsets.
    no_periodic_commit = {"VIGIL_COMMIT_INTERVAL_SECONDS": "3600"}
    first_inputs = _inputs(0, 1000)
    produce(settings, [encode(m) for m in first_inputs])
    first = start_worker(VIGIL_INSTANCE_ID="worker-a", **no_periodic_commit)
    assert len(_decided(settings, 1000, 300)) == 1000

    assert first.stop() == 0, first.log_path.read_text()[-3000:]

    second_inputs = _inputs(1000, 200)
    produce(settings, [encode(m) for m in second_inputs])
    second = start_worker(VIGIL_INSTANCE_ID="worker-a", **no_periodic_commit)
    counts = _decided(settings, 1200, 300)
    assert second.alive(), second.log_path.read_text()[-3000:]
    assert set(counts) == {m["message_id"] for m in first_inputs + second_inputs}
    assert [i for i, n in counts.items() if n > 1] == [], "decided twice after a graceful stop"


def test_a_worker_joining_mid_stream_takes_partitions_and_nothing_is_lost(
    settings: Settings, start_worker: Callable[..., WorkerProcess]
) -> None:
    before_join, after_join = _inputs(0, 2000), _inputs(2000, 2000)
    produce(settings, [encode(m) for m in before_join])
    first = start_worker(VIGIL_INSTANCE_ID="worker-a")
    consume_until(
        settings, [settings.decisions_topic], lambda s: len(s[settings.decisions_topic]) >= 200, 300
    )
    port = free_port()
    second = start_worker(VIGIL_INSTANCE_ID="worker-b", VIGIL_METRICS_PORT=str(port))
    # The rebalance moved partitions to the joiner (its lag gauge has one series each).
    scrape_until(port, lambda s: bool(s.get("vigil_consumer_lag_messages")), 120)
    produce(settings, [encode(m) for m in after_join])

    counts = _decided(settings, 4000, 600)
    assert first.alive(), first.log_path.read_text()[-3000:]
    assert second.alive(), second.log_path.read_text()[-3000:]
    assert set(counts) == {m["message_id"] for m in before_join + after_join}, "messages lost"
    assert value(scrape(port), "vigil_messages_decided_total") > 0
    duplicates = sum(counts.values()) - len(counts)
    print(f"\nworker joined mid-stream: {duplicates} duplicate decisions of 4000")
    assert duplicates < 2000
