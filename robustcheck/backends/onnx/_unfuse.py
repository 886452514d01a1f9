"""Rewriting onnxruntime's fused ``com.microsoft::EmbedLayerNormalization`` so that its word
lookup becomes a ``Gather`` with an output of its own, where the text path cuts the graph.

The node becomes, in order: the word ``Gather`` (its output is the cut), ``Add`` of the position
embeddings, and ``com.microsoft::SkipLayerNormalization`` with the segment embeddings (or zero
rows of nothing: the position sum alone) as its skip. That keeps the fused kernel's summation
order, ``(word + position) + segment``, so the sum is the same floats; SkipLayerNormalization
normalizes with the node's own epsilon, gamma and beta, and its fourth output is the
``embedding_sum``. It is a contrib operator like the node it replaces, so the rewrite does not
depend on the model's opset (``LayerNormalization`` needs opset 17). The mask index, when a
later node reads it, is each row's nonzero mask entries counted (int32), as onnxruntime's CPU
kernel computes it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import onnx
from onnx import helper, numpy_helper

from robustcheck.errors import UnsupportedModelError

_MICROSOFT = "com.microsoft"


def is_fused_embedding(node: onnx.NodeProto) -> bool:
    return node.op_type == "EmbedLayerNormalization" and node.domain == _MICROSOFT


def unfuse(model: onnx.ModelProto, index: int, word_output: str) -> onnx.ModelProto:
    """A copy of ``model`` with the ``EmbedLayerNormalization`` node at ``index`` replaced by
    standard nodes, the first of them (at ``index``) the word ``Gather`` writing ``word_output``."""
    result = onnx.ModelProto()
    result.CopyFrom(model)
    graph = result.graph
    node = graph.node[index]
    nodes, constants = _replacement(node, word_output, _default_opset(model))
    graph.initializer.extend(constants)
    rest = list(graph.node)
    del graph.node[:]
    graph.node.extend([*rest[:index], *nodes, *rest[index + 1 :]])
    return result


def _default_opset(model: onnx.ModelProto) -> int:
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 1)


def _input(node: onnx.NodeProto, position: int) -> str:
    return node.input[position] if len(node.input) > position else ""


def _replacement(
    node: onnx.NodeProto, word: str, opset: int
) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    ids, segments, table = _input(node, 0), _input(node, 1), _input(node, 2)
    positions_table, segment_table = _input(node, 3), _input(node, 4)
    gamma, beta, mask, position_ids = (_input(node, i) for i in (5, 6, 7, 8))
    epsilon = next((a.f for a in node.attribute if a.name == "epsilon"), 1e-12)
    stem = node.output[0]

    def name(suffix: str) -> str:
        return f"{stem}/{suffix}"

    nodes = [helper.make_node("Gather", [table, ids], [word], name=name("word"))]
    constants: list[onnx.TensorProto] = []
    if not position_ids:
        if opset < 11:
            raise UnsupportedModelError(
                f"EmbedLayerNormalization {node.name!r}: default positions need Range (opset 11), "
                f"the model imports opset {opset}"
            )
        constants += [
            numpy_helper.from_array(np.array(1, np.int64), name("one")),
            numpy_helper.from_array(np.array(0, np.int64), name("zero")),
        ]
        nodes += [
            helper.make_node("Shape", [word], [name("shape")]),
            helper.make_node("Gather", [name("shape"), name("one")], [name("steps")]),
            helper.make_node(
                "Range", [name("zero"), name("steps"), name("one")], [name("positions")]
            ),
        ]
        position_ids = name("positions")
    nodes.append(helper.make_node("Gather", [positions_table, position_ids], [name("position")]))
    summed = [word, name("position")]
    if segments and segment_table:
        nodes += [
            helper.make_node("Add", summed, [name("word+position")]),
            helper.make_node("Gather", [segment_table, segments], [name("segment")]),
        ]
        summed = [name("word+position"), name("segment")]
    embedding_sum = _output(node, 2)
    nodes.append(
        helper.make_node(
            "SkipLayerNormalization",
            [*summed, gamma, beta],
            [node.output[0], "", "", embedding_sum] if embedding_sum else [node.output[0]],
            domain=_MICROSOFT,
            epsilon=epsilon,
        )
    )
    mask_index = _output(node, 1)
    if mask_index:
        nodes += _mask_index(node, mask, mask_index, opset, constants, name)
    return nodes, constants


def _output(node: onnx.NodeProto, position: int) -> str:
    return node.output[position] if len(node.output) > position else ""


def _mask_index(
    node: onnx.NodeProto,
    mask: str,
    output: str,
    opset: int,
    constants: list[onnx.TensorProto],
    name: Callable[[str], str],
) -> list[onnx.NodeProto]:
    """Nodes computing each row's count of nonzero mask entries, int32."""
    if not mask:
        raise UnsupportedModelError(
            f"EmbedLayerNormalization {node.name!r}: its mask_index is read but it has no mask"
        )
    nodes = [
        helper.make_node("Cast", [mask], [name("mask_bool")], to=onnx.TensorProto.BOOL),
        helper.make_node(
            "Cast", [name("mask_bool")], [name("mask_int")], to=onnx.TensorProto.INT32
        ),
    ]
    if opset >= 13:
        constants.append(numpy_helper.from_array(np.array([1], np.int64), name("mask_axes")))
        nodes.append(
            helper.make_node(
                "ReduceSum", [name("mask_int"), name("mask_axes")], [output], keepdims=0
            )
        )
    else:
        nodes.append(
            helper.make_node("ReduceSum", [name("mask_int")], [output], axes=[1], keepdims=0)
        )
    return nodes
