"""Metrics of ``classifiers.evaluate`` against hand-computed values (and the baseline report)."""

from __future__ import annotations

import math
from itertools import product

import numpy as np
import numpy.typing as npt
import pytest

from classifiers import baseline
from classifiers.evaluate import (
    Confusion,
    binary_report,
    confusion,
    macro_f1,
    midranks,
    precision_recall_f1,
    predict_at,
    roc_auc,
)
from classifiers.training_data import CATEGORIES, UNKNOWN, Dataset


def test_perfect_scores() -> None:
    y, s = [0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]
    assert roc_auc(y, s) == 1.0
    report = binary_report(y, s, 0.5)
    assert (report.precision, report.recall, report.f1, report.macro_f1) == (1.0, 1.0, 1.0, 1.0)
    assert (report.n, report.positives, report.threshold) == (4, 2, 0.5)


def test_inverted_scores() -> None:
    y, s = [0, 0, 1, 1], [0.9, 0.8, 0.2, 0.1]
    assert roc_auc(y, s) == 0.0
    report = binary_report(y, s, 0.5)
    assert confusion(y, predict_at(s, 0.5)) == Confusion(tp=0, fp=2, fn=2, tn=0)
    assert (report.precision, report.recall, report.f1, report.macro_f1) == (0.0, 0.0, 0.0, 0.0)


def test_hand_computed_precision_recall_f1_and_macro_f1() -> None:
    y = [1, 1, 1, 0, 0, 0, 0, 0]
    pred = [1, 1, 0, 1, 0, 0, 0, 0]  # tp 2, fn 1, fp 1, tn 4
    assert confusion(y, pred) == Confusion(tp=2, fp=1, fn=1, tn=4)
    p, r, f1 = precision_recall_f1(y, pred)
    assert (p, r, f1) == pytest.approx((2 / 3, 2 / 3, 2 / 3))
    # negative class: tp 4, fp 1, fn 1 -> F1 = 8 / 10
    assert macro_f1(y, pred) == pytest.approx((2 / 3 + 0.8) / 2)


def test_threshold_is_inclusive_like_the_pipeline() -> None:
    assert predict_at([0.49, 0.5, 0.51], 0.5).tolist() == [0, 1, 1]


def test_midranks_average_ties() -> None:
    assert midranks([3.0, 1.0, 3.0, 2.0]).tolist() == [3.5, 1.0, 3.5, 2.0]
    assert midranks([7.0, 7.0, 7.0]).tolist() == [2.0, 2.0, 2.0]
    assert midranks([]).tolist() == []


def test_roc_auc_counts_ties_as_one_half() -> None:
    # positives {0.5, 0.8}, negatives {0.5, 0.2}: pairs 0.5 (tie) + 1 + 1 + 1 = 3.5 of 4
    assert roc_auc([0, 1, 0, 1], [0.5, 0.5, 0.2, 0.8]) == pytest.approx(0.875)
    assert roc_auc([0, 1, 0, 1], [0.3, 0.3, 0.3, 0.3]) == 0.5


def _pairwise_auc(y: npt.NDArray[np.int8], s: npt.NDArray[np.float64]) -> float:
    pos, neg = s[y == 1], s[y == 0]
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in product(pos, neg))
    return wins / (len(pos) * len(neg))


def test_roc_auc_equals_the_pairwise_probability() -> None:
    rng = np.random.default_rng(7)
    for _ in range(20):
        y = rng.integers(0, 2, size=40).astype(np.int8)
        y[:2] = (0, 1)
        s = np.round(rng.random(40), 1)  # coarse: many ties
        assert roc_auc(y, s) == pytest.approx(_pairwise_auc(y, s), abs=1e-12)


def test_single_class_has_no_roc_auc() -> None:
    with pytest.raises(ValueError, match="only one class"):
        roc_auc([1, 1, 1], [0.2, 0.6, 0.9])
    with pytest.raises(ValueError, match="only one class"):
        roc_auc([0, 0], [0.2, 0.6])
    report = binary_report([1, 1, 1], [0.2, 0.6, 0.9], 0.5)
    assert report.roc_auc is None
    assert report.precision == 1.0
    assert report.recall == pytest.approx(2 / 3)
    assert report.to_dict()["roc_auc"] is None


def test_zero_divisions_are_zero() -> None:
    # nothing predicted positive: precision 0/0 -> 0
    assert precision_recall_f1([1, 0], [0, 0]) == (0.0, 0.0, 0.0)
    # no positive label: recall 0/0 -> 0, negative-class F1 still counts in the macro mean
    assert precision_recall_f1([0, 0], [0, 0]) == (0.0, 0.0, 0.0)
    assert macro_f1([0, 0], [0, 0]) == 0.5


@pytest.mark.parametrize(
    ("y", "s", "message"),
    [
        ([0, 2], [0.1, 0.2], "0 or 1"),
        ([0, 1], [0.1, math.nan], "finite"),
        ([0, 1], [0.1], "length"),
        ([[0, 1]], [[0.1, 0.2]], "1-dimensional"),
        ([], [], "empty"),
    ],
)
def test_invalid_input_is_a_clear_error(y: list[int], s: list[float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        binary_report(y, s, 0.5)


def test_bool_labels_are_accepted() -> None:
    assert roc_auc(np.array([False, True]), [0.1, 0.9]) == 1.0


def test_matches_scikit_learn() -> None:
    from sklearn import metrics

    rng = np.random.default_rng(11)
    for threshold in (0.3, 0.5, 0.7):
        y = rng.integers(0, 2, size=300)
        s = np.round(np.clip(0.3 * y + rng.random(300) * 0.7, 0, 1), 2)
        pred = predict_at(s, threshold)
        report = binary_report(y, s, threshold)
        assert report.roc_auc == pytest.approx(metrics.roc_auc_score(y, s), abs=1e-12)
        assert report.precision == pytest.approx(metrics.precision_score(y, pred, zero_division=0))
        assert report.recall == pytest.approx(metrics.recall_score(y, pred, zero_division=0))
        assert report.f1 == pytest.approx(metrics.f1_score(y, pred, zero_division=0))
        assert report.macro_f1 == pytest.approx(
            metrics.f1_score(y, pred, average="macro", zero_division=0)
        )


# --------------------------------------------------------------------------- baseline report


def _dataset(name: str, n: int, **labels: list[int]) -> Dataset:
    matrix = np.full((n, len(CATEGORIES)), UNKNOWN, dtype=np.int8)
    for category, column in labels.items():
        matrix[:, CATEGORIES.index(category)] = column
    return Dataset(
        name=name,
        licence="test",
        source="test",
        texts=tuple(f"{name} text {i}" for i in range(n)),
        labels=matrix,
        dropped_conflicts=0,
        dropped_duplicates=0,
    )


def test_baseline_reports_each_labelled_pair_with_caveats() -> None:
    n = 60
    davidson = _dataset("davidson2017", n, offensive=[i % 2 for i in range(n)])
    sms = _dataset("sms_spam", n, spam=[int(i % 3 == 0) for i in range(n)])

    def predict(texts: list[str]) -> npt.NDArray[np.float64]:
        return np.array([0.9 if int(t.rsplit(" ", 1)[1]) % 2 else 0.1 for t in texts])

    rows, scored, _ = baseline.evaluate_peer([davidson, sms], predict)
    assert [(r.category, r.dataset) for r in rows] == [
        ("offensive", "davidson2017"),
        ("spam", "sms_spam"),
    ]
    assert scored == rows[0].report.n + rows[1].report.n == 24  # 20 % test splits
    assert rows[0].report.roc_auc == 1.0  # the fake peer is exact on odd/even
    assert rows[0].caveats == ["optimistic: dataset used in training the peer"]
    assert rows[1].caveats == ["not designed for this category"]
    table = baseline.to_markdown(rows, "0.0", normalize=False)
    assert "| offensive | davidson2017 | 12 (6) | 1.000 |" in table
    assert "Davidson" in table
