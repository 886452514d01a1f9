"""What a user may say about how to read their data; each loader declares which of it applies."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

from robustcheck.vocabulary import ClassOrder, Layout

FLAGS: dict[str, str] = {
    "x_key": "--x-key",
    "y_key": "--y-key",
    "label_column": "--label-column",
    "feature_columns": "--feature-column",
    "labels_file": "--labels-file",
    "image_size": "--image-size",
    "layout": "--layout",
    "class_order": "--class-order",
    "tokenizer": "--tokenizer",
    "text_column": "--text-column",
}
"""The command-line flag for each option, for error messages."""


DEFAULT_X_KEY = "x"
_HINTS = frozenset({"x_key_given", "input_name"})
"""Not settings of their own (whether ``x_key`` was named; what the scan knows about the model):
never refused as unused."""


@dataclass(frozen=True)
class LoadOptions:
    x_key: str = DEFAULT_X_KEY
    x_key_given: bool = False
    """Whether the user named ``x_key`` (``--x-key``); if not, an ``.npz`` is read from the array
    named after ``input_name`` when it has one."""
    input_name: str | None = None
    """The name of the model input under attack (ONNX), whose array an ``.npz`` may hold."""
    y_key: str | None = None
    """None: ``y`` when the file has it, else no labels; a named key must exist."""
    label_column: str | None = None
    feature_columns: tuple[str, ...] | None = None
    labels_file: Path | None = None
    image_size: tuple[int, int] | None = None
    """(height, width) after resizing the shorter side and center-cropping."""
    layout: Layout = "NCHW"
    class_order: ClassOrder | None = None
    """``None``: ``classes.txt`` when present, else sorted folder names."""
    tokenizer: Path | None = None
    """Text: the model's ``tokenizer.json``."""
    text_column: str | None = None

    def changed(self) -> list[str]:
        """Names of the options that differ from their defaults."""
        default = LoadOptions()
        return [
            f.name
            for f in fields(self)
            if f.name not in _HINTS and getattr(self, f.name) != getattr(default, f.name)
        ]
