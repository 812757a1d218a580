"""The load-time graph rewrite: which blocks it fuses, and that scores do not move."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from classifiers.graph_rewrite import rewrite
from classifiers.normalize import normalize_text
from classifiers.onnx_classifier import DEFAULT_MODEL_DIR, OnnxClassifier
from stream.demo import sample_messages

HIDDEN, HEADS = 8, 2


@pytest.fixture(scope="module")
def texts(pytorch_reference: dict[str, Any]) -> list[str]:
    """The reference test texts and the demo chat sample, normalized as the worker does."""
    chat = [m["content"] for m in sample_messages()]
    return [normalize_text(t) for t in [*pytorch_reference["texts"], *chat]]


@pytest.fixture(scope="module")
def models() -> dict[tuple[bool, int], OnnxClassifier]:
    return {
        (fuse, batch): OnnxClassifier(DEFAULT_MODEL_DIR, fuse_attention=fuse, max_batch=batch)
        for fuse in (True, False)
        for batch in (1, 16)
    }


def test_every_attention_block_of_the_shipped_model_is_fused(
    models: dict[tuple[bool, int], OnnxClassifier],
) -> None:
    report = models[True, 1].graph_rewrite
    assert report is not None
    assert report.attention_blocks == 6  # one per layer of MiniLM-L6
    assert report.folded_embeddings == 1  # the token-type lookup (no token_type_ids input)
    assert report.nodes_after < report.nodes_before / 2
    assert models[False, 1].graph_rewrite is None


@pytest.mark.parametrize("batch", [1, 16])
def test_fused_graph_scores_like_the_exported_one(
    models: dict[tuple[bool, int], OnnxClassifier], texts: list[str], batch: int
) -> None:
    # One text per run is what the worker does; padded sub-batches exercise the mask.
    fused, plain = models[True, batch].predict(texts), models[False, batch].predict(texts)
    assert len(texts) > 100
    assert np.abs(fused - plain).max() <= 1e-6


# ---------------------------------------------------------------- a one-block synthetic graph


def _attention_graph(mask_input: str = "attention_mask") -> Any:
    """One attention block as torch.onnx writes it: projections, reshape/transpose, scaled
    scores, an additive -inf mask, softmax with its NaN guard, context, reshape back."""
    rng = np.random.default_rng(0)
    head = HIDDEN // HEADS
    inits = [numpy_helper.from_array(rng.normal(size=(HIDDEN, HIDDEN)).astype(np.float32), f"w{x}")
             for x in "qkv"] + [
        numpy_helper.from_array(rng.normal(size=HIDDEN).astype(np.float32), f"b{x}") for x in "qkv"
    ] + [
        numpy_helper.from_array(np.array([0, 0, -1, head], np.int64), "split_heads"),
        numpy_helper.from_array(np.array([0, 0, HIDDEN], np.int64), "merge_heads"),
        numpy_helper.from_array(np.array(head**-0.25, np.float32), "sqrt_scale"),
        numpy_helper.from_array(np.array([1, 2], np.int64), "axes"),
        numpy_helper.from_array(np.array(0.0, np.float32), "zero"),
        numpy_helper.from_array(np.array(-np.inf, np.float32), "minus_inf"),
    ]  # fmt: skip
    nodes = []
    for x, perm in (("q", [0, 2, 1, 3]), ("k", [0, 2, 3, 1]), ("v", [0, 2, 1, 3])):
        nodes += [
            helper.make_node("MatMul", ["x", f"w{x}"], [f"{x}_mm"]),
            helper.make_node("Add", [f"b{x}", f"{x}_mm"], [f"{x}_proj"]),
            helper.make_node("Reshape", [f"{x}_proj", "split_heads"], [f"{x}_4d"]),
            helper.make_node("Transpose", [f"{x}_4d"], [f"{x}_t"], perm=perm),
        ]
    nodes += [
        helper.make_node("Mul", ["q_t", "sqrt_scale"], ["q_s"]),
        helper.make_node("Mul", ["k_t", "sqrt_scale"], ["k_s"]),
        helper.make_node("MatMul", ["q_s", "k_s"], ["scores"]),
        helper.make_node("Unsqueeze", [mask_input, "axes"], ["mask_4d"]),
        helper.make_node("Cast", ["mask_4d"], ["keep"], to=TensorProto.BOOL),
        helper.make_node("Where", ["keep", "zero", "minus_inf"], ["mask_add"]),
        helper.make_node("Add", ["scores", "mask_add"], ["masked"]),
        helper.make_node("Softmax", ["masked"], ["probs"], axis=-1),
        helper.make_node("IsNaN", ["probs"], ["nan"]),
        helper.make_node("Where", ["nan", "zero", "probs"], ["probs_ok"]),
        helper.make_node("MatMul", ["probs_ok", "v_t"], ["context"]),
        helper.make_node("Transpose", ["context"], ["context_t"], perm=[0, 2, 1, 3]),
        helper.make_node("Reshape", ["context_t", "merge_heads"], ["y"]),
    ]
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", "s", HIDDEN])]
    for name in sorted({"attention_mask", mask_input}):
        inputs.append(helper.make_tensor_value_info(name, TensorProto.INT64, ["b", "s"]))
    graph = helper.make_graph(
        nodes, "attention", inputs,
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["b", "s", HIDDEN])], inits,
    )  # fmt: skip
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _run(model_bytes: bytes, feeds: dict[str, np.ndarray[Any, Any]]) -> np.ndarray[Any, Any]:
    session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    names = {i.name for i in session.get_inputs()}
    (out,) = session.run(None, {k: v for k, v in feeds.items() if k in names})
    return np.asarray(out)


def test_a_block_becomes_one_multihead_attention_node_with_the_same_output() -> None:
    exported = _attention_graph().SerializeToString()
    fused, report = rewrite(exported)
    ops = [n.op_type for n in onnx.load_from_string(fused).graph.node]
    assert report.attention_blocks == 1
    assert ops.count("MultiHeadAttention") == 1
    assert not {"Softmax", "IsNaN", "Transpose"} & set(ops)
    rng = np.random.default_rng(1)
    mask = np.ones((3, 5), np.int64)
    mask[1, 3:] = 0  # padding: the masked keys must get no weight in either graph
    mask[2, 1:] = 0
    feeds = {"x": rng.normal(size=(3, 5, HIDDEN)).astype(np.float32), "attention_mask": mask}
    np.testing.assert_allclose(_run(fused, feeds), _run(exported, feeds), rtol=1e-5, atol=1e-5)


def test_a_block_masked_from_another_input_is_left_alone() -> None:
    exported = _attention_graph(mask_input="other_mask").SerializeToString()
    out, report = rewrite(exported)
    assert report.attention_blocks == 0
    assert out == exported


# ---------------------------------------------------------------- constant embedding rows


def _embedding_graph(indices: np.ndarray[Any, Any]) -> Any:
    """``x + DequantizeLinear(Gather(int8 table, Expand(constant indices)))``."""
    table = np.arange(-12, 12, dtype=np.int8).reshape(3, HIDDEN)
    graph = helper.make_graph(
        [
            helper.make_node("Shape", ["x"], ["shape"], end=2),
            helper.make_node("Expand", ["ids", "shape"], ["ids_bs"]),
            helper.make_node("Gather", ["table", "ids_bs"], ["rows_q"]),
            helper.make_node("DequantizeLinear", ["rows_q", "scale", "zero"], ["rows"]),
            helper.make_node("Add", ["x", "rows"], ["y"]),
        ],
        "embedding",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", "s", HIDDEN])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["b", "s", HIDDEN])],
        [
            numpy_helper.from_array(table, "table"),
            numpy_helper.from_array(indices.astype(np.int64), "ids"),
            numpy_helper.from_array(np.array(0.037, np.float32), "scale"),
            numpy_helper.from_array(np.array(3, np.int8), "zero"),
        ],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_a_lookup_of_one_constant_row_is_folded_exactly() -> None:
    exported = _embedding_graph(np.full((1, 4), 2)).SerializeToString()
    folded, report = rewrite(exported)
    assert report.folded_embeddings == 1
    assert "Gather" not in [n.op_type for n in onnx.load_from_string(folded).graph.node]
    x = np.random.default_rng(2).normal(size=(2, 4, HIDDEN)).astype(np.float32)
    assert np.array_equal(_run(folded, {"x": x}), _run(exported, {"x": x}))


def test_a_lookup_of_varying_rows_is_kept() -> None:
    exported = _embedding_graph(np.array([[0, 1, 2, 1]])).SerializeToString()
    out, report = rewrite(exported)
    assert report.folded_embeddings == 0
    assert out == exported


def test_a_rewrite_that_fails_leaves_the_graph_as_exported(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(model_bytes: bytes) -> Any:
        raise ValueError("unexpected graph")

    monkeypatch.setattr("classifiers.onnx_classifier.rewrite", broken)
    model = OnnxClassifier(DEFAULT_MODEL_DIR)
    assert model.graph_rewrite is None
    assert "running it as exported" in caplog.text
    assert model.predict(["you are great"]).shape == (1, len(model.categories))
