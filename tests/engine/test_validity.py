"""Validity checks: a model with shattered gradients is flagged and fails builtin:strict; the
ordinary digits models are not flagged; which attacks a check compares follows from the
capabilities they declare, so plugin attacks are checked like the built-ins."""

from __future__ import annotations

from typing import ClassVar

import pytest
import torch

import robustcheck.engine.attack_plan as attack_plan
from robustcheck.attacks import Attack, AttackOutput, BatchContext, CrossEntropy
from robustcheck.engine.config import ScanConfig
from robustcheck.engine.runner import run
from robustcheck.plugins import attack_registry
from robustcheck.policy.load import load_builtin

EPS = [0.05, 0.1, 0.25]


class Shattered(torch.nn.Module):
    """A steep periodic input transform: the function barely changes (±0.02), but its input
    gradient is dominated by cos(1000·x), which points nowhere useful (Athalye et al. 2018)."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x + 0.02 * torch.sin(1000.0 * x))


@pytest.fixture(scope="module")
def shattered(cnn_model, digits, tmp_path_factory):
    path = tmp_path_factory.mktemp("masking") / "shattered.pt"
    module = Shattered(cnn_model.module).eval()
    torch.jit.save(torch.jit.trace(module, torch.from_numpy(digits.x_test[:2])), str(path))
    return path


def _flagged(report) -> set[str]:
    return {c.name for c in report.validity.checks if c.status == "flagged"}


def test_shattered_gradients_are_flagged_and_fail_strict(shattered, digits_npz):
    policy = load_builtin("strict")
    report = run(
        ScanConfig(
            model=shattered, data=digits_npz, eps=EPS, policy=policy, policy_source="s", limit=60
        )
    )
    assert not report.validity.reliable
    # On a 60-sample scan noise flips too few to compare with: the masking check catches it.
    assert _flagged(report) & {"beats_noise", "gradient_masking"}
    (rule,) = [c for c in report.checks if c.rule == "require_valid"]
    assert rule.status == "fail" and "unreliable" in rule.message
    assert report.verdict == "fail"


@pytest.mark.parametrize("name", ["cnn_model", "linear_model"])
def test_ordinary_digits_models_are_not_flagged(request, name, digits_npz):
    model = request.getfixturevalue(name)
    config = ScanConfig(
        model=model.torchscript, data=digits_npz, eps=EPS, attacks=["fgsm", "pgd:steps=10"]
    )
    report = run(config)
    assert report.validity.reliable, [c.reason for c in report.validity.checks]
    statuses = {c.name: c.status for c in report.validity.checks}
    assert statuses["beats_noise"] == "ok"
    assert statuses["iterative_not_weaker"] == "ok"
    assert statuses["gradient_masking"] == "ok"


def test_without_noise_the_comparison_is_not_applicable(cnn_model, digits_npz):
    report = run(
        ScanConfig(model=cnn_model.torchscript, data=digits_npz, eps=[0.1], noise_baseline=False)
    )
    statuses = {c.name: c.status for c in report.validity.checks}
    assert statuses["beats_noise"] == "not_applicable"
    assert statuses["iterative_not_weaker"] == "not_applicable"


class Dawdle(Attack):
    """A plugin-style iterative gradient attack, weak on purpose: five gradient-sign steps of
    ε/50, so it never moves further than a tenth of ε and must fall below FGSM."""

    name: ClassVar[str] = "dawdle"
    iterative: ClassVar[bool] = True

    def candidates(self, ctx: BatchContext, eps: list[float]) -> AttackOutput:
        adversarial = {}
        for e in eps:
            adv = ctx.x64.clone()
            for _ in range(5):
                gradient = ctx.gradient(adv, CrossEntropy()).gradient
                adv = adv + e / 50 * torch.sign(gradient).to(torch.float64)
            adversarial[e] = adv
        return AttackOutput(adversarial)


class Undeclared(Dawdle):
    """The same steps, without declaring itself iterative: a one-step attack as far as the
    checks can tell, so nothing holds it to FGSM."""

    name: ClassVar[str] = "undeclared"
    iterative: ClassVar[bool] = False


@pytest.fixture
def with_test_plugins(monkeypatch):
    """The scan's attack registry plus the attacks above, added as the plugin loader adds one."""

    def registry_with_plugins(entry_points=None):
        registry, statuses = attack_registry(entry_points)
        for cls in (Dawdle, Undeclared):
            registry.add(cls.name, cls)
        return registry, statuses

    monkeypatch.setattr(attack_plan, "attack_registry", registry_with_plugins)


def _statuses(report) -> dict[str, str]:
    return {c.name: c.status for c in report.validity.checks}


def test_a_plugin_declaring_itself_iterative_is_held_to_fgsm(
    with_test_plugins, cnn_model, digits_npz
):
    config = ScanConfig(
        model=cnn_model.torchscript, data=digits_npz, eps=[0.1, 0.25], limit=100,
        attacks=["fgsm", "dawdle"],
    )  # fmt: skip
    report = run(config)
    flagged = [c for c in report.validity.checks if c.name == "iterative_not_weaker"]
    assert {(c.status, c.attack) for c in flagged} == {("flagged", "dawdle")}
    assert any("dawdle at ε=0.25 is weaker than fgsm" in c.reason for c in flagged)
    assert not report.validity.reliable


def test_a_plugin_that_does_not_declare_itself_iterative_gets_no_iterative_check(
    with_test_plugins, cnn_model, digits_npz
):
    config = ScanConfig(
        model=cnn_model.torchscript, data=digits_npz, eps=[0.1, 0.25], limit=100,
        attacks=["fgsm", "undeclared"],
    )  # fmt: skip
    assert _statuses(run(config))["iterative_not_weaker"] == "not_applicable"


def test_a_one_step_gradient_plugin_takes_fgsm_s_role(cnn_model, digits_npz):
    """The example plugin (one gradient-sign step from the clean input) is the baseline a weak
    iterative attack is compared with when no FGSM runs."""
    config = ScanConfig(
        model=cnn_model.torchscript, data=digits_npz, eps=[0.1, 0.25], limit=100,
        attacks=["overshoot", "bim:steps=2,step_size=0.05"],
    )  # fmt: skip
    report = run(config)
    flagged = [c for c in report.validity.checks if c.name == "iterative_not_weaker"]
    assert flagged and all(c.status == "flagged" and c.attack == "bim" for c in flagged)
    assert any("is weaker than overshoot" in c.reason for c in flagged)


def test_one_step_pgd_from_a_random_start_is_neither_fgsm_nor_iterative(cnn_model, digits_npz):
    """``pgd:steps=1`` takes one step (from a random point): no iterative check holds it to FGSM,
    and it does not stand in for FGSM, whose step starts at the clean input."""
    config = ScanConfig(
        model=cnn_model.torchscript, data=digits_npz, eps=[0.1], limit=100,
        attacks=["pgd:steps=1"],
    )  # fmt: skip
    assert _statuses(run(config))["iterative_not_weaker"] == "not_applicable"
