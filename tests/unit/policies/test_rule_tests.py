"""`vigil policy test`: the shipped default policy passes its own tests; failures show why."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from policies.engine import RuleEngine
from policies.testing import run_tests
from tests.unit.policies.conftest import CATEGORIES, SHIPPED_RULES, rule


def test_the_default_policy_passes_its_own_tests() -> None:
    results, problems = run_tests(SHIPPED_RULES, RuleEngine.load(SHIPPED_RULES, CATEGORIES))
    assert problems == []
    assert len(results) >= 25
    assert [r.name for r in results if not r.passed] == []


def test_every_shipped_rule_is_exercised_by_a_test() -> None:
    engine = RuleEngine.load(SHIPPED_RULES, CATEGORIES)
    results, _ = run_tests(SHIPPED_RULES, engine)
    matched = {m.rule_id for r in results for m in r.verdict.matches}
    assert {r.spec.id for r in engine.ruleset.rules} <= matched


def test_failures_report_the_decision_made(rules_dir: Callable[..., Path]) -> None:
    root = rules_dir(
        "rules:\n" + rule("hate", "scores.hate > 0.9", action="action: delete_message"),
        tests="""\
        cases:
          - name: passes
            message: {content: x, scores: {hate: 0.95}}
            expect: {action: delete_message, rules: [hate]}
          - name: wrong action and rules
            message: {content: x, scores: {hate: 0.5}}
            expect: {action: delete_message, rules: [hate]}
          - name: unknown rule id
            message: {content: x}
            expect: {action: allow, rules: [nope]}
          - name: unknown category
            message: {content: x, scores: {hat: 0.5}}
            expect: {action: allow}
        """,
    )
    results, problems = run_tests(root, RuleEngine.load(root, CATEGORIES))
    assert [(r.name, r.passed) for r in results] == [
        ("passes", True),
        ("wrong action and rules", False),
    ]
    assert results[1].failures == (
        "action: expected delete_message, got allow",
        "rules: expected ['hate'], got []",
    )
    assert results[1].line == 5
    assert [(d.line, d.message) for d in problems] == [
        (10, "unknown rule id 'nope'"),
        (12, "unknown category 'hat'"),
    ]


def test_invalid_test_files_are_diagnosed(rules_dir: Callable[..., Path]) -> None:
    root = rules_dir(
        "rules:\n" + rule("r", "scores.hate > 0.9"),
        tests="cases:\n  - name: x\n    message: {content: y}\n    expect: {action: explode}\n",
    )
    _, problems = run_tests(root, RuleEngine.load(root, CATEGORIES))
    assert [d.line for d in problems] == [4]
    assert "action" in problems[0].message
