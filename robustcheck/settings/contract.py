"""Settings of the input contract, shared by ``scan`` and ``harden``: the data's keys, the valid
domain, the normalisation applied outside the model, the layout and the model format."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, field_validator

from robustcheck.settings._field import Flag, setting
from robustcheck.vocabulary import Layout, ModelFormat


class ContractSettings(BaseModel):
    # protected_namespaces: pydantic < 2.10 warns about the field model_format otherwise.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, protected_namespaces=())

    input_range: Annotated[tuple[float, float] | None, Flag(metavar="LO HI")] = setting(
        None,
        "Valid input domain; adversarial inputs are clipped to it. "
        "Default: [0, 1] when the data lies in it, else no clipping.",
    )
    mean: Annotated[list[float] | None, Flag(metavar="M[,M...]", kind="csv-floats")] = setting(
        None,
        "Per-channel mean subtracted outside the model, in raw units; applied inside the "
        "gradient path.",
    )
    std: Annotated[list[float] | None, Flag(metavar="S[,S...]", kind="csv-floats")] = setting(
        None, "Per-channel std divided by outside the model (each > 0)."
    )
    layout: Layout | None = setting(
        None, "Axis order of image inputs [default: NCHW, or the policy's input.layout]."
    )
    model_format: ModelFormat | None = setting(
        None, "Override the format guessed from the extension."
    )
    x_key: str | None = setting(
        None,
        "Name of the input array in the .npz [default: the array named after the attacked ONNX "
        "input when there is one (it wins over an x array too; the report says so), else x].",
    )
    y_key: str | None = setting(
        None,
        "Name of the label array in the .npz [default: y]; it must exist when named. Without "
        "a label array (and no --y-key), clean predictions are the labels.",
    )
    allow_low_accuracy: Annotated[bool, Flag(file=False)] = setting(
        False, "Scan even when clean accuracy is near chance (usually a preprocessing mismatch)."
    )

    @field_validator("std")
    @classmethod
    def _positive_std(cls, std: list[float] | None) -> list[float] | None:
        if std is not None and any(s <= 0 for s in std):
            raise ValueError("every std must be greater than 0")
        return std

    @field_validator("input_range")
    @classmethod
    def _ordered(cls, rng: tuple[float, float] | None) -> tuple[float, float] | None:
        if rng is not None and not rng[0] < rng[1]:
            raise ValueError("LO must be less than HI")
        return rng
