"""PyTorch models saved as TorchScript (``torch.jit.save``) or ``torch.export`` programs (``.pt2``).

Both formats are programs: loading one runs code from the file. robustcheck never unpickles
(``torch.load``) a model. Scores and gradients come from the same module.

A module computes in the dtype of its parameters (float32, float64, or a half precision, float16
and bfloat16). The scores always come from the module in its own dtype. A half-precision module is
differentiated like an fp16 ONNX model: through a float32 copy fed the inputs rounded to the
module's dtype (the rounding passes the gradient straight through), because gradients computed in
half precision lose signs to rounding; the fidelity section compares the copy with the module.
"""

from __future__ import annotations

import copy
import inspect
import logging
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from robustcheck._warnings import deprecations_dropped
from robustcheck.backends.base import ModelInfo, SideInputs
from robustcheck.backends.batching import round_to, run_in_fixed_batches
from robustcheck.backends.output import scores_shape
from robustcheck.backends.torch_text import (
    TorchTextBackend,
    exported_text_inputs,
    load_exported_text,
    load_torchscript_text,
    text_inputs,
)
from robustcheck.boundary import out_of_memory
from robustcheck.errors import (
    ModelError,
    ModelRejectedBatch,
    UnsupportedModelError,
    UsageError,
    quoted,
)

log = logging.getLogger(__name__)

TORCHSCRIPT = "torchscript"
TORCH_EXPORT = "torch.export"


HALF_PRECISIONS = (torch.float16, torch.bfloat16)
_NO_KERNEL = ("not implemented for 'Half'", "not implemented for 'BFloat16'")
"""How torch says a CPU operator has no half-precision kernel."""
_ARITY = (
    "is missing value for argument",  # TorchScript
    "positional argument",  # Python: "missing 1 required ...", "takes 2 ... but 3 were given"
    "same number and type of args",  # torch.export's module
    "but instead found type",  # TorchScript: forward(xs: Tuple[Tensor, Tensor]) given a tensor
)
"""How torch says a forward was called with the wrong number or kind of arguments (what
:func:`check_one_input` cannot see from the signature: a tuple or list argument, say)."""


class TorchProgramBackend:
    """A TorchScript module or an exported program, evaluated in its own dtype on its device."""

    def __init__(
        self,
        module: Any,
        info: ModelInfo,
        static_batch: int | None,
        device: torch.device | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        check_one_input(module, info.path)
        self.device = device or torch.device("cpu")
        self._module = module if self.device.type == "cpu" else module.to(self.device)
        self.info = replace(info, device=self.device.type)
        self._static_batch = static_batch
        self._dtype = dtype
        half = dtype in HALF_PRECISIONS
        self._float32: Any = _float32_copy(self._module) if half else None
        """The half-precision module's float32 copy: the differentiable path."""

    @property
    def module(self) -> Any:
        """The loaded module itself (``robustcheck harden`` trains its parameters)."""
        return self._module

    def _call(self, x: torch.Tensor, module: Any = None) -> torch.Tensor:
        try:
            out = (self._module if module is None else module)(x)
        except torch.OutOfMemoryError:
            raise
        except (RuntimeError, TypeError, ValueError, IndexError, torch.jit.Error) as exc:
            if out_of_memory(exc):  # not the batch's shape but its size: exit 5, not 3
                raise
            reason = _last_line(exc)
            if self._dtype in HALF_PRECISIONS and any(k in reason for k in _NO_KERNEL):
                # Running it in float32 instead would scan another model than the deployed one.
                raise UnsupportedModelError(
                    f"{self.info.path}: the model computes in {_name(self._dtype)} and an operator "
                    f"has no {_name(self._dtype)} kernel on {self.device.type} ({reason})",
                    hint="scan a float32 export of the model, or its ONNX export",
                ) from None
            arity = _arity_line(exc)
            if arity is not None:
                raise UnsupportedModelError(
                    f"{self.info.path}: its forward does not take one tensor, which is what "
                    f"robustcheck feeds a PyTorch model ({arity})",
                    hint="wrap the model so that forward takes one tensor",
                ) from None
            raise ModelRejectedBatch(self.info.path, list(x.shape), reason) from None
        if isinstance(out, (tuple, list)):
            out = out[0]
        if not isinstance(out, torch.Tensor):
            raise ModelError(
                f"{self.info.path}: the model returned {type(out).__name__}, not a tensor of class scores"
            )
        return out.reshape(scores_shape(tuple(out.shape), self.info.path))

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        """The module in its own dtype (the deployed computation)."""
        # The cast is part of the autograd graph: the gradient reaches x in x's own dtype.
        out = run_in_fixed_batches(self._call, _cast(x, self._dtype), self._static_batch)
        return out if out.dtype == torch.float64 else out.to(torch.float32)

    def forward(self, x: torch.Tensor, side: SideInputs | None = None) -> torch.Tensor:
        _no_side(self.info.path, side)
        if self._float32 is None:
            return self._run(x)
        feed = _cast(x, self._dtype).to(torch.float32)
        return run_in_fixed_batches(
            lambda chunk: self._call(chunk, self._float32), feed, self._static_batch
        ).to(torch.float32)

    def scores(self, x: torch.Tensor, side: SideInputs | None = None) -> torch.Tensor:
        with torch.inference_mode():
            _no_side(self.info.path, side)
            return self._run(x).to(torch.float64)

    def differentiable_scores(
        self, x: torch.Tensor, side: SideInputs | None = None
    ) -> torch.Tensor:
        if self._float32 is None:
            return self.scores(x, side)
        with torch.inference_mode():
            return self.forward(x, side).to(torch.float64)


def _no_side(path: str, side: SideInputs | None) -> None:
    if side:  # single-input modules: the runner only loads side inputs for ONNX models
        raise UsageError(f"{path}: --input applies to multi-input ONNX models")


def required_inputs(module: Any) -> list[str] | None:
    """The names of the arguments ``module``'s forward cannot do without (TorchScript's schema, or
    the Python signature of an exported program's module); None when it cannot be read."""
    schema = getattr(getattr(module, "forward", None), "schema", None)
    if schema is not None:
        return [a.name for a in schema.arguments[1:] if not a.has_default_value()]
    try:
        parameters = inspect.signature(module.forward).parameters.values()
    except (AttributeError, TypeError, ValueError):
        return None
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return [p.name for p in parameters if p.kind in positional and p.default is p.empty]


def check_one_input(module: Any, path: str) -> None:
    """robustcheck feeds a PyTorch model one tensor, the attacked input: a forward that needs
    more is refused before any data is read (not blamed on the data's shape or layout)."""
    required = required_inputs(module)
    if required is not None and len(required) > 1:
        raise UnsupportedModelError(
            f"{path}: its forward takes {len(required)} inputs ({quoted(required)}); robustcheck "
            "feeds a PyTorch model one, the attacked input",
            hint="wrap the model so that forward takes one tensor (fixing or computing the others "
            "inside), or export it to ONNX and name the attacked input with --input",
        )


def _arity_line(exc: BaseException) -> str | None:
    """The line of ``exc`` saying the forward was given the wrong arguments, if one does (torch
    follows it with a dump of the value, so it is not the last)."""
    for line in str(exc).splitlines():
        if any(marker in line for marker in _ARITY):
            return line.strip()[:300]
    return None


def _last_line(exc: BaseException) -> str:
    """The informative end of an error; TorchScript prefixes it with a whole traceback."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    last = lines[-1] if lines else type(exc).__name__
    return last[:300]


def _name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _float32_copy(module: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch warns about .grad of non-leaf tensors while copying
        return copy.deepcopy(module).float()


def _cast(x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``x`` in the module's dtype; float64 → float16 rounds once, as the ONNX path does."""
    if dtype == torch.float16:
        return round_to(x, np.dtype(np.float16))
    return x.to(dtype)


def module_dtype(module: Any, declared: torch.dtype | None = None) -> torch.dtype:
    """The floating dtype the module computes in: the declared input's (``.pt2``), else its
    floating parameters' and buffers' (the first one found), else float32."""
    if declared is not None and declared.is_floating_point:
        return declared
    tensors = [*module.parameters(), *module.buffers()]
    floating = [t.dtype for t in tensors if t.is_floating_point()]
    return floating[0] if floating else torch.float32


def _model_info(
    path: Path, fmt: str, sha256: str, shape: tuple[int | None, ...], dtype: torch.dtype
) -> ModelInfo:
    notes: tuple[str, ...] = (TORCHSCRIPT_DEPRECATED,) if fmt == TORCHSCRIPT else ()
    half = dtype in HALF_PRECISIONS
    if half:
        notes += (
            f"the model computes in {_name(dtype)}: its scores come from the module in "
            f"{_name(dtype)}; gradients are taken in float32 on a float32 copy of it, fed the "
            f"inputs rounded to {_name(dtype)} (the fidelity section compares the two)",
        )
    return ModelInfo(
        path=str(path),
        format=fmt,
        sha256=sha256,
        input_name="input",
        input_shape=shape,
        input_dtype=_name(dtype),
        output_name="output",
        threads=torch.get_num_threads(),
        differentiable_path="float32-copy-vs-module" if half else "same-module",
        notes=notes,
    )


def load_torchscript(
    path: Path, sha256: str, device: torch.device | None = None
) -> TorchProgramBackend | TorchTextBackend:
    try:
        module = _jit_load(path, device or "cpu")
    except (RuntimeError, ValueError, OSError) as exc:
        raise ModelError(
            f"{path}: not a readable TorchScript archive ({_first_line(exc)})",
            hint="save the model with torch.jit.save(torch.jit.script(model) or torch.jit.trace(...))",
        ) from exc
    module.eval()
    training = [name or "<root>" for name, sub in module.named_modules() if sub.training]
    if training:
        raise UnsupportedModelError(
            f"{path}: modules still in training mode: {quoted(training[:5])}"
        )
    dtype = module_dtype(module)
    info = _model_info(path, TORCHSCRIPT, sha256, (), dtype)
    names = text_inputs(module)
    if names:  # a text classifier: the word embeddings are the attacked leaf (on the CPU)
        if device is not None and device.type != "cpu":
            module = _jit_load(path, "cpu").eval()
        return load_torchscript_text(module, info, names)
    return TorchProgramBackend(module, info, static_batch=None, device=device, dtype=dtype)


TORCHSCRIPT_DEPRECATED = (
    "PyTorch deprecates TorchScript in favour of torch.export: save the model with "
    "torch.export.save (a .pt2 file), which robustcheck scans the same way"
)
"""Said once in every TorchScript scan's notes, in place of torch's own warning."""


def _jit_load(path: Path, device: torch.device | str) -> Any:
    """``torch.jit.load`` without torch 2.14's deprecation warning: the report's notes say it
    instead (:data:`TORCHSCRIPT_DEPRECATED`)."""
    with deprecations_dropped(log, f"loading {path}"):
        return torch.jit.load(str(path), map_location=device)


def load_exported_program(
    path: Path, sha256: str, device: torch.device | None = None
) -> TorchProgramBackend | TorchTextBackend:
    export_log = logging.getLogger("torch.export")
    previous = export_log.level
    export_log.setLevel(logging.CRITICAL)  # torch logs a full traceback before raising
    try:
        with deprecations_dropped(log, f"loading {path}"):
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
        text_module = program.module()
        info = _model_info(path, TORCH_EXPORT, sha256, (), module_dtype(text_module))
        return load_exported_text(text_module, info, names)
    if device is not None and device.type != "cpu":
        # Also moves tensors the graph creates on a fixed device (module.to() would miss them).
        from torch.export.passes import move_to_device_pass

        program = move_to_device_pass(program, device)
    shape, declared = _user_input(program)
    static_batch = shape[0] if shape and isinstance(shape[0], int) else None
    module = program.module()
    dtype = module_dtype(module, declared)
    info = _model_info(path, TORCH_EXPORT, sha256, shape, dtype)
    return TorchProgramBackend(module, info, static_batch, device, dtype)


def _user_input(program: Any) -> tuple[tuple[int | None, ...], torch.dtype | None]:
    """The first user input's declared shape (``None`` for dynamic sizes) and dtype."""
    user_inputs = set(program.graph_signature.user_inputs)
    for node in program.graph.nodes:
        if node.op == "placeholder" and node.name in user_inputs:
            val = node.meta.get("val")
            if val is None:
                return (), None
            return tuple(d if isinstance(d, int) else None for d in val.shape), val.dtype
    return (), None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
