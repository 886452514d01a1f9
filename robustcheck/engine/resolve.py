"""From settings to what the engine runs: :func:`resolve_scan` loads the policy (a file,
``builtin:NAME``, ``--max-error-rate`` or the built-in default), merges its ε, token budgets and
input contract into the settings, and refuses settings that contradict each other. The CLI and the
Python API both call it, so both refuse the same things with the same words."""

from __future__ import annotations

from typing import Any

from robustcheck.engine.config import DEFAULT_BATCH_SIZE, ScanConfig
from robustcheck.errors import UsageError
from robustcheck.policy.load import load_builtin, load_reference
from robustcheck.policy.schema import Policy, max_error_rate_policy
from robustcheck.settings import ScanSettings
from robustcheck.vocabulary import NOISE_BASELINE

_WHERE = "robustcheck.yaml or [tool.robustcheck] in pyproject.toml"
_CONTRACT = ("layout", "input_range", "mean", "std", "image_size", "deployed_dtype")
"""Settings a policy's ``input:`` section may give; a flag (or the configuration) wins."""


def resolve_scan(
    settings: ScanSettings,
    *,
    policy: Policy | None = None,
    policy_source: str | None = None,
    config_source: str | None = None,
) -> ScanConfig:
    """``settings`` with the policy loaded and merged in. ``policy``: one already built in code
    (``policy_source`` says where from); otherwise ``settings.policy_ref``, ``max_error_rate`` or
    the built-in default."""
    if settings.model is None:
        raise UsageError(f"no model to scan: pass MODEL, or set `model:` in {_WHERE}")
    if settings.data is None:
        raise UsageError(f"no data to scan: pass --data PATH, or set `data:` in {_WHERE}")
    if policy is None:
        policy, policy_source = _policy(settings)
    elif settings.policy_ref is not None or settings.max_error_rate is not None:
        raise UsageError("a policy object and --policy/--max-error-rate are exclusive")
    if not settings.noise_baseline and _uses_noise(policy):
        raise UsageError("--no-noise: the policy has rules on the noise baseline")
    eps = sorted(set(settings.eps) | set(policy.eps_values()))
    if not eps:
        raise UsageError(
            "no ε to scan: pass --eps or a --policy with budgets (or set `eps:` in robustcheck.yaml)"
        )
    _check_execution(settings)
    update: dict[str, Any] = {
        "eps": eps,
        "tokens": sorted(set(settings.tokens) | set(policy.token_values())),
        **_contract(settings, policy),
    }
    values = {**settings.model_dump(), **update}
    values["layout"] = values["layout"] or "NCHW"
    if settings.batch_size == "auto":
        values.update(batch_size=DEFAULT_BATCH_SIZE, auto_batch_size=True)
    return ScanConfig(
        **values,
        policy=policy,
        policy_source=policy_source or "api",
        config_source=config_source,
    )


def _policy(settings: ScanSettings) -> tuple[Policy, str]:
    """The policy to gate on and where it came from."""
    ref, limit = settings.policy_ref, settings.max_error_rate
    if ref is not None and limit is not None:
        raise UsageError("--policy and --max-error-rate are exclusive: put the limit in the policy")
    if limit is not None:
        if not settings.eps:
            raise UsageError("--max-error-rate needs at least one --eps")
        return max_error_rate_policy(settings.eps, limit), "--max-error-rate"
    if ref is not None:
        return load_reference(ref), ref
    return load_builtin("default"), "default"


def _uses_noise(policy: Policy) -> bool:
    blocks = [*(policy.budgets or []), *([policy.all_eps] if policy.all_eps else [])]
    return any(block.attack == NOISE_BASELINE for block in blocks)


def _contract(settings: ScanSettings, policy: Policy) -> dict[str, Any]:
    """The input contract: settings override the policy's ``input:`` section."""
    merged = {key: getattr(settings, key) for key in _CONTRACT}
    section = policy.input
    for key, value in merged.items():
        declared = None if section is None else getattr(section, key)
        if value is None and declared is not None:
            merged[key] = tuple(declared) if key in ("input_range", "image_size") else declared
    return merged


def _check_execution(settings: ScanSettings) -> None:
    """Execution settings that contradict each other."""
    distributed = settings.shard is not None or settings.executor == "ray"
    if settings.batch_size == "auto" and distributed:
        raise UsageError(
            "--batch-size auto: the parts of a sharded scan must share one batch size, so pass a "
            "number (the report of an unsharded auto scan says which size it chose)"
        )
    if settings.executor != "ray":
        for flag in ("ray_address", "shards"):
            if getattr(settings, flag) is not None:
                raise UsageError(f"--{flag.replace('_', '-')} needs --executor ray")
    elif settings.checkpoint is not None:
        raise UsageError("--checkpoint records one scan's batches; it cannot take Ray's shards")
    if settings.shard is not None and settings.executor != "local":
        raise UsageError("--shard runs one part here; --executor ray runs them all")
