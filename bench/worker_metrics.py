"""The worker's own Prometheus metrics, read by the bench tools from its ``/metrics``."""

from __future__ import annotations

import urllib.request
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

STAGES = ("decode", "normalize", "classify", "tokenize", "infer", "policy", "produce")
"""The stages the worker times (``vigil_stage_duration_seconds``)."""

Metrics = dict[tuple[str, tuple[tuple[str, str], ...]], float]
"""Sample values by (sample name, sorted labels)."""


def scrape(port: int) -> Metrics:
    """Every sample the worker on ``port`` serves now."""
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    out: Metrics = {}
    for family in text_string_to_metric_families(body):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def state_gauges(metrics: Metrics) -> dict[str, float]:
    """The worker's state held in memory, from its ``/metrics``."""
    return {
        "score_cache_entries": metrics.get(("vigil_score_cache_entries", ()), 0.0),
        "author_histories": metrics.get(("vigil_author_histories", ()), 0.0),
    }


def stage_breakdown(metrics: Metrics, n: int) -> dict[str, Any]:
    """Microseconds per message in each stage and the policy's share of the pipeline."""
    per_msg = {
        stage: metrics.get(("vigil_stage_duration_seconds_sum", (("stage", stage),)), 0.0) / n * 1e6
        for stage in STAGES
    }
    pipeline = sum(per_msg[s] for s in ("decode", "normalize", "classify", "policy", "produce"))
    hits = metrics.get(("vigil_score_cache_requests_total", (("result", "hit"),)), 0.0)
    misses = metrics.get(("vigil_score_cache_requests_total", (("result", "miss"),)), 0.0)
    return {
        "us_per_msg": {k: round(v, 1) for k, v in per_msg.items()},
        "policy_share": round(per_msg["policy"] / pipeline, 4) if pipeline else None,
        "score_cache_hit_rate": round(hits / (hits + misses), 4) if hits + misses else None,
    }
