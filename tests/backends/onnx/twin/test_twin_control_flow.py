"""Control flow in the twin: If, Loop and Scan against onnxruntime and torch autograd, the
analysis inside subgraphs, and a scan of a digits classifier whose graph branches."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from robustcheck.backends.onnx.twin import (
    OnnxTwin,
    TwinNodeError,
    UnsupportedOperatorsError,
    non_differentiable_nodes,
    unsupported_ops,
)

FLOAT = TensorProto.FLOAT
W = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]], dtype=np.float32)
X = np.random.default_rng(0).normal(size=(2, 3)).astype(np.float32)


def _model(
    nodes: list[onnx.NodeProto],
    inputs: list[onnx.ValueInfoProto],
    outputs: list[str],
    initializers: dict[str, np.ndarray] | None = None,
) -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes,
        "g",
        inputs,
        [helper.make_empty_tensor_value_info(name) for name in outputs],
        initializer=[numpy_helper.from_array(v, name=k) for k, v in (initializers or {}).items()],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def _branch(nodes: list[onnx.NodeProto], output: str, name: str = "branch") -> onnx.GraphProto:
    return helper.make_graph(nodes, name, [], [helper.make_empty_tensor_value_info(output)])


def _x(*shape: int | str) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info("x", FLOAT, list(shape))


_COND = helper.make_tensor_value_info("cond", TensorProto.BOOL, [])


def _if_reading_outer_values() -> onnx.ModelProto:
    """``h = relu(x)`` is read only inside the then branch, so the plan must keep it."""
    then_branch = _branch(
        [
            helper.make_node("Mul", ["h", "w"], ["hw"]),
            helper.make_node("Add", ["hw", "x"], ["then_out"]),
        ],
        "then_out",
    )
    else_branch = _branch([helper.make_node("Tanh", ["x"], ["else_out"])], "else_out")
    nodes = [
        helper.make_node("Relu", ["x"], ["h"]),
        helper.make_node(
            "If", ["cond"], ["y"], name="pick", then_branch=then_branch, else_branch=else_branch
        ),
    ]
    return _model(nodes, [_COND, _x(2, 3)], ["y"], {"w": W})


def _compare(model: onnx.ModelProto, ort_run: Any, feeds: dict[str, np.ndarray]) -> None:
    expected = ort_run(model, feeds)
    with torch.no_grad():
        got = OnnxTwin(model).run({k: torch.from_numpy(v) for k, v in feeds.items()})
    for have, want in zip(got.values(), expected, strict=True):
        np.testing.assert_allclose(have.numpy(), want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("flag", [True, False])
def test_if_runs_the_chosen_branch_and_the_gradient_flows_through_it(
    flag: bool, ort_run: Any
) -> None:
    model = _if_reading_outer_values()
    cond = np.array(flag)
    _compare(model, ort_run, {"cond": cond, "x": X})
    x = torch.from_numpy(X).requires_grad_(True)
    OnnxTwin(model).run({"cond": torch.from_numpy(cond), "x": x})["y"].sum().backward()
    direct = torch.from_numpy(X).requires_grad_(True)
    written = torch.relu(direct) * torch.from_numpy(W) + direct if flag else torch.tanh(direct)
    written.sum().backward()
    assert x.grad is not None
    torch.testing.assert_close(x.grad, direct.grad)
    assert non_differentiable_nodes(model) == []


@pytest.mark.parametrize("flag", [True, False])
def test_if_passes_gradcheck_through_either_branch(flag: bool) -> None:
    twin = OnnxTwin(_if_reading_outer_values()).to(torch.float64)
    cond = torch.tensor(flag)
    x = torch.from_numpy(X).double().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x: twin.run({"cond": cond, "x": x})["y"], (x,))


def test_nested_if_reads_values_from_every_enclosing_scope(ort_run: Any) -> None:
    inner = helper.make_node(
        "If",
        ["inner_cond"],
        ["inner_y"],
        name="inner",
        then_branch=_branch([helper.make_node("Mul", ["x", "w"], ["a"])], "a"),
        else_branch=_branch([helper.make_node("Sub", ["x", "hx"], ["b"])], "b"),
    )
    outer_then = _branch(
        [
            helper.make_node("Neg", ["x"], ["hx"]),
            inner,
            helper.make_node("Exp", ["inner_y"], ["t"]),
        ],
        "t",
    )
    outer_else = _branch([helper.make_node("Identity", ["x"], ["e"])], "e")
    inner_cond = helper.make_tensor_value_info("inner_cond", TensorProto.BOOL, [1])
    model = _model(
        [helper.make_node("If", ["cond"], ["y"], then_branch=outer_then, else_branch=outer_else)],
        [_COND, inner_cond, _x(2, 3)],
        ["y"],
        {"w": W},
    )
    for outer, nested in ((True, True), (True, False), (False, True)):
        feeds = {"cond": np.array(outer), "inner_cond": np.array([nested]), "x": X}
        _compare(model, ort_run, feeds)


def test_if_on_the_input_shape_picks_a_branch_per_width(ort_run: Any) -> None:
    nodes = [
        helper.make_node("Shape", ["x"], ["shape"]),
        helper.make_node("Gather", ["shape", "one"], ["width"]),
        helper.make_node("Equal", ["width", "three"], ["is_three"]),
        helper.make_node(
            "If",
            ["is_three"],
            ["y"],
            then_branch=_branch([helper.make_node("Relu", ["x"], ["r"])], "r"),
            else_branch=_branch([helper.make_node("Sigmoid", ["x"], ["s"])], "s"),
        ),
    ]
    scalars = {"one": np.array(1, dtype=np.int64), "three": np.array(3, dtype=np.int64)}
    model = _model(nodes, [_x("n", "d")], ["y"], scalars)
    for width in (3, 4):
        _compare(
            model, ort_run, {"x": np.linspace(-2, 2, 2 * width, dtype=np.float32).reshape(2, -1)}
        )


def _loop_model() -> onnx.ModelProto:
    """Three times ``acc = acc * w + x``, each ``acc`` also stacked as a scan output."""
    body = helper.make_graph(
        [
            helper.make_node("Identity", ["cond_in"], ["cond_out"]),
            helper.make_node("Mul", ["acc_in", "w"], ["scaled"]),
            helper.make_node("Add", ["scaled", "x"], ["acc_out"]),
            helper.make_node("Identity", ["acc_out"], ["seen"]),
        ],
        "body",
        [
            helper.make_tensor_value_info("i", TensorProto.INT64, []),
            helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
            helper.make_tensor_value_info("acc_in", FLOAT, [2, 3]),
        ],
        [helper.make_empty_tensor_value_info(n) for n in ("cond_out", "acc_out", "seen")],
    )
    node = helper.make_node("Loop", ["trips", "go", "zeros"], ["acc", "history"], body=body)
    initializers = {
        "w": W,
        "trips": np.array(3, dtype=np.int64),
        "go": np.array(True),
        "zeros": np.zeros((2, 3), dtype=np.float32),
    }
    return _model([node], [_x(2, 3)], ["acc", "history"], initializers)


def test_loop_carries_a_value_stacks_a_scan_output_and_differentiates(ort_run: Any) -> None:
    model = _loop_model()
    _compare(model, ort_run, {"x": X})
    x = torch.from_numpy(X).requires_grad_(True)
    OnnxTwin(model).run({"x": x})["acc"].sum().backward()
    direct, acc = torch.from_numpy(X).requires_grad_(True), torch.zeros(2, 3)
    for _ in range(3):
        acc = acc * torch.from_numpy(W) + direct
    acc.sum().backward()
    assert x.grad is not None
    torch.testing.assert_close(x.grad, direct.grad)
    assert non_differentiable_nodes(model) == []


def test_scan_sums_rows_with_a_state(ort_run: Any) -> None:
    body = helper.make_graph(
        [
            helper.make_node("Add", ["sum_in", "row"], ["sum_out"]),
            helper.make_node("Mul", ["sum_out", "row"], ["product"]),
        ],
        "body",
        [helper.make_tensor_value_info(n, FLOAT, [3]) for n in ("sum_in", "row")],
        [helper.make_empty_tensor_value_info(n) for n in ("sum_out", "product")],
    )
    node = helper.make_node(
        "Scan",
        ["start", "x"],
        ["total", "products"],
        body=body,
        num_scan_inputs=1,
        scan_input_directions=[1],
        scan_output_axes=[1],
    )
    model = _model([node], [_x(4, 3)], ["total", "products"], {"start": np.ones(3, np.float32)})
    _compare(model, ort_run, {"x": np.arange(12, dtype=np.float32).reshape(4, 3) / 7})


def test_an_operator_missing_inside_a_branch_is_named_by_analysis_twin_and_inspect(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from robustcheck.cli import main

    # Typed throughout: the file checker ``inspect`` runs wants every output's type.
    def branch(node: onnx.NodeProto) -> onnx.GraphProto:
        out = helper.make_tensor_value_info(node.output[0], FLOAT, [2])
        return helper.make_graph([node], node.op_type, [], [out])

    reduce_max = helper.make_node("ReduceMax", ["x"], ["m"], axes=[1, 2], keepdims=0)
    det = helper.make_node("Det", ["x"], ["d"])
    node = helper.make_node(
        "If", ["cond"], ["y"], then_branch=branch(reduce_max), else_branch=branch(det)
    )
    graph = helper.make_graph(
        [node], "g", [_COND, _x(2, 3, 3)], [helper.make_tensor_value_info("y", FLOAT, [2])]
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    assert unsupported_ops(model) == [("", "Det", 17)]
    with pytest.raises(UnsupportedOperatorsError, match=r"::Det \(opset 17\)"):
        OnnxTwin(model)
    path = tmp_path / "branchy.onnx"
    onnx.save(model, path)
    main(["inspect", str(path)])
    out, err = capsys.readouterr()
    assert not err, err
    assert "ai.onnx::Det opset 17  x1  unsupported" in out
    assert "ai.onnx::If opset 17  x1  ok" in out
    assert "the gradient twin lacks: ai.onnx::Det (opset 17)" in out


def test_a_failure_inside_a_branch_names_the_if_and_the_inner_node() -> None:
    then_branch = _branch(
        [helper.make_node("Reshape", ["x", "bad_shape"], ["r"], name="fold")], "r"
    )
    model = _model(
        [helper.make_node("If", ["cond"], ["y"], name="pick", then_branch=then_branch,
                          else_branch=then_branch)],
        [_COND, _x(2, 3)],
        ["y"],
        {"bad_shape": np.array([4, 4], dtype=np.int64)},
    )  # fmt: skip
    with pytest.raises(TwinNodeError) as caught:
        OnnxTwin(model).run({"cond": torch.tensor(True), "x": torch.from_numpy(X)})
    assert "node 'pick' (If) > then_branch > 'fold' (Reshape): " in str(caught.value)
    assert caught.value.node == "'pick' (If) > then_branch > 'fold' (Reshape)"


def test_a_cut_inside_a_branch_is_named_with_its_path() -> None:
    then_branch = _branch(
        [
            helper.make_node("ArgMax", ["x"], ["index"], name="argmax", axis=1),
            helper.make_node("Cast", ["index"], ["y_then"], to=FLOAT),
        ],
        "y_then",
    )
    model = _model(
        [helper.make_node("If", ["cond"], ["y"], name="pick", then_branch=then_branch,
                          else_branch=then_branch)],
        [_COND, _x(2, 3)],
        ["y"],
    )  # fmt: skip
    assert sorted(non_differentiable_nodes(model)) == [
        "'pick' (If) > else_branch > 'argmax' (ArgMax)",
        "'pick' (If) > then_branch > 'argmax' (ArgMax)",
    ]


# --- End to end: a digits classifier whose exported graph branches ------------------------


def _digits_classifier_with_an_if(tmp_path: Path) -> tuple[Path, Path]:
    from robustcheck.datasets import load_digits

    digits = load_digits()
    x = torch.from_numpy(digits.images[:300].reshape(-1, 64).astype(np.float32) / 16.0)
    y = torch.from_numpy(digits.target[:300])
    torch.manual_seed(0)
    module = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    optimizer = torch.optim.Adam(module.parameters(), lr=0.01)
    for _ in range(100):
        optimizer.zero_grad()
        nn.functional.cross_entropy(module(x), y).backward()
        optimizer.step()
    module.eval()
    exported = tmp_path / "plain.onnx"
    torch.onnx.export(
        module, (x[:2],), str(exported), input_names=["x"], output_names=["logits"],
        dynamic_axes={"x": {0: "n"}, "logits": {0: "n"}}, opset_version=17, dynamo=False,
    )  # fmt: skip
    model = _branch_the_head(onnx.load(exported))
    onnx.checker.check_model(model)
    path, data = tmp_path / "branchy.onnx", tmp_path / "digits.npz"
    onnx.save(model, path)
    np.savez(data, x=x[:100].numpy(), y=y[:100].numpy())
    return path, data


def _branch_the_head(model: onnx.ModelProto) -> onnx.ModelProto:
    """The last node (the head) moves into the then branch of an If on ``x.shape[1] == 64``;
    the else branch negates it. Inside, the head reads the hidden layer and its weights from the
    enclosing scope."""
    graph = model.graph
    head = graph.node.pop()
    then_branch = _branch([head], head.output[0], "head")
    negated = onnx.NodeProto()
    negated.CopyFrom(head)
    negated.output[0] = "head_else"
    else_branch = _branch(
        [negated, helper.make_node("Neg", ["head_else"], ["neg_out"])], "neg_out", "negated"
    )
    graph.initializer.extend(
        [
            numpy_helper.from_array(np.array(1, dtype=np.int64), "axis_one"),
            numpy_helper.from_array(np.array(64, dtype=np.int64), "sixty_four"),
        ]
    )
    graph.node.extend(
        [
            helper.make_node("Shape", ["x"], ["x_shape"]),
            helper.make_node("Gather", ["x_shape", "axis_one"], ["width"]),
            helper.make_node("Equal", ["width", "sixty_four"], ["is_flat"]),
            helper.make_node(
                "If", ["is_flat"], ["scores"], then_branch=then_branch, else_branch=else_branch
            ),
        ]
    )
    graph.output[0].name = "scores"
    return model


def test_scan_of_a_branching_digits_classifier_beats_noise_with_a_trusted_twin(
    tmp_path: Path, scan_checked: Any
) -> None:

    model, data = _digits_classifier_with_an_if(tmp_path)
    assert any(node.op_type == "If" for node in onnx.load(model).graph.node)
    scan_checked(model, data, tmp_path / "report.json", "--no-isolation")
