"""The input contract: what raw data units mean to the model.

ε and clipping are in the data's raw units. Per-channel normalisation ``(x - mean) / std`` that
happens outside the model is applied inside the differentiable path (a backend wrapper), so the
attack spends exactly the raw budget. A deployed dtype coarser than float32 (uint8 images,
float16 tensors) rounds every adversarial input before it is scored.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from robustcheck.attacks import InputDomain
from robustcheck.backends.base import Backend, ModelInfo, SideInputs, with_side
from robustcheck.backends.batching import round_to
from robustcheck.errors import DataError, UsageError

UINT8_LEVELS = 255


@dataclass(frozen=True)
class Normalisation:
    mean: np.ndarray
    std: np.ndarray
    channel_axis: int

    @classmethod
    def build(
        cls, mean: list[float], std: list[float], layout: str, sample_shape: tuple[int, ...]
    ) -> Normalisation:
        axis = 1 if layout == "NCHW" or len(sample_shape) == 1 else len(sample_shape)
        channels = sample_shape[axis - 1]
        if len(mean) not in (1, channels) or len(std) not in (1, channels):
            raise UsageError(
                f"--mean/--std: {len(mean)}/{len(std)} values for {channels} channels "
                f"(layout {layout}, sample shape {list(sample_shape)})"
            )
        shape = [1] * (len(sample_shape) + 1)
        shape[axis] = -1
        return cls(
            mean=np.asarray(mean, dtype=np.float32).reshape(shape),
            std=np.asarray(std, dtype=np.float32).reshape(shape),
            channel_axis=axis,
        )

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        # float32, as a model that normalises itself would compute it; differentiable
        mean = torch.from_numpy(self.mean).to(x.device)
        std = torch.from_numpy(self.std).to(x.device)
        return (x.to(torch.float32) - mean) / std


class NormalisedBackend:
    """A backend seen through ``(x - mean) / std``: scores and gradients in raw units (the
    normalisation is part of the differentiable path, so autograd applies the chain rule)."""

    def __init__(self, inner: Backend, norm: Normalisation) -> None:
        self._inner = inner
        self._norm = norm
        self.info: ModelInfo = inner.info
        self.device = inner.device

    def scores(self, x: torch.Tensor, side: SideInputs | None = None) -> torch.Tensor:
        return with_side(self._inner.scores, self._norm.apply(x), side)

    def differentiable_scores(
        self, x: torch.Tensor, side: SideInputs | None = None
    ) -> torch.Tensor:
        return with_side(self._inner.differentiable_scores, self._norm.apply(x), side)

    def forward(self, x: torch.Tensor, side: SideInputs | None = None) -> torch.Tensor:
        return with_side(self._inner.forward, self._norm.apply(x), side)


@dataclass(frozen=True)
class Quantiser:
    """Rounds inputs to what the deployed dtype can represent."""

    dtype: str
    domain: InputDomain | None

    @property
    def step(self) -> float | None:
        if self.dtype != "uint8" or self.domain is None:
            return None
        return (self.domain.hi - self.domain.lo) / UINT8_LEVELS

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.dtype == "float16":
            return round_to(x.to(torch.float64), np.dtype(np.float16)).to(torch.float64)
        step = self.step
        assert step is not None and self.domain is not None
        x = x.to(torch.float64)
        return self.domain.lo + torch.round((x - self.domain.lo) / step) * step


def quantiser_for(
    dtype: str | None, domain: InputDomain | None, eps: list[float]
) -> Quantiser | None:
    if dtype in (None, "float32"):
        return None
    quantiser = Quantiser(dtype, domain)
    if dtype == "uint8":
        if domain is None:
            raise UsageError(
                "--deployed-dtype uint8 needs --input-range (e.g. 0 255): the grid is defined by it"
            )
        step = quantiser.step
        assert step is not None
        small = [e for e in eps if e < step]
        if small:
            raise DataError(
                f"--eps {small[0]:g} is below one grey level ({step:g}) of the uint8 grid on "
                f"[{domain.lo:g}, {domain.hi:g}]: every perturbation would round away"
            )
    return quantiser


def check_normalisation_not_doubled(info: ModelInfo, norm: Normalisation | None) -> None:
    doubled = {"Sub", "Div"} & set(info.input_consumers)
    if norm is not None and doubled:
        raise DataError(
            f"{info.path}: the graph starts with its own {'/'.join(sorted(doubled))} on input "
            f"{info.input_name!r}, and --mean/--std are also given: normalisation would be applied twice",
            hint="drop --mean/--std, or export the model without its normalisation",
        )


def check_eps_zero(clean: np.ndarray, replayed: np.ndarray, where: str) -> None:
    """ε = 0 must reproduce the clean scores exactly, or clipping/rounding changes the data itself."""
    if not np.array_equal(clean, replayed):
        raise DataError(
            f"{where}: ε = 0 does not reproduce the clean predictions: clipping to the input range "
            "or rounding to the deployed dtype changes the data itself (check --input-range and "
            "--deployed-dtype)"
        )


def check_eps_below_range(eps: list[float], domain: InputDomain | None, source: str) -> None:
    """An ε at least the width of the valid range can move any input to any other: the attack
    then measures the range, not the model. A usage error naming the range."""
    if domain is None:
        return
    width = domain.hi - domain.lo
    too_large = [e for e in eps if e >= width]
    if too_large:
        origin = "--input-range" if source == "declared" else "the default input range"
        raise UsageError(
            f"--eps {max(too_large):g}: not smaller than the whole valid input range "
            f"[{domain.lo:g}, {domain.hi:g}] ({origin}); such an ε can replace every input",
            hint="ε is in raw data units: pick a fraction of the range",
        )


def eps_warnings(eps: list[float], domain: InputDomain | None) -> list[str]:
    """ε is in the data's raw units; one above half the valid range is almost always a unit
    mistake (``--eps 8`` meant for pixels in 0..255, on data in [0, 1])."""
    if domain is None:
        return []
    width = domain.hi - domain.lo
    warnings = []
    for e in eps:
        if width > 0 and e > width / 2:
            likely = f"{e:g}/255 ≈ {e / 255:.4g}" if e >= 1 and width <= 1 else None
            guess = f"; did you mean --eps {likely}?" if likely else ""
            warnings.append(
                f"ε = {e:g} is more than half the valid input range [{domain.lo:g}, {domain.hi:g}]: "
                f"ε is in the data's own units{guess}"
            )
    return warnings
