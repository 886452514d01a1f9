"""What a scan runs: the configured attacks (from the registry), the minimal-ε search, and the ε
the report's examples illustrate."""

from __future__ import annotations

from robustcheck.attacks import Attack, RandomSignNoise
from robustcheck.attacks.spec import parse_attack_spec
from robustcheck.engine.config import ScanConfig
from robustcheck.engine.min_eps import MinEpsPlan
from robustcheck.errors import UsageError
from robustcheck.plugins import attack_registry
from robustcheck.policy.schema import ANY_ATTACK, Budget, Rules
from robustcheck.reports.model import Check
from robustcheck.vocabulary import NOISE_BASELINE


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
    texts = config.attacks or (config.policy.attacks if config.policy else None) or ["fgsm"]
    specs = [parse_attack_spec(text) for text in texts]
    for spec in specs:
        _on_eps(registry.get(spec.name), spec.text())
    # A policy rule on an attack that was not configured runs it with its defaults (a token
    # budget's attack runs through --tokens, which the policy's token budgets fill).
    named = {r.attack for r in policy_blocks(config)} - {s.shown_label for s in specs}
    named -= {NOISE_BASELINE, ANY_ATTACK}
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
