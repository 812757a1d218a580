"""Fault-injecting wrappers around the real classifier and policy (via the extension points).

The worker loads them with ``VIGIL_CLASSIFIER_FACTORY=faults:classifier`` and
``VIGIL_POLICY_FACTORY=faults:policy`` (this directory on PYTHONPATH). They behave exactly
like the shipped components except for texts containing the marker strings.
"""

from __future__ import annotations

from collections.abc import Sequence

from classifiers.base import AsyncClassifier, ClassifierUnavailable, Scoring
from policies.base import Policy, PolicyInput, Verdict
from stream.components import build_classifier, build_policy
from stream.settings import Settings

CLASSIFIER_FAULT = "trigger-classifier-fault"
CLASSIFIER_OUTAGE = "trigger-classifier-outage"
POLICY_FAULT = "trigger-policy-fault"


class FaultyClassifier:
    """The worker's own classifier (its model process), failing on the marker texts."""

    def __init__(self, inner: AsyncClassifier) -> None:
        self._inner = inner
        self.categories = inner.categories
        self.thresholds = inner.thresholds
        self.version = inner.version

    async def predict_async(self, texts: Sequence[str]) -> Scoring:
        if any(CLASSIFIER_FAULT in t for t in texts):
            raise RuntimeError("injected classifier fault")
        if any(CLASSIFIER_OUTAGE in t for t in texts):
            raise ClassifierUnavailable("injected outage: the model runtime cannot start")
        return await self._inner.predict_async(texts)


class FaultyPolicy:
    def __init__(self, inner: Policy) -> None:
        self._inner = inner
        self.version = inner.version
        self.history_seconds = inner.history_seconds

    def decide(self, item: PolicyInput) -> Verdict:
        if POLICY_FAULT in item.event.content:
            raise KeyError("injected policy fault")
        return self._inner.decide(item)


def classifier(settings: Settings) -> FaultyClassifier:
    inner = build_classifier(settings.model_copy(update={"classifier_factory": None}))
    assert isinstance(inner, AsyncClassifier), "faults expect the default model process"
    return FaultyClassifier(inner)


def policy(settings: Settings, categories: tuple[str, ...]) -> FaultyPolicy:
    plain = settings.model_copy(update={"policy_factory": None})
    return FaultyPolicy(build_policy(plain, categories))
