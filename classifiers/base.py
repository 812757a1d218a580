"""The classifier extension point: a batch of texts in, calibrated probabilities out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

Scores = npt.NDArray[np.float32]
"""Shape ``(n_texts, len(categories))``; row ``i`` scores ``texts[i]``, each value in [0, 1]."""


class ModelInfo(Protocol):
    """What every classifier tells about itself."""

    @property
    def categories(self) -> tuple[str, ...]:
        """Category names, in the column order of the scores."""
        ...

    @property
    def thresholds(self) -> Mapping[str, float]:
        """Per-category decision threshold calibrated on validation data."""
        ...

    @property
    def version(self) -> str:
        """Stable model identifier carried in every decision, e.g. ``minilm-multitask@4eaad9c1``."""
        ...


@runtime_checkable
class Classifier(ModelInfo, Protocol):
    """Scores normalized texts per category in the caller's thread (CPU-bound work: the
    worker calls it on its inference thread); must be thread-safe for one caller at a time."""

    def predict(self, texts: Sequence[str]) -> Scores:
        """Return calibrated probabilities for ``texts``; an empty batch gives shape (0, k)."""
        ...


@dataclass(frozen=True, slots=True)
class Scoring:
    """One :meth:`AsyncClassifier.predict_async` answer."""

    scores: Scores
    """As :meth:`Classifier.predict` returns them."""
    stage_seconds: Mapping[str, float]
    """Wall seconds per stage (e.g. ``tokenize``, ``infer``); a ``queued`` entry is time the
    call waited behind calls made before it."""


@runtime_checkable
class AsyncClassifier(ModelInfo, Protocol):
    """Scores texts somewhere else (a model process, a model server) and waits for the answer
    on the caller's event loop, so the worker needs no thread for it; calls may overlap."""

    async def predict_async(self, texts: Sequence[str]) -> Scoring:
        """The scores of ``texts`` (as :meth:`Classifier.predict`) and where their time went."""
        ...


AnyClassifier = Classifier | AsyncClassifier
"""What the worker runs: a classifier it calls on a thread, or one it awaits."""


@runtime_checkable
class StageTimed(Protocol):
    """Optional for a :class:`Classifier`: it reports where its time goes (stage metrics)."""

    @property
    def last_stage_seconds(self) -> Mapping[str, float]:
        """Wall seconds per internal stage (e.g. ``tokenize``, ``infer``) of the calling
        thread's latest ``predict``."""
        ...


class ClassifierUnavailable(RuntimeError):
    """The classifier cannot score anything now, whatever the input (its runtime cannot be
    started). Not an input's fault: nothing is dead-lettered, the worker stops and its
    unacknowledged inputs are processed again after the restart."""


class ClassifierOutputError(RuntimeError):
    """A classifier broke its contract: not one finite row per text and category."""


def checked(classifier: ModelInfo, texts: Sequence[str], scores: Scores) -> Scores:
    """``scores`` for ``texts``, refused if they break the classifier contract."""
    k = len(classifier.categories)
    if scores.shape != (len(texts), k) or not np.isfinite(scores).all():
        raise ClassifierOutputError(
            f"{classifier.version} returned shape {scores.shape} for {len(texts)} texts and "
            f"{k} categories, or non-finite values"
        )
    return scores


def predict_checked(classifier: Classifier, texts: Sequence[str]) -> Scores:
    """``classifier.predict(texts)``, refusing output that breaks the protocol's contract."""
    return checked(classifier, texts, classifier.predict(texts))
