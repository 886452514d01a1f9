"""A scan's settings, resolved: what the engine runs on.

:class:`ScanConfig` is :class:`~robustcheck.settings.ScanSettings` (every setting, declared there
once) after :func:`robustcheck.engine.resolve.resolve_scan` has loaded the policy and merged its ε,
token budgets and input contract into the settings. Nothing heavy is imported here.
"""

from __future__ import annotations

from pathlib import Path

from robustcheck.backends.output import OutputKind
from robustcheck.policy.schema import Policy
from robustcheck.settings import ScanSettings, flags
from robustcheck.settings.scan import DEFAULT_BATCH_SIZE, DEFAULT_HIGH_CONFIDENCE, MAX_TOKENS
from robustcheck.vocabulary import Layout

__all__ = ["DEFAULT_BATCH_SIZE", "DEFAULT_HIGH_CONFIDENCE", "MAX_TOKENS", "ScanConfig"]


class ScanConfig(ScanSettings):
    model: Path
    data: Path
    layout: Layout = "NCHW"
    batch_size: int = DEFAULT_BATCH_SIZE
    auto_batch_size: bool = False
    """``--batch-size auto``: the scan picks the size (robustcheck.engine.batch_size) and the
    report records it; ``batch_size`` is then where the search starts on the CPU."""
    """The policy's ``input.layout`` when no flag gave one, else NCHW."""
    policy: Policy | None = None
    """The policy that judges (loaded from ``policy_ref``, or made up: see ``policy_source``)."""
    policy_source: str | None = None
    """A policy file, ``builtin:NAME``, ``default`` or ``--max-error-rate``."""
    config_source: str | None = None
    """The project configuration file the settings came from, if any (recorded in the report)."""

    @property
    def declared_output_kind(self) -> OutputKind | None:
        """What the model is said to return; ``None``: detected."""
        return None if self.output_kind == "auto" else OutputKind(self.output_kind)

    def measured_settings(self) -> dict[str, object]:
        """The settings that can change what the scan measures (its fingerprint's part)."""
        volatile = {name for name, flag in flags(ScanSettings).items() if not flag.fingerprint}
        return self.model_dump(mode="json", exclude=volatile | {"policy_source", "config_source"})
