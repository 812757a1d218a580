"""The rule engine: a compiled rule set as a :class:`~policies.base.Policy`.

Per message: the lists are scanned once each (RE2 sets), the variables are converted to CEL
once per dependency level, and every rule's compiled program runs against them. Shadow
rules are evaluated and reported but never change the action; exempt authors, channels
and guilds never match. The most severe action wins (then severity, priority, duration).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cel

from policies.base import ACTION_RANK, ALLOW, SEVERITY, PolicyInput, RuleMatch, Verdict
from policies.expressions import UNKNOWN_ACCOUNT_AGE_DAYS, references
from policies.lists import match_all
from policies.ruleset import RuleSet, load_or_raise
from policies.schema import Rule
from policies.state import MIN_HISTORY_SECONDS
from policies.templates import Template, fields

log = logging.getLogger(__name__)

_LINK = re.compile(r"https?://|www\.", re.IGNORECASE)
_MENTION = re.compile(r"<@!?\d+>|(?<!\w)@\w+")


@dataclass(frozen=True, slots=True)
class _Runtime:
    """A rule prepared for the hot path: sets for exemptions, a parsed reason template."""

    spec: Rule
    program: cel.Program
    order: int
    roles: frozenset[str]
    places: frozenset[str]
    """Exempt channel ids and guild ids."""
    reason: Template | None
    severity: int
    enforced: bool

    def exempt(self, item: PolicyInput) -> bool:
        event = self.places and item.event
        if event and (event.channel_id in self.places or (event.guild_id or "") in self.places):
            return True
        return bool(self.roles) and not self.roles.isdisjoint(item.event.author.roles)


def _select(variables: Mapping[str, Any], paths: list[tuple[str, ...]]) -> dict[str, Any]:
    """The part of ``variables`` that ``paths`` (shortest first) reach."""
    out: dict[str, Any] = {}
    for path in paths:
        src: Any = variables
        dst = out
        for part in path[:-1]:
            src = src[part]
            dst = dst.setdefault(part, {})
        dst[path[-1]] = src[path[-1]]
    return out


class RuleEngine:
    """Implements :class:`policies.base.Policy` over a validated rule set."""

    def __init__(self, ruleset: RuleSet) -> None:
        self.ruleset = ruleset
        order = {r.spec.id: n for n, r in enumerate(ruleset.rules)}
        self._levels = [
            [
                _Runtime(
                    r.spec,
                    r.program,
                    order[r.spec.id],
                    frozenset(r.spec.exempt.roles),
                    frozenset((*r.spec.exempt.channels, *r.spec.exempt.guilds)),
                    Template(r.spec.reason) if r.spec.reason else None,
                    SEVERITY[r.spec.severity],
                    r.spec.mode == "enforce",
                )
                for r in level
                if r.spec.mode != "disabled"
            ]
            for level in ruleset.levels
        ]
        refs = [
            [ref.path for r in level for ref in references(r.spec.when)[0]]
            for level in ruleset.levels
        ]
        # Converting a variable to CEL costs 1–3 µs, more than running a rule, so one context
        # per message holds only the variables some rule reads; each dependency level then
        # adds just the results of the rules it reads.
        self._paths = sorted({p for paths in refs for p in paths if p[0] != "rules"}, key=len)
        self._level_rule_refs = [sorted({p[1] for p in paths if p[0] == "rules"}) for paths in refs]
        self._ladder_windows = {name: float(lad.window) for name, lad in ruleset.ladders.items()}
        reads = {p[:2] for paths in refs for p in paths} | {
            f.path[:2] for r in ruleset.rules if r.spec.reason for f in fields(r.spec.reason)
        }
        # Variables that cost a scan of the text or the history are computed only when read.
        self._reads_links = bool(reads & {("message",), ("message", "links")})
        self._reads_mentions = bool(reads & {("message",), ("message", "mentions")})
        self._reads_lists = any(p[0] in ("lists", "found") for p in reads)
        reads_state = any(p[0] == "state" for p in reads)
        uses_ladders = any(r.spec.ladder and r.spec.mode != "disabled" for r in ruleset.rules)
        self._history_seconds = (
            max([MIN_HISTORY_SECONDS, *self._ladder_windows.values()])
            if reads_state or uses_ladders
            else 0.0
        )

    @classmethod
    def load(cls, path: Path, categories: tuple[str, ...]) -> RuleEngine:
        """Load ``path`` (rules directory or file); raises PolicyError listing every error."""
        return cls(load_or_raise(path, categories))

    @property
    def version(self) -> str:
        return self.ruleset.version

    @property
    def history_seconds(self) -> float:
        return self._history_seconds

    def variables(self, item: PolicyInput) -> dict[str, Any]:
        """The variables rule conditions see for ``item`` (before any rule has run)."""
        event, rs = item.event, self.ruleset
        found = match_all(rs.lists, item.text) if self._reads_lists else {}
        age = event.author.account_age_days
        state: dict[str, object] = {}
        if self._history_seconds > 0:
            state = item.history.features(item.post(), ladder_windows=self._ladder_windows)
        return {
            "scores": {c: float(item.scores.get(c, 0.0)) for c in rs.categories},
            "message": {
                "content": item.text,
                "length": len(item.text),
                "links": len(_LINK.findall(event.content)) if self._reads_links else 0,
                "mentions": len(_MENTION.findall(event.content)) if self._reads_mentions else 0,
                "truncated": len(item.text) < len(event.content.strip()),
            },
            "author": {
                "id": event.author_id,
                "account_age_days": float(age) if age is not None else UNKNOWN_ACCOUNT_AGE_DAYS,
                "roles": list(event.author.roles),
                "verified": bool(event.author.verified),
            },
            "channel": {
                "id": event.channel_id,
                "nsfw": bool(event.channel.nsfw),
                "type": event.channel.type or "",
            },
            "guild": {"id": event.guild_id or ""},
            "lists": {name: bool(hits) for name, hits in found.items()},
            "found": found,
            "state": state,
            "rules": {},
        }

    def _evaluate(
        self, variables: dict[str, Any], item: PolicyInput
    ) -> tuple[list[_Runtime], list[str]]:
        hits: list[_Runtime] = []
        errors: list[str] = []
        matched_ids: set[str] = set()
        context = cel.Context(_select(variables, self._paths))
        for level, rule_refs in zip(self._levels, self._level_rule_refs, strict=True):
            if rule_refs:
                variables["rules"] = {r: r in matched_ids for r in rule_refs}
                context.update({"rules": variables["rules"]})
            for rule in level:
                try:
                    matched = rule.program.execute(context) is True
                except Exception:  # a rule bug must not stop the other rules
                    errors.append(rule.spec.id)
                    continue
                if matched and not rule.exempt(item):
                    matched_ids.add(rule.spec.id)
                    hits.append(rule)
        hits.sort(key=lambda r: r.order)
        return hits, errors

    def _match(self, rule: _Runtime, variables: Mapping[str, Any]) -> tuple[RuleMatch, int]:
        spec = rule.spec
        action, duration = spec.action, spec.duration
        if spec.ladder is not None:
            count = variables["state"]["strikes"][spec.ladder] + 1
            step = [s for s in self.ruleset.ladders[spec.ladder].steps if s.strikes <= count][-1]
            action, duration = step.action, step.duration
        assert action is not None
        reason = spec.description
        if rule.reason is not None:
            try:
                reason = rule.reason.render(variables, {"id": spec.id, "action": action})
            except Exception:  # lint checks templates; never lose a decision over wording
                log.warning("reason template of rule %s failed; using its description", spec.id)
        return RuleMatch(spec.id, action, rule.severity, reason, rule.enforced), duration or 0

    def decide(self, item: PolicyInput) -> Verdict:
        variables = self.variables(item)
        hits, errors = self._evaluate(variables, item)
        matches: list[RuleMatch] = []
        best: tuple[tuple[int, int, int, int], RuleMatch, int] | None = None
        strikes: list[str] = []
        for rule in hits:
            match, duration = self._match(rule, variables)
            matches.append(match)
            if not match.enforced:
                continue
            if rule.spec.ladder is not None:
                strikes.append(rule.spec.ladder)
            key = (ACTION_RANK[match.action], match.severity, rule.spec.priority, duration)
            if best is None or key > best[0]:
                best = (key, match, duration)
        if best is None or best[1].action == ALLOW:
            return Verdict(
                ALLOW, 0, tuple(matches), strikes=tuple(strikes), rule_errors=tuple(errors)
            )
        _, winner, duration = best
        params = {"duration_seconds": duration} if winner.action == "timeout_user" else {}
        return Verdict(
            winner.action,
            winner.severity,
            tuple(matches),
            params,
            tuple(strikes),
            tuple(errors),
        )
