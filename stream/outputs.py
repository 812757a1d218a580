"""Encoding of the ``decisions`` and ``actions`` records (DESIGN.md contracts)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from policies.base import ALLOW, Verdict
from stream.ids import action_id
from stream.records import MessageEvent, OutboundRecord, SourcePosition

DECISION_SCHEMA = b"vigil.decision.v1"
ACTION_SCHEMA = b"vigil.action.v1"


@dataclass(frozen=True, slots=True)
class Scored:
    """Everything known about one valid input once the policy has decided."""

    event: MessageEvent
    source: SourcePosition
    scores: Mapping[str, float]
    flagged: tuple[str, ...]
    verdict: Verdict
    content_truncated: bool


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")


def encode_outputs(
    item: Scored,
    *,
    decisions_topic: str,
    actions_topic: str,
    model_version: str,
    policy_version: str,
    received_at: float,
    now: float,
) -> list[OutboundRecord]:
    """The decision for ``item``, followed by its action unless the verdict is ``allow``."""
    event, verdict = item.event, item.verdict
    key = event.author_id.encode("utf-8", "surrogatepass")
    decided_at = _iso(now)
    ids: dict[str, Any] = {
        "message_id": event.message_id,
        "author_id": event.author_id,
        "channel_id": event.channel_id,
        "guild_id": event.guild_id,
    }
    decision = {
        **ids,
        "action": verdict.action,
        "severity": verdict.severity,
        "params": dict(verdict.params),
        "scores": dict(item.scores),
        "flagged": list(item.flagged),
        "matched_rules": [
            {
                "rule_id": m.rule_id,
                "action": m.action,
                "severity": m.severity,
                "enforced": m.enforced,
                "reason": m.reason,
            }
            for m in verdict.matches
        ],
        "model_version": model_version,
        "policy_version": policy_version,
        "content_truncated": item.content_truncated,
        "source": {
            "topic": item.source.topic,
            "partition": item.source.partition,
            "offset": item.source.offset,
        },
        "created_at": event.created_at,
        "decided_at": decided_at,
        "processing_latency_seconds": round(now - received_at, 6),
    }
    out = [
        OutboundRecord(
            decisions_topic, key, orjson.dumps(decision), (("vigil.schema", DECISION_SCHEMA),)
        )
    ]
    if verdict.action != ALLOW:
        enforced = verdict.enforced_matches
        action = {
            "action_id": action_id(event, policy_version, verdict.action),
            "action": verdict.action,
            "params": dict(verdict.params),
            "severity": verdict.severity,
            "rule_ids": [m.rule_id for m in enforced],
            "reasons": [m.reason for m in enforced],
            **ids,
            "scores": dict(item.scores),
            "model_version": model_version,
            "policy_version": policy_version,
            "message_created_at": event.created_at,
            "decided_at": decided_at,
        }
        out.append(
            OutboundRecord(
                actions_topic, key, orjson.dumps(action), (("vigil.schema", ACTION_SCHEMA),)
            )
        )
    return out
