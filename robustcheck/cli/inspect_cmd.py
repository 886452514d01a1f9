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
@click.option(
    "--input",
    "input_name",
    default=None,
    metavar="NAME",
    help="The input a scan would attack, for a model with several (as scan's --input).",
)
@debug_option
def inspect_command(
    model: Path, as_json: bool, allow_external_data: bool, input_name: str | None
) -> int:
    """Show an ONNX model's inputs, outputs, opsets, op histogram and gradient-twin support.

    Exits 3 exactly when a white-box scan (fgsm, bim, pgd) would refuse the model, listing every
    reason (several inputs and no --input, an integer input, operators the gradient twin lacks,
    no gradient path), and names the attacks that remain; 0 otherwise, so CI can check a model
    before scanning it.
    """
    from robustcheck.backends.loader import check_model_file, detect_format
    from robustcheck.backends.onnx.inspection import inspect_onnx, render
    from robustcheck.errors import UsageError

    if detect_format(model) != "onnx":
        raise UsageError(
            f"{model}: inspect reads ONNX models; TorchScript and .pt2 are scanned directly"
        )
    check_model_file(model, "onnx")
    from robustcheck.plugins import attack_registry

    inspection = inspect_onnx(model, allow_external_data=allow_external_data, input_name=input_name)
    registry, _ = attack_registry()
    free = [n for n in registry.names() if n != "noise" and not registry.get(n).needs_gradient]
    inspection = inspection.model_copy(
        update={
            "gradient_free_attacks": free,
            "certification_blockers": _certification_blockers(model, allow_external_data),
        }
    )
    out(inspection.model_dump_json(indent=2) + "\n" if as_json else render(inspection))
    return 3 if inspection.blockers else 0


def _certification_blockers(model: Path, allow_external_data: bool) -> list[str]:
    """Every node without a bound rule (``--certify``), or why the graph cannot be read."""
    from robustcheck.backends.onnx.model_file import read_onnx
    from robustcheck.certify import blockers
    from robustcheck.errors import RobustcheckError

    try:
        return blockers(read_onnx(model, allow_external_data=allow_external_data))
    except RobustcheckError as exc:  # a graph the bound builder cannot read at all
        return [exc.one_line()]
