"""Other ONNX exports of the shipped weights, timed against the shipped graph.

    python -m bench.export_variants --data ../shared/data      # needs the train extra

Is there a faster graph for the same model? The fine-tuned weights are rebuilt from the
shipped int8 graph (``bench.naive.dequantized_weights``; re-quantizing gives its int8 values
back), exported again, and turned into:

- ``re-export``: the shipped recipe again (``classifiers.export``: plain graph, dynamic int8);
- ``fused, int8 attention``: ONNX Runtime's BERT fusions (``onnxruntime.transformers``:
  Attention, SkipLayerNormalization, BiasGelu, EmbedLayerNormalization), then dynamic int8
  of everything, attention included (``QAttention``);
- ``fused, fp32 attention``: the same fusions, int8 only for the MatMuls;
- ``fused fp32``: the fusions alone;
- ``static int8``: the plain graph with *static* int8 MatMuls (QOperator, uint8 activations,
  per-channel int8 weights), activation ranges calibrated (min/max) on 256 training texts.
  Fixed activation scales make a text's score independent of its batch-mates, which is what
  would let the worker batch texts (dynamic int8 computes the scales per batch).

Every graph runs as exported (``fuse_attention=False``); one more row runs the shipped graph
as the worker loads it, its attention blocks fused (``classifiers.graph_rewrite``).
Each is timed as the worker runs it (one thread, 32 texts per call, tokenization included)
in interleaved rounds, one text per ONNX run and in length-sorted sub-batches of 16, and
compared with the shipped model on held-out texts: max |Δp|, thresholded-label agreement,
how far a text's score moves when it is scored in a sub-batch rather than alone, and the
pooled ROC-AUC per category on the whole held-out test split.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt

from bench.classifier_speed import held_out_texts, texts_per_second
from classifiers.manifest import MANIFEST_FILE, MODEL_FILE, sha256_file
from classifiers.onnx_classifier import DEFAULT_MODEL_DIR, OnnxClassifier
from classifiers.training_data import Dataset, load_all

ROUNDS = 9
SUB_BATCH = 16
CALIBRATION_TEXTS = 256
FUSED_AT_LOAD = "shipped, attention fused at load (classifiers.graph_rewrite, the default)"


def _rebuilt_fp32(model_dir: Path, out: Path) -> None:
    import torch
    from transformers import AutoConfig, AutoModel

    from bench.naive import dequantized_weights
    from classifiers.export import Calibrated, export_fp32
    from classifiers.train import MultiTask, default_base
    from classifiers.training_data import CATEGORIES

    weights = dequantized_weights(model_dir / MODEL_FILE)
    config = AutoConfig.from_pretrained(str(default_base()))
    # Eager attention: ONNX Runtime's fusion patterns do not match the SDPA export.
    encoder = AutoModel.from_config(config, attn_implementation="eager", add_pooling_layer=False)
    model = MultiTask(encoder, len(CATEGORIES))
    state = {k: torch.from_numpy(np.array(v)) for k, v in weights.items() if k != "temperature"}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or [m for m in missing if "position_ids" not in m]:
        raise ValueError(f"weights do not fit: missing {missing}, unexpected {unexpected}")
    export_fp32(Calibrated(model, weights["temperature"].tolist()).eval(), out)


def _static_int8(fp32: Path, out: Path, datasets: list[Dataset], tokenizer: Path) -> None:
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from tokenizers import Tokenizer

    from classifiers.export import MAX_LENGTH
    from classifiers.train import encode, gather

    pool = gather(datasets, "train", max_val=1500).texts
    picks = np.random.default_rng(1).choice(len(pool), CALIBRATION_TEXTS, replace=False)
    feeds = []
    for ids in encode(Tokenizer.from_file(str(tokenizer)), [pool[i] for i in picks], MAX_LENGTH):
        batch = np.array([ids], dtype=np.int64)
        feeds.append({"input_ids": batch, "attention_mask": np.ones_like(batch)})

    class Reader(CalibrationDataReader):  # type: ignore[misc]  # untyped base class
        def __init__(self) -> None:
            self._feeds = iter(feeds)

        def get_next(self) -> dict[str, npt.NDArray[np.int64]] | None:
            return next(self._feeds, None)

    quantize_static(
        str(fp32), str(out), Reader(), quant_format=QuantFormat.QOperator,
        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True,
        op_types_to_quantize=["MatMul"], calibrate_method=CalibrationMethod.MinMax,
    )  # fmt: skip


def _variants(model_dir: Path, tmp: Path, datasets: list[Dataset]) -> dict[str, Path]:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers import optimizer
    from transformers import AutoConfig

    from classifiers.export import quantize_int8
    from classifiers.train import default_base

    fp32, fused = tmp / "fp32.onnx", tmp / "fused32.onnx"
    _rebuilt_fp32(model_dir, fp32)
    config = AutoConfig.from_pretrained(str(default_base()))
    optimizer.optimize_model(
        str(fp32),
        model_type="bert",
        num_heads=config.num_attention_heads,
        hidden_size=config.hidden_size,
        opt_level=1,
    ).save_model_to_file(str(fused))
    quantize_int8(fp32, tmp / "plain8.onnx")
    _static_int8(fp32, tmp / "static8.onnx", datasets, model_dir / "tokenizer.json")
    # The fused graph's contrib ops defeat shape inference: say that activations are fp32.
    fp32_default = {"DefaultTensorType": onnx.TensorProto.FLOAT}
    for name, ops in (("fused8.onnx", None), ("fusedmm8.onnx", ["MatMul", "Gemm"])):
        quantize_dynamic(
            str(fused), str(tmp / name), weight_type=QuantType.QInt8, per_channel=True,
            op_types_to_quantize=ops, extra_options=fp32_default,
        )  # fmt: skip
    return {
        "shipped": model_dir / MODEL_FILE,
        "re-export (shipped recipe)": tmp / "plain8.onnx",
        "fused, int8 attention": tmp / "fused8.onnx",
        "fused, fp32 attention": tmp / "fusedmm8.onnx",
        "fused fp32": fused,
        "static int8": tmp / "static8.onnx",
    }


def _model_dir(model_dir: Path, graph: Path, out: Path) -> Path:
    """``model_dir`` with ``graph`` as its model, manifest hash updated."""
    shutil.copytree(model_dir, out)
    shutil.copyfile(graph, out / MODEL_FILE)
    manifest = json.loads((out / MANIFEST_FILE).read_text())
    manifest["files"][MODEL_FILE] = sha256_file(out / MODEL_FILE)
    (out / MANIFEST_FILE).write_text(json.dumps(manifest))
    return out


def _test_aucs(datasets: list[Dataset]) -> Callable[[OnnxClassifier], str]:
    """Pooled ROC-AUC per category on the held-out test split, as ``a / b / c / d``."""
    from classifiers.normalize import normalize_text
    from classifiers.train import aucs, gather

    test = gather(datasets, "test", max_val=1500)
    texts = [normalize_text(t) for t in test.texts]

    def of(model: OnnxClassifier) -> str:
        return " / ".join(f"{auc:.4f}" for auc in aucs(test.labels, model.predict(texts)).values())

    return of


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_DIR)
    parser.add_argument("--texts", type=int, default=1024)
    args = parser.parse_args()
    datasets = load_all(args.data)
    texts = held_out_texts(datasets, args.texts)
    test_aucs = _test_aucs(datasets)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        graphs = _variants(args.model, tmp, datasets)
        dirs = {
            name: _model_dir(args.model, g, tmp / f"dir{i}")
            for i, (name, g) in enumerate(graphs.items())
        }
        dirs[FUSED_AT_LOAD] = dirs["shipped"]
        models = {
            (name, size): OnnxClassifier(d, max_batch=size, fuse_attention=name == FUSED_AT_LOAD)
            for name, d in dirs.items()
            for size in (1, SUB_BATCH)
        }
    shipped = models["shipped", 1]
    reference = shipped.predict(texts)
    thresholds = np.array([shipped.thresholds[c] for c in shipped.categories], dtype=np.float32)
    rates: dict[tuple[str, int], list[float]] = {key: [] for key in models}
    for _ in range(ROUNDS):  # interleaved: the machine's speed drifts between rounds
        for key, model in models.items():
            rates[key].append(texts_per_second(model.predict, texts))
    base = statistics.median(rates["shipped", 1])
    print(f"{len(texts)} held-out texts, one thread, median of {ROUNDS} interleaved rounds\n")
    print(
        "| graph | texts/s, one per run | vs shipped | texts/s, sub-batches of "
        f"{SUB_BATCH} | max abs Δp | label agreement | max Δp alone vs batched "
        f"| test ROC-AUC ({' / '.join(shipped.categories)}) |\n"
        "|---|---|---|---|---|---|---|---|"
    )
    for name in dirs:
        alone = models[name, 1].predict(texts)
        batched = models[name, SUB_BATCH].predict(texts)
        rate = statistics.median(rates[name, 1])
        agree = ((alone >= thresholds) == (reference >= thresholds)).mean()
        print(
            f"| {name} | {rate:.0f} | {rate / base:.2f} × | "
            f"{statistics.median(rates[name, SUB_BATCH]):.0f} | "
            f"{np.abs(alone - reference).max():.3f} | {agree:.4f} | "
            f"{np.abs(alone - batched).max():.1e} | {test_aucs(models[name, 1])} |"
        )


if __name__ == "__main__":
    main()
