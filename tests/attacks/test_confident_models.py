"""Over-confident models are scanned, not refused: cross-entropy keeps its direction at any logit
scale, a sample whose cross-entropy gradient vanishes follows the margin loss (and the report
says how many did), and only a model on which every loss is flat is refused."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from robustcheck.engine.config import ScanConfig
from robustcheck.engine.runner import run
from robustcheck.errors import MeasurementError


class Scaled(torch.nn.Module):
    def __init__(self, inner: torch.nn.Module, factor: float) -> None:
        super().__init__()
        self.inner, self.factor = inner, factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x) * self.factor


def _save(module: torch.nn.Module, example: np.ndarray, path) -> object:
    torch.jit.save(torch.jit.trace(module.eval(), torch.from_numpy(example)), str(path))
    return path


def _errors(report, attack: str) -> dict[float, int]:
    return {r.eps: r.adversarial_errors for r in report.results if r.attack == attack}


@pytest.fixture(scope="module")
def scaled_models(cnn_model, digits, tmp_path_factory):
    folder = tmp_path_factory.mktemp("confident")
    example = digits.x_test[:2]
    return {
        factor: _save(Scaled(cnn_model.module, factor), example, folder / f"x{factor}.pt")
        for factor in (1, 100, 1000)
    }


def _scan(model, data, attacks: list[str]) -> object:
    config = ScanConfig(
        model=model, data=data, eps=[0.05, 0.1], attacks=attacks, limit=300, isolate=False
    )
    return run(config)


@pytest.mark.parametrize("factor", [100, 1000])
def test_logits_times_a_factor_scan_and_scale_invariant_losses_agree(
    scaled_models, digits_npz, factor
):
    attacks = ["fgsm", "fgsm:loss=margin,label=fgsm-margin", "pgd:loss=margin,label=pgd-margin"]
    base = _scan(scaled_models[1], digits_npz, attacks)
    scaled = _scan(scaled_models[factor], digits_npz, attacks)
    assert scaled.gradient.zero_gradient_samples == 0
    for label in ("fgsm-margin", "pgd-margin"):
        for eps, errors in _errors(base, label).items():
            assert abs(_errors(scaled, label)[eps] - errors) <= 2, (label, eps)
    assert _errors(scaled, "fgsm")[0.1] > 0  # cross-entropy found a direction


class TiedRunnersUp(torch.nn.Module):
    """Three classes; at inputs with x0 == x1 the two wrong classes tie, so cross-entropy's
    gradient (-1 on the true class, 1/2 on each of the others) cancels exactly, while the
    margin loss (runner-up minus true class) still points somewhere."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(4, 3)
        with torch.no_grad():
            self.linear.weight.copy_(
                torch.tensor([[0.5, 0.5, 0, 0], [1.0, 0, 0, 0], [0, 1.0, 0, 0]])
            )
            self.linear.bias.copy_(torch.tensor([0.1, 0.0, 0.0]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x)


def test_a_sample_whose_cross_entropy_gradient_vanishes_follows_the_margin_loss(tmp_path):
    rng = np.random.default_rng(0)
    t = rng.uniform(0.1, 0.7, size=(60, 1)).astype(np.float32)
    x = np.concatenate([t, t, rng.uniform(0, 1, size=(60, 2)).astype(np.float32)], axis=1)
    data = tmp_path / "tied.npz"
    np.savez(data, x=x, y=np.zeros(60, dtype=np.int64))
    model = _save(TiedRunnersUp(), x[:2], tmp_path / "tied.pt")
    report = run(ScanConfig(model=model, data=data, eps=[0.2], attacks=["fgsm"], isolate=False))
    assert report.gradient.margin_fallback_samples == 60
    assert report.gradient.zero_gradient_samples == 0
    assert _errors(report, "fgsm")[0.2] == 60  # the margin direction fools every sample
    assert any("followed the margin loss" in w for w in report.warnings)


class Constant(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)[:, :3].detach() * 0 + torch.tensor([[3.0, 1.0, 0.0]])


def test_a_model_on_which_every_loss_is_flat_is_still_refused(tmp_path, digits):
    data = tmp_path / "d.npz"
    np.savez(data, x=digits.x_test[:50], y=np.zeros(50, dtype=np.int64))
    model = _save(Constant(), digits.x_test[:2], tmp_path / "constant.pt")
    with pytest.raises(MeasurementError, match=r"input gradient is exactly zero|does not depend"):
        run(ScanConfig(model=model, data=data, eps=[0.1], isolate=False))
