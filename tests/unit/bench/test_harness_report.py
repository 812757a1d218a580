"""The harness's arithmetic: stage breakdown from worker metrics, and the Markdown table."""

from __future__ import annotations

from typing import Any

from bench.harness import WorkerSampler, markdown, stage_breakdown


def metric(
    name: str, value: float, **labels: str
) -> tuple[tuple[str, tuple[tuple[str, str], ...]], float]:
    return (name, tuple(sorted(labels.items()))), value


def test_stage_breakdown_per_message_and_policy_share() -> None:
    metrics = dict(
        [
            metric("vigil_stage_duration_seconds_sum", 0.1, stage="decode"),
            metric("vigil_stage_duration_seconds_sum", 1.6, stage="classify"),
            metric("vigil_stage_duration_seconds_sum", 1.5, stage="infer"),
            metric("vigil_stage_duration_seconds_sum", 0.2, stage="policy"),
            metric("vigil_stage_duration_seconds_sum", 0.1, stage="produce"),
            metric("vigil_score_cache_requests_total", 30, result="hit"),
            metric("vigil_score_cache_requests_total", 70, result="miss"),
        ]
    )
    out = stage_breakdown(metrics, n=1000)
    assert out["us_per_msg"]["classify"] == 1600.0
    assert out["us_per_msg"]["normalize"] == 0.0
    assert out["policy_share"] == 0.1  # 0.2 of decode+normalize+classify+policy+produce = 2.0
    assert out["score_cache_hit_rate"] == 0.3


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


def test_cpu_cores_between_the_first_and_last_decision() -> None:
    sampler = WorkerSampler(pid=1)
    # (wall time, loop CPU s, model CPU s, machine busy s); the first and last are outside.
    sampler.cpu_samples = [
        (99.0, 0.0, 0.0, 0.0),
        (100.0, 1.0, 2.0, 5.0),
        (102.0, 1.5, 4.0, 8.0),
        (104.0, 2.0, 6.0, 11.0),
        (106.0, 9.0, 9.0, 19.0),
    ]
    assert sampler.cpu_cores(100.0, 105.0) == {
        "worker_loop": 0.25,
        "model_process": 1.0,
        "machine": 1.5,
    }
    assert sampler.cpu_cores(100.5, 101.5) == {}  # fewer than two samples: no figure
