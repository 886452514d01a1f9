"""A model file opened for training: its float parameters, and the file it becomes afterwards.

Per format:

- TorchScript: the module's float parameters. Buffers (BatchNorm running statistics) are not
  parameters and stay as they are; the module stays in eval mode (dropout off, BatchNorm on its
  running statistics), so fine-tuning never changes how the deployed module computes.
- ``.pt2`` (``torch.export``): the float parameters of ``program.module()``, copied back into
  the program's state dict, so the saved program has the same graph with new weights.
- ONNX: the float initializers of the main graph, trained through the gradient twin and written
  back into a copy of the original ModelProto (same nodes, opset and signature). Scalars and
  BatchNormalization's running mean and variance are not trained (they are statistics, and a
  variance pushed below zero would break the model). External data is refused, as in ``scan``.

Training never goes through the deployed runtime (onnxruntime still holds the old weights): the
backend handed to attacks scores with the differentiable path only.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

from robustcheck._warnings import deprecations_dropped
from robustcheck.backends.base import Backend, ModelInfo, SideInputs, with_side
from robustcheck.backends.loader import detect_format, load_backend
from robustcheck.backends.onnx.model_file import read_onnx
from robustcheck.errors import ModelError, UnsupportedModelError, quoted
from robustcheck.harden._archive import fixed_zip_times

log = logging.getLogger(__name__)
_BATCHNORM_STATISTICS = {2 + 1, 2 + 2}
"""BatchNormalization inputs 3 and 4: running mean and variance."""


class DifferentiableOnly:
    """A backend seen through its differentiable path alone: while training, the deployed
    runtime (onnxruntime) still holds the original weights, so it must not score anything."""

    def __init__(self, inner: Backend) -> None:
        self._inner = inner
        self.info: ModelInfo = inner.info
        self.device = inner.device

    def scores(self, x: torch.Tensor, side: SideInputs | None = None) -> torch.Tensor:
        return with_side(self._inner.differentiable_scores, x, side)

    def differentiable_scores(
        self, x: torch.Tensor, side: SideInputs | None = None
    ) -> torch.Tensor:
        return with_side(self._inner.differentiable_scores, x, side)

    def forward(self, x: torch.Tensor, side: SideInputs | None = None) -> torch.Tensor:
        return with_side(self._inner.forward, x, side)


@dataclass
class TrainableModel:
    """A loaded model whose ``parameters`` are leaf tensors that the backend's forward uses."""

    path: Path
    format: str
    backend: Backend
    parameters: dict[str, torch.Tensor]
    _save: Any = field(repr=False)
    """``() -> bytes``: the hardened file's contents from the current parameter values."""

    def to_bytes(self) -> bytes:
        with frozen(self.parameters.values()):
            return bytes(self._save())

    def state(self) -> dict[str, torch.Tensor]:
        return {name: p.detach().clone() for name, p in self.parameters.items()}

    def load_state(self, state: dict[str, torch.Tensor]) -> None:
        with torch.no_grad():
            for name, p in self.parameters.items():
                p.copy_(state[name])

    @property
    def n_values(self) -> int:
        return sum(p.numel() for p in self.parameters.values())


@contextmanager
def frozen(parameters: Any) -> Iterator[None]:
    """Parameters without ``requires_grad`` inside the block: an input gradient then records no
    graph through the weights, and a saved file carries no training flag."""
    params = list(parameters)
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


def open_trainable(path: Path, *, model_format: str | None = None) -> TrainableModel:
    """Load ``path`` as ``scan`` does, then expose its float parameters for training."""
    fmt = detect_format(path, model_format)
    backend = load_backend(path, model_format=fmt, device="cpu")
    if backend.info.differentiable_path == "float32-copy-vs-module":
        # Training would move the half-precision weights, not the float32 copy attacks follow.
        raise UnsupportedModelError(
            f"{path}: the model computes in {backend.info.input_dtype}; harden trains float32 "
            "and float64 PyTorch models",
            hint="harden the float32 model, then convert it",
        )
    if fmt == "onnx":
        trainable = _onnx(path, backend)
    elif fmt == "torch.export":
        trainable = _exported(path, backend)
    else:
        trainable = _torchscript(path, backend)
    if not trainable.parameters:
        raise ModelError(
            f"{path}: the model has no trainable float parameters (weights baked into the code "
            "as constants, or integer-only)",
            hint="export the model with its weights as parameters or initializers",
        )
    return trainable


def _float_parameters(module: Any) -> dict[str, torch.Tensor]:
    params = {name: p for name, p in module.named_parameters() if p.is_floating_point()}
    for p in params.values():
        p.requires_grad_(True)
    return params


def _torchscript(path: Path, backend: Any) -> TrainableModel:
    module = backend.module

    def save() -> bytes:
        buffer = io.BytesIO()
        with deprecations_dropped(log, "writing the hardened model"):
            torch.jit.save(module, buffer)
        return fixed_zip_times(buffer.getvalue())

    return TrainableModel(path, "torchscript", backend, _float_parameters(module), save)


def _exported(path: Path, backend: Any) -> TrainableModel:
    params = _float_parameters(backend.module)
    with deprecations_dropped(log, "writing the hardened model"):
        program = torch.export.load(str(path))  # the graph to save; only its weights change

    def save() -> bytes:
        with torch.no_grad():
            for name, p in params.items():
                program.state_dict[name].copy_(p)
        buffer = io.BytesIO()
        with deprecations_dropped(log, "writing the hardened model"):
            torch.export.save(program, buffer)
        return fixed_zip_times(buffer.getvalue())

    missing = sorted(set(params) - set(program.state_dict))
    if missing:
        raise ModelError(f"{path}: parameter(s) {quoted(missing[:5])} are not in the program")
    return TrainableModel(path, "torch.export", DifferentiableOnly(backend), params, save)


def _onnx(path: Path, backend: Any) -> TrainableModel:
    original = read_onnx(path)
    names = _trainable_initializers(original)
    params = backend.twin.make_trainable(names)

    def save() -> bytes:
        model = onnx.ModelProto()
        model.CopyFrom(original)
        for init in model.graph.initializer:
            if init.name in params:
                dtype = helper.tensor_dtype_to_np_dtype(init.data_type)
                value = params[init.name].detach().cpu().numpy().astype(dtype)
                init.CopyFrom(numpy_helper.from_array(value, init.name))
        return model.SerializeToString()

    return TrainableModel(path, "onnx", DifferentiableOnly(backend), params, save)


def _trainable_initializers(model: Any) -> list[str]:
    floating = {TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16, TensorProto.BFLOAT16}
    statistics = {
        node.input[i]
        for node in model.graph.node
        if node.op_type == "BatchNormalization"
        for i in _BATCHNORM_STATISTICS
        if i < len(node.input)
    }
    names = []
    for init in model.graph.initializer:
        size = 1
        for d in init.dims:
            size *= d
        if init.data_type in floating and size > 1 and init.name not in statistics:
            names.append(init.name)
    return names
