"""PyTorch models saved as TorchScript (``torch.jit.save``) or ``torch.export`` programs (``.pt2``).

Both formats are programs: loading one runs code from the file. robustcheck never unpickles
(``torch.load``) a model. Scores and gradients come from the same module.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from robustcheck.backends._batching import run_in_fixed_batches
from robustcheck.backends.base import ModelInfo, SideInputs
from robustcheck.backends.output import scores_shape
from robustcheck.backends.torch_text import (
    TorchTextBackend,
    exported_text_inputs,
    load_exported_text,
    load_torchscript_text,
    text_inputs,
)
from robustcheck.boundary import out_of_memory
from robustcheck.errors import ModelError, ModelRejectedBatch, UnsupportedModelError, UsageError

log = logging.getLogger(__name__)

TORCHSCRIPT = "torchscript"
TORCH_EXPORT = "torch.export"


class TorchProgramBackend:
    """A TorchScript module or an exported program, evaluated in float32 on its device."""

    def __init__(
        self,
        module: Any,
        info: ModelInfo,
        static_batch: int | None,
        device: torch.device | None = None,
    ) -> None:
        self.device = device or torch.device("cpu")
        self._module = module if self.device.type == "cpu" else module.to(self.device)
        self.info = replace(info, device=self.device.type)
        self._static_batch = static_batch

    @property
    def module(self) -> Any:
        """The loaded module itself (``robustcheck harden`` trains its parameters)."""
        return self._module

    def _call(self, x: torch.Tensor) -> torch.Tensor:
        try:
            out = self._module(x)
        except torch.OutOfMemoryError:
            raise
        except (RuntimeError, TypeError, ValueError, IndexError, torch.jit.Error) as exc:
            if out_of_memory(exc):  # not the batch's shape but its size: exit 5, not 3
                raise
            raise ModelRejectedBatch(self.info.path, list(x.shape), _last_line(exc)) from None
        if isinstance(out, (tuple, list)):
            out = out[0]
        if not isinstance(out, torch.Tensor):
            raise ModelError(
                f"{self.info.path}: the model returned {type(out).__name__}, not a tensor of class scores"
            )
        return out.reshape(scores_shape(tuple(out.shape), self.info.path))

    def forward(self, x: torch.Tensor, side: SideInputs | None = None) -> torch.Tensor:
        if side:  # single-input modules: the runner only loads side inputs for ONNX models
            raise UsageError(f"{self.info.path}: --input applies to multi-input ONNX models")
        return run_in_fixed_batches(self._call, x.to(torch.float32), self._static_batch)

    def scores(self, x: torch.Tensor, side: SideInputs | None = None) -> torch.Tensor:
        with torch.inference_mode():
            return self.forward(x, side).to(torch.float64)

    def differentiable_scores(
        self, x: torch.Tensor, side: SideInputs | None = None
    ) -> torch.Tensor:
        return self.scores(x, side)


def _last_line(exc: BaseException) -> str:
    """The informative end of an error; TorchScript prefixes it with a whole traceback."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    last = lines[-1] if lines else type(exc).__name__
    return last[:300]


def _model_info(path: Path, fmt: str, sha256: str, shape: tuple[int | None, ...]) -> ModelInfo:
    return ModelInfo(
        path=str(path),
        format=fmt,
        sha256=sha256,
        input_name="input",
        input_shape=shape,
        input_dtype="float32",
        output_name="output",
        threads=torch.get_num_threads(),
    )


def load_torchscript(
    path: Path, sha256: str, device: torch.device | None = None
) -> TorchProgramBackend | TorchTextBackend:
    try:
        with warnings.catch_warnings():
            # torch 2.9+ deprecates TorchScript in favour of torch.export; users still ship it.
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            module = torch.jit.load(str(path), map_location=device or "cpu")
    except (RuntimeError, ValueError, OSError) as exc:
        raise ModelError(
            f"{path}: not a readable TorchScript archive ({_first_line(exc)})",
            hint="save the model with torch.jit.save(torch.jit.script(model) or torch.jit.trace(...))",
        ) from exc
    module.eval()
    training = [name or "<root>" for name, sub in module.named_modules() if sub.training]
    if training:
        raise UnsupportedModelError(
            f"{path}: modules still in training mode: {', '.join(training[:5])}"
        )
    info = _model_info(path, TORCHSCRIPT, sha256, ())
    names = text_inputs(module)
    if names:  # a text classifier: the word embeddings are the attacked leaf (on the CPU)
        if device is not None and device.type != "cpu":
            module = torch.jit.load(str(path), map_location="cpu").eval()
        return load_torchscript_text(module, info, names)
    return TorchProgramBackend(module, info, static_batch=None, device=device)


def load_exported_program(
    path: Path, sha256: str, device: torch.device | None = None
) -> TorchProgramBackend | TorchTextBackend:
    export_log = logging.getLogger("torch.export")
    previous = export_log.level
    export_log.setLevel(logging.CRITICAL)  # torch logs a full traceback before raising
    try:
        program = torch.export.load(str(path))
    except Exception as exc:  # torch raises many unrelated types for a bad archive
        raise ModelError(
            f"{path}: not a readable torch.export program ({_first_line(exc)})",
            hint="save the model with torch.export.save(torch.export.export(model, args), path)",
        ) from exc
    finally:
        export_log.setLevel(previous)
    names = exported_text_inputs(program)
    if names:  # a text classifier: the word embeddings are the attacked leaf (on the CPU)
        info = _model_info(path, TORCH_EXPORT, sha256, ())
        return load_exported_text(program.module(), info, names)
    if device is not None and device.type != "cpu":
        # Also moves tensors the graph creates on a fixed device (module.to() would miss them).
        from torch.export.passes import move_to_device_pass

        program = move_to_device_pass(program, device)
    shape = _user_input_shape(program)
    static_batch = shape[0] if shape and isinstance(shape[0], int) else None
    return TorchProgramBackend(
        program.module(), _model_info(path, TORCH_EXPORT, sha256, shape), static_batch, device
    )


def _user_input_shape(program: Any) -> tuple[int | None, ...]:
    user_inputs = set(program.graph_signature.user_inputs)
    for node in program.graph.nodes:
        if node.op == "placeholder" and node.name in user_inputs:
            val = node.meta.get("val")
            if val is None:
                return ()
            return tuple(d if isinstance(d, int) else None for d in val.shape)
    return ()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
