"""Models for the certification tests: tiny ONNX graphs (one op or a short chain on a variable
input with a dynamic batch axis, seeded weights), digits MLPs, and a plain PGD."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

OPSET = 17


class GraphMaker:
    """Collects nodes and initializers for one model; ``x`` is the variable input."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._count = 0

    def const(self, value: np.ndarray | Sequence[float], dtype: type = np.float32) -> str:
        name = f"c{len(self.initializers)}"
        self.initializers.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def weight(self, *shape: int, scale: float = 0.5) -> str:
        return self.const(self.rng.normal(0, scale, shape))

    def op(self, op_type: str, *inputs: str, outputs: int = 1, **attrs: object) -> str:
        self._count += 1
        names = [f"v{self._count}_{i}" for i in range(outputs)]
        self.nodes.append(
            helper.make_node(op_type, list(inputs), names, name=f"n{self._count}", **attrs)
        )
        return names[0]

    def model(self, output: str, sample_shape: Sequence[int]) -> onnx.ModelProto:
        x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", *sample_shape])
        y = helper.make_value_info(output, helper.make_tensor_type_proto(TensorProto.FLOAT, None))
        graph = helper.make_graph(self.nodes, "g", [x], [y], self.initializers)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
        model.ir_version = 8
        return model


def train_mlp(digits, hidden: tuple[int, ...], epochs: int = 150, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    layers: list[torch.nn.Module] = [torch.nn.Flatten()]
    width = 64
    for size in hidden:
        layers += [torch.nn.Linear(width, size), torch.nn.ReLU()]
        width = size
    module = torch.nn.Sequential(*layers, torch.nn.Linear(width, 10))
    opt = torch.optim.Adam(module.parameters(), lr=0.01)
    x, y = torch.from_numpy(digits.x_train), torch.from_numpy(digits.y_train)
    for _ in range(epochs):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(module(x), y).backward()
        opt.step()
    return module.eval()


def pgd_broken(
    module: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, steps: int = 30
) -> torch.Tensor:
    """Which samples a margin-loss L∞ PGD (two random starts, [0, 1] domain) misclassifies."""
    model = module.double()
    x = x.double()
    broken = torch.zeros(len(x), dtype=torch.bool)
    rows = torch.arange(len(y))
    generator = torch.Generator().manual_seed(0)
    for _ in range(2):
        delta = (torch.rand(x.shape, generator=generator, dtype=torch.float64) * 2 - 1) * eps
        for _ in range(steps):
            delta.requires_grad_(True)
            logits = model((x + delta).clamp(0, 1))
            others = logits.clone()
            others[rows, y] = float("-inf")
            loss = (others.amax(1) - logits[rows, y]).sum()
            (grad,) = torch.autograd.grad(loss, delta)
            delta = (delta.detach() + eps / 4 * grad.sign()).clamp(-eps, eps)
        with torch.no_grad():
            broken |= model((x + delta).clamp(0, 1)).argmax(1) != y
    module.float()
    return broken
