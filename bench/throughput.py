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
from typing import Any

import orjson

from bench.harness import backlog_run
from bench.worker_setup import env_overrides
from stream.demo import sample_messages


def one_run(broker: str, n: int, extra_env: dict[str, str]) -> dict[str, float]:
    """One backlog run of ``n`` demo-sample messages (unique ids) through a fresh worker."""
    sample = sample_messages()
    corpus = [{**sample[i % len(sample)], "message_id": f"m{i}"} for i in range(n)]
    run = backlog_run(broker, corpus, extra_env)
    return {k: run[k] for k in ("msgs_per_s", "startup_s", "wall_s")}


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
    extra = env_overrides(args.env)
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
