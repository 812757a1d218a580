"""Whole-pipeline throughput on a real broker: a preloaded backlog until every decision.

    deploy/kafka/broker start
    python -m bench.throughput --broker 127.0.0.1:19092 --messages 5000 --runs 3

Each run uses fresh topics, preloads ``--messages`` inputs (the demo sample's texts, cycled,
with unique ids), starts one `vigil worker` process and drains the decisions. Throughput is
measured between the Kafka timestamps of the first and the last decision, so worker start-up
(model load, group join) is excluded and reported separately. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import orjson

from bench.kafka_io import Record, consume_until, isolated_settings, produce
from stream.demo import sample_messages
from stream.worker_process import WorkerProcess


def one_run(broker: str, n: int, extra_env: dict[str, str]) -> dict[str, float]:
    tag = f"bench{uuid.uuid4().hex[:8]}"
    settings = isolated_settings(broker, tag, metrics_port=0, log_level="warning")
    sample = sample_messages()
    records: list[Record] = []
    for i in range(n):
        msg = {**sample[i % len(sample)], "message_id": f"{tag}-{i}"}
        records.append((msg["author_id"].encode(), orjson.dumps(msg), []))
    produce(broker, settings.input_topic, records)
    env = {**settings.to_env(), **extra_env}
    log = Path(tempfile.mkdtemp(prefix="vigil-bench-")) / "worker.log"
    started = time.time()
    with WorkerProcess(env, log):
        seen = consume_until(
            broker,
            [settings.decisions_topic],
            lambda s: len(s[settings.decisions_topic]) >= n,
            timeout_seconds=3600,
        )
    decisions = seen[settings.decisions_topic]
    if len(decisions) < n:
        raise SystemExit(f"only {len(decisions)} of {n} decisions; worker log: {log}")
    stamps = sorted(r.timestamp / 1000.0 for r in decisions)
    return {
        "msgs_per_s": (n - 1) / (stamps[-1] - stamps[0]),
        "startup_s": stamps[0] - started,
        "wall_s": stamps[-1] - started,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--broker", default="127.0.0.1:19092")
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--env", action="append", default=[], metavar="VIGIL_X=v", help="worker setting"
    )
    args = parser.parse_args()
    extra = dict(item.split("=", 1) for item in args.env)
    runs = [one_run(args.broker, args.messages, extra) for _ in range(args.runs)]
    result: dict[str, Any] = {
        "messages": args.messages,
        "runs": runs,
        "median_msgs_per_s": statistics.median(r["msgs_per_s"] for r in runs),
        "worker_env": extra,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
    }
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    main()
