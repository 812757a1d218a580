"""A minimal threshold policy: per-category score thresholds mapped to actions.

The rule file is YAML (safe-loaded)::

    rules:
      - id: hate-high
        category: hate
        above: 0.90
        action: delete_message
        severity: 3
      - id: spam-repeat
        category: spam
        above: 0.95
        action: timeout_user
        params: {duration_seconds: 600}

A rule matches when ``scores[category] >= above``. The most severe action wins (ties: the
higher rule severity); every matched rule is reported.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from policies.base import ALLOW, RuleMatch, Verdict
from stream.records import MessageEvent

ACTION_RANK: Mapping[str, int] = {
    ALLOW: 0,
    "flag_for_review": 1,
    "delete_message": 2,
    "timeout_user": 3,
    "ban_user": 4,
}


class PolicyError(ValueError):
    """A rule file that cannot be loaded; the message names the file and the rule."""


@dataclass(frozen=True, slots=True)
class ThresholdRule:
    id: str
    category: str
    above: float
    action: str
    severity: int
    params: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""


class ThresholdPolicy:
    """Implements :class:`policies.base.Policy` over a list of :class:`ThresholdRule`."""

    def __init__(self, rules: list[ThresholdRule], version: str) -> None:
        self.rules = rules
        self._version = version

    @property
    def version(self) -> str:
        return self._version

    @classmethod
    def load(cls, path: Path, categories: tuple[str, ...]) -> ThresholdPolicy:
        """Load and validate ``path``; unknown categories and actions are errors."""
        try:
            raw_bytes = path.read_bytes()
        except OSError as exc:
            raise PolicyError(f"{path}: cannot read rule file: {exc.strerror}") from None
        try:
            doc = yaml.safe_load(raw_bytes)
        except yaml.YAMLError as exc:
            raise PolicyError(f"{path}: invalid YAML: {exc}") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("rules"), list):
            raise PolicyError(f"{path}: expected a mapping with a 'rules' list")
        rules: list[ThresholdRule] = []
        seen: set[str] = set()
        for i, raw in enumerate(doc["rules"]):
            where = f"{path}: rules[{i}]"
            if not isinstance(raw, dict):
                raise PolicyError(f"{where}: expected a mapping")
            try:
                rule = ThresholdRule(
                    id=str(raw["id"]),
                    category=str(raw["category"]),
                    above=float(raw["above"]),
                    action=str(raw["action"]),
                    severity=int(raw.get("severity", ACTION_RANK.get(str(raw["action"]), 0))),
                    params=dict(raw.get("params") or {}),
                    description=str(raw.get("description", "")),
                )
            except KeyError as exc:
                raise PolicyError(f"{where}: missing field {exc.args[0]!r}") from None
            except (TypeError, ValueError) as exc:
                raise PolicyError(f"{where}: {exc}") from None
            if rule.id in seen:
                raise PolicyError(f"{where}: duplicate rule id {rule.id!r}")
            if rule.category not in categories:
                raise PolicyError(
                    f"{where} ({rule.id}): unknown category {rule.category!r}; "
                    f"the model scores {', '.join(categories)}"
                )
            if rule.action not in ACTION_RANK:
                raise PolicyError(
                    f"{where} ({rule.id}): unknown action {rule.action!r}; "
                    f"expected one of {', '.join(ACTION_RANK)}"
                )
            if not 0.0 <= rule.above <= 1.0:
                raise PolicyError(f"{where} ({rule.id}): 'above' must be within [0, 1]")
            seen.add(rule.id)
            rules.append(rule)
        version = "thresholds@" + hashlib.sha256(raw_bytes).hexdigest()[:12]
        return cls(rules, version)

    def decide(self, event: MessageEvent, scores: Mapping[str, float]) -> Verdict:
        matches = [
            RuleMatch(
                rule_id=r.id,
                action=r.action,
                severity=r.severity,
                reason=f"{r.category} score {scores[r.category]:.2f} ≥ {r.above:.2f} ({r.id})",
            )
            for r in self.rules
            if scores[r.category] >= r.above
        ]
        if not matches:
            return Verdict(action=ALLOW)
        winner = max(matches, key=lambda m: (ACTION_RANK[m.action], m.severity))
        rule = next(r for r in self.rules if r.id == winner.rule_id)
        return Verdict(
            action=winner.action,
            severity=winner.severity,
            matches=tuple(matches),
            params=rule.params,
        )
