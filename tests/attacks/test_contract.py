"""The attack contract, for every registered attack (built-ins and the example plugin) on every
model format: within the ε-ball and the domain, deterministic under a seed, shapes kept."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from attacks.conftest import batch_context

from robustcheck.attacks import InputDomain
from robustcheck.backends.loader import load_backend
from robustcheck.plugins import attack_registry

REGISTRY, STATUSES = attack_registry()
EPS_ATTACKS = sorted(n for n in REGISTRY.names() if REGISTRY.get(n).budget_unit == "eps")
"""Attacks whose budget is ε (HotFlip's is a number of tokens: tests/attacks/test_hotflip.py)."""
FAST = {"pgd": {"steps": "3", "restarts": "2"}, "bim": {"steps": "3"}}
EPS = [0.03, 0.2]


def test_every_builtin_and_the_example_plugin_are_registered():
    assert {"fgsm", "bim", "pgd", "noise", "hotflip", "overshoot"} <= set(REGISTRY.names())
    assert not [s for s in STATUSES if s.error]


@pytest.fixture(scope="module")
def cnn_onnx(cnn_model, digits, tmp_path_factory):
    path = tmp_path_factory.mktemp("contract") / "cnn.onnx"
    torch.onnx.export(
        cnn_model.module, (torch.from_numpy(digits.x_test[:2]),), str(path),
        input_names=["x"], output_names=["y"], dynamic_axes={"x": {0: "n"}, "y": {0: "n"}},
        dynamo=False,
    )  # fmt: skip
    return path


@pytest.mark.parametrize("fmt", ["torchscript", "pt2", "onnx"])
@pytest.mark.parametrize("name", EPS_ATTACKS)
def test_attack_contract(name, fmt, cnn_model, cnn_onnx, digits):
    path = {"torchscript": cnn_model.torchscript, "pt2": cnn_model.pt2, "onnx": cnn_onnx}[fmt]
    backend = load_backend(path)
    x, y = digits.x_test[:40], digits.y_test[:40]
    domain = InputDomain(0.0, 1.0)

    def run(seed: int) -> dict[float, np.ndarray]:
        attack = REGISTRY.get(name).from_options(FAST.get(name, {}))
        ctx = batch_context(backend, x, y, domain, seed=seed, batch_start=40)
        out = attack(ctx, EPS)
        return {e: t.detach().cpu().numpy() for e, t in out.adversarial.items()}

    first, again = run(seed=7), run(seed=7)
    for eps in EPS:
        adv = first[eps]
        assert adv.shape == x.shape and adv.dtype == np.float64
        assert np.abs(adv - x).max() <= eps + 1e-6
        assert adv.min() >= domain.lo and adv.max() <= domain.hi
        assert np.array_equal(adv, again[eps]), "not deterministic under a seed"


def test_a_broken_plugin_is_named_and_skipped():
    from importlib import metadata

    broken = metadata.EntryPoint("broken", "no_such_module_xyz:Attack", "robustcheck.attacks")
    wrong = metadata.EntryPoint(
        "wrong", "robustcheck.attacks.losses:make_loss", "robustcheck.attacks"
    )
    registry, statuses = attack_registry([broken, wrong])
    errors = {s.name: s.error for s in statuses}
    assert "ModuleNotFoundError" in (errors["broken"] or "")
    assert "not an Attack subclass" in (errors["wrong"] or "")
    assert {"fgsm", "pgd"} <= set(registry.names())


def test_a_plugin_may_replace_a_builtin_by_name():
    from importlib import metadata

    custom = metadata.EntryPoint(
        "noise", "robustcheck_plugin_overshoot:Overshoot", "robustcheck.attacks"
    )
    registry, statuses = attack_registry([custom])
    (status,) = statuses
    assert "says its name is 'overshoot'" in (status.error or "")
    assert registry.get("noise").name == "noise"
