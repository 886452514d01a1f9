"""GridSample: sampling an image at the normalized positions of a flow field."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from robustcheck.backends.onnx.twin.registry import op
from robustcheck.errors import UnsupportedModelError

_MODES = {
    "bilinear": "bilinear",
    "linear": "bilinear",
    "nearest": "nearest",
    "bicubic": "bicubic",
    "cubic": "bicubic",
}


def _grid_sample(
    x: Tensor, grid: Tensor, mode: str, padding_mode: str, align_corners: int
) -> Tensor:
    if mode not in _MODES:
        raise ValueError(f"GridSample mode {mode!r} is not defined")
    torch_mode = _MODES[mode]
    # torch samples 2-D images in every mode and volumes in all but cubic; ONNX allows
    # any rank from opset 20, which no image classifier needs.
    if x.dim() not in (4, 5) or (x.dim() == 5 and torch_mode == "bicubic"):
        raise UnsupportedModelError(
            f"the gradient twin's GridSample handles 2-D images (and 3-D volumes outside "
            f"cubic mode), not a rank-{x.dim()} input in {mode} mode"
        )
    return F.grid_sample(
        x,
        grid.to(x.dtype),
        mode=torch_mode,
        padding_mode=padding_mode,
        align_corners=bool(align_corners),
    )


@op("GridSample", 16)
def grid_sample_16(
    x: Tensor,
    grid: Tensor,
    *,
    align_corners: int = 0,
    mode: str = "bilinear",
    padding_mode: str = "zeros",
) -> Tensor:
    """Opset 16: 4-D input, modes bilinear/nearest/bicubic."""
    return _grid_sample(x, grid, mode, padding_mode, align_corners)


@op("GridSample", 20)
def grid_sample_20(
    x: Tensor,
    grid: Tensor,
    *,
    align_corners: int = 0,
    mode: str = "linear",
    padding_mode: str = "zeros",
) -> Tensor:
    """Opset 20: N-D input, the modes renamed linear/nearest/cubic."""
    return _grid_sample(x, grid, mode, padding_mode, align_corners)
