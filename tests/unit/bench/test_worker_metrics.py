"""The worker's metrics as the bench reads them: time per stage and the policy's share."""

from __future__ import annotations

from bench.worker_metrics import stage_breakdown


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
