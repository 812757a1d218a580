"""Open-loop latency: messages sent on a fixed schedule, latency from each one's *scheduled*
send time to its decision's Kafka timestamp, so a stalled pipeline is not hidden by a
stalled producer (no coordinated omission)."""

from __future__ import annotations

import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import Producer

from bench.decisions import reader
from bench.kafka_io import isolated_topics
from bench.worker_setup import free_port, worker_env
from stream.settings import Settings
from stream.worker_process import WorkerProcess

STEP_SETTLE_SECONDS = 5.0
"""Sent at each latency step's rate before the measured window starts."""


def percentile(values: list[float], p: float) -> float:
    """The ``p`` quantile (0–1) of sorted ``values``, rounded to 0.1."""
    return round(values[min(len(values) - 1, int(p * len(values)))], 1)


HELD_FETCH = {"fetch.min.bytes": 1_000_000, "fetch.wait.max.ms": 200}
"""How the open-loop client reads decisions: the broker holds each fetch up to 200 ms, unless
1 MB of decisions is waiting, instead of answering one per decision."""


class OpenLoopClient:
    """Sends messages on a fixed schedule and records, per message, the latency from its
    scheduled send time to its decision's Kafka timestamp and the worker's own processing
    latency (``processing_latency_seconds``), from a background consumer thread.

    It uses librdkafka (``confluent-kafka``): its C client costs a few microseconds per
    message, where kafka-python's pure-Python one took ~40 % of a core at 225 msgs/s on
    the 2-core bench machine, CPU the worker under test then did not get."""

    def __init__(self, broker: str, settings: Settings) -> None:
        self._settings = settings
        self._producer = Producer({"bootstrap.servers": broker, "linger.ms": 0, "acks": 1})
        # Latency is read from each decision's Kafka timestamp, so reading it late costs the
        # measurement nothing; fetching each decision as it lands cost the broker, on the
        # cores the worker under test runs on, ~0.04 of a core at 200 msgs/s (bench/RESULTS.md).
        self._consumer = reader(broker, settings.decisions_topic, **HELD_FETCH)
        self._scheduled: dict[str, float] = {}
        self.latencies: dict[str, tuple[float, float]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._collect, daemon=True)

    def _collect(self) -> None:
        while not self._stop.is_set():
            for r in self._consumer.consume(num_messages=1000, timeout=0.05):
                if r.error() is not None:
                    continue
                d = orjson.loads(r.value() or b"{}")
                mid = d["message_id"]
                if mid in self._scheduled and mid not in self.latencies:
                    self.latencies[mid] = (
                        r.timestamp()[1] / 1000.0 - self._scheduled[mid],
                        d["processing_latency_seconds"],
                    )

    def __enter__(self) -> OpenLoopClient:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._producer.flush(30)
        self._consumer.close()

    def send(self, messages: Sequence[dict[str, Any]], rate: float, prefix: str) -> list[str]:
        """Send ``messages`` at ``rate`` per second as ``{prefix}-{i}``; returns their ids."""
        ids = []
        start = time.time() + 0.2
        for i, m in enumerate(messages):
            at = start + i / rate
            delay = at - time.time()
            if delay > 0:
                time.sleep(delay)
            mid = f"{prefix}-{i}"
            self._scheduled[mid] = at
            self._producer.produce(
                self._settings.input_topic,
                key=m["author_id"].encode(),
                value=orjson.dumps({**m, "message_id": mid}),
            )
            self._producer.poll(0)  # serve delivery reports, so the local queue drains
            ids.append(mid)
        if self._producer.flush(60) > 0:
            raise SystemExit("the load generator could not deliver every message in 60 s")
        return ids

    def wait_for(self, ids: list[str], timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(i not in self.latencies for i in ids):
            time.sleep(0.1)

    def latencies_ms(self, ids: list[str]) -> tuple[list[float], list[float]]:
        """Sorted end-to-end and worker-processing latencies of the decided ``ids``."""
        seen = [self.latencies[i] for i in ids if i in self.latencies]
        return sorted(e * 1000 for e, _ in seen), sorted(w * 1000 for _, w in seen)


def open_loop(
    broker: str,
    corpus: Sequence[dict[str, Any]],
    rates: Sequence[float],
    seconds: float,
    extra: dict[str, str],
) -> dict[str, dict[str, float]]:
    """p50/p95/p99 ms from scheduled send to decision, one warm worker, rate after rate."""
    tag = f"lat{uuid.uuid4().hex[:8]}"
    log = Path(tempfile.mkdtemp(prefix="vigil-bench-")) / "worker.log"
    out: dict[str, dict[str, float]] = {}
    with (
        isolated_topics(broker, tag, log_level="warning") as settings,
        WorkerProcess(worker_env(settings, free_port(), extra), log),
        OpenLoopClient(broker, settings) as client,
    ):
        client.wait_for(client.send(corpus[:200], 50.0, "warmup"), timeout=180)
        offset = 200
        for step, rate in enumerate(rates):
            # One continuous schedule per rate: the first STEP_SETTLE_SECONDS settle the
            # change of rate (the pipeline and the VM's idle cores catch up, ~1 s), the rest
            # is the steady state the percentiles describe; the settling part is reported
            # too (``p99_ms_with_step_start``).
            settle = int(rate * STEP_SETTLE_SECONDS)
            count = settle + max(50, int(rate * seconds))
            batch = [corpus[(offset + i) % len(corpus)] for i in range(count)]
            offset += count
            ids = client.send(batch, rate, f"r{step}")
            client.wait_for(ids)
            values, _ = client.latencies_ms(ids[settle:])
            everything, _ = client.latencies_ms(ids)
            if not values:
                raise SystemExit(f"no decisions at {rate:.0f} msg/s; worker log: {log}")
            out[f"{round(rate)}"] = {
                "rate_msgs_per_s": round(rate, 1),
                "sent": len(ids) - settle,
                "decided": len(values),
                "p50_ms": percentile(values, 0.50),
                "p95_ms": percentile(values, 0.95),
                "p99_ms": percentile(values, 0.99),
                "max_ms": round(values[-1], 1),
                "p99_ms_with_step_start": percentile(everything, 0.99),
            }
    return out
