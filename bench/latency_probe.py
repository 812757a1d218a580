"""Steady-state latency at one open-loop rate, with the worker's per-batch stage times.

    python -m bench.latency_probe --rate 200 --seconds 10 [--env VIGIL_X=v ...]

Starts one worker on fresh topics, warms it with 300 messages, then sends the realistic
corpus at ``--rate`` on a fixed schedule and reports latency from the scheduled send time to
the decision's Kafka timestamp (p50/p95/p99), the worker's own processing latency, the
mean batch size and the milliseconds per batch of every stage (from ``/metrics``, warm-up
excluded). Used to compare worker settings under load; ``vigil bench`` is the full run.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from bench import chat_corpus
from bench.harness import STAGES, _free_port, _worker_env, scrape
from bench.kafka_io import isolated_settings
from stream.worker_process import WorkerProcess

WARMUP = 300


def _quantile(values: list[float], q: float) -> float:
    return round(values[int(q * (len(values) - 1))], 1) if values else float("nan")


def probe(
    broker: str, data: Path, rate: float, seconds: float, extra: dict[str, str]
) -> dict[str, Any]:
    corpus = chat_corpus.messages(data, WARMUP + int(rate * seconds), seed=31)
    settings = isolated_settings(broker, f"probe{uuid.uuid4().hex[:6]}", log_level="warning")
    port = _free_port()
    producer = KafkaProducer(bootstrap_servers=broker.split(","), linger_ms=0, acks=1)
    consumer = KafkaConsumer(
        bootstrap_servers=broker.split(","), enable_auto_commit=False, fetch_max_wait_ms=10
    )
    consumer.assign(
        [TopicPartition(settings.decisions_topic, p) for p in range(settings.partitions)]
    )
    scheduled: dict[str, float] = {}
    seen: dict[str, tuple[float, float]] = {}
    stop = threading.Event()

    def collect() -> None:
        while not stop.is_set():
            for records in consumer.poll(timeout_ms=50).values():
                for r in records:
                    d = orjson.loads(r.value)
                    if d["message_id"] in scheduled:
                        seen[d["message_id"]] = (
                            r.timestamp / 1000.0 - scheduled[d["message_id"]],
                            d["processing_latency_seconds"],
                        )

    def send(i: int, m: dict[str, Any], mid: str) -> None:
        producer.send(
            settings.input_topic,
            key=m["author_id"].encode(),
            value=orjson.dumps({**m, "message_id": mid}),
        )

    with WorkerProcess(_worker_env(settings, port, extra), Path(tempfile.mkdtemp()) / "worker.log"):
        threading.Thread(target=collect, daemon=True).start()
        for i in range(WARMUP):
            send(i, corpus[i], f"warm{i}")
            time.sleep(0.02)
        producer.flush()
        time.sleep(5)
        before = scrape(port)
        start = time.time() + 0.2
        for i, m in enumerate(corpus[WARMUP:]):
            at = start + i / rate
            if (delay := at - time.time()) > 0:
                time.sleep(delay)
            scheduled[f"m{i}"] = at
            send(i, m, f"m{i}")
        producer.flush()
        deadline = time.monotonic() + 60
        while len(seen) < len(scheduled) and time.monotonic() < deadline:
            time.sleep(0.2)
        after = scrape(port)
    stop.set()
    e2e = sorted(v[0] * 1000 for v in seen.values())
    worker = sorted(v[1] * 1000 for v in seen.values())

    def delta(name: str, stage: str | None = None) -> float:
        key = (name, (("stage", stage),) if stage else ())
        return after.get(key, 0.0) - before.get(key, 0.0)

    batches = delta("vigil_batch_size_count")
    return {
        "rate_msgs_per_s": rate,
        "sent": len(scheduled),
        "decided": len(seen),
        "e2e_ms": {q: _quantile(e2e, float(q) / 100) for q in ("50", "95", "99")},
        "worker_processing_ms": {q: _quantile(worker, float(q) / 100) for q in ("50", "99")},
        "mean_batch_size": round(delta("vigil_batch_size_sum") / batches, 2) if batches else None,
        "ms_per_batch": {
            s: round(delta("vigil_stage_duration_seconds_sum", s) / batches * 1000, 2)
            if batches
            else None
            for s in STAGES
        },
        "worker_env": extra,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--broker", default="127.0.0.1:19092")
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--env", action="append", default=[], metavar="VIGIL_X=v")
    args = parser.parse_args()
    extra = dict(item.split("=", 1) for item in args.env)
    print(
        orjson.dumps(
            probe(args.broker, args.data, args.rate, args.seconds, extra),
            option=orjson.OPT_INDENT_2,
        ).decode()
    )


if __name__ == "__main__":
    main()
