"""Small ONNX graphs built by hand: the linear digits classifier and hostile variants of it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 10


def linear(
    weights: np.ndarray,
    bias: np.ndarray | None = None,
    *,
    input_type: int = TensorProto.FLOAT,
    outputs: bool = True,
    custom_domain: str | None = None,
    second_input: bool = False,
) -> onnx.ModelProto:
    """``x [N, 1, 8, 8] -> Flatten -> MatMul W -> logits [N, 10]``, or a variant of it."""
    nodes = []
    source = "x"
    if input_type != TensorProto.FLOAT:
        nodes.append(helper.make_node("Cast", ["x"], ["x_float"], to=TensorProto.FLOAT))
        source = "x_float"
    nodes += [
        helper.make_node("Flatten", [source], ["flat"]),
        helper.make_node("MatMul", ["flat", "W"], ["scores"]),
    ]
    last = "scores"
    initializers = [numpy_helper.from_array(weights.astype(np.float32), "W")]
    if bias is not None:
        initializers.append(numpy_helper.from_array(bias.astype(np.float32), "B"))
        nodes.append(helper.make_node("Add", [last, "B"], ["biased_scores"]))
        last = "biased_scores"
    opsets = [helper.make_opsetid("", OPSET)]
    if custom_domain is not None:
        nodes.append(helper.make_node("Backdoor", [last], ["custom"], domain=custom_domain))
        opsets.append(helper.make_opsetid(custom_domain, 1))
        last = "custom"
    inputs = [helper.make_tensor_value_info("x", input_type, ["N", 1, 8, 8])]
    if second_input:
        inputs.append(helper.make_tensor_value_info("bias", TensorProto.FLOAT, ["N", 10]))
        nodes.append(helper.make_node("Add", [last, "bias"], ["with_input"]))
        last = "with_input"
    nodes.append(helper.make_node("Identity", [last], ["logits"]))
    graph_outputs = (
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])] if outputs else []
    )
    graph = helper.make_graph(
        nodes,
        "linear",
        inputs,
        graph_outputs,
        initializer=initializers,
    )
    return helper.make_model(graph, opset_imports=opsets, ir_version=IR_VERSION)


def save(model: onnx.ModelProto, path: Path) -> Path:
    """Serialise without the checker: hostile models are written exactly as built."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(model.SerializeToString())
    return path


def save_external(weights: np.ndarray, path: Path, location: str = "weights.bin") -> Path:
    """The linear model with its weights in the side file ``location`` next to it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(
        linear(weights),
        str(path),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location=location,
        size_threshold=0,
    )
    return path


def set_external(path: Path, **entries: str) -> Path:
    """Rewrite the external-data entries (location, offset, length) of every tensor in ``path``."""
    model = onnx.load(str(path), load_external_data=False)
    for tensor in model.graph.initializer:
        existing = {entry.key: entry for entry in tensor.external_data}
        for key, value in entries.items():
            if key in existing:
                existing[key].value = value
            else:
                tensor.external_data.add(key=key, value=value)
    return save(model, path)
