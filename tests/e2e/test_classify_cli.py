"""``vigil classify`` and ``vigil eval`` with the configured model, run as a user would."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from classifiers.manifest import Manifest
from stream.settings import Settings

pytestmark = pytest.mark.e2e

EVAL_KEYS = {
    "n",
    "positives",
    "precision",
    "recall",
    "f1",
    "macro_f1",
    "roc_auc",
    "threshold",
    "texts_per_s",
    "model_version",
}


def vigil(
    *args: str, stdin: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stream.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=timeout,
        env={**os.environ},
    )


@pytest.fixture(scope="module")
def manifest() -> Manifest:
    return Manifest.load(Settings().model_dir)


def outputs(result: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in result.stdout.splitlines()]


def check_output(row: dict[str, Any], manifest: Manifest) -> None:
    assert list(row) == ["text", "scores", "flagged"]
    assert list(row["scores"]) == list(manifest.categories)
    assert all(0.0 <= v <= 1.0 for v in row["scores"].values())
    assert row["flagged"] == [
        c for c in manifest.categories if row["scores"][c] >= manifest.thresholds[c]
    ]


def test_classify_file_mixes_plain_and_json_lines(tmp_path: Path, manifest: Manifest) -> None:
    lines = [
        "you are a stupid idiot",
        '{"content": "have a nice day", "author_id": "u-1"}',
        '{"message_id": "m-3"}',  # JSON object without content: a bad line
        "{not json, so plain text",
        '{"content": "ünïcödé, \\"quotes\\" and 🙂"}',
        "42",  # valid JSON but not an object: plain text
        '{"content": 7}',  # content is not a string: a bad line
        "",
    ]
    path = tmp_path / "in.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    result = vigil("classify", "--input", str(path))

    assert result.returncode == 1
    rows = outputs(result)
    assert [r["text"] for r in rows] == [
        "you are a stupid idiot",
        "have a nice day",
        "{not json, so plain text",
        'ünïcödé, "quotes" and 🙂',
        "42",
        "",
    ]
    for row in rows:
        check_output(row, manifest)
    assert rows[0]["scores"]["offensive"] > rows[1]["scores"]["offensive"]
    errors = result.stderr.strip().splitlines()
    assert f"{path}:3: JSON object without a string 'content' field" in errors
    assert f"{path}:7: JSON object without a string 'content' field" in errors
    assert "2 of 8 lines could not be scored" in errors[-1]


def test_classify_reads_stdin_and_keeps_order_across_chunks(manifest: Manifest) -> None:
    texts = [f"message number {i}, see you later" for i in range(7)]
    texts[3] = "you are a stupid idiot"
    stdin = "\n".join(texts) + "\n"

    whole = vigil("classify", stdin=stdin)
    chunked = vigil("classify", "--batch", "2", stdin=stdin)

    assert whole.returncode == 0, whole.stderr
    assert chunked.returncode == 0, chunked.stderr
    assert [r["text"] for r in outputs(whole)] == texts
    assert [r["text"] for r in outputs(chunked)] == texts
    for row in outputs(whole):
        check_output(row, manifest)
    assert outputs(whole) == outputs(vigil("classify", "--input", "-", stdin=stdin))


def test_classify_ten_thousand_lines(tmp_path: Path) -> None:
    templates = [
        "hey, are you coming to the game tonight? {i}",
        "lol that was so funny {i}",
        "you are a stupid idiot {i}",
        "WIN a FREE iPhone now, text {i} to claim",
        "can someone help me with the homework for question {i}",
    ]
    texts = [templates[i % len(templates)].format(i=i) for i in range(10_000)]
    path = tmp_path / "many.txt"
    path.write_text("\n".join(texts) + "\n", encoding="utf-8")

    started = time.perf_counter()
    result = vigil("classify", "--input", str(path), timeout=900)
    elapsed = time.perf_counter() - started

    assert result.returncode == 0, result.stderr
    rows = result.stdout.splitlines()
    assert len(rows) == 10_000
    assert orjson.loads(rows[0])["text"] == texts[0]
    assert orjson.loads(rows[-1])["text"] == texts[-1]
    print(f"\nvigil classify: 10,000 lines in {elapsed:.1f} s ({10_000 / elapsed:.0f} lines/s)")


def test_classify_refuses_a_missing_model(tmp_path: Path) -> None:
    result = vigil("classify", "--model", str(tmp_path / "nope"), stdin="hello\n")
    assert result.returncode == 1
    assert result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("Error:")
    assert "manifest" in line


def test_classify_refuses_a_tampered_model(tmp_path: Path) -> None:
    source = Settings().model_dir
    tampered = tmp_path / "model"
    tampered.mkdir()
    for item in source.iterdir():
        if item.name == "tokenizer.json":
            shutil.copy(item, tampered / item.name)
        else:
            (tampered / item.name).symlink_to(item.resolve())
    with (tampered / "tokenizer.json").open("a", encoding="utf-8") as fh:
        fh.write(" ")

    result = vigil("classify", "--model", str(tampered), stdin="hello\n")

    assert result.returncode == 1
    assert result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert "tokenizer.json" in line
    assert "sha256 mismatch" in line


def write_csv(path: Path, rows: list[tuple[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return path


def test_eval_reports_metrics(tmp_path: Path, manifest: Manifest) -> None:
    harmful = [
        "you are a stupid idiot",
        "shut up, you worthless moron",
        "what a fucking idiot, go to hell",
        "you are a pathetic loser, idiot",
        "fuck off, dumbass",
        "you're an ugly stupid piece of shit",
    ]
    benign = [
        "have a nice day",
        "thanks, see you tomorrow at the meeting",
        'the recipe says "two cups, not three"',
        "happy birthday! hope you have a great one",
        "can you send me the notes from class?",
        "the weather is lovely today",
    ]
    data = write_csv(
        tmp_path / "eval.csv", [(t, "1") for t in harmful] + [(t, "0") for t in benign]
    )

    result = vigil("eval", "--data", str(data), "--category", "offensive")

    assert result.returncode == 0, result.stderr
    (line,) = result.stdout.strip().splitlines()
    report = orjson.loads(line)
    assert set(report) >= EVAL_KEYS
    assert (report["n"], report["positives"]) == (12, 6)
    for key in ("precision", "recall", "f1", "macro_f1", "roc_auc"):
        assert 0.0 <= report[key] <= 1.0, key
    assert report["roc_auc"] > 0.5
    assert report["threshold"] == pytest.approx(manifest.thresholds["offensive"])
    assert report["texts_per_s"] > 0
    assert report["model_version"] == manifest.model_version


def test_eval_single_class_has_null_roc_auc(tmp_path: Path) -> None:
    data = write_csv(tmp_path / "one.csv", [("you are a stupid idiot", "1"), ("idiot", "1")])
    result = vigil("eval", "--data", str(data), "--category", "offensive")
    assert result.returncode == 0, result.stderr
    assert orjson.loads(result.stdout)["roc_auc"] is None
    assert "only one class" in result.stderr


def test_eval_unknown_category_lists_the_models_categories(
    tmp_path: Path, manifest: Manifest
) -> None:
    data = write_csv(tmp_path / "d.csv", [("hello", "0"), ("idiot", "1")])
    result = vigil("eval", "--data", str(data), "--category", "no-such-category")
    assert result.returncode == 1
    assert "no-such-category" in result.stderr
    assert all(c in result.stderr for c in manifest.categories)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("text,label\nhello,0\nbye,maybe\n", ":3: label must be 0 or 1, got 'maybe'"),
        ('text,label\n"multi\nline",0\nbad row\n', ":4: expected 2 fields, got 1"),
        ("message,score\nhello,0\n", ":1: expected a header with columns text,label"),
        ("", "empty file"),
        ("text,label\n", "no data rows"),
    ],
)
def test_eval_rejects_a_malformed_csv(tmp_path: Path, content: str, expected: str) -> None:
    data = tmp_path / "bad.csv"
    data.write_text(content, encoding="utf-8")
    result = vigil("eval", "--data", str(data), "--category", "offensive")
    assert result.returncode == 1
    assert result.stdout == ""
    assert expected in result.stderr
