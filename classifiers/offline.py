"""Offline scoring shared by `vigil classify` and `vigil eval`.

Texts are prepared exactly as the pipeline prepares message content (prefix, then
normalization), so offline scores equal the scores the worker would give.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import orjson

from classifiers.base import Classifier, Scores, predict_checked
from classifiers.normalize import prepare_content


class InputError(ValueError):
    """An input line or CSV row that cannot be used; the message says where and why."""


def score_texts(
    classifier: Classifier, texts: list[str], max_chars: int, *, dedupe: bool = False
) -> Scores:
    """Scores of ``texts`` prepared exactly as the pipeline does: prefix, then normalize.

    With ``dedupe`` identical prepared texts are scored once (a chunk of chat often repeats
    short messages). Returns a float32 array of shape ``(len(texts), len(categories))``.
    """
    prepared = [prepare_content(t, max_chars)[0] for t in texts]
    if dedupe:
        slots: dict[str, int] = {}
        index = [slots.setdefault(t, len(slots)) for t in prepared]
        return predict_checked(classifier, list(slots))[np.asarray(index, dtype=np.int64)]
    return predict_checked(classifier, prepared)


def text_of_line(raw: bytes, first: bool) -> str:
    """The text of one input line: a JSON object's string ``content``, else the line itself."""
    line = raw.rstrip(b"\r\n")
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"not valid UTF-8 (byte {exc.start})") from None
    if first:
        text = text.removeprefix("\ufeff")
    if text.lstrip().startswith("{"):
        try:
            obj = orjson.loads(text)
        except orjson.JSONDecodeError:
            return text  # looks like JSON but is not: plain text
        if isinstance(obj, dict):
            content = obj.get("content")
            if not isinstance(content, str):
                raise InputError("JSON object without a string 'content' field")
            return content
    return text


def read_labelled_csv(path: Path) -> tuple[list[str], list[int]]:
    """Texts and 0/1 labels of a CSV with a ``text,label`` header; bad rows name their line."""
    texts: list[str] = []
    labels: list[int] = []
    line = 1
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if header is None:
                raise InputError(f"{path}: empty file; expected a header text,label")
            columns = [h.strip().lower() for h in header]
            if "text" not in columns or "label" not in columns:
                raise InputError(
                    f"{path}:1: expected a header with columns text,label, got {header!r}"
                )
            text_at, label_at = columns.index("text"), columns.index("label")
            end = reader.line_num
            for row in reader:
                line, end = end + 1, reader.line_num
                if not row:
                    continue  # blank line
                if len(row) != len(columns):
                    raise InputError(
                        f"{path}:{line}: expected {len(columns)} fields, got {len(row)}"
                    )
                label = row[label_at].strip()
                if label not in ("0", "1"):
                    raise InputError(f"{path}:{line}: label must be 0 or 1, got {label!r}")
                texts.append(row[text_at])
                labels.append(int(label))
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not valid UTF-8 ({exc.reason})") from None
    except csv.Error as exc:
        raise InputError(f"{path}:{line}: malformed CSV: {exc}") from None
    if not texts:
        raise InputError(f"{path}: no data rows")
    return texts, labels
