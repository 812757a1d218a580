"""The policy extension point: an event and its scores in, a decision out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from stream.records import MessageEvent

ALLOW = "allow"


@dataclass(frozen=True, slots=True)
class RuleMatch:
    """One rule that matched; ``enforced`` is False for shadow rules."""

    rule_id: str
    action: str
    severity: int
    reason: str
    enforced: bool = True


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the policy decided for one message."""

    action: str
    severity: int = 0
    matches: tuple[RuleMatch, ...] = ()
    params: Mapping[str, object] = field(default_factory=dict)
    """Action parameters, e.g. ``{"duration_seconds": 600}`` for ``timeout_user``."""

    @property
    def enforced_matches(self) -> tuple[RuleMatch, ...]:
        return tuple(m for m in self.matches if m.enforced)


@runtime_checkable
class Policy(Protocol):
    """Maps (event, scores) to a verdict; must be pure and fast (it runs on the event loop)."""

    @property
    def version(self) -> str:
        """Hash of the whole rule set (rules and lists); same rules → same version."""
        ...

    def decide(self, event: MessageEvent, scores: Mapping[str, float]) -> Verdict:
        """Return the verdict for one event; raising dead-letters the message (stage ``policy``)."""
        ...
