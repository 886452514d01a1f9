"""Resize (opsets 10-19) and the deprecated Upsample, one axis at a time.

Interpolation is separable, so each resized axis is handled on its own: map output
positions to input coordinates (``coordinate_transformation_mode``), pick a fixed number of
neighbours per position with per-position weights, gather and sum. The coefficient and
neighbour rules mirror the ONNX reference implementation (onnx/reference/ops/op_resize.py)
so nearest rounding, cubic ``exclude_outside`` and antialiasing agree with it exactly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from robustcheck.backends.onnx.twin.ops._axes import normalize_axes
from robustcheck.backends.onnx.twin.registry import op


@dataclass(frozen=True)
class _Mode:
    mode: str
    coordinates: str
    nearest_mode: str = "round_prefer_floor"
    cubic_coeff_a: float = -0.75
    exclude_outside: bool = False
    extrapolation_value: float = 0.0
    antialias: bool = False


def _source_coordinates(
    mode: _Mode, out_len: int, in_len: int, scale: float, roi: tuple[float, float]
) -> tuple[Tensor, Tensor | None]:
    """Input coordinate (as float64) of every output position, and for tf_crop_and_resize
    the mask of positions that fall outside the input.

    The arithmetic itself is float32, as in onnxruntime: in float64, 11.5 / 2.3 - 0.5 lands
    just above 4.5 and rounds to the other nearest neighbour than the runtime picks.
    """
    y = torch.arange(out_len, dtype=torch.float32)
    coordinates, outside = _float32_coordinates(mode, y, out_len, in_len, scale, roi)
    return coordinates.double(), outside


def _float32_coordinates(
    mode: _Mode, y: Tensor, out_len: int, in_len: int, scale: float, roi: tuple[float, float]
) -> tuple[Tensor, Tensor | None]:
    # Like the spec and onnxruntime (not the reference), align_corners, pytorch_half_pixel
    # and tf_crop_and_resize divide by the integer output length, which differs from
    # scale * in_len when that product is fractional.
    kind = mode.coordinates
    if kind == "half_pixel":
        return (y + 0.5) / scale - 0.5, None
    if kind == "half_pixel_symmetric":
        offset = in_len / 2 * (1 - out_len / (scale * in_len))
        return offset + (y + 0.5) / scale - 0.5, None
    if kind == "pytorch_half_pixel":
        return (torch.full_like(y, -0.5) if out_len == 1 else (y + 0.5) / scale - 0.5), None
    if kind == "align_corners":
        return (torch.zeros_like(y) if out_len == 1 else y * (in_len - 1) / (out_len - 1)), None
    if kind == "asymmetric":
        return y / scale, None
    if kind == "tf_crop_and_resize":
        start, end = roi
        if out_len == 1:
            x = torch.full_like(y, (end - start) * (in_len - 1) / 2)
        else:
            x = y * (end - start) * (in_len - 1) / (out_len - 1)
        x = x + start * (in_len - 1)
        return x, (x < 0) | (x > in_len - 1)
    raise ValueError(f"unknown coordinate_transformation_mode {kind!r}")


def _cubic_kernel(d: Tensor, a: float) -> Tensor:
    d = d.abs()
    near = ((a + 2) * d - (a + 3)) * d * d + 1
    far = ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
    return torch.where(d <= 1, near, torch.where(d < 2, far, torch.zeros_like(d)))


def _coefficients(mode: _Mode, ratio: Tensor, scale: float) -> Tensor:
    """Weights ``(out_len, taps)`` for neighbours at offsets ``start..start+taps`` (see caller)."""
    if mode.mode == "nearest":
        integer = ratio == 1
        nearest_mode = mode.nearest_mode
        if nearest_mode == "simple":
            # onnxruntime's rule for Resize-10 and Upsample: round down when enlarging an
            # axis, up when shrinking it.
            nearest_mode = "floor" if scale >= 1 else "ceil"
        if nearest_mode == "round_prefer_floor":
            upper = ratio > 0.5
        elif nearest_mode == "round_prefer_ceil":
            upper = ratio >= 0.5
        elif nearest_mode == "floor":
            upper = torch.zeros_like(integer)
        elif nearest_mode == "ceil":
            upper = torch.ones_like(integer)
        else:
            raise ValueError(f"unknown nearest_mode {mode.nearest_mode!r}")
        upper = upper | integer
        return torch.stack([(~upper).double(), upper.double()], dim=1)
    shrink = min(scale, 1.0) if mode.antialias else 1.0
    reach = 1 if mode.mode == "linear" else 2
    first = math.floor(-reach / shrink) + 1
    offsets = torch.arange(first, 2 - first, dtype=torch.float64)
    distances = (offsets.unsqueeze(0) - ratio.unsqueeze(1)) * shrink
    if mode.mode == "linear":
        weights = (1 - distances.abs()).clamp(0, 1)
    elif mode.mode == "cubic":
        weights = _cubic_kernel(distances, mode.cubic_coeff_a)
    else:
        raise ValueError(f"unknown Resize mode {mode.mode!r}")
    return weights / weights.sum(dim=1, keepdim=True) if mode.antialias else weights


def _neighbours(x_ori: Tensor, taps: int) -> Tensor:
    """The ``taps`` input positions nearest to each coordinate, ties to the smaller index."""
    pad = math.ceil(taps / 2)
    padded = x_ori + pad
    base = torch.floor(padded)
    frac = padded - base
    if taps % 2 == 0:
        offset = torch.where(frac == 0, -(taps // 2), -(taps // 2) + 1)
    else:
        low = -((taps - 1) // 2)
        offset = torch.where(frac <= 0.5, low, low + 1)
    start = base.long() + offset
    return start.unsqueeze(1) + torch.arange(taps).unsqueeze(0) - pad


def _resize_axis(
    x: Tensor, axis: int, scale: float, out_len: int, roi: tuple[float, float], mode: _Mode
) -> Tensor:
    in_len = x.shape[axis]
    x_ori, outside = _source_coordinates(mode, out_len, in_len, scale, roi)
    floor = torch.floor(x_ori)
    ratio = torch.where(x_ori == floor, torch.ones_like(x_ori), x_ori - floor)
    weights = _coefficients(mode, ratio, scale)
    where = _neighbours(x_ori, weights.shape[1])
    if mode.exclude_outside:
        weights = torch.where((where < 0) | (where >= in_len), torch.zeros_like(weights), weights)
        total = weights.sum(dim=1, keepdim=True)
        weights = weights / torch.where(total == 0, torch.ones_like(total), total)
    where = where.clamp(0, in_len - 1).to(x.device)
    if mode.mode == "nearest":
        # Select rather than weight, so an inf elsewhere cannot turn 0 * inf into NaN.
        chosen = where.gather(1, weights.argmax(dim=1, keepdim=True).to(x.device)).squeeze(1)
        result = x.index_select(axis, chosen)
    else:
        picked = x.index_select(axis, where.reshape(-1))
        picked = picked.reshape(*x.shape[:axis], out_len, where.shape[1], *x.shape[axis + 1 :])
        shape = [1] * x.dim()
        shape[axis] = out_len
        shape.insert(axis + 1, where.shape[1])
        work = picked if picked.is_floating_point() else picked.to(torch.float32)
        result = (work * weights.to(work.dtype).to(x.device).reshape(shape)).sum(dim=axis + 1)
        result = result if x.is_floating_point() else result.round().to(x.dtype)
    if outside is not None and bool(outside.any()):
        shape = [1] * x.dim()
        shape[axis] = out_len
        fill = torch.tensor(mode.extrapolation_value, dtype=result.dtype, device=x.device)
        result = torch.where(outside.to(x.device).reshape(shape), fill, result)
    return result


def _targets(
    x: Tensor,
    axes: list[int],
    scales: list[float] | None,
    sizes: list[int] | None,
    policy: str,
) -> tuple[list[float], list[int]]:
    """Per-axis scale and output length for every axis of ``x``."""
    shape = list(x.shape)
    if sizes is None:
        if scales is None:
            raise ValueError("Resize needs either scales or sizes")
        scale = [1.0] * x.dim()
        for axis, value in zip(axes, scales, strict=True):
            scale[axis] = value
        return scale, [int(s * n) for s, n in zip(scale, shape, strict=True)]
    length = list(shape)
    for axis, value in zip(axes, sizes, strict=True):
        length[axis] = value
    scale = [out / n for out, n in zip(length, shape, strict=True)]
    if policy == "stretch":
        return scale, length
    chosen = (min if policy == "not_larger" else max)(scale[a] for a in axes)
    scale = [chosen if a in axes else 1.0 for a in range(x.dim())]
    # The reference rounds half up here, not to even.
    length = [int(chosen * n + 0.5) if a in axes else n for a, n in enumerate(shape)]
    return scale, length


def _present(values: Tensor | None) -> list[float] | None:
    return (
        [float(v) for v in values.reshape(-1).tolist()]
        if values is not None and values.numel()
        else None
    )


def _resize(
    x: Tensor,
    mode: _Mode,
    scales: list[float] | None,
    sizes: list[int] | None,
    roi: list[float] | None = None,
    axes: Sequence[int] | None = None,
    policy: str = "stretch",
) -> Tensor:
    axes = normalize_axes(axes, x.dim()) if axes else list(range(x.dim()))
    scale, length = _targets(x, axes, scales, sizes, policy)
    bounds = [(0.0, 1.0)] * x.dim()
    if roi:
        for position, axis in enumerate(axes):
            bounds[axis] = (roi[position], roi[position + len(axes)])
    for axis in axes:
        if (
            math.isclose(scale[axis], 1.0)
            and length[axis] == x.shape[axis]
            and bounds[axis] == (0.0, 1.0)
        ):
            continue
        x = _resize_axis(x, axis, scale[axis], length[axis], bounds[axis], mode)
    return x


@op("Resize", 11)
@op("Resize", 13)
@op("Resize", 18)
@op("Resize", 19)
def resize(
    x: Tensor,
    roi: Tensor | None = None,
    scales: Tensor | None = None,
    sizes: Tensor | None = None,
    *,
    antialias: int = 0,
    axes: Sequence[int] | None = None,
    coordinate_transformation_mode: str = "half_pixel",
    cubic_coeff_a: float = -0.75,
    exclude_outside: int = 0,
    extrapolation_value: float = 0.0,
    keep_aspect_ratio_policy: str = "stretch",
    mode: str = "nearest",
    nearest_mode: str = "round_prefer_floor",
) -> Tensor:
    """Opsets 11-19. Empty ``roi``/``scales`` tensors count as absent."""
    options = _Mode(
        mode=mode,
        coordinates=coordinate_transformation_mode,
        nearest_mode=nearest_mode,
        cubic_coeff_a=cubic_coeff_a,
        exclude_outside=bool(exclude_outside),
        extrapolation_value=extrapolation_value,
        antialias=bool(antialias),
    )
    size_list = _present(sizes)
    return _resize(
        x,
        options,
        _present(scales),
        [int(v) for v in size_list] if size_list else None,
        _present(roi),
        axes,
        keep_aspect_ratio_policy,
    )


def _legacy(x: Tensor, scales: Sequence[float], mode: str) -> Tensor:
    # Resize-10 and Upsample map output to input positions as x_out / scale, and pick
    # nearest neighbours with onnxruntime's "simple" rule (see _coefficients).
    options = _Mode(
        mode="linear" if mode in ("linear", "bilinear") else mode,
        coordinates="asymmetric",
        nearest_mode="simple",
    )
    return _resize(x, options, [float(s) for s in scales], None)


@op("Resize", 10)
def resize_10(x: Tensor, scales: Tensor, *, mode: str = "nearest") -> Tensor:
    return _legacy(x, _present(scales) or [], mode)


@op("Upsample", 7)
def upsample_7(x: Tensor, *, mode: str = "nearest", scales: Sequence[float]) -> Tensor:
    return _legacy(x, scales, mode)


@op("Upsample", 9)
def upsample_9(x: Tensor, scales: Tensor, *, mode: str = "nearest") -> Tensor:
    return _legacy(x, _present(scales) or [], mode)
