"""Every setting of ``robustcheck harden``, declared once: the input contract is the scan's
(:class:`~robustcheck.settings.contract.ContractSettings`), the rest is training's own."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator

from robustcheck.settings._field import Flag, setting
from robustcheck.settings.contract import ContractSettings

PositiveFloat = Annotated[float, Field(gt=0)]


class HardenSettings(ContractSettings):
    """What ``robustcheck harden`` can be told."""

    model: Annotated[Path, Flag(argument=True, kind="file")] = setting(
        help="The model to fine-tune (.onnx, .pt, .pt2); it is only read."
    )
    data: Path = setting(help="Labelled training samples.")
    eps: float = setting(help="Training L∞ budget, in raw data units.", gt=0)
    output: Annotated[Path, Flag(names=("-o", "--output"), kind="file")] = setting(
        help="Where to write the hardened model."
    )
    alpha: Annotated[float, Flag(show_default=True)] = setting(
        0.5, "Weight of the clean loss: α·J(x) + (1 − α)·J(x_adv).", ge=0, le=1
    )
    attack: Annotated[str, Flag(metavar="NAME[:KEY=VALUE,...]", show_default=True)] = setting(
        "fgsm",
        "How training examples are made, from the current weights at every step: fgsm (the "
        "paper) or pgd:steps=7,early_stop=false (Madry et al., stronger and slower).",
    )
    epochs: Annotated[int, Flag(show_default=True)] = setting(5, "", ge=1, le=10_000)
    lr: Annotated[float, Flag(show_default=True)] = setting(1e-3, "Learning rate.", gt=0)
    optimizer: Annotated[Literal["adam", "sgd"], Flag(show_default=True)] = setting("adam", "")
    schedule: Annotated[Literal["constant", "cosine"], Flag(show_default=True)] = setting(
        "constant", "Learning-rate schedule over all steps."
    )
    batch_size: Annotated[int, Flag(show_default=True)] = setting(64, "", ge=1)
    seed: Annotated[int, Flag(show_default=True)] = setting(0, "Data order and PGD starts.")
    val: Annotated[Path | None, Flag(kind="path")] = setting(
        None,
        "Validation samples for early stopping and the before/after scans "
        "[default: a seeded --val-fraction of --data, held out from training].",
    )
    val_fraction: float = setting(
        0.2,
        "Without --val: the share of --data held out (seeded) for early stopping and the scans.",
        gt=0,
        lt=1,
    )
    patience: int | None = setting(
        None,
        "Stop after N epochs without a lower validation FGSM error; the best epoch is kept.",
        ge=1,
    )
    checkpoint: Annotated[Path | None, Flag(kind="file")] = setting(
        None,
        "Save the training state after each epoch; rerunning the same command resumes from it.",
    )
    max_clean_drop: Annotated[float, Flag(show_default=True)] = setting(
        0.03,
        "Fail (exit 1) when clean accuracy drops by more than this (0.03 = 3 points).",
        ge=0,
        le=1,
    )
    scan_eps: list[PositiveFloat] = setting(
        [], "More ε for the before/after scans (the training ε and the policy's always run)."
    )
    policy_ref: Annotated[
        str | None, Flag(names=("--policy",), metavar="FILE|builtin:NAME", kind="policy")
    ] = setting(None, "Policy both scans are judged by [default: builtin:default].")
    json_path: Annotated[Path | None, Flag(names=("--json",), kind="file")] = setting(
        None, "Write the comparison as JSON here."
    )
    progress: Annotated[bool | None, Flag(secondary="--no-progress")] = setting(
        None, "Progress bar on stderr (default: on for a terminal)."
    )

    @field_validator("scan_eps")
    @classmethod
    def _unique(cls, eps: list[float]) -> list[float]:
        return sorted(set(eps))
