"""Load-time rewrites of an exported int8 encoder graph that onnxruntime does not do itself.

``torch.onnx`` writes each attention block as ~30 small nodes (reshapes, transposes, the
scaling, the mask, softmax, a NaN guard) around the quantized Q/K/V projections, and
onnxruntime's own attention fusion does not match once the projections are quantized. On
one-text runs of short chat messages, the per-node overhead of those blocks is a visible
share of the run. Two rewrites, applied to the graph bytes before the session is built:

- :func:`fuse_attention`: each block between the Q/K/V projections and its context output
  becomes one ``com.microsoft.MultiHeadAttention`` node (onnxruntime's CPU kernel), fed the
  same projections, the graph's own scale (the product of its scaling constants, in float32)
  and an int32 key-padding mask. The int8 projections are untouched, and on the shipped
  model the scores are identical bit for bit (max |Δp| 0.0 over 3,000 bench texts; the
  kernel's default 1/√d scale was not exact, max |Δp| 0.056);
  ``tests/unit/classifiers/test_graph_rewrite.py`` bounds the difference at 1e-6.
- :func:`fold_constant_embedding`: an embedding looked up with indices that are constant
  for every position (BERT's token-type ids, all zero when the graph has no such input)
  becomes one constant row added by broadcasting. Exact.

Contract: the graph is a bidirectional encoder whose attention mask comes from the
``attention_mask`` input alone (Vigil's exporter, ``classifiers.export``). A block that does
not match the pattern is left as it is, so a graph of another shape still loads, unrewritten.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

MASK_INPUT = "attention_mask"
MASK_INT32 = "vigil/attention_mask_int32"
CONTRIB_DOMAIN = "com.microsoft"
# Ops an embedding's indices may pass through while staying "the same value everywhere".
_VALUE_PRESERVING = frozenset(
    {"Expand", "Gather", "GatherElements", "Slice", "Reshape", "Unsqueeze", "Squeeze",
     "Cast", "Identity"}
)  # fmt: skip


@dataclass(frozen=True)
class RewriteReport:
    """What :func:`rewrite` changed."""

    attention_blocks: int
    folded_embeddings: int
    nodes_before: int
    nodes_after: int


class _Graph:
    """Producer/consumer indexes and constant values of one ``GraphProto``."""

    def __init__(self, graph: Any) -> None:
        self.graph = graph
        self.inputs = {i.name for i in graph.input}
        self.initializers = {t.name: t for t in graph.initializer}
        self.producer = {o: n for n in graph.node for o in n.output}
        self.consumers: dict[str, list[Any]] = {}
        for node in graph.node:
            for name in node.input:
                self.consumers.setdefault(name, []).append(node)

    def constant(self, name: str) -> np.ndarray[Any, Any] | None:
        tensor = self.initializers.get(name)
        node = self.producer.get(name)
        if tensor is None and node is not None and node.op_type == "Constant":
            tensor = next((a.t for a in node.attribute if a.name == "value"), None)
        if tensor is None:
            return None
        value: np.ndarray[Any, Any] = numpy_helper.to_array(tensor)
        return value

    def scalar(self, name: str) -> float | None:
        value = self.constant(name)
        return float(value.reshape(-1)[0]) if value is not None and value.size == 1 else None

    def only_consumer(self, name: str, op_type: str) -> Any | None:
        users = self.consumers.get(name, [])
        return users[0] if len(users) == 1 and users[0].op_type == op_type else None

    def value_inputs(self, name: str) -> set[str]:
        """Graph inputs whose *values* reach ``name`` (a ``Shape`` passes on no values)."""
        reached, stack, seen = set(), [name], set()
        while stack:
            tensor = stack.pop()
            if tensor in seen:
                continue
            seen.add(tensor)
            if tensor in self.inputs:
                reached.add(tensor)
            node = self.producer.get(tensor)
            if node is not None and node.op_type != "Shape":
                stack.extend(i for i in node.input if i)
        return reached


def _perm(node: Any) -> tuple[int, ...]:
    return tuple(next((list(a.ints) for a in node.attribute if a.name == "perm"), []))


def _unwind(g: _Graph, tensor: str, perm: tuple[int, ...]) -> tuple[str, float, int] | None:
    """Follow a Q/K/V operand of the attention MatMuls back to its projection.

    Expects ``projection [B,S,H] → Reshape [B,S,heads,head] → Transpose perm`` with optional
    scalar ``Mul``/``Div`` scalings after the transpose. Returns the projection, the product
    of the scalings and the head size, or ``None`` when the operand has another shape.
    """
    scale = 1.0
    node = g.producer.get(tensor)
    while node is not None and node.op_type in ("Mul", "Div"):
        factor = g.scalar(node.input[1])
        if factor is None:
            return None
        scale = scale * factor if node.op_type == "Mul" else scale / factor
        node = g.producer.get(node.input[0])
    if node is None or node.op_type != "Transpose" or _perm(node) != perm:
        return None
    reshape = g.producer.get(node.input[0])
    if reshape is None or reshape.op_type != "Reshape":
        return None
    head = _head_size(g, reshape.input[1])
    return (reshape.input[0], scale, head) if head else None


def _head_size(g: _Graph, shape: str) -> int | None:
    """The last dimension of a ``Reshape`` target, constant or a ``Concat`` of pieces."""
    value = g.constant(shape)
    if value is None:
        concat = g.producer.get(shape)
        if concat is None or concat.op_type != "Concat":
            return None
        value = g.constant(concat.input[-1])
    return int(value.reshape(-1)[-1]) if value is not None and value.size >= 1 else None


def _hidden_size(g: _Graph, projection: str) -> int | None:
    """Width of a projection: the length of the bias its ``Add`` adds."""
    add = g.producer.get(projection)
    if add is None or add.op_type != "Add":
        return None
    for name in add.input:
        bias = g.constant(name)
        if bias is not None and bias.ndim == 1:
            return int(bias.shape[0])
    return None


def _nan_guarded(g: _Graph, probs: str) -> str:
    """``Where(IsNaN(p), 0, p)`` after the softmax (rows whose keys were all masked to -inf
    give NaN) is a no-op for the fused kernel, which never yields NaN: skip over it."""
    users = g.consumers.get(probs, [])
    isnan = next((n for n in users if n.op_type == "IsNaN"), None)
    where = next((n for n in users if n.op_type == "Where"), None)
    if len(users) != 2 or isnan is None or where is None:
        return probs
    if list(where.input[::2]) != [isnan.output[0], probs] or g.scalar(where.input[1]) != 0.0:
        return probs
    return str(where.output[0])


def _attention_blocks(g: _Graph) -> Iterator[tuple[Any, Any]]:
    """(the block's output ``Reshape``, its ``MultiHeadAttention`` replacement) per block."""
    for softmax in [n for n in g.graph.node if n.op_type == "Softmax"]:
        axis = next((a.i for a in softmax.attribute if a.name == "axis"), -1)
        add = g.producer.get(softmax.input[0])
        # The softmax must run over the keys of [batch, heads, queries, keys] scores.
        if axis not in (-1, 3) or add is None or add.op_type != "Add":
            continue
        operands = [g.producer.get(i) for i in add.input]
        if operands[0] is not None and operands[0].op_type == "MatMul":
            scores, mask = operands[0], add.input[1]
        elif operands[1] is not None and operands[1].op_type == "MatMul":
            scores, mask = operands[1], add.input[0]
        else:
            continue
        if g.value_inputs(mask) != {MASK_INPUT}:
            continue
        probs = _nan_guarded(g, softmax.output[0])
        context = g.only_consumer(probs, "MatMul")
        q = _unwind(g, scores.input[0], (0, 2, 1, 3))
        k = _unwind(g, scores.input[1], (0, 2, 3, 1))
        v = _unwind(g, context.input[1], (0, 2, 1, 3)) if context is not None else None
        if context is None or context.input[0] != probs or not (q and k and v) or v[1] != 1.0:
            continue
        back = g.only_consumer(context.output[0], "Transpose")
        out = g.only_consumer(back.output[0], "Reshape") if back is not None else None
        hidden = _hidden_size(g, q[0])
        if back is None or _perm(back) != (0, 2, 1, 3) or out is None or not hidden:
            continue
        if not q[2] == k[2] == v[2] or hidden % q[2]:
            continue
        yield (
            out,
            helper.make_node(
                "MultiHeadAttention",
                [q[0], k[0], v[0], "", MASK_INT32],
                [out.output[0]],
                name=f"{out.name}/MultiHeadAttention",
                domain=CONTRIB_DOMAIN,
                num_heads=hidden // q[2],
                scale=q[1] * k[1],
            ),
        )


def fuse_attention(model: Any) -> int:
    """Replace every matching attention block of ``model`` in place; returns how many."""
    g = _Graph(model.graph)
    replacements = {id(old): new for old, new in _attention_blocks(g)}
    if not replacements:
        return 0
    nodes = [replacements.get(id(n), n) for n in model.graph.node]
    cast = helper.make_node("Cast", [MASK_INPUT], [MASK_INT32], to=TensorProto.INT32,
                            name=MASK_INT32)  # fmt: skip
    del model.graph.node[:]
    model.graph.node.extend([cast, *nodes])
    if not any(o.domain == CONTRIB_DOMAIN for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid(CONTRIB_DOMAIN, 1))
    return len(replacements)


def _same_everywhere(g: _Graph, indices: str) -> int | None:
    """The index when every element of ``indices`` is the same constant, else ``None``."""
    values: set[int] = set()
    stack = [indices]
    while stack:
        tensor = stack.pop()
        value = g.constant(tensor)
        if value is not None:
            values.update(int(x) for x in np.unique(value))
            continue
        node = g.producer.get(tensor)
        if node is None or node.op_type not in _VALUE_PRESERVING:
            return None  # a graph input or an op that computes new values
        stack.append(node.input[0])  # the data operand; the others only pick or shape it
    return values.pop() if len(values) == 1 else None


def fold_constant_embedding(model: Any) -> int:
    """Replace embedding lookups with constant indices by their row; returns how many."""
    g = _Graph(model.graph)
    folded = 0
    for gather in [n for n in model.graph.node if n.op_type == "Gather"]:
        table = g.constant(gather.input[0])
        row = _same_everywhere(g, gather.input[1]) if table is not None else None
        if table is None or row is None or table.ndim != 2 or not 0 <= row < len(table):
            continue
        lookup, value = gather.output[0], table[row]
        dequantize = g.only_consumer(lookup, "DequantizeLinear")
        if dequantize is not None:
            scale, zero = g.scalar(dequantize.input[1]), 0.0
            if len(dequantize.input) > 2 and dequantize.input[2]:
                zero_point = g.scalar(dequantize.input[2])
                zero = zero_point if zero_point is not None else float("nan")
            if scale is None or zero != zero:
                continue
            # DequantizeLinear's own arithmetic: float(q - zero_point) * scale, in float32.
            value = (value.astype(np.int32) - np.int32(zero)).astype(np.float32) * np.float32(scale)
            lookup = dequantize.output[0]
        add = g.only_consumer(lookup, "Add")
        if add is None or value.dtype != np.float32:
            continue
        # The row is added by broadcasting: the other operand must carry the full
        # [batch, sequence, hidden] shape, i.e. be computed from the model's inputs.
        if not g.value_inputs(next(i for i in add.input if i != lookup)):
            continue
        name = f"{gather.input[0]}/row{row}"
        model.graph.initializer.append(numpy_helper.from_array(value, name))
        add.input[list(add.input).index(lookup)] = name
        folded += 1
    return folded


def _prune(model: Any) -> None:
    """Drop the nodes and initializers no graph output depends on any more."""
    g = _Graph(model.graph)
    live: set[int] = set()
    stack = [o.name for o in model.graph.output]
    while stack:
        node = g.producer.get(stack.pop())
        if node is not None and id(node) not in live:
            live.add(id(node))
            stack.extend(i for i in node.input if i)
    nodes = [n for n in model.graph.node if id(n) in live]
    used = {i for n in nodes for i in n.input}
    initializers = [t for t in model.graph.initializer if t.name in used]
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    del model.graph.initializer[:]
    model.graph.initializer.extend(initializers)


def rewrite(model_bytes: bytes) -> tuple[bytes, RewriteReport]:
    """Both rewrites on a serialized model; the bytes come back unchanged if none applies."""
    model = onnx.load_from_string(model_bytes)
    before = len(model.graph.node)
    blocks = fuse_attention(model)
    folded = fold_constant_embedding(model)
    if not blocks and not folded:
        return model_bytes, RewriteReport(0, 0, before, before)
    _prune(model)
    # A rewrite that broke the graph must fail here, where the caller falls back to the
    # graph as exported, not later in onnxruntime's load (30 ms on the shipped model).
    onnx.checker.check_model(model)
    report = RewriteReport(blocks, folded, before, len(model.graph.node))
    return model.SerializeToString(), report
