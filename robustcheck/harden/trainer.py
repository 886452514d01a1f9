"""The training loop: the paper's adversarial objective on a model's own float parameters.

J̃(θ, x, y) = α·J(θ, x, y) + (1 − α)·J(θ, x_adv, y), where x_adv is regenerated at every step
from the current parameters by an attack of the attack core (FGSM: x + ε·sign(∇ₓJ); PGD for
Madry-style training), with the scan's exact loss gradient, ε in raw units and domain clipping.
The attack sees the parameters frozen, so its input gradients record nothing about the weights.

Deterministic on CPU: the data order of epoch k is a permutation seeded by (seed, k), PGD's
random starts are seeded by (seed, step), and a checkpoint written after each epoch resumes
exactly where the run left off.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict

from robustcheck.attacks import FGSM, Attack, BatchContext, InputDomain, correct
from robustcheck.backends.base import Backend
from robustcheck.backends.output import OutputKind
from robustcheck.errors import InputError
from robustcheck.files import read_capped, write_bytes_atomic
from robustcheck.harden.config import HardenConfig
from robustcheck.harden.params import TrainableModel, frozen

log = logging.getLogger(__name__)

EVAL_BATCH = 256
_MAX_CHECKPOINT_BYTES = 4 * 1024**3
_TINY = 1e-12

Progress = Callable[[int, int], None]


class EpochRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")

    epoch: int
    lr: float
    train_loss: float
    """Mean of α·J(x) + (1 − α)·J(x_adv) over the epoch's batches."""
    val_clean_error: float
    val_fgsm_error: float
    """FGSM error at the training ε on the validation data (differentiable path)."""


@dataclass(frozen=True)
class Split:
    """Samples and labels as tensors, in raw data units."""

    x: torch.Tensor
    y: torch.Tensor

    @classmethod
    def of(cls, x: np.ndarray, y: np.ndarray) -> Split:
        dtype = np.float64 if x.dtype == np.float64 else np.float32
        return cls(torch.from_numpy(np.ascontiguousarray(x, dtype=dtype)), torch.from_numpy(y))

    @property
    def n(self) -> int:
        return int(self.y.shape[0])


@dataclass
class Training:
    """What the loop needs besides the settings."""

    model: TrainableModel
    backend: Backend
    """The trainable model as attacks see it (normalisation inside, differentiable path only)."""
    attack: Attack
    kind: OutputKind
    domain: InputDomain | None
    fingerprint: str
    progress: Progress | None = None


@dataclass
class TrainingResult:
    history: list[EpochRecord]
    best_epoch: int
    stopped_early: bool
    resumed_from: int | None = None
    notes: list[str] = field(default_factory=list)


def loss(scores: torch.Tensor, y: torch.Tensor, kind: OutputKind) -> torch.Tensor:
    """Mean cross-entropy; for probability outputs, the NLL of their log."""
    if kind is OutputKind.PROBABILITIES:
        return torch.nn.functional.nll_loss(torch.log(scores.clamp_min(_TINY)), y)
    return torch.nn.functional.cross_entropy(scores, y)


def adversarial(
    run: Training,
    attack: Attack,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    seed: int,
    step: int,
) -> torch.Tensor:
    """``attack``'s examples for the current parameters (detached, in ``x``'s dtype)."""
    with frozen(run.model.parameters.values()):
        ctx = BatchContext(
            model=run.backend,
            x=x,
            y=y,
            kind=run.kind,
            domain=run.domain,
            clean_scores=run.backend.differentiable_scores(x),
            seed=seed,
            batch_start=step,
        )
        adv = attack(ctx, [eps]).adversarial[eps]
    return adv.to(x.dtype).detach()


def evaluate(run: Training, data: Split, eps: float, seed: int) -> tuple[float, float]:
    """Clean and FGSM error on ``data`` through the differentiable path."""
    clean_wrong = adv_wrong = 0
    fgsm = FGSM()
    for start in range(0, data.n, EVAL_BATCH):
        x, y = data.x[start : start + EVAL_BATCH], data.y[start : start + EVAL_BATCH]
        clean_wrong += int((~correct(run.backend.differentiable_scores(x), y)).sum())
        adv = adversarial(run, fgsm, x, y, eps, seed, start)
        adv_wrong += int((~correct(run.backend.differentiable_scores(adv), y)).sum())
    return clean_wrong / data.n, adv_wrong / data.n


def train(run: Training, config: HardenConfig, data: Split, val: Split) -> TrainingResult:
    """Fine-tune ``run.model`` in place; it ends with the parameters of its best epoch."""
    optimizer = _optimizer(config, list(run.model.parameters.values()))
    steps = -(-data.n // config.batch_size)
    scheduler = (
        torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs * steps)
        if config.schedule == "cosine"
        else None
    )
    state = _State(best=run.model.state())
    resumed = None
    if config.checkpoint is not None and config.checkpoint.exists():
        state = _resume(config.checkpoint, run, optimizer, scheduler)
        resumed = state.epoch
    for epoch in range(state.epoch, config.epochs):
        mean_loss = _epoch(run, config, data, optimizer, scheduler, epoch, steps)
        _record(run, config, val, state, mean_loss, float(optimizer.param_groups[0]["lr"]))
        if config.checkpoint is not None:
            _save(config.checkpoint, run, optimizer, scheduler, state)
        if config.patience is not None and state.stale >= config.patience:
            break
    run.model.load_state(state.best)
    return TrainingResult(
        history=state.history,
        best_epoch=state.best_epoch,
        stopped_early=state.epoch < config.epochs,
        resumed_from=resumed,
    )


def _epoch(
    run: Training,
    config: HardenConfig,
    data: Split,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    epoch: int,
    steps: int,
) -> float:
    """One pass over the data in the order seeded by (seed, epoch); the mean objective."""
    order = np.random.default_rng([config.seed, epoch]).permutation(data.n)
    total = 0.0
    for i in range(steps):
        idx = torch.from_numpy(order[i * config.batch_size : (i + 1) * config.batch_size])
        x, y = data.x[idx], data.y[idx]
        adv = adversarial(run, run.attack, x, y, config.eps, config.seed, epoch * steps + i)
        optimizer.zero_grad(set_to_none=True)
        clean_loss = loss(run.backend.forward(x), y, run.kind)
        adv_loss = loss(run.backend.forward(adv), y, run.kind)
        objective = config.alpha * clean_loss + (1 - config.alpha) * adv_loss
        objective.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        total += float(objective.detach())
        if run.progress is not None:
            run.progress(epoch * steps + i + 1, config.epochs * steps)
    return total / steps


def _record(
    run: Training, config: HardenConfig, val: Split, state: _State, mean_loss: float, lr: float
) -> None:
    """Validate the epoch just finished; keep its parameters when its FGSM error is the lowest."""
    clean_error, fgsm_error = evaluate(run, val, config.eps, config.seed)
    state.epoch += 1
    state.history.append(
        EpochRecord(
            epoch=state.epoch,
            lr=lr,
            train_loss=mean_loss,
            val_clean_error=clean_error,
            val_fgsm_error=fgsm_error,
        )
    )
    log.info("epoch %d: %s", state.epoch, state.history[-1])
    if state.best_error is None or fgsm_error < state.best_error:
        state.best, state.best_error = run.model.state(), fgsm_error
        state.best_epoch, state.stale = state.epoch, 0
    else:
        state.stale += 1


def _optimizer(config: HardenConfig, params: list[torch.Tensor]) -> torch.optim.Optimizer:
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=0.9)
    return torch.optim.Adam(params, lr=config.lr)


@dataclass
class _State:
    best: dict[str, torch.Tensor]
    epoch: int = 0
    best_error: float | None = None
    best_epoch: int = 0
    stale: int = 0
    history: list[EpochRecord] = field(default_factory=list)


def _save(path: Path, run: Training, optimizer: Any, scheduler: Any, state: _State) -> None:
    payload = {
        "fingerprint": run.fingerprint,
        "epoch": state.epoch,
        "parameters": run.model.state(),
        "optimizer": optimizer.state_dict(),
        "scheduler": None if scheduler is None else scheduler.state_dict(),
        "best": state.best,
        "best_error": state.best_error,
        "best_epoch": state.best_epoch,
        "stale": state.stale,
        "history": [record.model_dump() for record in state.history],
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    write_bytes_atomic(path, buffer.getvalue())


def _resume(path: Path, run: Training, optimizer: Any, scheduler: Any) -> _State:
    """The state an earlier run of the same settings saved (tensors and numbers only)."""
    data = read_capped(path, _MAX_CHECKPOINT_BYTES, "checkpoint")
    try:
        payload = torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
        if payload["fingerprint"] != run.fingerprint:
            raise InputError(
                f"--checkpoint {path}: written by a different harden run (model, data or settings "
                "differ)",
                hint="delete it or choose another path",
            )
        run.model.load_state(payload["parameters"])
        optimizer.load_state_dict(payload["optimizer"])
        if scheduler is not None:
            scheduler.load_state_dict(payload["scheduler"])
        return _State(
            best=payload["best"],
            epoch=int(payload["epoch"]),
            best_error=payload["best_error"],
            best_epoch=int(payload["best_epoch"]),
            stale=int(payload["stale"]),
            history=[EpochRecord.model_validate(r) for r in payload["history"]],
        )
    except InputError:
        raise
    except Exception as exc:  # torch raises many types for a damaged archive
        raise InputError(f"--checkpoint {path}: not a readable harden checkpoint ({exc})") from None
