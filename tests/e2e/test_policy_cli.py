"""`vigil policy lint | test | backtest`, run as a policy author would."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

pytestmark = pytest.mark.e2e

SHIPPED = Path(__file__).resolve().parents[2] / "policies" / "rules"


def vigil(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stream.cli", "policy", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_lint_accepts_the_shipped_rules() -> None:
    result = vigil("lint", str(SHIPPED))
    assert result.returncode == 0, result.stderr
    assert "ok (15 rules, 2 lists, 3 ladders" in result.stdout


def test_lint_reports_every_error_with_position_and_hint(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(SHIPPED, rules)
    text = (rules / "spam.yaml").read_text()
    (rules / "spam.yaml").write_text(
        text.replace("when: scores.spam >= 0.90", "when: scores.spma >= 0.90", 1)
    )
    (rules / "lists" / "bad.regex.txt").write_text("(a)\\1\n")
    result = vigil("lint", str(rules))
    assert result.returncode == 1
    line = 1 + next(i for i, x in enumerate(text.splitlines()) if "scores.spam >= 0.90" in x)
    assert f"spam.yaml:{line}:11: error: unknown scores 'spma'" in result.stderr
    assert "hint: did you mean 'spam'?" in result.stderr
    assert "bad.regex.txt:1:1: error: pattern rejected by RE2" in result.stderr
    assert "2 error(s)" in result.stderr


def test_the_default_policy_passes_its_tests() -> None:
    result = vigil("test", str(SHIPPED))
    assert result.returncode == 0, result.stdout + result.stderr
    assert " passed, 0 failed" in result.stdout


def test_a_failing_case_shows_the_decision_made(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(SHIPPED, rules)
    cases = rules / "tests" / "moderation.yaml"
    cases.write_text(
        cases.read_text().replace(
            "expect: {action: allow, rules: []}", "expect: {action: ban_user}", 1
        )
    )
    result = vigil("test", str(rules))
    assert result.returncode == 1
    assert "FAIL " in result.stdout
    assert "friendly banter is allowed" in result.stdout
    assert "action: expected ban_user, got allow" in result.stdout


def test_backtest_with_labels_and_baseline(tmp_path: Path) -> None:
    data = tmp_path / "sample.csv"
    data.write_text(
        "text,label\n"
        "have a great day everyone,0\n"
        "you are a worthless stupid idiot,1\n"
        "thanks for the help!,0\n"
        "shut up you moron nobody likes you,1\n"
        '"free nitro, claim it at https://example.org/x",1\n'
    )
    rules = tmp_path / "rules"
    shutil.copytree(SHIPPED, rules)
    moderation = rules / "moderation.yaml"
    moderation.write_text(
        moderation.read_text().replace(
            "when: scores.offensive >= 0.90", "when: scores.offensive >= 0.01"
        )
    )
    result = vigil(
        "backtest", "--rules", str(rules), "--baseline", str(SHIPPED), "--data", str(data), "--json"
    )
    assert result.returncode == 0, result.stderr
    report = orjson.loads(result.stdout)
    assert (report["messages"], report["labelled"], report["positives"]) == (5, 5, 3)
    rules_by_id = {r["rule"]: r for r in report["rules"]}
    assert rules_by_id["offensive_review"]["matches"] >= 2
    scam = rules_by_id["scam_phrase"]
    assert (scam["mode"], scam["matches"], scam["precision"]) == ("enforce", 1, 1.0)
    assert scam["recall"] == pytest.approx(1 / 3, abs=1e-4)
    assert report["changes"], "lowering a threshold changed nothing"
    assert all(c["from"] != c["to"] for c in report["changes"])
    table = vigil(
        "backtest", "--rules", str(rules), "--baseline", str(SHIPPED), "--data", str(data)
    )
    assert table.returncode == 0, table.stderr
    assert "Action changes against the baseline" in table.stdout


def test_backtest_bad_data_is_a_clear_error(tmp_path: Path) -> None:
    data = tmp_path / "bad.jsonl"
    data.write_text('{"content": "ok"}\n{"content": 5}\n')
    result = vigil("backtest", "--rules", str(SHIPPED), "--data", str(data))
    assert result.returncode == 1
    assert "bad.jsonl:2: needs a string 'content'" in result.stderr
