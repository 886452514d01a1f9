from __future__ import annotations

import numpy as np
import pytest

from robustcheck.attacks import FGSM, InputDomain, RandomSignNoise, perturb
from robustcheck.backends.loader import load_backend
from robustcheck.backends.output import OutputKind


@pytest.mark.parametrize("eps", [0.01, 0.1, 0.3])
def test_perturbation_is_plus_minus_eps_or_zero_then_clipped(linear_model, digits, eps):
    backend = load_backend(linear_model.torchscript)
    x, y = digits.x_test[:64], digits.y_test[:64]
    direction = FGSM().direction(backend, x, y, OutputKind.LOGITS, batch_start=0)
    assert set(np.unique(direction.signs)) <= {-1.0, 0.0, 1.0}
    raw = perturb(x, direction, eps, None)
    delta = raw - x.astype(np.float64)
    assert np.all(np.isclose(np.abs(delta), eps, rtol=0, atol=1e-12) | (delta == 0))
    clipped = perturb(x, direction, eps, InputDomain(0.0, 1.0))
    assert clipped.min() >= 0.0 and clipped.max() <= 1.0
    assert np.all(np.abs(clipped - x) <= eps + 1e-12)
    assert np.array_equal(clipped, np.clip(raw, 0.0, 1.0))


def test_fgsm_direction_increases_the_loss(linear_model, digits):
    import torch

    backend = load_backend(linear_model.torchscript)
    x, y = digits.x_test[:128], digits.y_test[:128]
    direction = FGSM().direction(backend, x, y, OutputKind.LOGITS, batch_start=0)
    module = linear_model.module

    def loss(inputs):
        with torch.no_grad():
            logits = module(torch.from_numpy(inputs.astype(np.float32))).double()
        return torch.nn.functional.cross_entropy(logits, torch.from_numpy(y), reduction="none")

    assert torch.all(loss(perturb(x, direction, 0.01, None)) > loss(x))


def test_noise_is_seeded_by_position_not_history(digits):
    x = digits.x_test[:10]
    noise = RandomSignNoise(seed=3)
    first = noise.direction(None, x, None, OutputKind.LOGITS, batch_start=10).signs  # type: ignore[arg-type]
    again = (
        RandomSignNoise(seed=3).direction(None, x, None, OutputKind.LOGITS, batch_start=10).signs
    )  # type: ignore[arg-type]
    other = noise.direction(None, x, None, OutputKind.LOGITS, batch_start=20).signs  # type: ignore[arg-type]
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)
    assert set(np.unique(first)) == {-1.0, 1.0}
