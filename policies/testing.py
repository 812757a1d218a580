"""Rule tests (``vigil policy test``): cases kept beside the rules, in ``tests/*.yaml``.

A case is a message with its context and scores, optionally earlier messages by the same
author (``history``), and the expected action and matched rule ids. Each case runs on a
fresh in-memory author history through :func:`policies.base.decide_and_remember`, exactly
as the worker decides, so ladders, velocity and repeated-content rules are testable.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from classifiers.normalize import prepare_content
from policies.base import PolicyInput, Verdict, decide_and_remember
from policies.engine import RuleEngine
from policies.ruleset import test_files, validation_diagnostics
from policies.schema import MessageSpec, TestCase
from policies.source import Diagnostic, display_path, load_all
from policies.state import MemoryHistoryStore
from stream.records import AuthorContext, ChannelContext, MessageEvent
from stream.settings import Settings

CASE_TIME = 1_800_000_000.0
"""The (arbitrary, fixed) time of every case's message; history is placed before it."""
MAX_CONTENT_CHARS: int = Settings.model_fields["max_content_chars"].default
"""Texts are prepared with the worker's default prefix length."""


@dataclass(frozen=True, slots=True)
class CaseResult:
    file: str
    line: int
    name: str
    verdict: Verdict
    failures: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.failures


def _event(spec: MessageSpec, message_id: str) -> MessageEvent:
    return MessageEvent(
        message_id=spec.message_id or message_id,
        author_id=spec.author_id,
        channel_id=spec.channel_id,
        guild_id=spec.guild_id,
        content=spec.content,
        author=AuthorContext(
            spec.author.account_age_days, tuple(spec.author.roles), spec.author.verified
        ),
        channel=ChannelContext(spec.channel.nsfw, spec.channel.type),
    )


def _input(spec: MessageSpec, message_id: str, at: float) -> PolicyInput:
    text, _ = prepare_content(spec.content, MAX_CONTENT_CHARS)
    return PolicyInput(_event(spec, message_id), dict(spec.scores), text, at)


def run_case(engine: RuleEngine, case: TestCase) -> Verdict:
    store = MemoryHistoryStore()
    n = len(case.history)
    for i, earlier in enumerate(case.history):
        ago = earlier.seconds_ago if earlier.seconds_ago is not None else float(n - i)
        spec = earlier.model_copy(update={"author_id": case.message.author_id})
        decide_and_remember(engine, store, _input(spec, f"history-{i}", CASE_TIME - ago))
    return decide_and_remember(engine, store, _input(case.message, "case", CASE_TIME))


def _failures(case: TestCase, verdict: Verdict) -> tuple[str, ...]:
    expect, out = case.expect, []
    if verdict.action != expect.action:
        out.append(f"action: expected {expect.action}, got {verdict.action}")
    matched = sorted(m.rule_id for m in verdict.matches)
    if expect.rules is not None and matched != sorted(expect.rules):
        out.append(f"rules: expected {sorted(expect.rules)}, got {matched}")
    duration = verdict.params.get("duration_seconds")
    if expect.duration is not None and duration != expect.duration:
        out.append(f"duration: expected {expect.duration}s, got {duration}")
    return tuple(out)


def run_tests(root: Path, engine: RuleEngine) -> tuple[list[CaseResult], list[Diagnostic]]:
    """Results of every case under ``root/tests``, and problems with the test files."""
    results: list[CaseResult] = []
    problems: list[Diagnostic] = []
    known_rules = {r.spec.id for r in engine.ruleset.rules}
    categories = set(engine.ruleset.categories)
    files = test_files(root)
    if not files:
        problems.append(
            Diagnostic(display_path(root), 1, 1, "no rule tests", "add cases in tests/*.yaml")
        )
    docs, found = load_all(files)
    problems += found
    for doc in docs:
        raw_cases = doc.data.get("cases") if isinstance(doc.data, dict) else None
        if not isinstance(raw_cases, list) or not raw_cases:
            problems.append(doc.diagnostic((), "expected a mapping with a non-empty 'cases:' list"))
            continue
        cases: list[tuple[int, TestCase]] = []
        for i, raw in enumerate(raw_cases):
            try:
                cases.append((i, TestCase.model_validate(raw)))
            except ValidationError as exc:
                problems += validation_diagnostics(doc, exc, ("cases", i))
        for i, case in cases:
            where = ("cases", i)
            bad = [
                doc.diagnostic((*where, "expect", "rules"), f"unknown rule id {rule!r}")
                for rule in case.expect.rules or ()
                if rule not in known_rules
            ]
            for spec in (case.message, *case.history):
                bad += [
                    doc.diagnostic((*where, "message", "scores"), f"unknown category {c!r}")
                    for c in spec.scores
                    if c not in categories
                ]
            if bad:
                problems += bad
                continue
            verdict = run_case(engine, case)
            line = doc.at(where).line
            results.append(CaseResult(doc.file, line, case.name, verdict, _failures(case, verdict)))
    return results, problems
