"""Classifier speed alone: texts/s of `OnnxClassifier.predict` by threads and sub-batch size.

    python -m bench.classifier_speed --data ../shared/data [--model DIR]

512 held-out test texts (seeded sample, normalized beforehand), `predict` called with 32 texts
at a time as the worker does, tokenization included; median of 3 runs per setting.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

from classifiers.normalize import normalize_text
from classifiers.onnx_classifier import OnnxClassifier
from classifiers.training_data import Dataset, load_all, split_dataset
from stream.settings import Settings

CALL = 32


def held_out_texts(datasets: list[Dataset], n: int) -> list[str]:
    """A seeded sample of ``n`` held-out test texts, normalized as the worker does."""
    pool = [
        ds.texts[i] for ds in datasets for i in split_dataset(ds, seed=20240607, max_val=1500).test
    ]
    picks = np.random.default_rng(0).choice(len(pool), n, replace=False)
    return [normalize_text(pool[i]) for i in picks]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--model", type=Path, default=None)
    args = parser.parse_args()
    texts = held_out_texts(load_all(args.data), 512)
    model = args.model or Settings().model_dir
    print("| intra-op threads | texts per ONNX run | texts/s (median of 3) |\n|---|---|---|")
    for threads in (1, 2):
        for max_batch in (1, CALL):
            classifier = OnnxClassifier(model, intra_op_threads=threads, max_batch=max_batch)
            classifier.predict(texts[:CALL])
            rates = []
            for _ in range(3):
                started = time.perf_counter()
                for s in range(0, len(texts), CALL):
                    classifier.predict(texts[s : s + CALL])
                rates.append(len(texts) / (time.perf_counter() - started))
            print(f"| {threads} | {max_batch} | {statistics.median(rates):.0f} |")


if __name__ == "__main__":
    main()
