"""What a scan runs: the configured attacks (from the registry), the minimal-ε search, and the ε
the report's examples illustrate."""

from __future__ import annotations

from robustcheck.attacks import Attack, RandomSignNoise
from robustcheck.attacks.spec import parse_attack_spec
from robustcheck.engine.config import ScanConfig
from robustcheck.engine.min_eps import MinEpsPlan
from robustcheck.errors import UsageError
from robustcheck.plugins import attack_registry
from robustcheck.policy.schema import Budget, Rules
from robustcheck.reports.model import Check


def build_attacks(config: ScanConfig) -> tuple[list[Attack], list[str]]:
    """The configured attacks from the registry (built-ins and plugins), then the noise baseline."""
    registry, plugins = attack_registry()
    notes = [
        f"attack plugin {p.name!r} ({p.value}) was skipped: {p.error}" for p in plugins if p.error
    ]
    notes += [
        f"attack {p.name!r} is provided by plugin {p.distribution or p.value}, replacing the built-in"
        for p in plugins
        if p.replaces_builtin
    ]
    config, _ = judged_config(config)
    texts = config.attacks or (config.policy.attacks if config.policy else None) or ["fgsm"]
    specs = [parse_attack_spec(text) for text in texts]
    for spec in specs:
        _on_eps(registry.get(spec.name), spec.text())
    # A policy rule on an attack that was not configured runs it with its defaults (a token
    # budget's attack runs through --tokens, which the policy's token budgets fill).
    named = {r.attack for r in policy_blocks(config)} - {s.shown_label for s in specs} - {"noise"}
    specs += [
        parse_attack_spec(name)
        for name in sorted(named)
        if name in registry and registry.get(name).budget_unit == "eps"
    ]
    attacks = [registry.get(s.name).from_options(s.options, label=s.label) for s in specs]
    if config.tokens:
        attacks.append(registry.get("hotflip")())
    if config.noise_baseline:
        attacks.append(RandomSignNoise())
    return attacks, notes


BUDGET_FLAGS = {
    "tokens": "--tokens K (at most K substituted tokens per text; repeat it for several budgets)"
}
"""How an attack whose budget is not ε is asked for instead of ``--attack``."""


def _on_eps(cls: type[Attack], text: str) -> None:
    """``--attack`` runs attacks on the ε sweep; one with another budget is refused in one line
    naming the flag that runs it."""
    if cls.budget_unit != "eps":
        flag = BUDGET_FLAGS.get(cls.budget_unit, f"its own {cls.budget_unit} budget")
        raise UsageError(
            f"--attack {text}: {cls.name} has a budget in {cls.budget_unit}, not ε; run it "
            f"with {flag}"
        )


def noise_eps(config: ScanConfig) -> tuple[float, ...] | None:
    """The ε the noise baseline runs at: every ε (``None``), or with ``noise_eps="largest"`` the
    largest ε and each ε a policy rule on the noise baseline names. Noise of a small ε seldom flips
    the 5 samples the ``beats_noise`` check needs; the largest ε is where it means most."""
    if config.noise_eps == "all" or not config.noise_baseline:
        return None
    every = config.policy.all_eps if config.policy is not None else None
    if every is not None and every.attack == "noise":
        return None
    named = {
        b.eps
        for b in policy_blocks(config)
        if isinstance(b, Budget) and b.attack == "noise" and b.eps is not None
    }
    return tuple(sorted({max(config.eps), *named}))


BUILT_FOR_FGSM = ("default", "--max-error-rate")
"""Policies robustcheck makes up for the user, whose rules judge FGSM."""


def judged_config(config: ScanConfig) -> tuple[ScanConfig, list[str]]:
    """When ``--attack`` names only gradient-free attacks, the FGSM rules of a policy robustcheck
    made up (the built-in default, ``--max-error-rate``) judge the first of them instead, so a
    model without a gradient is gated by what was asked for; the note says so. A policy the
    user wrote is never changed: its FGSM rules still need a gradient."""
    policy = config.policy
    if policy is None or not config.attacks or config.policy_source not in BUILT_FOR_FGSM:
        return config, []
    registry, _ = attack_registry()
    specs = [parse_attack_spec(text) for text in config.attacks]
    if any(s.name not in registry or registry.get(s.name).needs_gradient for s in specs):
        return config, []
    first = specs[0].shown_label
    update: dict[str, object] = {}
    if policy.budgets and any(b.attack == "fgsm" for b in policy.budgets):
        update["budgets"] = [
            b.model_copy(update={"attack": first}) if b.attack == "fgsm" else b
            for b in policy.budgets
        ]
    if policy.all_eps is not None and policy.all_eps.attack == "fgsm":
        update["all_eps"] = policy.all_eps.model_copy(update={"attack": first})
    if not update:
        return config, []
    note = (
        f"only gradient-free attacks were asked for: the {config.policy_source} policy's FGSM "
        f"rules judge {first}"
    )
    return config.model_copy(update={"policy": policy.model_copy(update=update)}), [note]


def policy_blocks(config: ScanConfig) -> list[Rules]:
    if config.policy is None:
        return []
    return [
        *(config.policy.budgets or []),
        *([config.policy.all_eps] if config.policy.all_eps else []),
    ]


def min_eps_plan(config: ScanConfig) -> MinEpsPlan | None:
    wanted = config.find_min_eps or (
        config.policy is not None and config.policy.min_eps is not None
    )
    return MinEpsPlan(eps_max=max(config.eps)) if wanted else None


def gating_eps(checks: list[Check], eps: list[float]) -> float:
    """The ε the examples illustrate: the first failing (else warning) rule's, else the largest."""
    for status in ("fail", "warn"):
        for check in checks:
            if check.status == status and check.eps is not None and check.eps in eps:
                return check.eps
    return eps[-1]
