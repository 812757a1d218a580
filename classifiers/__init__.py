"""Vigil text classifiers: the :class:`Classifier` protocol and its ONNX Runtime implementation.

Importing this package pulls in only ``numpy``, ``onnxruntime`` and ``tokenizers``; the
training and export tooling (``classifiers.train``, ``classifiers.export``) is imported
explicitly.
"""

from classifiers.base import Classifier, Scores
from classifiers.manifest import Manifest, ManifestNotFoundError, ModelIntegrityError
from classifiers.onnx_classifier import DEFAULT_MODEL_DIR, OnnxClassifier, load_classifier

__all__ = [
    "DEFAULT_MODEL_DIR",
    "Classifier",
    "Manifest",
    "ManifestNotFoundError",
    "ModelIntegrityError",
    "OnnxClassifier",
    "Scores",
    "load_classifier",
]
