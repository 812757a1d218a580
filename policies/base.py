"""The policy extension point: one message with its scores and history in, a verdict out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Protocol, runtime_checkable

from policies.state import AuthorHistory, HistoryStore, Post, content_fingerprint
from stream.records import MessageEvent

ALLOW = "allow"

ACTION_RANK: Mapping[str, int] = {
    ALLOW: 0,
    "flag_for_review": 1,
    "delete_message": 2,
    "timeout_user": 3,
    "ban_user": 4,
}
"""Every action a rule may take, by how severe it is; the most severe matching action wins."""

SEVERITY: Mapping[str, int] = {"low": 1, "medium": 2, "high": 3, "critical": 4}
"""Rule severities as written in rule files, and the integers decisions carry."""


class PolicyError(ValueError):
    """A rule set that cannot be loaded; the message lists every problem as file:line:col."""


@dataclass(frozen=True, slots=True)
class RuleMatch:
    """One rule that matched; ``enforced`` is False for shadow rules."""

    rule_id: str
    action: str
    severity: int
    reason: str
    enforced: bool = True

    @property
    def mode(self) -> str:
        return "enforce" if self.enforced else "shadow"


@dataclass(frozen=True, slots=True)
class PolicyInput:
    """Everything a policy may look at for one message."""

    event: MessageEvent
    scores: Mapping[str, float]
    text: str
    """The normalized text the classifier scored (evasions folded, see classifiers.normalize)."""
    event_time: float
    """Seconds since the epoch: the Kafka record time, else ``created_at``, else now."""
    history: AuthorHistory = field(default_factory=AuthorHistory)
    """The author's recent messages and strikes, before this message."""
    known_post: Post | None = None
    """:meth:`post` when already computed (it hashes the ids and the text)."""

    def post(self) -> Post:
        """This message as an entry of its author's history."""
        if self.known_post is not None:
            return self.known_post
        event = self.event
        fingerprint = content_fingerprint(self.text)
        return Post.of(self.event_time, event.message_id, event.channel_id, fingerprint)


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the policy decided for one message."""

    action: str
    severity: int = 0
    matches: tuple[RuleMatch, ...] = ()
    params: Mapping[str, object] = field(default_factory=dict)
    """Action parameters, e.g. ``{"duration_seconds": 600}`` for ``timeout_user``."""
    strikes: tuple[str, ...] = ()
    """Escalation ladders this message adds a strike to (enforced ladder rules only)."""
    rule_errors: tuple[str, ...] = ()
    """Rules whose condition failed to evaluate for this message (counted, not fatal)."""

    @property
    def enforced_matches(self) -> tuple[RuleMatch, ...]:
        return tuple(m for m in self.matches if m.enforced)


@runtime_checkable
class Policy(Protocol):
    """Maps one :class:`PolicyInput` to a verdict; pure and fast (it runs on the event loop)."""

    @property
    def version(self) -> str:
        """Hash of the whole rule set (rules and lists); same rules → same version."""
        ...

    @property
    def history_seconds(self) -> float:
        """How far back author history must reach; 0 means the policy never reads it."""
        ...

    def decide(self, item: PolicyInput) -> Verdict:
        """Return the verdict for one message; raising dead-letters it (stage ``policy``)."""
        ...


def decide_and_remember(policy: Policy, store: HistoryStore | None, item: PolicyInput) -> Verdict:
    """Decide ``item`` with its author's history from ``store``, then record it there.

    The one place history is read and written, for the worker, backtests and rule tests
    alike. Policies that never read history (``history_seconds == 0``) skip the store.
    """
    keep = policy.history_seconds
    if store is None or keep <= 0:
        return policy.decide(item)
    author = item.event.author_id
    history = store.get(author)
    post = item.post()
    verdict = policy.decide(replace(item, history=history, known_post=post))
    store.put(author, history.recorded(post=post, strikes=verdict.strikes, keep_seconds=keep))
    return verdict
