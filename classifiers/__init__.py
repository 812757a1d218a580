"""Vigil text classifiers: the classifier protocols and the ONNX Runtime implementation.

Importing this package pulls in only ``numpy``, ``onnxruntime`` and ``tokenizers``; the
training and export tooling (``classifiers.train``, ``classifiers.export``) is imported
explicitly.
"""

from classifiers.base import AsyncClassifier, Classifier, Scores, Scoring
from classifiers.manifest import Manifest, ManifestNotFoundError, ModelIntegrityError
from classifiers.onnx_classifier import DEFAULT_MODEL_DIR, OnnxClassifier, load_classifier

__all__ = [
    "DEFAULT_MODEL_DIR",
    "AsyncClassifier",
    "Classifier",
    "Manifest",
    "ManifestNotFoundError",
    "ModelIntegrityError",
    "OnnxClassifier",
    "Scores",
    "Scoring",
    "load_classifier",
]
