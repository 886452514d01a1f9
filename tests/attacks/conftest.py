"""Building one batch's attack context from a real backend and real data."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from robustcheck.attacks import BatchContext, InputDomain
from robustcheck.backends.base import Backend
from robustcheck.backends.output import OutputKind, detect_output_kind
from robustcheck.data import load_dataset
from robustcheck.engine.loop import leaf_budget
from robustcheck.engine.text import prepare_text, substitutions_for

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


def text_batch_context(backend: Backend, zoo: Any, tokens: list[int]) -> BatchContext:
    """The whole pre-tokenized test set of the text zoo as one batch, with the substitutions a
    token attack may make at the token budgets ``tokens``."""
    dataset = load_dataset(zoo.tokens_npz, data_format="tokens")
    dataset, _ = prepare_text(backend, dataset, [0.1])
    (batch,) = list(dataset.batches(dataset.n_samples))
    x = torch.from_numpy(batch.x)
    return BatchContext(
        model=backend,
        x=x,
        y=torch.from_numpy(batch.y),
        kind=OutputKind.LOGITS,
        domain=None,
        clean_scores=backend.scores(x),
        free=leaf_budget(backend, x),
        substitutions=substitutions_for(backend, dataset, tokens),
    )
