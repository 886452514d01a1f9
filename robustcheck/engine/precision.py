"""``--precision bf16``: the differentiable path under bfloat16 autocast, on request only.

Autocast runs matrix products and convolutions of the gradient pass in bfloat16 (about twice the
throughput on recent GPUs, and on CPUs with AMX) and keeps reductions in float32. Gradients
change in their last bits, so the adversarial inputs and the counts may change a little: it is
never the default, and the report records it. The deployed runtime still scores every prediction
in the model's own dtype; the fidelity certificate measures how far the bfloat16 path strays.
"""

from __future__ import annotations

import torch

from robustcheck.backends.base import Backend, ModelInfo, SideInputs, with_side
from robustcheck.vocabulary import Precision

BF16_NOTE = (
    "--precision bf16: gradients were computed under bfloat16 autocast (the deployed runtime "
    "scored every prediction in the model's own dtype); counts may differ slightly from fp32"
)


class AutocastBackend:
    """A backend whose differentiable path runs under bfloat16 autocast; its scores come back
    in float32, so losses and their gradients are computed in float32."""

    def __init__(self, inner: Backend) -> None:
        self._inner = inner
        self.info: ModelInfo = inner.info
        self.device = inner.device

    def scores(self, x: torch.Tensor, side: SideInputs | None = None) -> torch.Tensor:
        return with_side(self._inner.scores, x, side)

    def differentiable_scores(
        self, x: torch.Tensor, side: SideInputs | None = None
    ) -> torch.Tensor:
        with torch.no_grad():
            return self.forward(x, side).to(torch.float64)

    def forward(self, x: torch.Tensor, side: SideInputs | None = None) -> torch.Tensor:
        with torch.autocast(device_type=self.device.type, dtype=torch.bfloat16):
            scores = with_side(self._inner.forward, x, side)
        return scores.to(torch.float32)


def with_precision(backend: Backend, precision: Precision) -> Backend:
    """``backend`` as the differentiable path should run at ``precision``."""
    return backend if precision == "fp32" else AutocastBackend(backend)


def precision_notes(precision: Precision) -> list[str]:
    return [BF16_NOTE] if precision == "bf16" else []
