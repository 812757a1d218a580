"""Binary-classification metrics for evaluating a classifier head, in plain numpy.

These are small pure functions so that the ``vigil eval`` command, the baseline script and
the model build all compute metrics the same way without needing scikit-learn at run time.

Conventions (they match scikit-learn with ``zero_division=0``):

* labels are ``0`` (negative) / ``1`` (positive, i.e. harmful); any other value is an error;
* a text is predicted positive when its score is ``>= threshold`` (as the pipeline flags);
* precision is ``0.0`` when nothing is predicted positive, recall is ``0.0`` when there is no
  positive label, F1 is ``0.0`` when precision + recall is ``0``;
* ROC-AUC is undefined when only one class is present: :func:`roc_auc` raises
  :class:`ValueError`, and :func:`binary_report` records it as ``None``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

LabelInput = npt.ArrayLike | Sequence[int]
ScoreInput = npt.ArrayLike | Sequence[float]


@dataclass(frozen=True, slots=True)
class Confusion:
    """Counts of a binary confusion matrix (positive class = 1)."""

    tp: int
    fp: int
    fn: int
    tn: int


@dataclass(frozen=True, slots=True)
class BinaryReport:
    """Every metric of one category on one labelled set, at one threshold."""

    n: int
    positives: int
    precision: float
    recall: float
    f1: float
    macro_f1: float
    roc_auc: float | None
    """``None`` when the set has only one class (ROC-AUC is undefined)."""
    threshold: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def as_labels(y_true: LabelInput) -> npt.NDArray[np.int8]:
    """``y_true`` as a 1-d int8 array of 0/1; raises :class:`ValueError` otherwise."""
    arr = np.asarray(y_true)
    if arr.ndim != 1:
        raise ValueError(f"labels must be 1-dimensional, got shape {arr.shape}")
    if arr.dtype == np.bool_:
        return arr.astype(np.int8)
    if arr.size and not np.isin(arr, (0, 1)).all():
        bad = arr[~np.isin(arr, (0, 1))][0]
        raise ValueError(f"labels must be 0 or 1, got {bad!r}")
    return arr.astype(np.int8)


def as_scores(y_score: ScoreInput) -> npt.NDArray[np.float64]:
    """``y_score`` as a 1-d float64 array of finite values; raises :class:`ValueError`."""
    arr = np.asarray(y_score, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"scores must be 1-dimensional, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError("scores must be finite (found NaN or infinity)")
    return arr


def _same_length(a: npt.NDArray[Any], b: npt.NDArray[Any]) -> None:
    if a.shape != b.shape:
        raise ValueError(f"labels and predictions differ in length: {len(a)} vs {len(b)}")


def confusion(y_true: LabelInput, y_pred: LabelInput) -> Confusion:
    """Confusion counts of 0/1 predictions ``y_pred`` against 0/1 labels ``y_true``."""
    t, p = as_labels(y_true), as_labels(y_pred)
    _same_length(t, p)
    tb, pb = t.astype(bool), p.astype(bool)
    return Confusion(
        tp=int(np.count_nonzero(tb & pb)),
        fp=int(np.count_nonzero(~tb & pb)),
        fn=int(np.count_nonzero(tb & ~pb)),
        tn=int(np.count_nonzero(~tb & ~pb)),
    )


def _ratio(num: int, den: int) -> float:
    return num / den if den else 0.0


def _f1(tp: int, fp: int, fn: int) -> float:
    # 2PR/(P+R) == 2tp/(2tp+fp+fn), and 0 when there is no true or predicted positive.
    return _ratio(2 * tp, 2 * tp + fp + fn)


def precision_recall_f1(y_true: LabelInput, y_pred: LabelInput) -> tuple[float, float, float]:
    """Precision, recall and F1 of the positive class (``0.0`` where a ratio is ``0/0``)."""
    c = confusion(y_true, y_pred)
    return _ratio(c.tp, c.tp + c.fp), _ratio(c.tp, c.tp + c.fn), _f1(c.tp, c.fp, c.fn)


def macro_f1(y_true: LabelInput, y_pred: LabelInput) -> float:
    """Unweighted mean of the F1 of the positive class and the F1 of the negative class."""
    c = confusion(y_true, y_pred)
    return (_f1(c.tp, c.fp, c.fn) + _f1(c.tn, c.fn, c.fp)) / 2


def predict_at(y_score: ScoreInput, threshold: float) -> npt.NDArray[np.int8]:
    """0/1 predictions: ``1`` where ``score >= threshold`` (the pipeline's flag rule)."""
    return (as_scores(y_score) >= threshold).astype(np.int8)


def midranks(values: ScoreInput) -> npt.NDArray[np.float64]:
    """1-based ranks of ``values`` in ascending order; tied values share their mean rank."""
    arr = as_scores(values)
    _, inverse, counts = np.unique(arr, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts).astype(np.float64)  # rank of the last member of each tie group
    result: npt.NDArray[np.float64] = (ends - (counts - 1) / 2.0)[inverse.reshape(-1)]
    return result


def roc_auc(y_true: LabelInput, y_score: ScoreInput) -> float:
    """Area under the ROC curve via the rank-sum (Mann-Whitney U) formula.

    ``AUC = (R+ - n+(n+ + 1)/2) / (n+ n-)`` where ``R+`` is the sum of the positives' ranks
    among all scores, ties getting their mean rank: it equals the probability that a random
    positive scores higher than a random negative, counting ties as one half (identical to
    the trapezoidal ROC area). Raises :class:`ValueError` if either class is absent.
    """
    t, s = as_labels(y_true), as_scores(y_score)
    _same_length(t, s)
    n_pos = int(np.count_nonzero(t))
    n_neg = len(t) - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError(
            f"ROC-AUC is undefined with only one class present ({n_pos} positive, "
            f"{n_neg} negative labels)"
        )
    rank_sum = float(midranks(s)[t.astype(bool)].sum())
    return (rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)


def binary_report(y_true: LabelInput, y_score: ScoreInput, threshold: float) -> BinaryReport:
    """All metrics of scores ``y_score`` against labels ``y_true``, flagging at ``threshold``.

    Raises :class:`ValueError` for an empty set; ``roc_auc`` is ``None`` for a one-class set.
    """
    t, s = as_labels(y_true), as_scores(y_score)
    _same_length(t, s)
    if len(t) == 0:
        raise ValueError("cannot evaluate an empty set")
    pred = predict_at(s, threshold)
    precision, recall, f1 = precision_recall_f1(t, pred)
    try:
        auc: float | None = roc_auc(t, s)
    except ValueError:
        auc = None
    return BinaryReport(
        n=len(t),
        positives=int(np.count_nonzero(t)),
        precision=precision,
        recall=recall,
        f1=f1,
        macro_f1=macro_f1(t, pred),
        roc_auc=auc,
        threshold=float(threshold),
    )
