"""Running out of memory (host or device) on a batch is an environment error: exit 5, one line
naming --batch-size, never an internal error. A model asking for memory that no batch size frees
(the same huge buffer at every batch size, or more than the machine holds for one sample) is the
model's defect: exit 3, one line naming the size (and the node, for ONNX)."""

from __future__ import annotations

import json
from typing import ClassVar

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

import robustcheck.engine.attack_plan as attack_plan
from robustcheck.attacks import Attack, AttackOutput, BatchContext
from robustcheck.cli import main
from robustcheck.engine.config import ScanConfig
from robustcheck.engine.runner import run
from robustcheck.errors import RuntimeEnvironmentError
from robustcheck.plugins import attack_registry

_HUGE = 1 << 45
"""Elements no machine can allocate (128 Ti float32): the allocator fails at once, touching nothing."""


class Greedy(torch.nn.Module):
    """Asks torch's CPU allocator for 2⁴⁵ floats per sample beyond the first (a real allocator
    failure on any batch of two or more; one sample at a time fits)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        big = torch.zeros((int(x.shape[0]) - 1) * (1 << 45) + 1)
        return x.reshape(x.shape[0], -1)[:, :10] + big[:1]


class Absurd(torch.nn.Module):
    """Asks for 2⁴⁵ floats (128 TiB) whatever the batch: the model's defect."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        big = torch.zeros(1 << 45)
        return x.reshape(x.shape[0], -1)[:, :10] + big[:1]


def _greedy_onnx(path, per_extra_sample: bool = True):
    """logits = flatten(x) @ W, plus 0 × the sum of an Expand of x to 2⁴⁵ elements per sample
    beyond the first (``per_extra_sample``), else to 2⁴⁵ elements whatever the batch: onnxruntime's
    arena fails to allocate on the first run of a batch of two or more (resp. of any batch)."""
    weights = np.random.default_rng(0).normal(size=(64, 10)).astype(np.float32)
    nodes = [
        helper.make_node("Flatten", ["x"], ["f"]),
        helper.make_node("MatMul", ["f", "W"], ["logits"]),
        helper.make_node("ReduceSum", ["x"], ["s"], keepdims=0),
        helper.make_node("Shape", ["x"], ["shape"], end=1),
        helper.make_node("Sub", ["shape", "one"], ["extra"]),
        helper.make_node("Mul", ["extra", "big"], ["per_sample"]),
        helper.make_node("Max", ["per_sample", "one"], ["size"]),
        helper.make_node(
            "Expand", ["s", "size" if per_extra_sample else "big"], ["e"], name="grow"
        ),
        helper.make_node("ReduceSum", ["e"], ["t"], keepdims=0),
        helper.make_node("Mul", ["t", "zero"], ["z"]),
        helper.make_node("Add", ["logits", "z"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "greedy",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 1, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 10])],
        [
            numpy_helper.from_array(weights, "W"),
            numpy_helper.from_array(np.array([_HUGE], dtype=np.int64), "big"),
            numpy_helper.from_array(np.array([1], dtype=np.int64), "one"),
            numpy_helper.from_array(np.array(0.0, dtype=np.float32), "zero"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15)], ir_version=8)
    onnx.save(model, str(path))
    return path


def _one_line_oom(code: int, err: str) -> None:
    assert code == 5, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert "out of memory" in lines[0] and "--batch-size" in lines[0]


@pytest.mark.parametrize("isolation", [[], ["--no-isolation"]], ids=["isolated", "in-process"])
def test_torchscript_allocation_failure_exits_5(capsys, tmp_path, digits_npz, isolation):
    model = tmp_path / "greedy.pt"
    torch.jit.save(torch.jit.script(Greedy()), str(model))
    report = tmp_path / "r.json"
    code = main(
        ["scan", str(model), "--data", str(digits_npz), "--eps", "0.1", "--json", str(report),
         "--limit", "20", *isolation]
    )  # fmt: skip
    _one_line_oom(code, capsys.readouterr().err)
    assert json.loads(report.read_text())["exit_code"] == 5


def test_onnxruntime_allocation_failure_exits_5(capsys, tmp_path, digits_npz):
    model = _greedy_onnx(tmp_path / "greedy.onnx")
    code = main(["scan", str(model), "--data", str(digits_npz), "--eps", "0.1", "--limit", "20"])
    _one_line_oom(code, capsys.readouterr().err)


def _one_line_model_defect(code: int, err: str, *named: str) -> str:
    assert code == 3, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert "no batch size can fix that" in lines[0] and "--batch-size" not in lines[0], err
    for text in named:
        assert text in lines[0], err
    return lines[0]


@pytest.mark.parametrize("isolation", [[], ["--no-isolation"]], ids=["isolated", "in-process"])
def test_torchscript_asking_for_128_tib_at_any_batch_size_is_the_model_s_defect(
    capsys, tmp_path, digits_npz, isolation
):
    model = tmp_path / "absurd.pt"
    torch.jit.save(torch.jit.script(Absurd()), str(model))
    code = main(
        ["scan", str(model), "--data", str(digits_npz), "--eps", "0.1", "--limit", "20",
         *isolation]
    )  # fmt: skip
    line = _one_line_model_defect(code, capsys.readouterr().err, str(model), "128 TiB")
    assert "even for a single sample" in line


def test_onnxruntime_asked_for_the_same_huge_buffer_at_any_batch_size(capsys, tmp_path, digits_npz):
    model = _greedy_onnx(tmp_path / "absurd.onnx", per_extra_sample=False)
    code = main(["scan", str(model), "--data", str(digits_npz), "--eps", "0.1", "--limit", "20"])
    _one_line_model_defect(code, capsys.readouterr().err, str(model), "128 TiB", "'grow'")


def test_an_onnx_constant_of_shape_of_2_to_the_50_floats(capsys, tmp_path, digits_npz):
    """The example of the report: a 2⁵⁰-float ConstantOfShape (4 PiB), one sample per batch."""
    weights = np.random.default_rng(0).normal(size=(64, 10)).astype(np.float32)
    nodes = [
        helper.make_node("ConstantOfShape", ["shape"], ["huge"], name="fill"),
        helper.make_node("ReduceSum", ["huge"], ["h"], keepdims=0),
        helper.make_node("Flatten", ["x"], ["f"]),
        helper.make_node("MatMul", ["f", "W"], ["logits"]),
        helper.make_node("Add", ["logits", "h"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "fill",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 1, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 10])],
        [
            numpy_helper.from_array(weights, "W"),
            numpy_helper.from_array(np.array([1 << 50], dtype=np.int64), "shape"),
        ],
    )
    model = tmp_path / "fill.onnx"
    onnx.save(
        helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8),
        str(model),
    )
    argv = ["scan", str(model), "--data", str(digits_npz), "--eps", "0.1", "--limit", "20"]
    code = main([*argv, "--batch-size", "1"])
    _one_line_model_defect(code, capsys.readouterr().err, "4 PiB", "'fill'", "ConstantOfShape")


class CudaOutOfMemory(Attack):
    """An attack whose step runs out of device memory, as a large batch on a GPU does."""

    name: ClassVar[str] = "cuda-oom"

    def candidates(self, ctx: BatchContext, eps: list[float]) -> AttackOutput:
        raise torch.cuda.OutOfMemoryError(
            "CUDA out of memory. Tried to allocate 20.00 GiB. GPU 0 has a total capacity of "
            "79.10 GiB of which 1.2 GiB is free."
        )


def test_torch_cuda_out_of_memory_in_a_scan_is_an_environment_error(
    monkeypatch, cnn_model, digits_npz
):
    def with_cuda_oom(entry_points=None):
        registry, statuses = attack_registry(entry_points)
        registry.add(CudaOutOfMemory.name, CudaOutOfMemory)
        return registry, statuses

    monkeypatch.setattr(attack_plan, "attack_registry", with_cuda_oom)
    config = ScanConfig(
        model=cnn_model.torchscript, data=digits_npz, eps=[0.1], attacks=["cuda-oom"], limit=20
    )
    with pytest.raises(RuntimeEnvironmentError) as caught:
        run(config)
    line = caught.value.one_line()
    assert int(caught.value.exit_code) == 5
    assert "CUDA out of memory" in line and "--batch-size" in line
