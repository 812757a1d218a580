"""The naive baseline: the shipped model's weights in a ``transformers`` ``pipeline()`` on
PyTorch fp32, one message at a time, what a team writes first.

The fine-tuned weights ship only inside the int8 ONNX graph, so they are rebuilt from it:
every int8 matrix is dequantized (``(q - zero_point) * scale``, per output channel) into the
BERT module it came from, the fp32 tensors (biases, layer norms, the heads) are copied as
they are. The result is the shipped model up to int8 rounding; :func:`naive_rate` reports
how closely its scores agree with the ONNX model's on the texts it timed.

Needs the ``train`` extra (torch, transformers, onnx, the base model's config).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]

LINEAR_BIAS_SUFFIX = ".bias"


def _array(tensor: Any) -> npt.NDArray[Any]:
    from onnx import numpy_helper

    array: npt.NDArray[Any] = numpy_helper.to_array(tensor)
    return array


def dequantized_weights(model_path: Path) -> dict[str, FloatArray]:
    """The fp32 parameters of the multi-task model (names as in ``classifiers.train``) and
    the per-head ``temperature`` the graph divides the logits by."""
    import onnx

    graph = onnx.load(str(model_path)).graph
    init = {t.name: t for t in graph.initializer}
    consumers: dict[str, list[Any]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)

    def dequantize(base: str, per_channel_axis: int) -> FloatArray:
        q = _array(init[f"{base}_quantized"]).astype(np.float32)
        zero = _array(init[f"{base}_zero_point"]).astype(np.float32)
        scale = _array(init[f"{base}_scale"]).astype(np.float32)
        if scale.ndim:  # per output channel: the last axis of a MatMul's [in, out] matrix
            shape = [1] * q.ndim
            shape[per_channel_axis] = -1
            zero, scale = zero.reshape(shape), scale.reshape(shape)
        return (q - zero) * scale

    def bias_after(tensor: str) -> str:
        """The bias initializer of the first Add downstream of ``tensor``."""
        frontier, seen = [tensor], set()
        while frontier:
            for node in consumers.get(frontier.pop(0), []):
                if node.name in seen:
                    continue
                seen.add(node.name)
                if node.op_type == "Add":
                    for name in node.input:
                        if name in init and name.endswith(LINEAR_BIAS_SUFFIX):
                            return str(name)
                frontier.extend(node.output)
        raise ValueError(f"no bias found after {tensor}")

    weights: dict[str, FloatArray] = {"temperature": _array(init["temperature"])}
    for name, tensor in init.items():
        if name.startswith("model.") and name.endswith((".weight", ".bias")):
            weights[name.removeprefix("model.")] = _array(tensor)
        elif (
            name.startswith("model.")
            and name.endswith("_quantized")
            and all(n.op_type != "MatMulInteger" for n in consumers.get(name, []))
        ):  # embedding tables; matrices are handled below with their layer
            base = name.removesuffix("_quantized")
            weights[base.removeprefix("model.")] = dequantize(base, 0)
    for node in graph.node:
        if node.op_type not in ("MatMulInteger", "MatMul"):
            continue
        matrix = node.input[1]
        if matrix.endswith("_quantized") and matrix in init:
            w = dequantize(matrix.removesuffix("_quantized"), 1)
        elif matrix in init:
            w = _array(init[matrix])
        else:
            continue  # activations × activations (attention)
        linear = bias_after(node.output[0]).removeprefix("model.").removesuffix(".bias")
        weights[f"{linear}.weight"] = np.ascontiguousarray(w.T)
    return weights


def build_pipeline(model_dir: Path, threads: int) -> Any:
    """A ``feature-extraction`` pipeline on the rebuilt encoder, and all rebuilt weights
    (the heads and temperatures are applied after pooling)."""
    import torch
    from transformers import AutoConfig, AutoTokenizer, BertModel, pipeline

    from classifiers.train import default_base

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(threads)
    base = default_base()
    weights = dequantized_weights(model_dir / "model.onnx")
    encoder = BertModel(AutoConfig.from_pretrained(base), add_pooling_layer=False)
    state = {
        k.removeprefix("encoder."): torch.from_numpy(np.array(v))  # writable copy
        for k, v in weights.items()
        if k.startswith("encoder.")
    }
    missing, unexpected = encoder.load_state_dict(state, strict=False)
    if unexpected or [m for m in missing if "position_ids" not in m]:
        raise ValueError(f"weights do not fit BERT: missing {missing}, unexpected {unexpected}")
    encoder.eval()
    extract = pipeline(
        "feature-extraction",
        model=encoder,
        tokenizer=AutoTokenizer.from_pretrained(base),
        device="cpu",
        return_tensors=True,
    )
    return extract, weights


def naive_rate(texts: Sequence[str], model_dir: Path, threads: int) -> dict[str, float] | None:
    """Messages/s of the naive pipeline over ``texts`` and its agreement with the ONNX model
    (max |Δp| and thresholded-label agreement); None without the ``train`` extra."""
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError:
        return None
    from classifiers.onnx_classifier import OnnxClassifier

    extract, weights = build_pipeline(model_dir, threads)
    heads_w, heads_b, temperature = (
        weights[k] for k in ("heads.weight", "heads.bias", "temperature")
    )
    onnx = OnnxClassifier(model_dir)

    def classify(text: str) -> FloatArray:
        hidden = extract(text)[0].numpy()  # tokens × 384, one message at a time
        logits = hidden.mean(axis=0) @ heads_w.T + heads_b
        return 1.0 / (1.0 + np.exp(-logits / temperature))  # type: ignore[no-any-return]

    classify(texts[0])
    started = time.perf_counter()
    naive = np.stack([classify(t) for t in texts])
    rate = len(texts) / (time.perf_counter() - started)
    shipped = onnx.predict(list(texts))
    thresholds = np.array([onnx.thresholds[c] for c in onnx.categories], dtype=np.float32)
    return {
        "msgs_per_s": round(rate, 1),
        "max_abs_diff_vs_shipped": round(float(np.abs(naive - shipped).max()), 4),
        "label_agreement_vs_shipped": round(
            float(((naive >= thresholds) == (shipped >= thresholds)).mean()), 4
        ),
    }
