"""The gradient twin: ONNX graphs re-executed in torch so input gradients can be taken.

Predictions of an ONNX model come from onnxruntime; this package only supplies gradients.
"""

from robustcheck.backends.onnx.twin.analysis import non_differentiable_nodes, unsupported_ops
from robustcheck.backends.onnx.twin.graph import OnnxTwin, TwinNodeError, UnsupportedOperatorsError
from robustcheck.backends.onnx.twin.ops import default_registry
from robustcheck.backends.onnx.twin.registry import OpFunction, OpRegistry, OpSpec

__all__ = [
    "OnnxTwin",
    "OpFunction",
    "OpRegistry",
    "OpSpec",
    "TwinNodeError",
    "UnsupportedOperatorsError",
    "default_registry",
    "non_differentiable_nodes",
    "unsupported_ops",
]
