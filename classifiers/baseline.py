"""Peer baseline: ``alt-profanity-check`` on Vigil's fixed held-out test splits.

Usage::

    python -m classifiers.baseline --data ../shared/data [--json] [--normalize]

``alt-profanity-check`` (PyPI; ``from profanity_check import predict_prob``) is a linear SVM
over bag-of-words features that ships its own scikit-learn model. It is the peer the model
card compares against. It is designed to detect profanity / offensive language only; it is
reported for every category anyway, to show how far a profanity score carries, but its
``hate``, ``spam`` and ``targeted`` rows are not a test of what it was built for. It was
trained partly on Davidson et al. 2017, so its ``davidson2017`` rows are optimistic: some
of those test texts may be in its training data.

Every (category, dataset) pair where the dataset labels the category is evaluated on the
test split of :func:`classifiers.training_data.split_dataset` (seed 20240607, the same
texts the shipped models are tested on), at threshold 0.5 (the package's own ``predict``
cut-off). Texts are scored as the dataset holds them (the peer's intended input); with
``--normalize`` they first go through :func:`classifiers.normalize.normalize_text` as in
Vigil's pipeline. Needs the ``train`` extra's scikit-learn plus ``alt-profanity-check``.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from classifiers.evaluate import BinaryReport, binary_report
from classifiers.normalize import normalize_text
from classifiers.training_data import CATEGORIES, UNKNOWN, Dataset, load_all, split_dataset

SEED = 20240607
MAX_VAL = 1500
THRESHOLD = 0.5
PEER = "alt-profanity-check"
DESIGNED_FOR = frozenset({"offensive"})
PEER_TRAINING_DATA = frozenset({"davidson2017"})

NOTES: tuple[str, ...] = (
    f"{PEER} is a profanity/offensive-language detector: only its 'offensive' rows test what "
    "it was designed for; the other categories show how far a profanity score carries.",
    f"{PEER} was trained partly on Davidson et al. 2017, so its davidson2017 rows are "
    "optimistic (test texts may be in its training data).",
    f"Threshold {THRESHOLD} ({PEER}'s own predict() cut-off), not tuned on Vigil's "
    "validation split; ROC-AUC is threshold-free.",
)

Predictor = Callable[[list[str]], npt.NDArray[np.float64]]


@dataclass(frozen=True)
class Row:
    category: str
    dataset: str
    report: BinaryReport

    @property
    def caveats(self) -> list[str]:
        out = []
        if self.category not in DESIGNED_FOR:
            out.append("not designed for this category")
        if self.dataset in PEER_TRAINING_DATA:
            out.append("optimistic: dataset used in training the peer")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "category": self.category,
            "dataset": self.dataset,
            **self.report.to_dict(),
            "caveats": self.caveats,
        }


def held_out_test(ds: Dataset) -> tuple[list[str], npt.NDArray[np.int8]]:
    """Texts and label matrix of ``ds``'s fixed held-out test split."""
    idx = split_dataset(ds, seed=SEED, max_val=MAX_VAL).test
    return [ds.texts[i] for i in idx.tolist()], ds.labels[idx]


def evaluate_peer(
    datasets: Sequence[Dataset], predict: Predictor, *, normalize: bool = False
) -> tuple[list[Row], int, float]:
    """Rows for every labelled (category, dataset) pair, texts scored, seconds scoring."""
    rows: list[Row] = []
    scored, seconds = 0, 0.0
    for ds in datasets:
        texts, labels = held_out_test(ds)
        started = time.perf_counter()
        scores = np.asarray(
            predict([normalize_text(t) for t in texts] if normalize else texts), dtype=np.float64
        )
        seconds += time.perf_counter() - started
        scored += len(texts)
        for j, category in enumerate(CATEGORIES):
            known = labels[:, j] != UNKNOWN
            if not known.any():
                continue
            report = binary_report(labels[known, j], scores[known], THRESHOLD)
            rows.append(Row(category, ds.name, report))
    rows.sort(key=lambda r: (CATEGORIES.index(r.category), r.dataset))
    return rows, scored, seconds


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def to_markdown(rows: Sequence[Row], version: str, normalize: bool) -> str:
    lines = [
        f"Peer baseline: {PEER} {version} on the held-out test splits (seed {SEED}), "
        f"threshold {THRESHOLD}, texts {'normalized' if normalize else 'as in the datasets'}.",
        "",
        "| category | test set | n (pos) | ROC-AUC | precision | recall | F1 | macro-F1 | caveat |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        r = row.report
        lines.append(
            f"| {row.category} | {row.dataset} | {r.n} ({r.positives}) | {_fmt(r.roc_auc)} | "
            f"{_fmt(r.precision)} | {_fmt(r.recall)} | {_fmt(r.f1)} | {_fmt(r.macro_f1)} | "
            f"{'; '.join(row.caveats)} |"
        )
    lines.append("")
    lines.extend(f"* {note}" for note in NOTES)
    return "\n".join(lines)


def load_peer() -> tuple[Predictor, str]:
    try:
        module = importlib.import_module("profanity_check")
        version = importlib.metadata.version(PEER)
    except (ImportError, importlib.metadata.PackageNotFoundError) as exc:
        raise SystemExit(f"{PEER} is not installed ({exc}); pip install {PEER}") from None
    predict_prob: Callable[[list[str]], Any] = module.predict_prob

    def predict(texts: list[str]) -> npt.NDArray[np.float64]:
        return np.asarray(predict_prob(texts), dtype=np.float64)

    return predict, version


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m classifiers.baseline",
        description=f"Score {PEER} on Vigil's held-out test splits.",
    )
    parser.add_argument("--data", type=Path, required=True, help="shared/data directory")
    parser.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    parser.add_argument(
        "--normalize", action="store_true", help="normalize texts as the pipeline does first"
    )
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        parser.error(f"--data {args.data} is not a directory")
    predict, version = load_peer()
    try:
        datasets = load_all(args.data)
    except (OSError, ValueError, KeyError) as exc:
        parser.error(f"cannot load the datasets under {args.data}: {exc}")
    rows, scored, seconds = evaluate_peer(datasets, predict, normalize=args.normalize)
    if args.json:
        result = {
            "peer": PEER,
            "version": version,
            "seed": SEED,
            "threshold": THRESHOLD,
            "normalized": args.normalize,
            "texts_scored": scored,
            "texts_per_s": round(scored / seconds, 1) if seconds > 0 else None,
            "notes": list(NOTES),
            "results": [row.to_dict() for row in rows],
        }
        print(json.dumps(result, indent=2))
    else:
        print(to_markdown(rows, version, args.normalize))
        print(f"\n{scored} test texts scored at {scored / seconds:.0f} texts/s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
