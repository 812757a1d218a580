"""The naive baseline runs the shipped weights: dequantized from the int8 graph, complete."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from bench.naive import dequantized_weights

MODEL = Path(__file__).parents[3] / "onnx_models" / "minilm-multitask-v2" / "model.onnx"
LINEARS = (
    "attention.self.query",
    "attention.self.key",
    "attention.self.value",
    "attention.output.dense",
    "intermediate.dense",
    "output.dense",
)


def test_every_parameter_of_the_encoder_and_heads_is_rebuilt() -> None:
    weights = dequantized_weights(MODEL)
    assert weights["encoder.embeddings.word_embeddings.weight"].shape == (30522, 384)
    for layer in range(6):
        for linear in LINEARS:
            name = f"encoder.encoder.layer.{layer}.{linear}"
            out_features = 1536 if linear == "intermediate.dense" else 384
            assert weights[f"{name}.weight"].shape[0] == out_features
            assert weights[f"{name}.bias"].shape == (out_features,)
    assert weights["heads.weight"].shape == (4, 384)
    assert all(w.dtype == np.float32 for w in weights.values())


def test_quantizing_a_rebuilt_matrix_again_gives_the_shipped_int8_values() -> None:
    init = {t.name: numpy_helper.to_array(t) for t in onnx.load(str(MODEL)).graph.initializer}
    base = "model.heads.weight_Transposed"
    rebuilt = dequantized_weights(MODEL)["heads.weight"].T  # back to the graph's [in, out]
    again = np.round(rebuilt / init[f"{base}_scale"] + init[f"{base}_zero_point"])
    np.testing.assert_array_equal(again.astype(np.int8), init[f"{base}_quantized"])
