"""Backtests (``vigil policy backtest``): replay a file of messages through a rule set.

Messages are scored by the same classifier and text preparation as the worker, then decided
in file order with per-author history, as the worker would decide them. The report gives
matches per rule, precision and recall per rule where the file has labels, and, against a
baseline rule set, every message whose action changes, grouped by old → new action.
"""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from classifiers.base import Classifier
from classifiers.normalize import prepare_content
from classifiers.offline import InputError, score_texts
from policies.base import Policy, PolicyInput, Verdict, decide_and_remember
from policies.state import MemoryHistoryStore
from stream.decode import DecodeError, decode_message
from stream.records import MessageEvent, event_time

START_TIME = 1_800_000_000.0
"""Messages without ``created_at`` are placed one second apart from this time."""
EXAMPLES_PER_CHANGE = 3


@dataclass(frozen=True, slots=True)
class Sample:
    line: int
    event: MessageEvent
    label: int | None


def _label(value: Any, where: str) -> int | None:
    if value is None or value == "":
        return None
    if str(value).strip() in ("0", "1"):
        return int(str(value).strip())
    raise InputError(f"{where}: label must be 0 or 1, got {value!r}")


def _event(doc: dict[str, Any], line: int, where: str) -> MessageEvent:
    """A full message event, or a bare text with ids made up per line."""
    text = doc.get("content", doc.get("text"))
    if not isinstance(text, str):
        raise InputError(f"{where}: needs a string 'content' (or 'text') field")
    full = {
        "message_id": f"line-{line}",
        # One author per line unless given: made-up shared authors would trip velocity rules.
        "author_id": f"author-{line}",
        "channel_id": "channel-1",
        **{k: v for k, v in doc.items() if k not in ("label", "text")},
        "content": text,
    }
    try:
        return decode_message(orjson.dumps(full), max_bytes=1 << 20, max_depth=32)
    except DecodeError as exc:
        raise InputError(f"{where}: {exc}") from None


def read_samples(path: Path) -> list[Sample]:
    """A CSV with a ``text`` (or ``content``) column, or JSON lines; ``label`` is optional."""
    samples: list[Sample] = []
    try:
        if path.suffix.lower() == ".csv":
            with path.open(encoding="utf-8-sig", newline="") as fh:
                reader = csv.DictReader(fh)
                columns = {c.strip().lower() for c in reader.fieldnames or ()}
                if not columns & {"text", "content"}:
                    raise InputError(f"{path}:1: expected a 'text' or 'content' column")
                for n, row in enumerate(reader, start=2):
                    doc = {k.strip().lower(): v for k, v in row.items() if k}
                    where = f"{path}:{n}"
                    samples.append(
                        Sample(n, _event(doc, n, where), _label(doc.get("label"), where))
                    )
        else:
            with path.open("rb") as fh:
                for n, raw in enumerate(fh, start=1):
                    if not raw.strip():
                        continue
                    where = f"{path}:{n}"
                    try:
                        doc = orjson.loads(raw)
                    except orjson.JSONDecodeError as exc:
                        raise InputError(f"{where}: not JSON: {exc}") from None
                    if not isinstance(doc, dict):
                        raise InputError(f"{where}: expected a JSON object")
                    samples.append(
                        Sample(n, _event(doc, n, where), _label(doc.get("label"), where))
                    )
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not valid UTF-8 ({exc.reason})") from None
    except csv.Error as exc:
        raise InputError(f"{path}: malformed CSV: {exc}") from None
    if not samples:
        raise InputError(f"{path}: no messages")
    return samples


def decide_all(
    policy: Policy,
    samples: Sequence[Sample],
    texts: Sequence[str],
    scores: Any,
    categories: Sequence[str],
) -> list[Verdict]:
    """Each sample's verdict, in order, with per-author history as in the worker."""
    store = MemoryHistoryStore()
    out = []
    for i, sample in enumerate(samples):
        score_map = {c: float(scores[i][j]) for j, c in enumerate(categories)}
        at = event_time(sample.event, None, START_TIME + i)
        out.append(
            decide_and_remember(policy, store, PolicyInput(sample.event, score_map, texts[i], at))
        )
    return out


@dataclass(slots=True)
class RuleReport:
    rule: str
    mode: str
    matches: int = 0
    true_positives: int = 0
    labelled: int = 0

    def metrics(self, positives: int) -> dict[str, Any]:
        precision = self.true_positives / self.labelled if self.labelled else None
        recall = self.true_positives / positives if positives else None
        return {
            "rule": self.rule,
            "mode": self.mode,
            "matches": self.matches,
            "precision": None if precision is None else round(precision, 4),
            "recall": None if recall is None else round(recall, 4),
        }


@dataclass(slots=True)
class Report:
    messages: int
    labelled: int
    positives: int
    policy_version: str
    model_version: str
    actions: dict[str, int]
    rules: list[dict[str, Any]]
    baseline_version: str | None = None
    changes: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "messages": self.messages,
            "labelled": self.labelled,
            "positives": self.positives,
            "policy_version": self.policy_version,
            "model_version": self.model_version,
            "actions": self.actions,
            "rules": self.rules,
            "baseline_version": self.baseline_version,
            "changes": self.changes,
        }


def _rule_reports(
    policy_rules: Sequence[tuple[str, str]], samples: Sequence[Sample], verdicts: Sequence[Verdict]
) -> list[RuleReport]:
    reports = {rule: RuleReport(rule, mode) for rule, mode in policy_rules}
    for sample, verdict in zip(samples, verdicts, strict=True):
        for match in verdict.matches:
            report = reports.setdefault(match.rule_id, RuleReport(match.rule_id, match.mode))
            report.matches += 1
            if sample.label is not None:
                report.labelled += 1
                report.true_positives += sample.label
    return list(reports.values())


def backtest(
    classifier: Classifier,
    policy: Policy,
    samples: Sequence[Sample],
    *,
    rules: Sequence[tuple[str, str]] = (),
    baseline: Policy | None = None,
    max_chars: int = 2000,
) -> Report:
    """Score ``samples`` once, decide them with ``policy`` (and ``baseline``), and report.

    ``rules`` lists (rule id, mode) of the policy so rules that never matched are reported too.
    """
    contents = [s.event.content for s in samples]
    texts = [prepare_content(c, max_chars)[0] for c in contents]
    scores = score_texts(classifier, contents, max_chars, dedupe=True).tolist()
    categories = tuple(classifier.categories)
    verdicts = decide_all(policy, samples, texts, scores, categories)
    labelled = [s for s in samples if s.label is not None]
    positives = sum(s.label or 0 for s in labelled)
    report = Report(
        messages=len(samples),
        labelled=len(labelled),
        positives=positives,
        policy_version=policy.version,
        model_version=classifier.version,
        actions=dict(Counter(v.action for v in verdicts).most_common()),
        rules=[r.metrics(positives) for r in _rule_reports(rules, samples, verdicts)],
    )
    if baseline is not None:
        report.baseline_version = baseline.version
        before = decide_all(baseline, samples, texts, scores, categories)
        groups: dict[tuple[str, str], list[Sample]] = defaultdict(list)
        for sample, old, new in zip(samples, before, verdicts, strict=True):
            if old.action != new.action:
                groups[(old.action, new.action)].append(sample)
        for (old_action, new_action), changed in sorted(groups.items(), key=lambda kv: -len(kv[1])):
            report.changes.append(
                {
                    "from": old_action,
                    "to": new_action,
                    "count": len(changed),
                    "harmful": sum(s.label or 0 for s in changed if s.label is not None),
                    "examples": [
                        {
                            "line": s.line,
                            "message_id": s.event.message_id,
                            "content": s.event.content[:120],
                        }
                        for s in changed[:EXAMPLES_PER_CHANGE]
                    ],
                }
            )
    return report
