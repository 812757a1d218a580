"""The model card's held-out table: the shipped model beside alt-profanity-check.

    python -m classifiers.heldout --data ../shared/data [--model DIR] [--json]

For every (category, dataset) pair that the dataset labels, on the fixed held-out test
split (never used in training or tuning): n, positives, ROC-AUC, and precision, recall, F1
and macro-F1 at the model's manifest threshold, with the pipeline's normalization. The peer
(if installed) is scored on the same texts at 0.5, with its single score for every category.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from classifiers.baseline import held_out_test, load_peer
from classifiers.evaluate import BinaryReport, binary_report
from classifiers.normalize import normalize_text
from classifiers.onnx_classifier import OnnxClassifier
from classifiers.training_data import CATEGORIES, UNKNOWN, load_all
from stream.settings import Settings


def _peer() -> Any:
    try:
        return load_peer()
    except SystemExit:  # the peer is not installed: report the model alone
        return None


def _cells(r: BinaryReport | None) -> str:
    if r is None:
        return "| – | – | – | – |"
    auc = "n/a" if r.roc_auc is None else f"{r.roc_auc:.3f}"
    return f"| {auc} | {r.precision:.3f} / {r.recall:.3f} | {r.f1:.3f} | {r.macro_f1:.3f} |"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    model = OnnxClassifier(args.model or Settings().model_dir, intra_op_threads=2)
    peer = _peer()
    rows: list[dict[str, Any]] = []
    for ds in load_all(args.data):
        texts, labels = held_out_test(ds)
        ours = model.predict([normalize_text(t) for t in texts])
        theirs = None if peer is None else np.asarray(peer[0](texts), dtype=np.float64)
        for j, category in enumerate(CATEGORIES):
            known = labels[:, j] != UNKNOWN
            if not known.any() or category not in model.categories:
                continue
            col = model.categories.index(category)
            threshold = model.thresholds[category]
            rows.append(
                {
                    "category": category,
                    "dataset": ds.name,
                    "model": binary_report(labels[known, j], ours[known, col], threshold),
                    "peer": None
                    if theirs is None
                    else binary_report(labels[known, j], theirs[known], 0.5),
                }
            )
    rows.sort(key=lambda r: (CATEGORIES.index(r["category"]), r["dataset"]))
    if args.json:
        print(json.dumps([
            {**r, "model": r["model"].to_dict(), "peer": r["peer"] and r["peer"].to_dict()}
            for r in rows
        ], indent=2))  # fmt: skip
        return 0
    peer_name = "alt-profanity-check " + peer[1] if peer else "peer not installed"
    print(
        f"| category | test set | n (pos) | {model.version} AUC | P / R | F1 | macro-F1 "
        f"| {peer_name} AUC | P / R | F1 | macro-F1 |"
    )
    print("|---" * 11 + "|")
    for r in rows:
        m = r["model"]
        print(f"| {r['category']} | {r['dataset']} | {m.n} ({m.positives}) "
              f"{_cells(m)} {_cells(r['peer'])[2:]}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
