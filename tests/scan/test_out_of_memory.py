"""Running out of memory (host or device) is an environment error: exit 5, one line naming
--batch-size, never an internal error or a blamed model (exit 3)."""

from __future__ import annotations

import json
from typing import ClassVar

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

import robustcheck.scan.attack_plan as attack_plan
from robustcheck.attacks import Attack, AttackOutput, BatchContext
from robustcheck.cli import main
from robustcheck.errors import RuntimeEnvironmentError
from robustcheck.plugins import attack_registry
from robustcheck.scan.config import ScanConfig
from robustcheck.scan.runner import run

_HUGE = 1 << 45
"""Elements no machine can allocate (128 Ti float32): the allocator fails at once, touching nothing."""


class Greedy(torch.nn.Module):
    """Asks torch's CPU allocator for far more than exists when called (a real allocator failure)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        big = torch.zeros(int(x.shape[0]) * (1 << 45))
        return x.reshape(x.shape[0], -1)[:, :10] + big[:1]


def _greedy_onnx(path):
    """logits = flatten(x) @ W, plus 0 × the sum of a 2⁴⁵-element Expand of x: onnxruntime's arena
    fails to allocate on the first run."""
    weights = np.random.default_rng(0).normal(size=(64, 10)).astype(np.float32)
    nodes = [
        helper.make_node("Flatten", ["x"], ["f"]),
        helper.make_node("MatMul", ["f", "W"], ["logits"]),
        helper.make_node("ReduceSum", ["x"], ["s"], keepdims=0),
        helper.make_node("Expand", ["s", "big"], ["e"]),
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
            numpy_helper.from_array(np.array(0.0, dtype=np.float32), "zero"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
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
        registry.register(CudaOutOfMemory.name, CudaOutOfMemory)
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
