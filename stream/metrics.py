"""Prometheus metrics: one ``vigil_`` prefix, base units, bounded label values only.

Label values come from closed sets (stages, decode reasons, actions, rule ids of the loaded
rule set, partitions), never from message, author or channel ids.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, start_http_server

_LATENCY_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)  # fmt: skip
_STAGE_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
)  # fmt: skip
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)

STAGES = ("decode", "normalize", "classify", "tokenize", "infer", "policy", "produce")
"""``classify`` is the whole scoring step (cache lookups included); ``tokenize`` and
``infer`` are its parts inside the model, reported by classifiers that time them."""


class PipelineMetrics:
    """All series of one worker, registered on their own registry (tests create many)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.consumed = Counter(
            "vigil_messages_consumed_total", "Records consumed from the input topic.", ["topic"],
            registry=r,
        )  # fmt: skip
        self.decided = Counter(
            "vigil_messages_decided_total", "Decisions produced, by final action.", ["action"],
            registry=r,
        )  # fmt: skip
        self.dead_lettered = Counter(
            "vigil_messages_dead_lettered_total",
            "Inputs written to the dead-letter topic, by failed stage and reason.",
            ["stage", "reason"],
            registry=r,
        )
        self.truncated = Counter(
            "vigil_content_truncated_total",
            "Inputs whose content exceeded the limit and was scored on its prefix.",
            registry=r,
        )
        self.actions = Counter(
            "vigil_actions_total", "Enforcement actions produced, by action and rule.",
            ["action", "rule"], registry=r,
        )  # fmt: skip
        self.score_cache = Counter(
            "vigil_score_cache_requests_total",
            "Score lookups in the recent-text cache, by result (hit or miss).",
            ["result"],
            registry=r,
        )
        self.rule_matches = Counter(
            "vigil_rule_matches_total",
            "Rule matches by rule and mode (enforce or shadow); shadow matches never act.",
            ["rule", "mode"],
            registry=r,
        )
        self.rule_errors = Counter(
            "vigil_rule_errors_total",
            "Rule conditions that failed to evaluate (the rule counts as not matched).",
            ["rule"],
            registry=r,
        )
        self.policy_reloads = Counter(
            "vigil_policy_reloads_total", "Rule sets loaded by hot reload and now running.",
            registry=r,
        )  # fmt: skip
        self.policy_reload_failures = Counter(
            "vigil_policy_reload_failures_total",
            "Changed rule sets rejected by hot reload (the last good set keeps running).",
            registry=r,
        )
        self.end_to_end_latency = Histogram(
            "vigil_end_to_end_latency_seconds",
            "Time from the input's Kafka timestamp to its decision being acknowledged by Kafka.",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.stage_duration = Histogram(
            "vigil_stage_duration_seconds",
            "Wall time of one pipeline stage for one batch.",
            ["stage"],
            buckets=_STAGE_BUCKETS,
            registry=r,
        )
        self.batch_size = Histogram(
            "vigil_batch_size", "Records per processed batch.", buckets=_BATCH_BUCKETS, registry=r
        )
        self.sink_retries = Counter(
            "vigil_sink_retries_total", "Delivery attempts that failed and were retried.",
            ["sink"], registry=r,
        )  # fmt: skip
        self.consumer_lag = Gauge(
            "vigil_consumer_lag_messages",
            "Records in an assigned input partition not yet processed (high watermark - next).",
            ["topic", "partition"],
            registry=r,
        )
        self.score_cache_entries = Gauge(
            "vigil_score_cache_entries",
            "Distinct texts held in the recent-score cache (bounded by VIGIL_SCORE_CACHE_SIZE).",
            registry=r,
        )
        self.author_histories = Gauge(
            "vigil_author_histories",
            "Authors whose history is held in memory, over the assigned input partitions.",
            registry=r,
        )
        self.model_info = Info("vigil_model", "The loaded classifier.", registry=r)
        self.policy_info = Info("vigil_policy", "The loaded policy rule set.", registry=r)
        for stage in STAGES:
            self.stage_duration.labels(stage=stage)
        self._rule_children: dict[tuple[str, str], Any] = {}

    def rule_matched(self, rule: str, mode: str) -> None:
        """Count one rule match; children are cached (labels() costs ~1 µs, matches are many)."""
        child = self._rule_children.get((rule, mode))
        if child is None:
            child = self._rule_children[(rule, mode)] = self.rule_matches.labels(rule, mode)
        child.inc()

    def serve(self, host: str, port: int) -> None:
        """Expose ``/metrics`` on ``host:port`` from a daemon thread."""
        start_http_server(port, addr=host, registry=self.registry)
