"""PGD: FGSM is its one-step case; it is at least as strong; it matches an independent PGD."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from attacks.conftest import batch_context

from robustcheck.attacks import FGSM, PGD, InputDomain
from robustcheck.backends.loader import load_backend

EPS = [0.05, 0.1, 0.25]


def _errors(backend, adv, y) -> int:
    return int((backend.scores(adv).argmax(1).numpy() != y).sum())


def test_one_step_pgd_of_size_eps_without_random_start_is_fgsm(cnn_model, digits):
    backend = load_backend(cnn_model.torchscript)
    x, y = digits.x_test, digits.y_test
    pgd = PGD.from_options({"steps": "1", "step_size": "1", "random_start": "false"})
    ours = pgd(batch_context(backend, x, y), EPS).adversarial
    fgsm = FGSM()(batch_context(backend, x, y), EPS).adversarial
    for eps in EPS:
        assert torch.equal(ours[eps], fgsm[eps])


def independent_pgd(module, x, y, eps, steps, eps_index, seed=0, batch_start=0) -> np.ndarray:
    """Plain torch PGD with the same random start stream and per-sample stop at the first fooled
    iterate; the loss is float64 cross-entropy."""
    x64 = torch.from_numpy(x).double()
    yt = torch.from_numpy(y)
    noise = np.random.default_rng([seed, batch_start, 1, eps_index, 0]).uniform(-eps, eps, x.shape)
    adv = (x64 + torch.from_numpy(noise)).clamp(x64 - eps, x64 + eps).clamp(0, 1)
    alpha = 2.5 * eps / steps
    frozen = torch.zeros(len(y), dtype=torch.bool)
    for step in range(steps):
        leaf = adv.clone().requires_grad_(True)
        logits = module(leaf.float()).double()
        if step > 0:
            frozen |= logits.argmax(1) != yt
        loss = torch.nn.functional.cross_entropy(logits, yt, reduction="sum")
        (grad,) = torch.autograd.grad(loss, leaf)
        moved = (adv + alpha * grad.sign()).clamp(x64 - eps, x64 + eps).clamp(0, 1)
        adv = torch.where(frozen.view(-1, 1, 1, 1), adv, moved)
    with torch.no_grad():
        return (module(adv.float()).argmax(1) != yt).numpy()


def test_pgd20_is_at_least_fgsm_and_matches_an_independent_pgd(cnn_model, digits):
    backend = load_backend(cnn_model.torchscript)
    x, y = digits.x_test, digits.y_test
    pgd = PGD.from_options({"steps": "20"})(batch_context(backend, x, y), EPS).adversarial
    fgsm = FGSM()(batch_context(backend, x, y), EPS).adversarial
    for index, eps in enumerate(EPS):
        ours = _errors(backend, pgd[eps], y)
        assert ours >= _errors(backend, fgsm[eps], y), eps
        reference = int(independent_pgd(cnn_model.module, x, y, eps, 20, index).sum())
        assert abs(ours - reference) <= 1, (eps, ours, reference)


def test_early_stop_saves_gradient_evaluations_without_changing_fgsm_hits(cnn_model, digits):
    backend = load_backend(cnn_model.torchscript)
    x, y = digits.x_test[:300], digits.y_test[:300]
    ctx = batch_context(backend, x, y)
    PGD.from_options({"steps": "10", "random_start": "false"})(ctx, [0.25])
    assert ctx.gradient_evaluations < 10  # every sample is fooled within a few steps at 0.25


@pytest.mark.parametrize("target", ["least-likely", "3", "all"])
def test_targeted_attacks_count_hits_on_the_target(cnn_model, digits, target):
    backend = load_backend(cnn_model.torchscript)
    x, y = digits.x_test[:120], digits.y_test[:120]
    attack = FGSM.from_options({"target": target})
    out = attack(batch_context(backend, x, y), [0.3])
    targets = out.targets[0.3].numpy()
    pred = backend.scores(out.adversarial[0.3]).argmax(1).numpy()
    hits = int(((pred == targets) & (targets != y)).sum())
    assert hits > 10
    if target == "3":
        assert set(targets) == {3}
    if target == "all":
        single = FGSM.from_options({"target": "least-likely"})(batch_context(backend, x, y), [0.3])
        ll_pred = backend.scores(single.adversarial[0.3]).argmax(1).numpy()
        ll_hits = int(((ll_pred == single.targets[0.3].numpy()) & (ll_pred != y)).sum())
        assert hits >= ll_hits  # the worst case over every class is at least one class's


def test_margin_loss_attack_fools_at_least_as_many_as_noise(cnn_model, digits):
    backend = load_backend(cnn_model.torchscript)
    x, y = digits.x_test, digits.y_test
    out = PGD.from_options({"steps": "10", "loss": "margin"})(batch_context(backend, x, y), [0.1])
    assert _errors(backend, out.adversarial[0.1], y) > 0.3 * len(y)


def test_bad_parameters_are_usage_errors():
    from robustcheck.errors import UsageError

    with pytest.raises(UsageError, match="steps"):
        PGD.from_options({"steps": "0"})
    with pytest.raises(UsageError, match="stepz"):
        PGD.from_options({"stepz": "3"})
    with pytest.raises(UsageError, match="target"):
        FGSM.from_options({"target": "most-likely"})


def test_domain_is_respected_by_every_iterate(cnn_model, digits):
    backend = load_backend(cnn_model.torchscript)
    ctx = batch_context(backend, digits.x_test[:50], digits.y_test[:50], InputDomain(0.1, 0.9))
    # data outside the domain is the runner's business; the attack must still clip
    out = PGD.from_options({"steps": "5"})(ctx, [0.3]).adversarial[0.3]
    assert float(out.min()) >= 0.1 and float(out.max()) <= 0.9
