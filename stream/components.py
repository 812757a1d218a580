"""Builds the classifier and the policy a worker runs, honouring the extension points."""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from classifiers.base import AnyClassifier, AsyncClassifier, Classifier
from policies.base import Policy
from stream.heap import heap_trimmer
from stream.settings import Settings

if TYPE_CHECKING:
    from classifiers.onnx_classifier import OnnxClassifier


class ComponentError(RuntimeError):
    """A configured factory cannot be imported or returned the wrong kind of object."""


def _factory(path: str, setting: str) -> Callable[..., Any]:
    module_name, _, attr = path.partition(":")
    if not module_name or not attr:
        raise ComponentError(f"VIGIL_{setting.upper()}: expected 'module:callable', got {path!r}")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ComponentError(f"VIGIL_{setting.upper()}: cannot import {path!r}: {exc}") from exc
    if not callable(factory):
        raise ComponentError(f"VIGIL_{setting.upper()}: {path!r} is not callable")
    return factory  # type: ignore[no-any-return]


def onnx_classifier(settings: Settings) -> OnnxClassifier:
    """The ONNX model of ``settings`` with the worker's runtime options."""
    from classifiers.onnx_classifier import OnnxClassifier

    classifier = OnnxClassifier(
        settings.model_dir,
        intra_op_threads=settings.inference_threads,
        spinning=settings.inference_spinning,
        fuse_attention=settings.fuse_attention,
    )
    # Loading parses and rewrites the 23 MB graph: ~45 MiB that glibc would otherwise keep.
    trim = heap_trimmer()
    if trim is not None:
        trim()
    return classifier


def build_classifier(settings: Settings) -> AnyClassifier:
    if settings.classifier_factory:
        built = _factory(settings.classifier_factory, "classifier_factory")(settings)
        if not isinstance(built, Classifier | AsyncClassifier):
            raise ComponentError(
                f"{settings.classifier_factory} did not return a Classifier or an AsyncClassifier"
            )
        return built
    onnx = functools.partial(onnx_classifier, settings)
    if settings.inference_process:
        from classifiers.isolated import IsolatedClassifier

        return IsolatedClassifier(onnx)
    return onnx()


def build_policy(settings: Settings, categories: tuple[str, ...]) -> Policy:
    if settings.policy_factory:
        built = _factory(settings.policy_factory, "policy_factory")(settings, categories)
        if not isinstance(built, Policy):
            raise ComponentError(f"{settings.policy_factory} did not return a Policy")
        return built
    from policies.engine import RuleEngine

    return RuleEngine.load(settings.policy_path, categories)
