"""The attack contract, for every registered attack (built-ins and the example plugin) on every
model format: within the ε-ball and the domain, deterministic under a seed, shapes kept; and
capabilities every attack declares consistently, with the template method kept final."""

from __future__ import annotations

from typing import ClassVar, get_args

import numpy as np
import pytest
import torch
from attacks.conftest import batch_context, text_batch_context

from robustcheck.attacks import Attack, AttackOutput, BatchContext, InputDomain
from robustcheck.attacks.base import BUDGET_RULES, BudgetUnit, capability_problems
from robustcheck.attacks.hotflip import HotFlip
from robustcheck.attacks.spec import parse_attack_spec
from robustcheck.backends.loader import load_backend
from robustcheck.plugins import attack_registry

REGISTRY, STATUSES = attack_registry()
EPS_ATTACKS = sorted(n for n in REGISTRY.names() if REGISTRY.get(n).budget_unit == "eps")
"""Attacks whose budget is ε (HotFlip's is a number of tokens: tests/attacks/test_hotflip.py)."""
FAST = {
    "pgd": {"steps": "3", "restarts": "2"},
    "bim": {"steps": "3"},
    "apgd": {"steps": "3", "restarts": "2", "targets": "2"},
    "square": {"queries": "30"},
    "auto": {"members": "fgsm|pgd:steps=3"},
}
EPS = [0.03, 0.2]


def test_every_builtin_and_the_example_plugin_are_registered():
    assert {
        "fgsm",
        "bim",
        "pgd",
        "apgd",
        "spsa",
        "nes",
        "square",
        "noise",
        "hotflip",
        "overshoot",
    } <= set(REGISTRY.names())
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


@pytest.mark.parametrize("name", sorted(REGISTRY.names()))
def test_every_registered_attack_declares_its_capabilities_consistently(name):
    cls = REGISTRY.get(name)
    assert capability_problems(cls) == []
    assert cls.needs_gradient == (cls.method == "gradient")
    assert cls.budget_unit in BUDGET_RULES
    attack = cls()  # the configured capabilities of the defaults
    for capability in ("iterative", "targeted", "random_start"):
        assert type(getattr(attack, capability)) is bool, capability
    assert "__call__" not in cls.__dict__, "the template method is final"


@pytest.mark.parametrize(
    ("spec", "iterative", "targeted", "random_start"),
    [
        ("fgsm", False, False, False),
        ("fgsm:target=least-likely", False, True, False),
        ("bim", True, False, False),
        ("bim:steps=1", False, False, False),
        ("pgd", True, False, True),
        ("pgd:steps=1", False, False, True),
        ("pgd:target=3", True, True, True),
        ("apgd", True, False, True),
        ("apgd:steps=1", False, False, True),
        ("apgd:targets=9", True, True, True),
        ("spsa", False, False, False),
        ("nes:steps=5", True, False, False),
        ("square", True, False, True),
        ("hotflip", True, False, False),
        ("noise", False, False, False),
        ("overshoot", False, False, False),
    ],
)
def test_builtins_declare_what_they_do_as_configured(spec, iterative, targeted, random_start):
    parsed = parse_attack_spec(spec)
    attack = REGISTRY.get(parsed.name).from_options(parsed.options)
    assert (attack.iterative, attack.targeted, attack.random_start) == (
        iterative,
        targeted,
        random_start,
    )


def test_every_budget_unit_has_the_rule_that_enforces_it():
    assert set(get_args(BudgetUnit)) == set(BUDGET_RULES)
    assert all(rule.unit == unit for unit, rule in BUDGET_RULES.items())


def test_overriding_the_template_method_is_refused_when_the_class_is_made():
    with pytest.raises(TypeError, match=r"SkipsProjection overrides Attack.__call__"):

        class SkipsProjection(Attack):
            name: ClassVar[str] = "skips-projection"

            def candidates(self, ctx: BatchContext, eps: list[float]) -> AttackOutput:
                raise NotImplementedError

            def __call__(self, ctx: BatchContext, eps: list[float]) -> AttackOutput:  # type: ignore[misc]
                return self.candidates(ctx, eps)


def test_an_unknown_budget_unit_is_refused_when_the_class_is_made():
    with pytest.raises(TypeError, match=r"Pixels: budget_unit 'pixels' is not one of eps, tokens"):

        class Pixels(Attack):
            name: ClassVar[str] = "pixels"
            budget_unit = "pixels"  # type: ignore[assignment]

            def candidates(self, ctx: BatchContext, eps: list[float]) -> AttackOutput:
                raise NotImplementedError


class Contradictory(Attack):
    """Claims to read no gradient yet calls itself a gradient attack."""

    name: ClassVar[str] = "contradictory"
    needs_gradient: ClassVar[bool] = False
    iterative = "often"  # type: ignore[assignment]

    def candidates(self, ctx: BatchContext, eps: list[float]) -> AttackOutput:
        raise NotImplementedError


def test_a_plugin_declaring_inconsistent_capabilities_is_named_and_refused():
    registry = REGISTRY.copy()
    with pytest.raises(TypeError) as caught:
        registry.add(Contradictory.name, Contradictory)
    message = str(caught.value)
    assert "Contradictory declares inconsistent capabilities" in message
    assert "needs_gradient is False but method is 'gradient'" in message
    assert "iterative is 'often'" in message
    assert Contradictory.name not in registry


def test_the_token_budget_is_enforced_by_the_base_not_by_the_attack(text_zoo):
    """A token attack that swaps more tokens than its budget is caught by Attack.__call__:
    enforcement is chosen by the declared budget unit, so no token attack can skip it."""

    class SwapsEverything(Attack):
        name: ClassVar[str] = "swaps-everything"
        budget_unit: ClassVar[BudgetUnit] = "tokens"

        def candidates(self, ctx: BatchContext, eps: list[float]) -> AttackOutput:
            hidden = ctx.substitutions.table.shape[1]
            adv = ctx.x64.clone()
            adv[..., :hidden] += 1.0  # every position changes: far more than k tokens
            return AttackOutput({k: adv for k in eps})

    backend = load_backend(text_zoo.models["bert"].onnx)
    ctx = text_batch_context(backend, text_zoo, [1])
    with pytest.raises(AssertionError, match="exceeded its budget of 1 tokens"):
        SwapsEverything()(ctx, [1.0])
    assert "__call__" not in HotFlip.__dict__
