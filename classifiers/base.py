"""The classifier extension point: a batch of texts in, calibrated probabilities out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

Scores = npt.NDArray[np.float32]
"""Shape ``(n_texts, len(categories))``; row ``i`` scores ``texts[i]``, each value in [0, 1]."""


@runtime_checkable
class Classifier(Protocol):
    """Scores normalized texts per category; must be thread-safe for one caller at a time
    (for ``pipeline_depth`` callers if it is :class:`Pipelined`)."""

    @property
    def categories(self) -> tuple[str, ...]:
        """Category names, in the column order of :meth:`predict`'s result."""
        ...

    @property
    def thresholds(self) -> Mapping[str, float]:
        """Per-category decision threshold calibrated on validation data."""
        ...

    @property
    def version(self) -> str:
        """Stable model identifier carried in every decision, e.g. ``minilm-multitask@4eaad9c1``."""
        ...

    def predict(self, texts: Sequence[str]) -> Scores:
        """Return calibrated probabilities for ``texts``; an empty batch gives shape (0, k)."""
        ...


@runtime_checkable
class StageTimed(Protocol):
    """Optional: a classifier that reports where its time goes (for stage metrics)."""

    @property
    def last_stage_seconds(self) -> Mapping[str, float]:
        """Wall seconds per internal stage (e.g. ``tokenize``, ``infer``) of the calling
        thread's latest ``predict``; a ``queued`` entry is time it waited for another call."""
        ...


@runtime_checkable
class Pipelined(Protocol):
    """Optional: a classifier that queues overlapping ``predict`` calls and runs them in
    order, so a caller keeps ``pipeline_depth`` calls in flight to never leave it idle."""

    @property
    def pipeline_depth(self) -> int:
        """How many ``predict`` calls a caller should have in flight at once."""
        ...


class ClassifierUnavailable(RuntimeError):
    """The classifier cannot score anything now, whatever the input (its runtime cannot be
    started). Not an input's fault: nothing is dead-lettered, the worker stops and its
    unacknowledged inputs are processed again after the restart."""


class ClassifierOutputError(RuntimeError):
    """A classifier broke its contract: not one finite row per text and category."""


def predict_checked(classifier: Classifier, texts: Sequence[str]) -> Scores:
    """``classifier.predict(texts)``, refusing output that breaks the protocol's contract."""
    scores = classifier.predict(texts)
    k = len(classifier.categories)
    if scores.shape != (len(texts), k) or not np.isfinite(scores).all():
        raise ClassifierOutputError(
            f"{classifier.version} returned shape {scores.shape} for {len(texts)} texts and "
            f"{k} categories, or non-finite values"
        )
    return scores
