"""What one input row costs an ONNX graph, read from its shapes rather than measured.

The memory budget (:mod:`robustcheck.engine.memory`) measures the process's peak memory growth
while the runtime scores a few rows. A measurement can miss: an allocator that already holds
freed memory (a long-lived process, an arena grown by an earlier call), or a kernel whose peak
counter cannot be reset. The graph's shapes give a floor that cannot miss: shape inference is run
with the batch axis set to 1 and to 2, and every intermediate tensor whose size grows with the
batch costs at least its per-row growth while it is alive. The largest such tensor is a lower
bound on what a row costs (the runtime may reuse buffers, so the sum is not).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import onnx
from google.protobuf.message import DecodeError
from onnx import helper, shape_inference

log = logging.getLogger(__name__)


def largest_row_bytes(path: Path | str) -> int | None:
    """Bytes per input row of the largest batch-sized tensor inside the graph at ``path``;
    ``None`` where the shapes cannot be inferred (the caller then relies on measurement)."""
    try:
        model = onnx.load(str(path), load_external_data=False)
        one, two = (_sizes(model, batch) for batch in (1, 2))
    except (DecodeError, OSError, ValueError, KeyError, shape_inference.InferenceError) as exc:
        log.info("%s: shapes not inferable for the memory floor (%s)", path, exc)
        return None
    grown = [two[name] - size for name, size in one.items() if two.get(name, size) > size]
    return max(grown, default=None)


def _sizes(model: onnx.ModelProto, batch: int) -> dict[str, int]:
    """Bytes of every statically shaped value once the graph's inputs have ``batch`` rows."""
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    weights = {t.name for t in copy.graph.initializer}
    for value in copy.graph.input:
        if value.name in weights or not value.type.HasField("tensor_type"):
            continue
        dims = value.type.tensor_type.shape.dim
        if dims and not dims[0].HasField("dim_value"):
            dims[0].Clear()
            dims[0].dim_value = batch
    del copy.graph.value_info[:]
    inferred = shape_inference.infer_shapes(copy, strict_mode=False, data_prop=True)
    sizes: dict[str, int] = {}
    for value in (*inferred.graph.value_info, *inferred.graph.output):
        tensor = value.type.tensor_type
        if not value.type.HasField("tensor_type") or not tensor.HasField("shape"):
            continue
        dims = [d.dim_value if d.HasField("dim_value") else -1 for d in tensor.shape.dim]
        if any(d < 0 for d in dims):
            continue
        itemsize = np.dtype(helper.tensor_dtype_to_np_dtype(tensor.elem_type)).itemsize
        sizes[value.name] = int(np.prod(dims, dtype=np.int64)) * itemsize
    return sizes
