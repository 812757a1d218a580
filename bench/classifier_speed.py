"""Classifier speed alone: texts/s of `OnnxClassifier.predict` by threads, sub-batch size and
whether the attention blocks are fused at load (``classifiers.graph_rewrite``).

    python -m bench.classifier_speed --data ../shared/data [--model DIR] [--rounds N]

512 held-out test texts (seeded sample, normalized beforehand), `predict` called with 32 texts
at a time as the worker does, tokenization included; every setting once per round, rounds
interleaved, median of the rounds (5 by default).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from classifiers.normalize import normalize_text
from classifiers.onnx_classifier import OnnxClassifier
from classifiers.training_data import Dataset, load_all, split_dataset
from stream.settings import Settings

CALL = 32
ROUNDS = 5


def held_out_texts(datasets: list[Dataset], n: int) -> list[str]:
    """A seeded sample of ``n`` held-out test texts, normalized as the worker does."""
    pool = [
        ds.texts[i] for ds in datasets for i in split_dataset(ds, seed=20240607, max_val=1500).test
    ]
    picks = np.random.default_rng(0).choice(len(pool), n, replace=False)
    return [normalize_text(pool[i]) for i in picks]


def texts_per_second(predict: Callable[[list[str]], object], texts: list[str]) -> float:
    """Rate of ``predict`` over ``texts`` in worker-sized calls of ``CALL`` texts."""
    started = time.perf_counter()
    for s in range(0, len(texts), CALL):
        predict(texts[s : s + CALL])
    return len(texts) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    args = parser.parse_args()
    texts = held_out_texts(load_all(args.data), 512)
    model = args.model or Settings().model_dir
    models = {
        (threads, max_batch, fuse): OnnxClassifier(
            model, intra_op_threads=threads, max_batch=max_batch, fuse_attention=fuse
        )
        for threads in (1, 2)
        for max_batch in (1, CALL)
        for fuse in (True, False)
    }
    rates: dict[tuple[int, int, bool], list[float]] = {key: [] for key in models}
    for classifier in models.values():
        classifier.predict(texts[:CALL])
    for _ in range(args.rounds):  # interleaved: the machine's speed drifts between rounds
        for key, classifier in models.items():
            rates[key].append(texts_per_second(classifier.predict, texts))
    print(
        f"| intra-op threads | texts per ONNX run | attention fused at load | texts/s (median "
        f"of {args.rounds}) | fused / as exported (median of the rounds' ratios) |\n"
        "|---|---|---|---|---|"
    )
    for (threads, max_batch, fuse), measured in rates.items():
        ratio = ""
        if fuse:
            plain = rates[threads, max_batch, False]
            ratio = f"{statistics.median(f / p for f, p in zip(measured, plain, strict=True)):.3f}"
        print(
            f"| {threads} | {max_batch} | {'yes' if fuse else 'no'} | "
            f"{statistics.median(measured):.0f} | {ratio} |"
        )
    moved = np.abs(models[1, 1, True].predict(texts) - models[1, 1, False].predict(texts))
    print(f"\nmax |Δp| fused against as exported, one text per run: {moved.max():.1e}")


if __name__ == "__main__":
    main()
