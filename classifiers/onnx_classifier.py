"""ONNX Runtime implementation of the :class:`~classifiers.base.Classifier` protocol.

Runtime dependencies are deliberately small: ``onnxruntime``, ``tokenizers`` and ``numpy``
(no ``torch``/``transformers`` import at serving time).

Pipeline per :meth:`OnnxClassifier.predict` call:

1. tokenize every text with the shipped ``tokenizer.json`` (truncated to the manifest's
   ``max_length``, no padding);
2. sort texts by token length (stable) and cut the sorted list into sub-batches of at most
   ``max_batch`` texts, so that each sub-batch is padded only to its own longest member
   (dynamic padding + length bucketing);
3. run each sub-batch through the ONNX graph, which outputs per-category probabilities
   (the graph's attention blocks are fused into onnxruntime's MultiHeadAttention kernel at
   load, :mod:`classifiers.graph_rewrite`, unless ``fuse_attention=False``);
4. scatter the rows back to the caller's order.

Batch dependence: a dynamically quantized (int8) graph computes activation scales per
*tensor*, i.e. per sub-batch, so with ``max_batch > 1`` a text's int8 score moves with the
other texts (and padding) it is batched with -- measured up to ~0.16 in probability on the
first shipped model (see the model card's "Runtime" note). With
``max_batch=1`` every text is run alone and unpadded, so its score is a deterministic
function of the text; on short chat messages on a 2-core CPU it is 2x faster than one padded
batch of 32 (``bench/classifier_speed.py``).
``max_batch=None`` (the default) uses the manifest's ``max_batch``, which the build sets to
1 for int8 models.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import numpy.typing as npt
import onnxruntime as ort  # type: ignore[import-untyped,unused-ignore]
from tokenizers import Encoding, Tokenizer

from classifiers.base import Scores
from classifiers.graph_rewrite import RewriteReport, rewrite
from classifiers.manifest import (
    MODEL_FILE,
    REQUIRED_FILES,
    TOKENIZER_FILE,
    Manifest,
    ModelIntegrityError,
    sha256_bytes,
)

log = logging.getLogger(__name__)

DEFAULT_MODEL_DIR: Path = (
    Path(__file__).resolve().parent.parent / "onnx_models" / "minilm-multitask-v2"
)
"""The shipped default model (resolved relative to this source checkout)."""

OUTPUT_NAME = "probabilities"
FALLBACK_MAX_BATCH = 64
"""Sub-batch size when neither the caller nor the manifest gives one."""
_KNOWN_INPUTS = frozenset({"input_ids", "attention_mask", "token_type_ids"})

IntArray = npt.NDArray[np.int64]


class OnnxClassifier:
    """Multi-label text classifier backed by an ONNX graph and a HF ``tokenizers`` tokenizer.

    The model directory must contain a ``manifest.json`` listing the sha256 of
    ``model.onnx`` and ``tokenizer.json``; the exact bytes that are hashed are the bytes
    that are loaded, so a file swapped between check and load cannot slip through.

    ``predict`` is safe to call from several threads (ONNX Runtime sessions and
    ``tokenizers`` encoders are thread-safe), though the protocol only requires one caller
    at a time.
    """

    def __init__(
        self,
        model_dir: Path | str,
        *,
        intra_op_threads: int = 1,
        inter_op_threads: int = 1,
        max_batch: int | None = None,
        spinning: bool = True,
        fuse_attention: bool = True,
    ) -> None:
        if max_batch is not None and max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        if intra_op_threads < 0 or inter_op_threads < 0:
            raise ValueError("thread counts must be >= 0 (0 lets ONNX Runtime decide)")
        self._model_dir = Path(model_dir)

        manifest = Manifest.load(self._model_dir)
        if max_batch is None:
            max_batch = manifest.max_batch if manifest.max_batch is not None else FALLBACK_MAX_BATCH
        self._max_batch = max_batch
        self._calls = threading.local()  # per thread: the latest predict's stage times
        # Hash the listed extras (e.g. the model card); the model and tokenizer are hashed
        # from the very bytes handed to the runtimes, so nothing can change in between.
        manifest.verify(self._model_dir, skip=REQUIRED_FILES)
        model_bytes = self._read_verified(manifest, MODEL_FILE)
        self._graph_rewrite: RewriteReport | None = None
        if fuse_attention:
            try:
                model_bytes, self._graph_rewrite = rewrite(model_bytes)
                log.info(
                    "graph rewrite of %s: %s", self._model_dir / MODEL_FILE, self._graph_rewrite
                )
            except Exception:  # an optimization must not make a loadable model unloadable
                log.warning(
                    "cannot rewrite %s; running it as exported",
                    self._model_dir / MODEL_FILE,
                    exc_info=True,
                )
        tokenizer_bytes = self._read_verified(manifest, TOKENIZER_FILE)
        self._manifest = manifest
        self._categories = manifest.categories
        self._thresholds: Mapping[str, float] = MappingProxyType(dict(manifest.thresholds))
        self._version = manifest.model_version

        self._tokenizer = self._build_tokenizer(tokenizer_bytes, manifest.max_length)
        self._pad_id = self._find_pad_id(self._tokenizer)

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.intra_op_num_threads = intra_op_threads
        options.inter_op_num_threads = inter_op_threads
        options.log_severity_level = 3
        # Spinning intra-op threads busy-wait for work: fastest when inference owns the
        # cores, but in a worker they steal CPU from the event loop and the Kafka client.
        options.add_session_config_entry(
            "session.intra_op.allow_spinning", "1" if spinning else "0"
        )
        try:
            self._session: Any = ort.InferenceSession(
                model_bytes, sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own untyped exception classes
            raise ModelIntegrityError(
                f"{self._model_dir / MODEL_FILE} matches its manifest hash but ONNX Runtime "
                f"cannot load it: {exc}"
            ) from exc
        self._input_names = self._check_io()

    # ------------------------------------------------------------------ protocol surface
    @property
    def categories(self) -> tuple[str, ...]:
        return self._categories

    @property
    def thresholds(self) -> Mapping[str, float]:
        return self._thresholds

    @property
    def version(self) -> str:
        return self._version

    @property
    def manifest(self) -> Manifest:
        """The verified manifest this classifier was loaded from."""
        return self._manifest

    @property
    def max_batch(self) -> int:
        return self._max_batch

    @property
    def tokenizer(self) -> Tokenizer:
        """The verified tokenizer ``predict`` uses: truncating at the manifest's
        ``max_length``, never padding (a sub-batch is padded to its longest text)."""
        return self._tokenizer

    @property
    def graph_rewrite(self) -> RewriteReport | None:
        """What the load-time rewrite changed (``None``: switched off, or it failed)."""
        return self._graph_rewrite

    def predict(self, texts: Sequence[str]) -> Scores:
        """Probabilities of shape ``(len(texts), len(categories))``, rows in input order."""
        if isinstance(texts, str):
            raise TypeError("predict() takes a sequence of texts, not a single str")
        n = len(texts)
        k = len(self._categories)
        out: Scores = np.empty((n, k), dtype=np.float32)
        if n == 0:
            return out
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"texts[{i}] is {type(text).__name__}, expected str")

        started = time.perf_counter()
        encodings: list[Encoding] = self._tokenizer.encode_batch(list(texts))
        tokenized = time.perf_counter()
        lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=n)
        order = np.argsort(lengths, kind="stable")
        for start in range(0, n, self._max_batch):
            idx = order[start : start + self._max_batch]
            out[idx] = self._run([encodings[i] for i in idx])
        np.clip(out, 0.0, 1.0, out=out)
        self._calls.stages = {
            "tokenize": tokenized - started,
            "infer": time.perf_counter() - tokenized,
        }
        return out

    @property
    def last_stage_seconds(self) -> Mapping[str, float]:
        """Seconds this thread's latest ``predict`` spent tokenizing and running the model."""
        stages: Mapping[str, float] = getattr(self._calls, "stages", {})
        return stages

    # ------------------------------------------------------------------ internals
    def _run(self, batch: list[Encoding]) -> Scores:
        width = max(len(e.ids) for e in batch)
        input_ids: IntArray = np.full((len(batch), width), self._pad_id, dtype=np.int64)
        attention: IntArray = np.zeros((len(batch), width), dtype=np.int64)
        for row, enc in enumerate(batch):
            length = len(enc.ids)
            input_ids[row, :length] = enc.ids
            attention[row, :length] = 1
        feeds: dict[str, IntArray] = {"input_ids": input_ids, "attention_mask": attention}
        if "token_type_ids" in self._input_names:
            feeds["token_type_ids"] = np.zeros_like(input_ids)
        (probs,) = self._session.run([OUTPUT_NAME], feeds)
        result: Scores = np.asarray(probs, dtype=np.float32)
        if result.shape != (len(batch), len(self._categories)):
            raise RuntimeError(
                f"model returned shape {result.shape}, expected "
                f"{(len(batch), len(self._categories))}"
            )
        return result

    def _read_verified(self, manifest: Manifest, fname: str) -> bytes:
        path = self._model_dir / fname
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ModelIntegrityError(f"cannot read {path}: {exc}") from exc
        manifest.check_digest(fname, sha256_bytes(data))
        return data

    @staticmethod
    def _build_tokenizer(data: bytes, max_length: int) -> Tokenizer:
        try:
            tokenizer = Tokenizer.from_str(data.decode("utf-8"))
        except Exception as exc:  # tokenizers raises a plain Exception on bad JSON
            raise ModelIntegrityError(f"{TOKENIZER_FILE} cannot be parsed: {exc}") from exc
        # The shipped file may carry fixed-length padding; we pad per sub-batch ourselves.
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length=max_length)
        return tokenizer

    @staticmethod
    def _find_pad_id(tokenizer: Tokenizer) -> int:
        for token in ("[PAD]", "<pad>"):
            pad = tokenizer.token_to_id(token)
            if pad is not None:
                return int(pad)
        return 0

    def _check_io(self) -> frozenset[str]:
        inputs = frozenset(str(i.name) for i in self._session.get_inputs())
        unknown = inputs - _KNOWN_INPUTS
        if unknown or not {"input_ids", "attention_mask"} <= inputs:
            raise ModelIntegrityError(
                f"{MODEL_FILE} has inputs {sorted(inputs)}; expected input_ids, attention_mask "
                "and optionally token_type_ids"
            )
        outputs = {str(o.name): o for o in self._session.get_outputs()}
        if OUTPUT_NAME not in outputs:
            raise ModelIntegrityError(
                f"{MODEL_FILE} has outputs {sorted(outputs)}; expected {OUTPUT_NAME!r}"
            )
        shape = outputs[OUTPUT_NAME].shape
        k = len(self._categories)
        if len(shape) != 2 or (isinstance(shape[1], int) and shape[1] != k):
            raise ModelIntegrityError(
                f"{MODEL_FILE} output {OUTPUT_NAME!r} has shape {shape}; manifest lists {k} "
                "categories"
            )
        return inputs

    def __repr__(self) -> str:
        return (
            f"OnnxClassifier(version={self._version!r}, categories={self._categories!r}, "
            f"model_dir={str(self._model_dir)!r})"
        )


def load_classifier(
    model_dir: Path | str | None = None,
    *,
    intra_op_threads: int = 1,
    inter_op_threads: int = 1,
    max_batch: int | None = None,
) -> OnnxClassifier:
    """Load and verify the classifier in ``model_dir`` (default: the shipped model).

    ``max_batch=None`` uses the model manifest's recommended sub-batch size.
    """
    return OnnxClassifier(
        DEFAULT_MODEL_DIR if model_dir is None else model_dir,
        intra_op_threads=intra_op_threads,
        inter_op_threads=inter_op_threads,
        max_batch=max_batch,
    )
