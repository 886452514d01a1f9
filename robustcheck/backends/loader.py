"""Choosing and loading a backend for a model file."""

from __future__ import annotations

import os
from pathlib import Path

from robustcheck._filesystem import regular_file_stat
from robustcheck._hashing import file_sha256
from robustcheck.backends.base import Backend, Device
from robustcheck.errors import ModelError, UsageError

SUFFIX_FORMATS: dict[str, str] = {
    ".pt": "torchscript",
    ".ts": "torchscript",
    ".jit": "torchscript",
    ".pt2": "torch.export",
    ".onnx": "onnx",
}
FORMATS = ("torchscript", "torch.export", "onnx")


def detect_format(path: Path, declared: str | None = None) -> str:
    if declared is not None:
        if declared not in FORMATS:
            raise UsageError(
                f"--model-format: unknown format {declared!r}; choose from {', '.join(FORMATS)}"
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
        from robustcheck.backends.onnx.model_file import check_model_size

        check_model_size(path, info.st_size)


DEFAULT_THREADS = 4
"""Fixed intra-op threads for torch and onnxruntime: reductions may round differently per count."""


def _deterministic_torch() -> None:
    import torch

    # torch.use_deterministic_algorithms also sets inductor's flag, importing torch._inductor
    # (1.2 s per scan); robustcheck never compiles, so set the eager-mode flag alone when we can.
    eager_only = getattr(torch._C, "_set_deterministic_algorithms", None)
    if eager_only is not None:
        eager_only(True, warn_only=True)
    else:
        torch.use_deterministic_algorithms(True, warn_only=True)
    torch.set_num_threads(max(1, min(DEFAULT_THREADS, os.cpu_count() or 1)))


def load_backend(
    path: Path,
    *,
    model_format: str | None = None,
    device: Device = "auto",
    output: str | None = None,
    allow_external_data: bool = False,
) -> Backend:
    """Open ``path`` with the backend its format calls for."""
    fmt = detect_format(path, model_format)
    check_model_file(path, fmt)
    sha256 = file_sha256(path)
    _deterministic_torch()
    if fmt == "torchscript":
        from robustcheck.backends.torch_program import load_torchscript

        return load_torchscript(path, sha256)
    if fmt == "torch.export":
        from robustcheck.backends.torch_program import load_exported_program

        return load_exported_program(path, sha256)
    from robustcheck.backends.onnx.backend import load_onnx

    return load_onnx(
        path,
        sha256,
        device=device,
        output=output,
        allow_external_data=allow_external_data,
    )
