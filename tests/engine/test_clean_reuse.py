"""On a PyTorch model the gradient pass's scores are the deployed scores: a labelled batch after
the first reuses them instead of running a clean forward of its own, with the same counts."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from robustcheck.attacks import FGSM, InputDomain, RandomSignNoise
from robustcheck.backends.loader import load_backend
from robustcheck.data import load_dataset
from robustcheck.engine.loop import scan
from robustcheck.engine.state import tally_state
from robustcheck.engine.tally import Plan
from robustcheck.plugins import data_registry


class CountingScores:
    """A real backend, counting the deployed forwards over whole batches."""

    def __init__(self, inner) -> None:
        self._inner = inner
        self.info, self.device = inner.info, inner.device
        self.scored = 0

    def scores(self, x: torch.Tensor) -> torch.Tensor:
        self.scored += 1
        return self._inner.scores(x)

    def differentiable_scores(self, x: torch.Tensor) -> torch.Tensor:
        return self._inner.differentiable_scores(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._inner.forward(x)


@pytest.mark.parametrize("fmt", ["torchscript", "pt2"])
def test_reusing_the_gradient_pass_scores_keeps_every_count(fmt, cnn_model, digits_npz):
    path = cnn_model.torchscript if fmt == "torchscript" else cnn_model.pt2
    registry, _ = data_registry()
    dataset = load_dataset(digits_npz, registry=registry)
    plan = Plan(
        eps=[0.05, 0.1], attacks=[FGSM(), RandomSignNoise()], domain=InputDomain(0.0, 1.0),
        quantiser=None, batch_size=100, thresholds=(0.5,), output_kind=None,
    )  # fmt: skip
    tallies, forwards = {}, {}
    for reuse in (False, True):
        backend = CountingScores(load_backend(path, device="cpu"))
        tallies[reuse] = tally_state(
            scan(replace(plan, reuse_clean_forward=reuse), dataset, backend, None)
        )
        forwards[reuse] = backend.scored
    assert tallies[True] == tallies[False]
    batches = -(-dataset.n_samples // plan.batch_size)
    assert forwards[False] - forwards[True] == batches - 1  # every batch but the first
