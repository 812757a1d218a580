"""One no-repeat backlog run between two ceiling measurements: the e2e / ceiling ratio of one
worker configuration, for A/B comparisons of settings (``vigil bench`` is the full run).

    python -m bench.ceiling_ratio --messages 5000 [--env VIGIL_X=v ...]

Prints one JSON object: both ceilings, the backlog throughput, their ratio and the stages.
"""

from __future__ import annotations

import statistics

import orjson

from bench import chat_corpus
from bench.harness import backlog_run, raw_ceiling
from bench.worker_setup import bench_parser, env_overrides, worker_settings


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--messages", type=int, default=5000)
    args = parser.parse_args()
    extra = env_overrides(args.env)
    settings = worker_settings(extra)
    corpus = chat_corpus.messages(args.data, args.messages, unique=True)
    texts = [m["content"] for m in corpus]
    before = raw_ceiling(settings, texts, 1)
    run = backlog_run(args.broker, corpus, extra)
    after = raw_ceiling(settings, texts, 1)
    result = {
        "ceilings": [before, after],
        "e2e_msgs_per_s": run["msgs_per_s"],
        "ratio": round(run["msgs_per_s"] / statistics.mean([before, after]), 3),
        "stages": run["stages"],
        "worker_env": extra,
    }
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    main()
