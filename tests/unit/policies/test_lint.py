"""Every check of `vigil policy lint`, each with its file:line:column."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from policies.ruleset import load_rules
from tests.unit.policies.conftest import CATEGORIES, SHIPPED_RULES, rule


def lint(root: Path) -> list[str]:
    return [
        f"{d.line}:{d.column}: {d.level}: {d.message}"
        for d in load_rules(root, CATEGORIES).diagnostics
    ]


def test_shipped_rules_are_clean() -> None:
    loaded = load_rules(SHIPPED_RULES, CATEGORIES)
    assert loaded.diagnostics == []
    assert loaded.ruleset is not None
    assert len(loaded.ruleset.rules) >= 10


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ("scores.hat > 0.9", "5:11: error: unknown scores 'hat'"),
        ("author.age < 3", "5:11: error: unknown author 'age'"),
        ("lists.nope", "5:11: error: unknown lists 'nope'"),
        ("bogus > 1", "5:11: error: unknown variable 'bogus'"),
        ("scores.hate > 1.5", "5:11: error: score threshold 1.5 is outside [0, 1]"),
        ("scores.hate > 'x'", "5:11: error: type error: No such overload"),
        ("state.messages_1m + 1.0 > 3.0", "5:11: error: type error: No such overload"),
        ("scores.hate + 1.0", "5:11: error: condition must be true or false, it gives a float"),
        ("scores.hate >= 0.0", "5:11: error: condition is always true"),
        ("scores.hate > 0.9 && scores.hate < 0.5", "5:11: error: condition can never be true"),
        ("scores.hate >", "5:24: error: syntax error: the condition ends too early"),
        ("rules.r1", "5:11: error: a rule cannot refer to itself"),
        ("message.content.matches('x+')", "5:27: error: regex matching inside a condition"),
    ],
)
def test_condition_errors_name_their_position(
    rules_dir: Callable[..., Path], when: str, expected: str
) -> None:
    root = rules_dir("rules:\n" + rule("r1", when))
    assert any(d.startswith(expected) for d in lint(root)), lint(root)


def test_schema_errors(rules_dir: Callable[..., Path]) -> None:
    root = rules_dir(
        "rules:\n"
        + rule("r1", "scores.hate > 0.5", action="action: nuke", colour="red")
        + rule("r2", "scores.hate > 0.5", action="action: timeout_user")
        + rule("r3", "scores.hate > 0.6", severity="urgent")
        + rule("Bad-Id", "scores.hate > 0.7")
    )
    found = lint(root)
    assert any(d.startswith("6:13: error: action: Input should be 'allow'") for d in found), found
    assert "8:5: error: unknown field 'colour'" in found
    assert "9:5: error: timeout_user needs a duration, e.g. duration: 10m" in found
    assert any(d.startswith("20:15: error: severity: Input should be 'low'") for d in found), found
    assert any(d.startswith("21:9: error: id: String should match pattern") for d in found), found


def test_duplicates_ladders_and_cycles(rules_dir: Callable[..., Path]) -> None:
    root = rules_dir(
        "rules:\n"
        + rule("a", "rules.b && scores.hate > 0.5")
        + rule("b", "rules.a || scores.spam > 0.5")
        + rule("c", "scores.spam > 0.8", action="ladder: missing")
        + rule("d", "rules.e && scores.spam > 0.7")
        + rule("e", "scores.spam > 0.7", mode="disabled")
        + rule("c", "scores.spam > 0.9")
    )
    found = lint(root)
    assert any("rules refer to each other: a → b → a" in d for d in found), found
    assert any(d.startswith("18:13: error: unknown ladder 'missing'") for d in found), found
    assert any(d.startswith("23:11: error: refers to disabled rule 'e'") for d in found), found
    assert any(d.startswith("33:9: error: duplicate rule id 'c'") for d in found), found


def test_duplicate_yaml_key_and_invalid_yaml(rules_dir: Callable[..., Path]) -> None:
    root = rules_dir("rules:\n" + rule("a", "scores.hate > 0.5") + "    owner: twice\n")
    assert "8:5: error: duplicate key 'owner'" in lint(root)
    bad = rules_dir("rules:\n  - id: [unclosed\n")
    assert any(d.startswith("3:1: error: invalid YAML") for d in lint(bad)), lint(bad)


def test_yaml_is_safe_loaded(rules_dir: Callable[..., Path]) -> None:
    root = rules_dir("rules: !!python/object/apply:os.system ['true']\n")
    assert any("invalid YAML" in d for d in lint(root))


def test_template_checks(rules_dir: Callable[..., Path]) -> None:
    root = rules_dir(
        "rules:\n"
        + rule("a", "scores.hate > 0.5", reason='"{scores.hat:.2f} {scores} {author.roles:.2f}"')
    )
    found = lint(root)
    assert any(d.startswith("8:15: error: unknown scores 'hat'") for d in found), found
    assert any("scores is a group of values" in d for d in found), found
    assert any("format ':.2f' does not fit" in d for d in found), found


def test_list_problems(rules_dir: Callable[..., Path]) -> None:
    root = rules_dir(
        "rules:\n" + rule("a", "lists.bad"),
        lists={
            "bad.regex.txt": "# comment\nok\n(a)\\1\nfoo(?=bar)\nOK\n",
            "Bad-Name.keywords.txt": "x\n",
        },
    )
    found = lint(root)
    assert "3:1: error: pattern rejected by RE2: invalid escape sequence: \\1" in found
    assert "4:1: error: pattern rejected by RE2: invalid perl operator: (?=" in found
    assert "5:1: warning: duplicate entry (first on line 2)" in found
    assert any("list name 'Bad-Name' is not a valid identifier" in d for d in found)


def test_warnings_alone_do_not_block_loading(rules_dir: Callable[..., Path]) -> None:
    root = rules_dir("rules:\n" + rule("a", "lists.words"), lists={"words.keywords.txt": "x\nx\n"})
    loaded = load_rules(root, CATEGORIES)
    assert loaded.ruleset is not None
    assert [d.level for d in loaded.diagnostics] == ["warning"]


def test_block_scalar_positions(rules_dir: Callable[..., Path]) -> None:
    text = (
        "rules:\n  - id: a\n    description: d\n    owner: o\n    when: |\n"
        "      scores.hate > 0.5 &&\n        author.agee < 3.0\n"
        "    action: flag_for_review\n    severity: low\n"
    )
    assert "7:9: error: unknown author 'agee'" in lint(rules_dir(text))


def test_yaml_boolean_pitfall_gets_a_hint(rules_dir: Callable[..., Path]) -> None:
    (d,) = load_rules(
        rules_dir("rules:\n" + rule("off", "scores.hate > 0.5")), CATEGORIES
    ).diagnostics
    assert (d.line, d.column, d.message) == (2, 9, "id: Input should be a valid string")
    assert "quote it" in d.hint
