"""The Markdown table of a bench run."""

from __future__ import annotations

from typing import Any

from bench.report import markdown


def test_markdown_lists_every_headline_figure() -> None:
    result: dict[str, Any] = {
        "machine": "x86_64, 2 cores",
        "raw_ceiling_msgs_per_s": 400.0,
        "naive_msgs_per_s": 80.0,
        "e2e_unique_msgs_per_s": 350.0,
        "e2e_msgs_per_s": 480.0,
        "ratios": {
            "e2e_unique_over_ceiling": 0.875,
            "e2e_over_ceiling": 1.2,
            "e2e_over_naive": 6.0,
        },
        "latency": {"240": {"p50_ms": 10.0, "p95_ms": 20.0, "p99_ms": 30.0}},
        "p99_ms_at_50pct": 30.0,
        "stages": {
            "policy_share": 0.05,
            "score_cache_hit_rate": 0.4,
            "us_per_msg": {"infer": 1500.0},
        },
        "rss": {"start_mib": 100.0, "peak_mib": 200.0, "end_mib": 190.0},
        "idle_cpu_cores": 0.0071,
        "cpu_cores": {"worker_loop": 0.21, "model_process": 0.97, "machine": 1.3},
        "cpu_cores_unique": {"worker_loop": 0.17, "model_process": 0.98, "machine": 1.25},
        "worker_cpu_ms_per_msg": 2.93,
        "worker_cpu_ms_per_msg_unique": 4.05,
        "scale_out": {
            "workers_1_msgs_per_s": 300.0,
            "workers_2_msgs_per_s": 330.0,
            "scaling_ratio": 1.1,
        },
    }
    table = markdown(result)
    for text in (
        "400.0 msgs/s",
        "80.0 msgs/s",
        "| 6.0 |",
        "10.0 / 20.0 / 30.0 ms",
        "| infer | 1500.0 |",
        "ratio 1.1",
        "| 0.0071 |",
        "| 0.21 / 0.97 / 1.3; worker CPU 2.93 ms per message |",
        "| 0.17 / 0.98 / 1.25; worker CPU 4.05 ms per message |",
    ):
        assert text in table
