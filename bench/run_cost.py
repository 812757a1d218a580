"""What one ONNX run costs by text length, one text per run and in equal-length batches.

    python -m bench.run_cost [--model DIR] [--lengths 4,8,16,32,64,128] [--batch 8] [--rounds N]

The worker's model setup (one intra-op thread, attention fused at load), ``predict`` on
texts made to tokenize to exactly each length, so a batch holds no padding. Prints ms per
text one per run and in runs of ``--batch``, and their ratio (median of the rounds' ratios;
rounds interleaved, because the machine's speed drifts). The batched figures are an upper
bound on what batching could save: the shipped graph quantizes activations per tensor, so
batched texts do not get the scores they get alone (bench/RESULTS.md, "≥ 6 × naive").
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from tokenizers import Tokenizer

from classifiers.onnx_classifier import OnnxClassifier
from stream.settings import Settings

WORD = "a"
"""One token in the shipped (BERT uncased) vocabulary, whatever its neighbours."""


def text_of_length(tokenizer: Tokenizer, tokens: int) -> str:
    """A text that ``tokenizer`` turns into exactly ``tokens`` ids (special ones included)."""
    special = len(tokenizer.encode("").ids)
    if tokens < special:
        raise ValueError(f"a text has at least {special} tokens, asked for {tokens}")
    text = " ".join([WORD] * (tokens - special))
    if len(tokenizer.encode(text).ids) != tokens:
        raise ValueError(f"{WORD!r} is not one token per word for this tokenizer")
    return text


def ms_per_text(classifier: OnnxClassifier, texts: list[str], repeats: int) -> float:
    started = time.perf_counter()
    for _ in range(repeats):
        classifier.predict(texts)
    return (time.perf_counter() - started) * 1000 / (repeats * len(texts))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--model", default=None)
    parser.add_argument("--lengths", default="4,8,16,32,64,128")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    model = Path(args.model) if args.model else Settings().model_dir
    alone = OnnxClassifier(model, max_batch=1)
    batched = OnnxClassifier(model, max_batch=args.batch)
    tokenizer = alone.tokenizer
    print(
        f"| tokens | ms per text, one per run | ms per text, {args.batch} per run | "
        f"one per run / batched (median of {args.rounds} rounds) |\n|---|---|---|---|"
    )
    for length in (int(n) for n in args.lengths.split(",")):
        texts = [text_of_length(tokenizer, length)] * args.batch
        repeats = max(2, 400 // (length * args.batch))
        ms_per_text(alone, texts, 1)  # warm up both sessions at this shape
        ms_per_text(batched, texts, 1)
        one, many = [], []
        for _ in range(args.rounds):
            one.append(ms_per_text(alone, texts, repeats))
            many.append(ms_per_text(batched, texts, repeats))
        ratio = statistics.median(o / m for o, m in zip(one, many, strict=True))
        print(
            f"| {length} | {statistics.median(one):.2f} | {statistics.median(many):.2f} | "
            f"{ratio:.2f} × |"
        )


if __name__ == "__main__":
    main()
