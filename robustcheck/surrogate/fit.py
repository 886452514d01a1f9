"""Distillation: train a small student on the target's own predicted probabilities.

The target is only ever asked for ``scores`` (its deployed runtime), so any model onnxruntime can
run (a random forest, a gradient-boosted ensemble) can be distilled. Training is seeded and
deterministic: a fixed split, a fixed initialisation, a fixed minibatch order, under a forked
torch RNG (the caller's random state is left as it was). Agreement is the share of samples whose
top-1 class the student and the target share, on the training split and on a held-out split.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from robustcheck._warnings import TORCHSCRIPT_DEPRECATED, recorded_warnings
from robustcheck.backends.base import Backend
from robustcheck.backends.output import OutputKind, detect_output_kind, to_probabilities
from robustcheck.data import Dataset
from robustcheck.errors import DataError
from robustcheck.files import write_bytes_atomic
from robustcheck.surrogate.architecture import build_student, describe

SCORE_BATCH = 1024


@dataclass(frozen=True)
class FitSettings:
    epochs: int = 60
    batch_size: int = 64
    learning_rate: float = 3e-3
    holdout: float = 0.2
    """Share of the samples kept out of training to measure agreement on unseen inputs."""
    seed: int = 0
    layout: str = "NCHW"


@dataclass(frozen=True)
class FitResult:
    module: nn.Module
    architecture: str
    target_kind: OutputKind
    n_train: int
    n_holdout: int
    train_agreement: float
    holdout_agreement: float | None
    """``None`` when nothing was held out."""
    agreement: float
    """On every sample."""
    notes: tuple[str, ...] = ()
    """Warnings raised while distilling (by torch or the target), one line each; none reaches
    the terminal."""


def _inputs(dataset: Dataset) -> np.ndarray:
    parts = [batch.x for batch in dataset.batches(SCORE_BATCH)]
    return np.concatenate(parts).astype(np.float32, copy=False)


def _target_probabilities(target: Backend, x: np.ndarray) -> tuple[np.ndarray, OutputKind]:
    scores = np.concatenate(
        [
            target.scores(torch.from_numpy(x[i : i + SCORE_BATCH]).to(target.device)).cpu().numpy()
            for i in range(0, len(x), SCORE_BATCH)
        ]
    )
    if scores.ndim != 2 or scores.shape[1] < 2:
        raise DataError(
            f"{target.info.path}: scores of shape {list(scores.shape)}; distillation needs class "
            "scores [N, C] with C >= 2"
        )
    kind = detect_output_kind(scores)
    probs = to_probabilities(scores, kind)
    if not np.isfinite(probs).all():
        raise DataError(f"{target.info.path}: the target's scores are not finite on this data")
    return probs, kind


def _split(n: int, holdout: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng([seed, n]).permutation(n)
    held = round(holdout * n) if n >= 10 else 0
    return np.sort(order[held:]), np.sort(order[:held])


def _agreement(module: nn.Module, x: torch.Tensor, labels: np.ndarray) -> float:
    with torch.inference_mode():
        predicted = torch.cat(
            [module(x[i : i + SCORE_BATCH]).argmax(1) for i in range(0, len(x), SCORE_BATCH)]
        )
    return float((predicted.numpy() == labels).mean())


def _train(
    student: nn.Module, x: torch.Tensor, soft: torch.Tensor, settings: FitSettings
) -> nn.Module:
    """Minimise the cross-entropy to the target's probabilities (the distillation loss)."""
    order = torch.Generator().manual_seed(settings.seed)
    opt = torch.optim.Adam(student.parameters(), lr=settings.learning_rate)
    student.train()
    for _ in range(settings.epochs):
        perm = torch.randperm(len(x), generator=order)
        for start in range(0, len(x), settings.batch_size):
            rows = perm[start : start + settings.batch_size]
            opt.zero_grad()
            log_p = torch.log_softmax(student(x[rows]), dim=1)
            loss = -(soft[rows] * log_p).sum(dim=1).mean()
            loss.backward()
            opt.step()
    return student.eval()


def fit_surrogate(target: Backend, dataset: Dataset, settings: FitSettings) -> FitResult:
    """Distil ``target`` on ``dataset``'s inputs (their labels are not used). Warnings raised on
    the way (by torch, or by the target itself) are recorded in ``notes``, never printed."""
    with recorded_warnings() as notes:
        result = _fit(target, dataset, settings)
    return replace(result, notes=tuple(notes))


def _fit(target: Backend, dataset: Dataset, settings: FitSettings) -> FitResult:
    x_np = _inputs(dataset)
    probs, kind = _target_probabilities(target, x_np)
    labels = probs.argmax(1)
    train, held = _split(len(x_np), settings.holdout, settings.seed)
    x = torch.from_numpy(x_np)
    soft = torch.from_numpy(probs.astype(np.float32))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(settings.seed)
        student = build_student(x[train], probs.shape[1], settings.layout)
        student = _train(student, x[train], soft[train], settings)
    return FitResult(
        module=student,
        architecture=describe(tuple(x_np.shape[1:]), probs.shape[1]),
        target_kind=kind,
        n_train=len(train),
        n_holdout=len(held),
        train_agreement=_agreement(student, x[train], labels[train]),
        holdout_agreement=_agreement(student, x[held], labels[held]) if len(held) else None,
        agreement=_agreement(student, x, labels),
    )


def save_surrogate(result: FitResult, example: torch.Tensor, path: Path) -> list[str]:
    """Save the student as TorchScript (what ``--surrogate`` and ``scan`` load), atomically;
    return what torch warned about on the way, one line each. Its deprecation of TorchScript is
    left out: robustcheck writes and reads this file itself."""
    buffer = io.BytesIO()
    with recorded_warnings([TORCHSCRIPT_DEPRECATED]) as notes:
        torch.jit.save(torch.jit.trace(result.module, example), buffer)
    write_bytes_atomic(path, buffer.getvalue(), what="surrogate")
    return notes
