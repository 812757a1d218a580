"""Fault-injecting wrappers around the real classifier and policy (via the extension points).

The worker loads them with ``VIGIL_CLASSIFIER_FACTORY=faults:classifier`` and
``VIGIL_POLICY_FACTORY=faults:policy`` (this directory on PYTHONPATH). They behave exactly
like the shipped components except for texts containing the marker strings.
"""

from __future__ import annotations

from collections.abc import Sequence

from classifiers.base import Classifier, ClassifierUnavailable, Scores
from policies.base import Policy, PolicyInput, Verdict
from stream.components import build_classifier, build_policy
from stream.settings import Settings

CLASSIFIER_FAULT = "trigger-classifier-fault"
CLASSIFIER_OUTAGE = "trigger-classifier-outage"
POLICY_FAULT = "trigger-policy-fault"


class FaultyClassifier:
    def __init__(self, inner: Classifier) -> None:
        self._inner = inner
        self.categories = inner.categories
        self.thresholds = inner.thresholds
        self.version = inner.version

    def predict(self, texts: Sequence[str]) -> Scores:
        if any(CLASSIFIER_FAULT in t for t in texts):
            raise RuntimeError("injected classifier fault")
        if any(CLASSIFIER_OUTAGE in t for t in texts):
            raise ClassifierUnavailable("injected outage: the model runtime cannot start")
        return self._inner.predict(texts)


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
    return FaultyClassifier(
        build_classifier(settings.model_copy(update={"classifier_factory": None}))
    )


def policy(settings: Settings, categories: tuple[str, ...]) -> FaultyPolicy:
    plain = settings.model_copy(update={"policy_factory": None})
    return FaultyPolicy(build_policy(plain, categories))
