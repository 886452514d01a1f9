"""The shared vocabulary: every closed set of names robustcheck uses, spelled once.

Type aliases for pydantic models and signatures, and tuples of their values for click choices
and messages, so a new layout, dtype, format or device is added in one place.
"""

from __future__ import annotations

from typing import Literal, get_args

Layout = Literal["NCHW", "NHWC"]
LAYOUTS: tuple[str, ...] = get_args(Layout)

DeployedDtype = Literal["float32", "float16", "uint8"]
DEPLOYED_DTYPES: tuple[str, ...] = get_args(DeployedDtype)

Device = Literal["auto", "cpu", "cuda"]
DEVICES: tuple[str, ...] = get_args(Device)

Precision = Literal["fp32", "bf16"]
"""Of the differentiable path (gradients); the deployed runtime always scores in its own dtype."""
PRECISIONS: tuple[str, ...] = get_args(Precision)

ModelFormat = Literal["torchscript", "torch.export", "onnx"]
MODEL_FORMATS: tuple[str, ...] = get_args(ModelFormat)
SUFFIX_FORMATS: dict[str, str] = {
    ".pt": "torchscript",
    ".ts": "torchscript",
    ".jit": "torchscript",
    ".pt2": "torch.export",
    ".onnx": "onnx",
}

ClassOrder = Literal["sorted", "file"]
Severity = Literal["fail", "warn"]
GateOn = Literal["point", "upper_bound"]
Verdict = Literal["pass", "fail", "error"]
CheckStatus = Literal["pass", "warn", "fail", "error"]

NOISE_BASELINE = "noise"
"""The random-sign noise baseline's attack name: it runs by default and is not asked for."""
