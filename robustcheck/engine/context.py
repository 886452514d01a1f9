"""What a scan learnt from loading the model and the data that the report needs besides the tally.

A shard's partial result carries it, so ``report merge`` builds the report without the model.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from robustcheck.backends.base import ModelInfo
from robustcheck.reports.model import DataSection, InputSection, Interval, SurrogateSection


class ScanContext(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: dict[str, Any]
    """The backend's :class:`ModelInfo`, as JSON."""
    data: DataSection
    notes: list[str]
    """Choices and skipped plugins worth a warning (model, data, attacks, input range)."""
    input_range: Interval | None
    input_range_source: Literal["declared", "default", "none"]
    input: InputSection
    input_shape: list[int | None]
    """The model's input shape as reported (dynamic dimensions filled in from the data)."""
    normalised: bool
    """Whether ``--mean``/``--std`` normalise outside the model."""
    value_range: tuple[float, float] | None
    """The data's smallest and largest value (``None`` when not finite)."""
    batch_size: int | None = None
    """The size ``--batch-size auto`` chose (``None``: the configured size)."""
    surrogate: SurrogateSection | None = None
    """The transfer attack's surrogate, if any."""

    @classmethod
    def of(cls, info: ModelInfo, **fields: Any) -> ScanContext:
        model = asdict(info)
        model.pop("input_consumers", None)
        return cls(model=model, **fields)

    @property
    def info(self) -> ModelInfo:
        fields = dict(self.model)
        fields["input_shape"] = tuple(fields["input_shape"])
        for name in ("notes", "blockers", "side_inputs"):
            fields[name] = tuple(fields.get(name, ()))
        return ModelInfo(**fields)
