"""Choosing and loading a backend for a model file."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from robustcheck.backends.base import Backend
from robustcheck.backends.threads import deterministic_torch
from robustcheck.boundary import foreign_errors
from robustcheck.errors import ModelError, UsageError
from robustcheck.files import file_sha256, regular_file_stat
from robustcheck.vocabulary import MODEL_FORMATS, SUFFIX_FORMATS, Device


def detect_format(path: Path, declared: str | None = None) -> str:
    if declared is not None:
        if declared not in MODEL_FORMATS:
            raise UsageError(
                f"--model-format: unknown format {declared!r}; choose from {', '.join(MODEL_FORMATS)}"
            )
        return declared
    fmt = SUFFIX_FORMATS.get(path.suffix.lower())
    if fmt is None:
        known = ", ".join(sorted(SUFFIX_FORMATS))
        raise ModelError(
            f"{path}: cannot tell the model format from the extension {path.suffix or '(none)'!r}",
            hint=f"use one of {known} or pass --model-format",
        )
    return fmt


def check_model_file(path: Path, fmt: str | None = None) -> None:
    """A regular, non-empty file, and for ONNX no larger than protobuf can parse (checked from its
    size, before it is hashed: a sparse 1 TiB file must be refused at once, not read)."""
    info = regular_file_stat(path, "model file", ModelError)
    if info.st_size == 0:
        raise ModelError(f"{path}: the model file is empty")
    if fmt == "onnx":
        from robustcheck.backends.onnx.model_file import check_model_size  # onnx: ONNX only

        check_model_size(path, info.st_size)


def _torchscript(path: Path, sha256: str, options: LoadOptions) -> Backend:
    # torch: each format's loader imports its framework only when that format is loaded
    from robustcheck.backends.devices import torch_device
    from robustcheck.backends.torch_program import load_torchscript

    return load_torchscript(path, sha256, torch_device(options.device))


def _torch_export(path: Path, sha256: str, options: LoadOptions) -> Backend:
    # torch: each format's loader imports its framework only when that format is loaded
    from robustcheck.backends.devices import torch_device
    from robustcheck.backends.torch_program import load_exported_program

    return load_exported_program(path, sha256, torch_device(options.device))


def _onnx(path: Path, sha256: str, options: LoadOptions) -> Backend:
    from robustcheck.backends.onnx.backend import load_onnx  # onnxruntime and torch: ONNX only

    return load_onnx(
        path,
        sha256,
        device=options.device,
        output=options.output,
        allow_external_data=options.allow_external_data,
        threads=options.threads,
        input_name=options.input_name,
        need_gradient=options.need_gradient,
    )


@dataclass(frozen=True)
class LoadOptions:
    device: Device = "auto"
    output: str | None = None
    allow_external_data: bool = False
    threads: int = 1
    input_name: str | None = None
    """ONNX: the input an attack perturbs (required when the model has several)."""
    need_gradient: bool = True
    """False: a model without a gradient path loads query-only instead of being refused."""


LOADERS: dict[str, Callable[[Path, str, LoadOptions], Backend]] = {
    "torchscript": _torchscript,
    "torch.export": _torch_export,
    "onnx": _onnx,
}
"""One loader per model format; each imports its heavy dependencies only when called."""


def load_backend(
    path: Path,
    *,
    model_format: str | None = None,
    device: Device = "auto",
    output: str | None = None,
    allow_external_data: bool = False,
    threads: int | None = None,
    input_name: str | None = None,
    need_gradient: bool = True,
) -> Backend:
    """Open ``path`` with the backend its format calls for; ``threads`` intra-op threads for
    torch and onnxruntime (default: up to 4). ``need_gradient=False`` (every attack queries the
    runtime only) loads a model without a gradient path as a query-only backend
    (``info.differentiable_path == "none"``) instead of refusing it; ``input_name`` names the
    attacked input of a multi-input ONNX model."""
    fmt = detect_format(path, model_format)
    check_model_file(path, fmt)
    sha256 = file_sha256(path)
    count = deterministic_torch(threads)
    if input_name is not None and fmt != "onnx":
        raise UsageError(f"--input {input_name!r}: only ONNX models have named inputs to choose")
    options = LoadOptions(
        device=device,
        output=output,
        allow_external_data=allow_external_data,
        threads=count,
        input_name=input_name,
        need_gradient=need_gradient,
    )
    with foreign_errors(path):
        return LOADERS[fmt](path, sha256, options)
