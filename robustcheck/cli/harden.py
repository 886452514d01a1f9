"""``robustcheck harden``: parse flags, call :func:`robustcheck.harden.harden`, print the comparison."""

from __future__ import annotations

from typing import Any

import click

from robustcheck.cli._options import debug_option, flag_errors
from robustcheck.cli._settings import settings_options
from robustcheck.cli._terminal import out, progress_bar
from robustcheck.settings import HardenSettings


@click.command()
@settings_options(HardenSettings)
@debug_option
def harden(**values: Any) -> int:
    """Fine-tune MODEL against adversarial examples, then scan it before and after.

    Trains the model's float parameters with the paper's objective, the adversarial examples
    regenerated from the current weights at every step with the same input contract as scan.
    ONNX in, ONNX out: same graph, new weights, confirmed on onnxruntime. Exits 1 when the
    hardened model is not better on the gate or loses more than --max-clean-drop accuracy.

    \b
    Example:
      robustcheck harden model.onnx --data train.npz --val val.npz --eps 0.1 -o hardened.onnx
    """
    from robustcheck.files import write_text_atomic
    from robustcheck.harden import harden as run_harden
    from robustcheck.harden.config import resolve_harden
    from robustcheck.harden.report import render

    with flag_errors(HardenSettings):
        settings = HardenSettings.model_validate(values)
    config = resolve_harden(settings)
    with progress_bar(settings.progress, "hardening") as callback:
        report = run_harden(config, progress=callback)
    if settings.json_path is not None:
        write_text_atomic(settings.json_path, report.model_dump_json(indent=2) + "\n")
    out(render(report))
    return report.exit_code
