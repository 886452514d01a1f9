"""Finding a text model's word-embedding lookup, and the graph's tail after it.

The lookup is a ``Gather`` (axis 0) whose data is a 2-D float table (an initializer or a
``Constant``, possibly through ``Identity``/``Cast``) and whose indices are an integer graph
input passed through value-preserving ops only. Position embeddings are looked up with indices
*computed* from the input's shape (``Shape``, ``Range``...), so they do not qualify; among several
tables that do (token types fed from ``token_type_ids``), the vocabulary-sized one (most rows)
is the word embedding. The *tail* is the deployed graph from the lookup's output onward: the same
nodes and weights, with the looked-up embeddings as a new float input.

onnxruntime's transformer optimizer fuses BERT's embedding block into one
``com.microsoft::EmbedLayerNormalization`` node; its ``word_embedding`` input is the table and
its ``input_ids`` the token ids. Its word lookup has no output of its own, so :func:`build_tail`
first rewrites that node into the word ``Gather`` and the rest of the block (:mod:`._unfuse`),
then cuts at the ``Gather`` as for any other graph.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import onnx
from onnx import helper, numpy_helper

from robustcheck.backends.onnx._unfuse import is_fused_embedding, unfuse
from robustcheck.backends.onnx.blockers import WAYS_FORWARD
from robustcheck.backends.onnx.twin.analysis import node_reads
from robustcheck.errors import UnsupportedModelError, quoted

INTEGER_TYPES = {
    onnx.TensorProto.INT64,
    onnx.TensorProto.INT32,
    onnx.TensorProto.INT16,
    onnx.TensorProto.INT8,
    onnx.TensorProto.UINT8,
}
_FLOAT_TYPES = {onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.DOUBLE}
_PASS_VALUES = {"Identity", "Cast", "Reshape", "Unsqueeze", "Squeeze", "Flatten"}
"""Ops through which the indices are still the input's token ids."""
_PASS_TABLE = {"Identity", "Cast"}


@dataclass(frozen=True)
class Lookup:
    node: int
    """Index of the ``Gather`` node in the graph."""
    table_name: str
    table: np.ndarray
    ids_input: str
    output: str
    fused: bool = False
    """The lookup is inside an ``EmbedLayerNormalization`` node; ``output`` is a name for it."""


class NoEmbeddingLookup(UnsupportedModelError):
    """Integer inputs only, and no word-embedding lookup on them."""


def is_token_model(model: onnx.ModelProto) -> bool:
    """Every graph input is an integer tensor (token ids, masks, types): a text model candidate."""
    initializers = {i.name for i in model.graph.initializer}
    inputs = [v for v in model.graph.input if v.name not in initializers]
    return bool(inputs) and len(integer_inputs(model)) == len(inputs)


def integer_inputs(model: onnx.ModelProto) -> list[str]:
    initializers = {i.name for i in model.graph.initializer}
    return [
        v.name
        for v in model.graph.input
        if v.name not in initializers and v.type.tensor_type.elem_type in INTEGER_TYPES
    ]


def find_word_embedding(model: onnx.ModelProto, where: str) -> Lookup:
    graph = model.graph
    producers = {out: node for node in graph.node for out in node.output}
    initializers = {i.name: i for i in graph.initializer}
    ints = integer_inputs(model)
    found: list[Lookup] = []
    for index, node in enumerate(graph.node):
        if is_fused_embedding(node):
            table = _table(node.input[2], producers, initializers)
            source = _ids_source(node.input[0], producers)
            if table is not None and source in ints:
                word = f"{node.output[0]}/word_embeddings"
                found.append(Lookup(index, table[0], table[1], source, word, fused=True))
            continue
        if node.op_type != "Gather" or node.domain not in ("", "ai.onnx") or _axis(node) != 0:
            continue
        table = _table(node.input[0], producers, initializers)
        source = _ids_source(node.input[1], producers)
        if table is None or source not in ints:
            continue
        found.append(Lookup(index, table[0], table[1], source, node.output[0]))
    if not found:
        raise NoEmbeddingLookup(
            f"{where}: integer inputs {quoted(ints) or '(none)'} but no word-embedding lookup "
            "found (looked for a Gather or an EmbedLayerNormalization on a 2-D float table, indices "
            "fed by one of those inputs)",
            hint=WAYS_FORWARD,
        )
    # A fused lookup wins a tie: the optimizer leaves the word Gather behind for Shape alone.
    return max(found, key=lambda f: (f.table.shape[0], f.fused, f.ids_input == "input_ids"))


def _axis(node: onnx.NodeProto) -> int:
    return next((int(a.i) for a in node.attribute if a.name == "axis"), 0)


def _table(
    name: str, producers: dict[str, onnx.NodeProto], initializers: dict[str, onnx.TensorProto]
) -> tuple[str, np.ndarray] | None:
    while name not in initializers and name in producers:
        node = producers[name]
        if node.op_type == "Constant":
            value = next((a.t for a in node.attribute if a.name == "value"), None)
            return None if value is None else _float_table(name, value)
        if node.op_type not in _PASS_TABLE:
            return None
        name = node.input[0]
    return _float_table(name, initializers[name]) if name in initializers else None


def _float_table(name: str, tensor: onnx.TensorProto) -> tuple[str, np.ndarray] | None:
    if tensor.data_type not in _FLOAT_TYPES or len(tensor.dims) != 2:
        return None
    return name, numpy_helper.to_array(tensor)


def _ids_source(name: str, producers: dict[str, onnx.NodeProto]) -> str | None:
    while name in producers:
        node = producers[name]
        if node.op_type not in _PASS_VALUES:
            return None
        name = node.input[0]
    return name


def build_tail(model: onnx.ModelProto, lookup: Lookup, outputs: list[str]) -> onnx.ModelProto:
    """The graph computing ``outputs`` from the lookup's output (a new float input ``[N, L, H]``)
    and whichever original inputs the remaining nodes still read."""
    if lookup.fused:
        model = unfuse(model, lookup.node, lookup.output)
        lookup = replace(lookup, fused=False)
    graph = model.graph
    needed = set(outputs)
    kept: list[onnx.NodeProto] = []
    for index in range(len(graph.node) - 1, -1, -1):
        node = graph.node[index]
        if index == lookup.node or not needed.intersection(node.output):
            continue
        kept.append(node)
        needed.update(node_reads(node))  # subgraphs read from the outer scope too
    kept.reverse()
    elem = helper.np_dtype_to_tensor_dtype(lookup.table.dtype)
    leaf = helper.make_tensor_value_info(
        lookup.output, elem, ["batch", "sequence", lookup.table.shape[1]]
    )
    initializers = {i.name for i in graph.initializer}
    inputs = [v for v in graph.input if v.name in needed and v.name not in initializers]
    tail = helper.make_graph(
        kept,
        f"{graph.name}-tail",
        [leaf, *inputs],
        [v for v in graph.output if v.name in outputs],
        initializer=[i for i in graph.initializer if i.name in needed],
    )
    result = helper.make_model(
        tail, opset_imports=list(model.opset_import), ir_version=model.ir_version
    )
    result.functions.extend(model.functions)
    return result
