from __future__ import annotations

import numpy as np
import pytest
import torch
from attacks.conftest import batch_context
from reference_fgsm import fgsm_errors

from robustcheck.attacks import FGSM, InputDomain, RandomSignNoise
from robustcheck.backends.loader import load_backend


@pytest.mark.parametrize("eps", [0.01, 0.1, 0.3])
def test_perturbation_is_plus_minus_eps_or_zero_then_clipped(linear_model, digits, eps):
    backend = load_backend(linear_model.torchscript)
    x, y = digits.x_test[:64], digits.y_test[:64]
    raw = FGSM()(batch_context(backend, x, y, None), [eps]).adversarial[eps].numpy()
    delta = raw - x.astype(np.float64)
    assert np.all(np.isclose(np.abs(delta), eps, rtol=0, atol=1e-12) | (delta == 0))
    clipped = FGSM()(batch_context(backend, x, y), [eps]).adversarial[eps].numpy()
    assert clipped.min() >= 0.0 and clipped.max() <= 1.0
    assert np.all(np.abs(clipped - x) <= eps + 1e-12)
    assert np.array_equal(clipped, np.clip(raw, 0.0, 1.0))


def test_fgsm_direction_increases_the_loss(linear_model, digits):
    backend = load_backend(linear_model.torchscript)
    x, y = digits.x_test[:128], digits.y_test[:128]
    adv = FGSM()(batch_context(backend, x, y, None), [0.01]).adversarial[0.01]
    module = linear_model.module

    def loss(inputs: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            logits = module(inputs.to(torch.float32)).double()
        return torch.nn.functional.cross_entropy(logits, torch.from_numpy(y), reduction="none")

    assert torch.all(loss(adv) > loss(torch.from_numpy(x)))


def test_one_gradient_serves_the_whole_sweep(cnn_model, digits):
    backend = load_backend(cnn_model.torchscript)
    ctx = batch_context(backend, digits.x_test[:100], digits.y_test[:100])
    FGSM()(ctx, [0.01, 0.05, 0.1, 0.2, 0.3])
    assert ctx.gradient_evaluations == 1


@pytest.mark.parametrize("eps", [0.05, 0.1, 0.25])
def test_matches_an_independent_fgsm_within_one_sample(cnn_model, digits, eps):
    backend = load_backend(cnn_model.torchscript)
    x, y = digits.x_test, digits.y_test
    adv = FGSM()(batch_context(backend, x, y), [eps]).adversarial[eps]
    pred = backend.scores(adv).argmax(1).numpy()
    ours = int((pred != y).sum())
    assert abs(ours - fgsm_errors(cnn_model.module, x, y, eps)) <= 1


def test_noise_is_seeded_by_position_not_history(linear_model, digits):
    backend = load_backend(linear_model.torchscript)
    x, y = digits.x_test[:10], digits.y_test[:10]

    def signs(seed: int, start: int) -> np.ndarray:
        ctx = batch_context(backend, x, y, seed=seed, batch_start=start)
        return RandomSignNoise().signs(ctx).numpy()

    first, again, other = signs(3, 10), signs(3, 10), signs(3, 20)
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)
    assert set(np.unique(first)) == {-1, 1}


def test_clipping_keeps_the_domain_for_noise(linear_model, digits):
    backend = load_backend(linear_model.torchscript)
    ctx = batch_context(backend, digits.x_test[:50], digits.y_test[:50], InputDomain(0.0, 1.0))
    adv = RandomSignNoise()(ctx, [0.5]).adversarial[0.5]
    assert float(adv.min()) >= 0.0 and float(adv.max()) <= 1.0
