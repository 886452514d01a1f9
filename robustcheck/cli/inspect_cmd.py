"""``robustcheck inspect``: what a model file contains and whether robustcheck can scan it."""

from __future__ import annotations

from pathlib import Path

import click

from robustcheck.cli._options import debug_option
from robustcheck.cli._terminal import out


@click.command(name="inspect")
@click.argument("model", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the inspection as JSON.")
@click.option(
    "--allow-external-data", is_flag=True, help="Load external-data files next to the model."
)
@debug_option
def inspect_command(model: Path, as_json: bool, allow_external_data: bool) -> int:
    """Show an ONNX model's inputs, outputs, opsets, op histogram and gradient-twin support.

    Exits 0 when robustcheck can differentiate the model, 3 when it cannot (unsupported or
    non-differentiable operators), so CI can check a model before scanning it.
    """
    from robustcheck.backends.loader import check_model_file, detect_format
    from robustcheck.backends.onnx.inspection import inspect_onnx, render
    from robustcheck.errors import UsageError

    if detect_format(model) != "onnx":
        raise UsageError(
            f"{model}: inspect reads ONNX models; TorchScript and .pt2 are scanned directly"
        )
    check_model_file(model, "onnx")
    inspection = inspect_onnx(model, allow_external_data=allow_external_data)
    out(inspection.model_dump_json(indent=2) + "\n" if as_json else render(inspection))
    return 3 if inspection.unsupported or inspection.non_differentiable else 0
