"""The shipped alerts and dashboard only reference metrics a worker actually exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from stream.metrics import PipelineMetrics

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
SUFFIXES = ("", "_bucket", "_sum", "_count", "_total", "_info")


def exported_names() -> set[str]:
    names: set[str] = set()
    for family in PipelineMetrics().registry.collect():
        names.update(family.name + suffix for suffix in SUFFIXES)
    return names


def referenced(text: str) -> set[str]:
    return set(re.findall(r"\bvigil_[a-z_]+", text))


def test_alert_rules_parse_and_use_exported_metrics() -> None:
    doc = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    rules = [r for g in doc["groups"] for r in g["rules"]]
    assert rules
    for rule in rules:
        assert {"alert", "expr", "annotations"} <= rule.keys()
        assert referenced(rule["expr"]) <= exported_names(), rule["alert"]


def test_dashboard_queries_use_exported_metrics() -> None:
    dash = json.loads((DEPLOY / "grafana" / "vigil-dashboard.json").read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    assert exprs
    for expr in exprs:
        used = referenced(expr)
        assert used, expr
        assert used <= exported_names(), expr
