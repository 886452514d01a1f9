"""A scan in this process, resumable: the engine's run with the ``--checkpoint`` file as its
per-batch records."""

from __future__ import annotations

from robustcheck.engine.config import ScanConfig
from robustcheck.engine.loop import Progress
from robustcheck.engine.runner import OpenRecords, run
from robustcheck.execution.checkpoint import Checkpoint
from robustcheck.reports.model import Report


def checkpoint_records(config: ScanConfig) -> OpenRecords | None:
    """Opens ``config.checkpoint`` for the scan of a fingerprint, or ``None`` without one."""
    path = config.checkpoint
    if path is None:
        return None
    return lambda scope: Checkpoint.open(path, scope)


def run_here(config: ScanConfig, *, progress: Progress | None = None) -> Report:
    """The scan of ``config`` in this process (no isolation), resuming from its checkpoint."""
    return run(config, progress=progress, records=checkpoint_records(config))
