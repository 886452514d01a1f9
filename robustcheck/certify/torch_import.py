"""Bound graphs for TorchScript and torch.export models, through ONNX.

The model is exported in memory with a dynamic batch axis, then read by :func:`from_onnx`, so
one IR and one op table serve every model format. Modules and TorchScript go through the
TorchScript-based exporter (``dynamo=False``), which traces them once more. A torch.export
program goes through the dynamo exporter, which translates the program as it is: the
TorchScript-based exporter cannot take ``torch.export.load(path).module()`` (torch 2.13 raises
"Calling train() is not supported yet" when it switches the module to eval mode).
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Iterator

import onnx
import torch

from robustcheck.certify.graph import BoundGraph
from robustcheck.certify.onnx_import import from_onnx
from robustcheck.errors import RuntimeEnvironmentError, UnsupportedModelError

_OPSET = 17


def from_torch(
    model: torch.nn.Module | torch.jit.ScriptModule | torch.export.ExportedProgram,
    example: torch.Tensor,
    *,
    source: str = "the model",
) -> BoundGraph:
    """The bound graph of a torch model; ``example`` is one batch of valid inputs."""
    buffer = io.BytesIO()
    try:
        with warnings.catch_warnings(), _quiet_exporter():
            warnings.simplefilter("ignore")
            if isinstance(model, torch.export.ExportedProgram):
                program = torch.onnx.export(model, dynamo=True, verbose=False)
                assert program is not None
                proto = program.model_proto
            else:
                torch.onnx.export(
                    model,
                    (example,),
                    buffer,  # type: ignore[arg-type]  # file-like objects work (and are documented)
                    dynamo=False,
                    opset_version=_OPSET,
                    input_names=["input"],
                    output_names=["output"],
                    dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
                )
                proto = onnx.load_from_string(buffer.getvalue())
    except ImportError as exc:  # torch's dynamo exporter needs onnxscript
        raise RuntimeEnvironmentError(
            f"{source}: certifying a torch.export program needs onnxscript ({exc})",
            hint="pip install 'robustcheck-gate[certify]'",
        ) from None
    except Exception as exc:  # the exporters raise many types; any means "not exportable"
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UnsupportedModelError(
            f"{source}: cannot be exported to ONNX for certification ({reason})"
        ) from exc
    return from_onnx(proto, tuple(example.shape[1:]), source=source)


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """The exporters log what they skip (``torchvision is not installed``) to the terminal;
    nothing there concerns the user."""
    logger = logging.getLogger("torch.onnx")
    previous = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(previous)
