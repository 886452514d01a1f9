"""Transfer attacks: perturbations crafted on a surrogate model, scored on the target's runtime.

Adversarial examples transfer between models trained on the same task (Goodfellow et al. 2015,
section 8; Papernot et al., *Practical Black-Box Attacks*, 2017). A :class:`TransferBackend` is a
target seen through a surrogate: its ``scores`` are the target's deployed runtime, its
``forward``/``differentiable_scores`` the surrogate's differentiable path, so every white-box
attack runs unchanged. The target itself is never differentiated (it may be a model no twin can
differentiate). What is measured is the target's error under the surrogate's perturbations: a
lower bound on its worst-case error, so the robustness it shows is an upper bound, valid for that
surrogate only.

The surrogate reads the same raw inputs as the data (``--mean``/``--std`` describe the target's
contract; a surrogate that needs its own normalisation carries it inside). Its scores are brought
to the target's kind (logits or probabilities, in float64), so the attack follows the loss a
white-box scan of the target would, and agreement compares like with like.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch

from robustcheck.backends.base import Backend, ModelInfo, SideInputs, with_side
from robustcheck.backends.loader import load_backend
from robustcheck.backends.output import OutputKind, detect_output_kind
from robustcheck.errors import ModelError
from robustcheck.reports.model import SurrogateSection
from robustcheck.vocabulary import Device

TRANSFER_PATH = "surrogate-vs-target"
_TINY = 1e-300
"""Probabilities are floored here before a logarithm."""


def load_target(
    path: Path,
    *,
    model_format: str | None = None,
    device: Device = "auto",
    output: str | None = None,
    allow_external_data: bool = False,
    threads: int | None = None,
) -> Backend:
    """The model whose scores judge: only ``scores`` is ever asked of it."""
    return load_backend(
        path,
        model_format=model_format,
        device=device,
        output=output,
        allow_external_data=allow_external_data,
        threads=threads,
        need_gradient=False,
    )


def surrogate_section(info: ModelInfo) -> SurrogateSection:
    return SurrogateSection(path=info.path, sha256=info.sha256, format=info.format)


class TransferBackend:
    """Scores from ``target``, gradients from ``surrogate`` (brought to the target's kind)."""

    def __init__(self, target: Backend, surrogate: Backend, declared: OutputKind | None) -> None:
        self._target = target
        self._surrogate = surrogate
        self.surrogate_info = surrogate.info
        self.info: ModelInfo = replace(
            target.info,
            differentiable_path=TRANSFER_PATH,
            notes=(*target.info.notes, *(f"surrogate: {n}" for n in surrogate.info.notes)),
        )
        self.device = target.device
        self._target_kind = declared
        self._surrogate_kind: OutputKind | None = None
        self._n_classes: int | None = None

    def scores(self, x: torch.Tensor, side: SideInputs | None = None) -> torch.Tensor:
        scores = with_side(self._target.scores, x, side)
        if self._target_kind is None:
            self._target_kind = _kind(scores)
        if self._n_classes is None and scores.ndim == 2:
            self._n_classes = int(scores.shape[1])
        return scores

    def forward(self, x: torch.Tensor, side: SideInputs | None = None) -> torch.Tensor:
        # The surrogate reads the attacked input only: a multi-input target's other inputs are
        # the target's business.
        out = self._surrogate.forward(x.to(self._surrogate.device)).to(self.device)
        if self._surrogate_kind is None:
            self._surrogate_kind = _kind(out.detach())
        return self._as_target_kind(out)

    def differentiable_scores(
        self, x: torch.Tensor, side: SideInputs | None = None
    ) -> torch.Tensor:
        with torch.no_grad():
            return self.forward(x, side).to(torch.float64)

    def _as_target_kind(self, out: torch.Tensor) -> torch.Tensor:
        target_kind = self._target_kind or self._surrogate_kind
        if out.ndim != 2:
            return out
        if self._n_classes is not None and out.shape[1] != self._n_classes:
            raise ModelError(
                f"{self.surrogate_info.path}: the surrogate scores {out.shape[1]} classes, the "
                f"target {self.info.path} {self._n_classes}"
            )
        if target_kind is self._surrogate_kind:
            return out
        if target_kind is OutputKind.PROBABILITIES:
            # float64: a float32 softmax rounds confident rows to exactly 1 and 0, leaving the
            # probability-space loss no gradient to follow.
            return torch.softmax(out.to(torch.float64), dim=1)
        return torch.log(out.to(torch.float64).clamp_min(_TINY))


def _kind(scores: torch.Tensor) -> OutputKind:
    return detect_output_kind(scores.detach().to(torch.float64).cpu().numpy())


def transfer_notes(target: ModelInfo, surrogate: ModelInfo) -> list[str]:
    return [
        f"transfer attack: every gradient attack crafted its perturbations on the surrogate "
        f"{surrogate.path} ({surrogate.format}) and the target {target.path} scored them; the "
        "adversarial error is a lower bound on the target's (its robustness an upper bound, "
        "valid for this surrogate only)"
    ]


def gradient_path_notes(target: ModelInfo, surrogate: ModelInfo | None) -> list[str]:
    """What took the place of a target's missing gradient path, true for the scan that ran: its
    gradient-free attacks alone, or a surrogate's gradients (a target without blockers needs no
    note: white-box, or a transfer scan of a differentiable target)."""
    if not target.blockers:
        return []
    reasons = "; ".join(target.blockers)
    if surrogate is None:
        instead = "only attacks that query the deployed runtime ran"
    else:
        instead = (
            f"the gradient attacks followed the surrogate {surrogate.path}'s gradient and the "
            "target's runtime scored them (gradient-free attacks query the target itself)"
        )
    return [
        f"{target.path} has no gradient path ({reasons}): {instead}; twin fidelity is not claimed"
    ]
