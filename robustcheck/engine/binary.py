"""Binary classifiers with a single output column, read as two classes.

The column is the score of class 1 and class 0 is its complement. As a logit z (log-odds) the two
classes are the logits ``[-z/2, z/2]``, whose softmax is ``[1 - σ(z), σ(z)]``; as a probability p
they are the probabilities ``[1 - p, p]``. Which reading applies is declared (``--output-kind``)
or decided on the first output seen: a probability when every finite value lies in [0, 1]. It then
holds for the whole scan, on the deployed and the differentiable path alike; the expansion is made
of torch operations, so gradients flow through it and every attack and loss sees two classes.
The two representations also keep the detection of :mod:`robustcheck.backends.output` right:
``[1 - p, p]`` rows are non-negative and sum to 1, ``[-z/2, z/2]`` rows sum to 0.
"""

from __future__ import annotations

import torch

from robustcheck.backends.base import Backend, ModelInfo, SideInputs, with_side
from robustcheck.backends.output import OutputKind


class BinaryBackend:
    """A backend seen with a single score column expanded to two classes (others unchanged)."""

    def __init__(self, inner: Backend, declared: OutputKind | None) -> None:
        self._inner = inner
        self._declared = declared
        self.info: ModelInfo = inner.info
        self.device = inner.device
        self.reading: OutputKind | None = None
        """How the single column was read; None while no single-column output was seen."""

    def scores(self, x: torch.Tensor, side: SideInputs | None = None) -> torch.Tensor:
        return self._expand(with_side(self._inner.scores, x, side))

    def differentiable_scores(
        self, x: torch.Tensor, side: SideInputs | None = None
    ) -> torch.Tensor:
        return self._expand(with_side(self._inner.differentiable_scores, x, side))

    def forward(self, x: torch.Tensor, side: SideInputs | None = None) -> torch.Tensor:
        return self._expand(with_side(self._inner.forward, x, side))

    def _expand(self, scores: torch.Tensor) -> torch.Tensor:
        if scores.ndim != 2 or scores.shape[1] != 1:
            return scores
        if self.reading is None:
            self.reading = self._declared or _detect(scores)
        if self.reading is OutputKind.PROBABILITIES:
            return torch.cat([1 - scores, scores], dim=1)
        return torch.cat([-scores / 2, scores / 2], dim=1)

    def note(self) -> list[str]:
        """What the report says about the reading, if a single column was seen."""
        if self.reading is None:
            return []
        score = "probability" if self.reading is OutputKind.PROBABILITIES else "logit"
        return [
            f"the model has a single output column: read as the {score} of class 1, class 0 "
            "being its complement (two classes)"
        ]


def _detect(column: torch.Tensor) -> OutputKind:
    values = column.detach()
    finite = values[torch.isfinite(values)]
    inside = bool(((finite >= 0) & (finite <= 1)).all()) if finite.numel() else False
    return OutputKind.PROBABILITIES if inside else OutputKind.LOGITS
