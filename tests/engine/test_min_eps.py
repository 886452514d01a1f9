"""Minimal ε per sample: bisection agrees with a brute-force grid; histograms merge exactly."""

from __future__ import annotations

import numpy as np
import torch
from attacks.conftest import batch_context

from robustcheck.attacks import FGSM
from robustcheck.backends.loader import load_backend
from robustcheck.engine.config import ScanConfig
from robustcheck.engine.min_eps import MinEps, MinEpsPlan, find_min_eps
from robustcheck.engine.runner import run
from robustcheck.policy.schema import MinEpsRules, Policy

EPS_MAX = 0.3
GRID = 60


def test_median_equals_a_brute_force_grid_within_one_step(cnn_model, digits):
    backend = load_backend(cnn_model.torchscript)
    x, y = digits.x_test, digits.y_test
    ctx = batch_context(backend, x, y)
    found = find_min_eps(MinEpsPlan(EPS_MAX), ctx, ctx.clean_gradient().gradient)
    grid = [EPS_MAX * k / GRID for k in range(GRID + 1)]
    adv = FGSM()(batch_context(backend, x, y), grid[1:]).adversarial
    first = np.full(len(y), np.inf)
    wrong = backend.scores(torch.from_numpy(x)).argmax(1).numpy() != y
    first[wrong] = 0.0
    for eps in grid[1:]:
        fooled = backend.scores(adv[eps]).argmax(1).numpy() != y
        first[np.isinf(first) & fooled] = eps
    brute = float(np.median(first))
    assert found.percentile(0.5) is not None
    assert abs(found.percentile(0.5) - brute) <= EPS_MAX / GRID + 1e-12
    assert found.n == len(y)


def test_histograms_merge_by_addition(cnn_model, digits):
    backend = load_backend(cnn_model.torchscript)
    x, y = digits.x_test[:200], digits.y_test[:200]
    whole_ctx = batch_context(backend, x, y)
    whole = find_min_eps(MinEpsPlan(0.2), whole_ctx, whole_ctx.clean_gradient().gradient)
    parts = []
    for start in (0, 70, 150):
        stop = {0: 70, 70: 150, 150: 200}[start]
        ctx = batch_context(backend, x[start:stop], y[start:stop], batch_start=start)
        parts.append(find_min_eps(MinEpsPlan(0.2), ctx, ctx.clean_gradient().gradient))
    merged = parts[2].merge(parts[0]).merge(parts[1])
    assert merged == whole
    assert isinstance(merged, MinEps)


def test_policy_min_eps_rule_turns_the_search_on_and_gates(cnn_model, digits_npz):
    policy = Policy(min_eps=MinEpsRules(median=0.5))
    report = run(
        ScanConfig(model=cnn_model.torchscript, data=digits_npz, eps=[0.25], policy=policy)
    )
    assert report.min_eps is not None and report.min_eps.median is not None
    (check,) = [c for c in report.checks if c.rule == "min_eps_median"]
    assert check.status == "fail"  # measured below the limit, even though 0.5 > ε_max
    policy = Policy(min_eps=MinEpsRules(median=0.01, p10=0.2))
    report = run(
        ScanConfig(model=cnn_model.torchscript, data=digits_npz, eps=[0.25], policy=policy)
    )
    statuses = {c.rule: c.status for c in report.checks}
    assert statuses == {"min_eps_median": "pass", "min_eps_p10": "fail", "require_valid": "pass"}
    assert report.verdict == "fail"
