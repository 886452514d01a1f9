"""Each loss's analytic, rescaled dJ/d(scores) points where autograd of its value points; DLR is
invariant to shifting and scaling the logits; cross-entropy keeps a direction at any logit scale."""

from __future__ import annotations

import pytest
import torch

from robustcheck.attacks.losses import DLR, CrossEntropy, Margin, TargetedCrossEntropy, make_loss
from robustcheck.backends.output import OutputKind

LOSSES = [
    CrossEntropy(),
    TargetedCrossEntropy(),
    Margin(),
    Margin(targeted=True),
    DLR(),
    DLR(targeted=True),
]


def _batch(seed: int, n: int = 64, classes: int = 10) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, classes, generator=g, dtype=torch.float64) * 3
    y = torch.randint(classes, (n,), generator=g)
    target = (y + 1 + torch.randint(classes - 1, (n,), generator=g)) % classes
    return logits, y, target


@pytest.mark.parametrize(
    "loss", LOSSES, ids=lambda loss: f"{loss.name}{'-t' if loss.targeted else ''}"
)
@pytest.mark.parametrize("kind", [OutputKind.LOGITS, OutputKind.PROBABILITIES])
def test_the_analytic_gradient_is_autograd_s_direction(loss, kind):
    logits, y, target = _batch(0)
    scores = torch.softmax(logits, 1) if kind is OutputKind.PROBABILITIES else logits
    leaf = scores.clone().requires_grad_(True)
    loss.value(leaf, y, target, kind).sum().backward()
    expected = leaf.grad / leaf.grad.abs().amax(dim=1, keepdim=True)
    got = loss.output_gradient(scores, y, target, kind)
    torch.testing.assert_close(got, expected, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("targeted", [False, True])
def test_dlr_is_invariant_to_shifting_and_scaling_the_logits(targeted):
    logits, y, target = _batch(1)
    loss = DLR(targeted=targeted)
    base = loss.value(logits, y, target, OutputKind.LOGITS)
    moved = loss.value(logits * 1000 + 7, y, target, OutputKind.LOGITS)
    torch.testing.assert_close(base, moved, rtol=1e-9, atol=1e-12)
    g = loss.output_gradient(logits, y, target, OutputKind.LOGITS)
    g_moved = loss.output_gradient(logits * 1000 + 7, y, target, OutputKind.LOGITS)
    torch.testing.assert_close(g, g_moved, rtol=1e-9, atol=1e-12)


def test_cross_entropy_keeps_its_direction_on_an_over_confident_model():
    """A float64 softmax of logits ×1000 rounds every other class to 0; the rescaled form does
    not, and tends to the margin loss's direction."""
    logits, y, _ = _batch(2)
    grad = CrossEntropy().output_gradient(logits * 1000, y, None, OutputKind.LOGITS)
    assert (grad.abs().amax(dim=1) == 1).all()
    runner_up = Margin().output_gradient(logits * 1000, y, None, OutputKind.LOGITS)
    torch.testing.assert_close(grad, runner_up, atol=1e-6, rtol=0)


def test_dlr_on_two_or_three_classes_stays_finite():
    for classes in (2, 3):
        logits, y, target = _batch(3, classes=classes)
        for targeted in (False, True):
            grad = DLR(targeted=targeted).output_gradient(logits, y, target, OutputKind.LOGITS)
            assert torch.isfinite(grad).all()


def test_make_loss_knows_every_name():
    assert isinstance(make_loss("dlr", targeted=True), DLR)
    with pytest.raises(ValueError, match="choose from ce, margin, dlr"):
        make_loss("hinge", targeted=False)
