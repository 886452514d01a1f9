"""What ``robustcheck harden`` runs on: its settings (:class:`~robustcheck.settings.HardenSettings`,
declared there once) with the policy loaded. Nothing heavy is imported here."""

from __future__ import annotations

from pydantic import Field

from robustcheck.policy.load import load_builtin, load_reference
from robustcheck.policy.schema import Policy
from robustcheck.settings import HardenSettings
from robustcheck.vocabulary import Layout

DEFAULT_REPORT_ATTACKS = ("fgsm", "pgd:steps=10")


class HardenConfig(HardenSettings):
    layout: Layout = "NCHW"
    report_attacks: list[str] = Field(default_factory=lambda: list(DEFAULT_REPORT_ATTACKS))
    """The attacks of the before/after scans."""
    policy: Policy | None = None
    policy_source: str | None = None


def resolve_harden(settings: HardenSettings) -> HardenConfig:
    """``settings`` with its policy loaded (``builtin:default`` unless one is named)."""
    ref = settings.policy_ref
    policy = load_reference(ref) if ref is not None else load_builtin("default")
    values = settings.model_dump()
    values["layout"] = values["layout"] or "NCHW"
    return HardenConfig(**values, policy=policy, policy_source=ref or "default")
