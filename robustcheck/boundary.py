"""The one boundary between robustcheck and the libraries it drives on untrusted inputs.

torch, onnxruntime, onnx, numpy and Pillow raise their own exceptions (and builtin ones) from deep
inside on a hostile model or data file. :func:`foreign_errors` turns each into a domain error with
the right exit code and one line naming the file; an exception raised by robustcheck's own code is
a bug and goes through unchanged (exit 6).

Who is to blame is read from the traceback. An exception is *foreign* when its type belongs to one
of those libraries (``onnxruntime.capi.onnxruntime_pybind11_state.Fail``, ``torch.jit.Error``,
``PIL.UnidentifiedImageError``), or when it was raised inside their code or inside code generated
from the model (TorchScript, ``torch.export`` graphs). The robustcheck frame nearest to the raise
says which input was being read: the data package blames the data, anything else the model.
"""

from __future__ import annotations

import errno
import functools
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from robustcheck.errors import (
    DataError,
    ModelError,
    RobustcheckError,
    RuntimeEnvironmentError,
)

FOREIGN = frozenset({"torch", "onnx", "onnxruntime", "numpy", "PIL", "google", "scipy"})
"""Top-level packages whose exceptions are about the input they were given."""
_DATA = "robustcheck.data"
_OUT_OF_MEMORY = (
    "failed to allocate memory",  # onnxruntime's arenas (CPU and CUDA)
    "bad_alloc",
    "out of memory",  # torch's CUDA allocator, CUDA_ERROR_OUT_OF_MEMORY, cuDNN/cuBLAS workspaces
    "cannot allocate",
    "can't allocate memory",  # torch's DefaultCPUAllocator
    "cudaerrormemoryallocation",
    "status_alloc_failed",  # CUBLAS_STATUS_ALLOC_FAILED, CUDNN_STATUS_ALLOC_FAILED
)
OUT_OF_MEMORY_HINT = "try a smaller --batch-size, or --batch-size auto"
NO_MACHINE_BYTES = 1 << 47
"""128 TiB, the whole user address space of an x86-64 or arm64 process: no machine can grant one
allocation of this size, whatever the batch."""
_REQUESTED = (
    re.compile(r"tried to allocate (\d+) bytes", re.IGNORECASE),  # torch's CPU allocator
    re.compile(r"requested buffer of size (\d+)", re.IGNORECASE),  # onnxruntime's arenas
    re.compile(r"tried to allocate ([\d.]+) ?([KMGTPE]i?B)", re.IGNORECASE),  # torch's CUDA
    re.compile(r"unable to allocate ([\d.]+) ?([KMGTPE]i?B)", re.IGNORECASE),  # numpy
)
_UNITS = "KMGTPE"
_NO_SPACE = (errno.ENOMEM, errno.ENOSPC, errno.EDQUOT)
_MAX_REASON = 300
_ORT_NOISE = (
    re.compile(r"\[ONNXRuntimeError\] : \d+ : \w+ : "),  # the status code, said again in words
    re.compile(r"/onnxruntime_src/\S+:\d+ .*?\)\s(?=\S)"),  # source file and C++ signature
    re.compile(r"\s*Please fix either the inputs/outputs or the model\.?"),  # says nothing
)

F = TypeVar("F", bound=Callable[..., Any])


@contextmanager
def foreign_errors(model: Path | str | None, data: Path | str | None = None) -> Iterator[None]:
    """Turn foreign exceptions raised inside the block into domain errors naming ``model`` or
    ``data`` (whichever the failing code was reading)."""
    try:
        yield
    except RobustcheckError:
        raise
    except MemoryError:
        raise RuntimeEnvironmentError(
            f"{model or data}: out of memory", hint=OUT_OF_MEMORY_HINT
        ) from None
    except Exception as exc:
        converted = translate(exc, model, data)
        if converted is None:
            raise
        raise converted from exc


def guarded(model_arg: str, data_arg: str | None = None) -> Callable[[F], F]:
    """Decorate a function so its foreign exceptions name the files in the arguments (or
    attributes of its first argument) called ``model_arg`` and ``data_arg``."""

    def decorate(function: F) -> F:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            model = _argument(model_arg, args, kwargs)
            data = None if data_arg is None else _argument(data_arg, args, kwargs)
            with foreign_errors(model, data):
                return function(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def translate(
    exc: BaseException, model: Path | str | None, data: Path | str | None = None
) -> RobustcheckError | None:
    """The domain error for a foreign exception, or None when robustcheck itself raised it.
    Running out of memory is never robustcheck's bug, whoever's code asked for the memory (the
    twin's ops allocate through torch from robustcheck's own frames)."""
    frames = _frames(exc.__traceback__)
    reason = one_line_reason(exc)
    oom = out_of_memory(exc, reason)
    if not (oom or _foreign_type(exc) or (frames and _foreign_frame(frames[-1]))):
        return None
    blame_data = data is not None and (model is None or _caller_module(frames).startswith(_DATA))
    where = str(data if blame_data or model is None else model)
    if oom:
        requested = requested_bytes(reason)
        if requested is not None and requested >= NO_MACHINE_BYTES:
            return ModelError(
                f"{where}: the model asked for {size_text(requested)} in one allocation, more "
                f"than any machine has: no batch size can fix that ({reason})"
            )
        return RuntimeEnvironmentError(
            f"{where}: out of memory ({reason})", hint=OUT_OF_MEMORY_HINT
        )
    if blame_data:
        return DataError(f"{where}: cannot read the data ({reason})")
    return ModelError(f"{where}: the model failed ({reason})")


def _argument(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    if name in kwargs:
        return kwargs[name]
    return getattr(args[0], name, None) if args else None


def _frames(tb: TracebackType | None) -> list[tuple[str, str]]:
    """(module name, file name) of each frame, outermost first."""
    frames = []
    while tb is not None:
        code = tb.tb_frame.f_code
        frames.append((str(tb.tb_frame.f_globals.get("__name__", "")), code.co_filename))
        tb = tb.tb_next
    return frames


def _top(module: str) -> str:
    return module.split(".", 1)[0]


def _foreign_type(exc: BaseException) -> bool:
    return _top(type(exc).__module__) in FOREIGN


def _foreign_frame(frame: tuple[str, str]) -> bool:
    """Library code, or code generated from a model (TorchScript, fx: ``<eval_with_key>.3``)."""
    module, filename = frame
    return _top(module) in FOREIGN or filename.startswith("<")


def _caller_module(frames: list[tuple[str, str]]) -> str:
    """The robustcheck module nearest to the raise."""
    for module, _ in reversed(frames):
        if _top(module) == "robustcheck":
            return module
    return ""


def one_line_reason(exc: BaseException) -> str:
    """The informative part of a foreign message on one line, stripped of terminal colours:
    TorchScript's last line (it prefixes a whole traceback), onnxruntime's every line (it splits
    one status over several, its dimension details in the middle) without its source paths and
    closing boilerplate."""
    text = str(exc).replace("\x1b", "")
    for noise in _ORT_NOISE:
        text = noise.sub("", text)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if _top(type(exc).__module__) == "onnxruntime":
        lines = [" ".join(lines)] if lines else []
    last = lines[-1] if lines else ""
    name = type(exc).__name__
    reason = last if last.startswith(f"{name}: ") else (f"{name}: {last}" if last else name)
    return reason if len(reason) <= _MAX_REASON else reason[: _MAX_REASON - 1] + "…"


def out_of_memory(exc: BaseException, reason: str | None = None) -> bool:
    """Whether ``exc`` says memory (host or device) ran out, whoever raised it: torch's CUDA
    ``OutOfMemoryError``, its CPU allocator's ``RuntimeError`` (TorchScript wraps both in its own
    traceback), onnxruntime's arena failures, ``MemoryError``."""
    if isinstance(exc, MemoryError):
        return True
    reason = one_line_reason(exc) if reason is None else reason
    if isinstance(exc, OSError) and exc.errno in _NO_SPACE:
        return True
    if type(exc).__name__ == "OutOfMemoryError":  # torch.OutOfMemoryError (CUDA and CPU)
        return True
    return any(marker in reason.lower() for marker in _OUT_OF_MEMORY)


def requested_bytes(reason: str) -> int | None:
    """The size of the allocation an out-of-memory message says failed, when it says one."""
    for pattern in _REQUESTED:
        found = pattern.search(reason)
        if found is None:
            continue
        if len(found.groups()) == 1:
            return int(found.group(1))
        unit = found.group(2).upper()
        base = 1024 if "I" in unit else 1000
        return int(float(found.group(1)) * base ** (_UNITS.index(unit[0]) + 1))
    return None


def size_text(n: int) -> str:
    """``n`` bytes for a reader: ``64 TiB``, ``4 EiB``, ``512 bytes``."""
    value, unit = float(n), "bytes"
    for prefix in _UNITS:
        if value < 1024:
            break
        value, unit = value / 1024, f"{prefix}iB"
    return f"{value:.3g} {unit}" if unit != "bytes" else f"{n} bytes"
