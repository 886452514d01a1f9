"""Builders shared by the twin's tests: one-node and small ONNX models, an onnxruntime runner.

They are exposed as fixtures (returning functions) because the test directory is not a
package and tests import nothing from each other.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import helper

from robustcheck.backends.onnx.twin import OnnxTwin
from robustcheck.backends.onnx.twin.tensors import tensor_from_numpy, tensor_to_numpy
from robustcheck.cli import main

NodeModelBuilder = Callable[..., onnx.ModelProto]
OrtRunner = Callable[[onnx.ModelProto, Mapping[str, np.ndarray]], list[np.ndarray]]


def _ir_version(opset: int) -> int:
    # onnxruntime rejects IR versions newer than it knows; old opsets pair with old IRs.
    if opset <= 17:
        return 8
    if opset <= 20:
        return 9
    return 10


def build_node_model(
    op_type: str,
    inputs: Sequence[tuple[str, np.ndarray | None]],
    *,
    opset: int,
    domain: str = "",
    outputs: int = 1,
    initializers: Mapping[str, np.ndarray] | None = None,
    **attributes: Any,
) -> onnx.ModelProto:
    """A model with one node; ``inputs`` in node order, ``("", None)`` for an omitted one.

    Named inputs become graph inputs unless listed in ``initializers``.
    """
    initializers = dict(initializers or {})
    node = helper.make_node(
        op_type,
        [name for name, _ in inputs],
        [f"y{i}" for i in range(outputs)],
        domain=domain,
        **attributes,
    )
    graph_inputs = [
        helper.make_tensor_value_info(
            name, helper.np_dtype_to_tensor_dtype(value.dtype), list(value.shape)
        )
        for name, value in inputs
        if name and name not in initializers and value is not None
    ]
    graph = helper.make_graph(
        [node],
        f"one_{op_type}",
        graph_inputs,
        [helper.make_empty_tensor_value_info(f"y{i}") for i in range(outputs)],
        initializer=[onnx.numpy_helper.from_array(v, name=k) for k, v in initializers.items()],
    )
    opsets = [helper.make_opsetid("", opset if not domain else 17)]
    if domain:
        opsets.append(helper.make_opsetid(domain, opset))
    return helper.make_model(graph, opset_imports=opsets, ir_version=_ir_version(opset))


def build_graph_model(
    nodes: list[onnx.NodeProto],
    inputs: list[onnx.ValueInfoProto],
    outputs: list[str],
    *,
    opsets: dict[str, int] | None = None,
    initializers: list[onnx.TensorProto] | None = None,
) -> onnx.ModelProto:
    """A model around ``nodes``; outputs are declared without types."""
    graph = helper.make_graph(
        nodes,
        "g",
        inputs,
        [helper.make_empty_tensor_value_info(o) for o in outputs],
        initializer=initializers or [],
    )
    imports = [helper.make_opsetid(d, v) for d, v in (opsets or {"": 13}).items()]
    return helper.make_model(graph, opset_imports=imports, ir_version=8)


def run_onnxruntime(model: onnx.ModelProto, feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, dict(feeds))


@pytest.fixture(scope="session")
def node_model() -> NodeModelBuilder:
    return build_node_model


@pytest.fixture(scope="session")
def ort_run() -> OrtRunner:
    return run_onnxruntime


def assert_twin_matches_onnxruntime(
    model: onnx.ModelProto, feeds: Mapping[str, np.ndarray]
) -> None:
    """Every output of the twin has onnxruntime's dtype and values (to 1e-5)."""
    expected = run_onnxruntime(model, feeds)
    twin = OnnxTwin(model)
    with torch.no_grad():
        got = twin.run({name: tensor_from_numpy(value) for name, value in feeds.items()})
    for name, want in zip(twin.output_names, expected, strict=True):
        have = tensor_to_numpy(got[name])
        assert have.dtype == want.dtype, name
        np.testing.assert_allclose(have, want, rtol=1e-5, atol=1e-5, err_msg=name)


def scan_and_check_the_twin(model: Path, data: Path, report: Path, *flags: str) -> dict[str, Any]:
    """``robustcheck scan`` at ε 0.1 (no gap probe): it ends with a verdict, FGSM beats the noise
    baseline, and the fidelity section compares the twin with onnxruntime and trusts it. The
    parsed JSON report, for further checks."""
    code = main(
        ["scan", str(model), "--data", str(data), "--eps", "0.1", "--json", str(report),
         "--no-gap-probe", *flags]
    )  # fmt: skip
    assert code in (0, 1), code
    parsed: dict[str, Any] = json.loads(report.read_text())
    rates = {r["attack"]: r["adversarial_error_rate"] for r in parsed["results"]}
    assert rates["fgsm"] > rates["noise"], rates
    fidelity = parsed["fidelity"]
    assert fidelity["paths"] == "onnx-twin-vs-onnxruntime"
    assert fidelity["trusted"], fidelity
    return parsed


@pytest.fixture(scope="session")
def twin_matches_ort() -> Callable[[onnx.ModelProto, Mapping[str, np.ndarray]], None]:
    return assert_twin_matches_onnxruntime


@pytest.fixture(scope="session")
def scan_checked() -> Callable[..., dict[str, Any]]:
    return scan_and_check_the_twin


@pytest.fixture(scope="session")
def graph_model() -> Callable[..., onnx.ModelProto]:
    return build_graph_model
