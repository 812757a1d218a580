"""Steady-state latency at one open-loop rate, with the worker's per-batch stage times.

    python -m bench.latency_probe --rate 200 --seconds 10 [--env VIGIL_X=v ...]

Starts one worker on fresh topics, warms it with 300 messages, then sends the realistic
corpus at ``--rate`` on a fixed schedule and reports latency from the scheduled send time to
the decision's Kafka timestamp (p50/p95/p99), the worker's own processing latency, the
mean batch size, the milliseconds per batch of every stage (from ``/metrics``) and the CPU
per message of the worker's event-loop process and of its model process (warm-up excluded).
Used to compare worker settings under load; ``vigil bench`` is the full run.
"""

from __future__ import annotations

import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import orjson

from bench import chat_corpus
from bench.kafka_io import isolated_topics
from bench.open_loop import OpenLoopClient, percentile
from bench.process_stats import worker_cpu_seconds
from bench.worker_metrics import STAGES, scrape
from bench.worker_setup import bench_parser, env_overrides, free_port, worker_env
from stream.worker_process import WorkerProcess

WARMUP = 300


def probe(
    broker: str, data: Path, rate: float, seconds: float, extra: dict[str, str]
) -> dict[str, Any]:
    corpus = chat_corpus.messages(data, WARMUP + int(rate * seconds), seed=31)
    port = free_port()
    with (
        isolated_topics(broker, f"probe{uuid.uuid4().hex[:6]}", log_level="warning") as settings,
        WorkerProcess(
            worker_env(settings, port, extra), Path(tempfile.mkdtemp()) / "worker.log"
        ) as worker_process,
        OpenLoopClient(broker, settings) as client,
    ):
        client.send(corpus[:WARMUP], 50.0, "warm")
        time.sleep(5)
        before = scrape(port)
        assert worker_process.pid is not None
        cpu_before = worker_cpu_seconds(worker_process.pid)
        ids = client.send(corpus[WARMUP:], rate, "m")
        client.wait_for(ids, timeout=60)
        cpu_after = worker_cpu_seconds(worker_process.pid)
        cpu = [b - a for a, b in zip(cpu_before, cpu_after, strict=True)]
        after = scrape(port)
    e2e, worker = client.latencies_ms(ids)

    def delta(name: str, stage: str | None = None) -> float:
        key = (name, (("stage", stage),) if stage else ())
        return after.get(key, 0.0) - before.get(key, 0.0)

    batches = delta("vigil_batch_size_count")
    return {
        "rate_msgs_per_s": rate,
        "sent": len(ids),
        "decided": len(e2e),
        "e2e_ms": {q: percentile(e2e, float(q) / 100) for q in ("50", "95", "99")},
        "worker_processing_ms": {q: percentile(worker, float(q) / 100) for q in ("50", "99")},
        "mean_batch_size": round(delta("vigil_batch_size_sum") / batches, 2) if batches else None,
        "ms_per_batch": {
            s: round(delta("vigil_stage_duration_seconds_sum", s) / batches * 1000, 2)
            if batches
            else None
            for s in STAGES
        },
        "worker_cpu_ms_per_msg": {
            "event_loop": round(cpu[0] / len(ids) * 1000, 3),
            "model_process": round(cpu[1] / len(ids) * 1000, 3),
        },
        "worker_env": extra,
    }


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    extra = env_overrides(args.env)
    print(
        orjson.dumps(
            probe(args.broker, args.data, args.rate, args.seconds, extra),
            option=orjson.OPT_INDENT_2,
        ).decode()
    )


if __name__ == "__main__":
    main()
