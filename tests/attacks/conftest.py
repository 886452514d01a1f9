"""Building one batch's attack context from a real backend and real data."""

from __future__ import annotations

import numpy as np
import torch

from robustcheck.attacks import BatchContext, InputDomain
from robustcheck.backends.base import Backend
from robustcheck.backends.output import OutputKind, detect_output_kind

UNIT = InputDomain(0.0, 1.0)


def batch_context(
    backend: Backend,
    x: np.ndarray,
    y: np.ndarray,
    domain: InputDomain | None = UNIT,
    *,
    seed: int = 0,
    batch_start: int = 0,
    kind: OutputKind | None = None,
) -> BatchContext:
    xt = torch.from_numpy(np.ascontiguousarray(x)).to(backend.device)
    clean = backend.scores(xt)
    return BatchContext(
        model=backend,
        x=xt,
        y=torch.from_numpy(np.ascontiguousarray(y, dtype=np.int64)).to(backend.device),
        kind=kind or detect_output_kind(clean.cpu().numpy()),
        domain=domain,
        clean_scores=clean,
        seed=seed,
        batch_start=batch_start,
    )
