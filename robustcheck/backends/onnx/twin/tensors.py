"""Conversions between ONNX element types, numpy arrays and torch tensors.

Only element types torch can compute with are mapped. Float8/float4/int4/int2 and strings
have no place on a classifier's differentiable path, so they are refused with a clear error
instead of being emulated.
"""

from __future__ import annotations

import numpy as np
import onnx
import torch
from onnx import TensorProto

from robustcheck.errors import ModelError, UnsupportedModelError

try:
    # onnx hands out bfloat16 arrays typed with ml_dtypes (a dependency of recent onnx).
    import ml_dtypes

    _BFLOAT16: np.dtype | None = np.dtype(ml_dtypes.bfloat16)
except ImportError:  # pragma: no cover - older onnx widens bfloat16 to float32 itself
    _BFLOAT16 = None

_ONNX_TO_TORCH: dict[int, torch.dtype] = {
    TensorProto.FLOAT: torch.float32,
    TensorProto.DOUBLE: torch.float64,
    TensorProto.FLOAT16: torch.float16,
    TensorProto.BFLOAT16: torch.bfloat16,
    TensorProto.INT8: torch.int8,
    TensorProto.INT16: torch.int16,
    TensorProto.INT32: torch.int32,
    TensorProto.INT64: torch.int64,
    TensorProto.UINT8: torch.uint8,
    TensorProto.UINT16: torch.uint16,
    TensorProto.UINT32: torch.uint32,
    TensorProto.UINT64: torch.uint64,
    TensorProto.BOOL: torch.bool,
}
_TORCH_TO_ONNX: dict[torch.dtype, int] = {v: k for k, v in _ONNX_TO_TORCH.items()}

FLOATING_ONNX_TYPES = frozenset(
    {TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16, TensorProto.BFLOAT16}
)
CARRIED_INTEGER_ONNX_TYPES = frozenset(
    {TensorProto.INT8, TensorProto.UINT8, TensorProto.INT16, TensorProto.UINT16, TensorProto.INT32}
)
"""Integer types the twin carries as floats on the differentiable path (quantized values and
their int32 accumulators; see ``ops/_quantization.py``)."""


def onnx_type_name(elem_type: int) -> str:
    try:
        return TensorProto.DataType.Name(elem_type)
    except ValueError:
        return f"element type {elem_type}"


def torch_dtype(elem_type: int) -> torch.dtype:
    """The torch dtype for an ONNX element type; refuses types torch cannot compute with."""
    try:
        return _ONNX_TO_TORCH[elem_type]
    except KeyError:
        raise UnsupportedModelError(
            f"the gradient twin does not support ONNX tensors of type {onnx_type_name(elem_type)}"
        ) from None


def onnx_elem_type(dtype: torch.dtype) -> int:
    return _TORCH_TO_ONNX[dtype]


_NUMPY_NAMES = frozenset(
    {
        "float32",
        "float64",
        "float16",
        "int8",
        "int16",
        "int32",
        "int64",
        "uint8",
        "uint16",
        "uint32",
        "uint64",
        "bool",
    }
)


def tensor_from_numpy(array: np.ndarray) -> torch.Tensor:
    """A torch tensor that owns a copy of ``array`` (bfloat16 included)."""
    if _BFLOAT16 is not None and array.dtype == _BFLOAT16:
        # torch.from_numpy does not know ml_dtypes; the bits are the same.
        bits = np.array(array, order="C").view(np.uint16)
        return torch.from_numpy(bits).view(torch.bfloat16)
    if array.dtype.name not in _NUMPY_NAMES:
        raise UnsupportedModelError(
            f"the gradient twin does not support tensors of numpy dtype {array.dtype}"
        )
    if not array.flags.writeable or not array.flags.c_contiguous:
        # Arrays viewing a protobuf's raw bytes are read-only; torch wants to own its memory.
        # (np.array, not np.ascontiguousarray, which would turn a scalar into shape (1,).)
        array = np.array(array, order="C")
    return torch.from_numpy(array)


def tensor_from_proto(proto: TensorProto) -> torch.Tensor:
    """Convert an initializer or tensor attribute once; external data must already be loaded."""
    if proto.data_location == TensorProto.EXTERNAL and not proto.raw_data:
        raise ModelError(
            f"tensor {proto.name!r} keeps its data in an external file that was not loaded; "
            "load the model with onnx.load(path) next to its data files"
        )
    torch_dtype(proto.data_type)
    array = onnx.numpy_helper.to_array(proto)
    return tensor_from_numpy(np.asarray(array))


def tensor_to_numpy(tensor: torch.Tensor) -> np.ndarray:
    """A numpy copy of ``tensor`` (bfloat16 becomes ``ml_dtypes.bfloat16``)."""
    tensor = tensor.detach().cpu()
    if tensor.dtype == torch.bfloat16:
        if _BFLOAT16 is None:
            return tensor.float().numpy()
        return tensor.view(torch.int16).numpy().view(_BFLOAT16).copy()
    return tensor.numpy().copy()
