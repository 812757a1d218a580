"""Backtests: input formats, per-rule precision/recall, changes against a baseline."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType

import numpy as np
import orjson
import pytest

from classifiers.base import Scores
from classifiers.offline import InputError
from policies.backtest import backtest, read_samples
from policies.engine import RuleEngine
from tests.unit.policies.conftest import CATEGORIES, rule


class WordScores:
    """Stand-in classifier: 'hate' words score 0.95 hate, 'meh' 0.6."""

    categories = CATEGORIES
    thresholds: Mapping[str, float] = MappingProxyType({c: 0.5 for c in CATEGORIES})
    version = "words@test"

    def predict(self, texts: Sequence[str]) -> Scores:
        rows = [[0.0, 0.95 if "hate" in t else 0.6 if "meh" in t else 0.0, 0.0, 0.0] for t in texts]
        return np.asarray(rows, dtype=np.float32).reshape(len(texts), len(CATEGORIES))


def test_reads_csv_and_json_lines(tmp_path: Path) -> None:
    csv_file = tmp_path / "d.csv"
    csv_file.write_text('text,label\nhello,0\n"i hate, you",1\nno label,\n')
    samples = read_samples(csv_file)
    assert [(s.line, s.event.content, s.label) for s in samples] == [
        (2, "hello", 0), (3, "i hate, you", 1), (4, "no label", None),
    ]  # fmt: skip
    assert len({s.event.author_id for s in samples}) == 3  # one made-up author per line
    jsonl = tmp_path / "d.jsonl"
    event = {"message_id": "x1", "author_id": "a", "channel_id": "c", "content": "hi", "label": 1}
    jsonl.write_bytes(orjson.dumps(event) + b"\n\n" + orjson.dumps({"text": "yo"}) + b"\n")
    first, second = read_samples(jsonl)
    assert (first.event.message_id, first.event.author_id, first.label) == ("x1", "a", 1)
    assert (second.event.content, second.event.message_id) == ("yo", "line-3")


@pytest.mark.parametrize(
    ("name", "body", "error"),
    [
        ("a.csv", "content,label\nx,2\n", "a.csv:2: label must be 0 or 1"),
        ("b.csv", "body\nx\n", "expected a 'text' or 'content' column"),
        ("c.jsonl", '{"text": 5}\n', "c.jsonl:1: needs a string 'content'"),
        ("d.jsonl", "not json\n", "d.jsonl:1: not JSON"),
        ("e.jsonl", '{"content": "x", "author": 3}\n', "e.jsonl:1: field 'author'"),
        ("f.jsonl", "\n", "no messages"),
    ],
)
def test_bad_input_names_the_line(tmp_path: Path, name: str, body: str, error: str) -> None:
    path = tmp_path / name
    path.write_text(body)
    with pytest.raises(InputError, match=error):
        read_samples(path)


def test_report_and_baseline_changes(rules_dir: Callable[..., Path], tmp_path: Path) -> None:
    baseline = RuleEngine.load(
        rules_dir("rules:\n" + rule("hate", "scores.hate > 0.9", action="action: delete_message")),
        CATEGORIES,
    )
    (tmp_path / "new").mkdir()
    (tmp_path / "new" / "r.yaml").write_text(
        "rules:\n"
        + rule("hate", "scores.hate > 0.9", action="action: delete_message")
        + rule("meh", "scores.hate > 0.5")
        + rule("never", "scores.spam > 0.99")
    )
    new = RuleEngine.load(tmp_path / "new", CATEGORIES)
    data = tmp_path / "d.csv"
    data.write_text("text,label\ni hate it,1\nmeh,1\nmeh again,0\nfine,0\nmeh x,\n")
    report = backtest(
        WordScores(), new, read_samples(data), baseline=baseline,
        rules=[(r.spec.id, r.spec.mode) for r in new.ruleset.rules],
    )  # fmt: skip
    assert (report.messages, report.labelled, report.positives) == (5, 4, 2)
    assert report.actions == {"flag_for_review": 3, "allow": 1, "delete_message": 1}
    by_rule = {r["rule"]: r for r in report.rules}
    assert by_rule["hate"] == {
        "rule": "hate",
        "mode": "enforce",
        "matches": 1,
        "precision": 1.0,
        "recall": 0.5,
    }
    assert by_rule["meh"]["matches"] == 4  # 'i hate it' matches both
    assert by_rule["meh"]["precision"] == pytest.approx(2 / 3, abs=1e-4)
    assert by_rule["never"]["matches"] == 0
    assert by_rule["never"]["precision"] is None
    (change,) = report.changes
    assert (change["from"], change["to"], change["count"], change["harmful"]) == (
        "allow", "flag_for_review", 3, 1,
    )  # fmt: skip
    assert [e["line"] for e in change["examples"]] == [3, 4, 6]
    assert orjson.loads(orjson.dumps(report.to_dict()))["baseline_version"] == baseline.version
