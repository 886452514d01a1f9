"""``robustcheck harden``: parse flags, call :func:`robustcheck.harden.harden`, print the comparison."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from robustcheck.cli._options import FiniteFloat, debug_option, flag_errors
from robustcheck.cli._terminal import out, progress_bar
from robustcheck.vocabulary import LAYOUTS

_POSITIVE = FiniteFloat(min=0, min_open=True)
_FILE = click.Path(path_type=Path, dir_okay=False)


@click.command()
@click.argument("model", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--data", required=True, type=click.Path(path_type=Path), help="Labelled training samples."
)
@click.option("--eps", required=True, type=_POSITIVE, help="Training L∞ budget, in raw data units.")
@click.option(
    "-o", "--output", required=True, type=_FILE, help="Where to write the hardened model."
)
@click.option(
    "--alpha",
    type=FiniteFloat(0, 1),
    default=0.5,
    show_default=True,
    help="Weight of the clean loss: α·J(x) + (1 − α)·J(x_adv).",
)
@click.option(
    "--attack",
    default="fgsm",
    show_default=True,
    metavar="NAME[:KEY=VALUE,...]",
    help="How training examples are made, from the current weights at every step: fgsm (the "
    "paper) or pgd:steps=7,early_stop=false (Madry et al., stronger and slower).",
)
@click.option("--epochs", type=click.IntRange(1, 10_000), default=5, show_default=True)
@click.option("--lr", type=_POSITIVE, default=1e-3, show_default=True, help="Learning rate.")
@click.option("--optimizer", type=click.Choice(["adam", "sgd"]), default="adam", show_default=True)
@click.option(
    "--schedule",
    type=click.Choice(["constant", "cosine"]),
    default="constant",
    show_default=True,
    help="Learning-rate schedule over all steps.",
)
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True, help="Data order and PGD starts.")
@click.option(
    "--val",
    type=click.Path(path_type=Path),
    help="Validation samples for early stopping and the before/after scans "
    "[default: a seeded --val-fraction of --data, held out from training].",
)
@click.option("--val-fraction", type=FiniteFloat(0, 1, min_open=True, max_open=True), default=0.2)
@click.option(
    "--patience",
    type=click.IntRange(min=1),
    help="Stop after N epochs without a lower validation FGSM error; the best epoch is kept.",
)
@click.option(
    "--checkpoint",
    type=_FILE,
    help="Save the training state after each epoch; rerunning the same command resumes from it.",
)
@click.option(
    "--max-clean-drop",
    type=FiniteFloat(0, 1),
    default=0.03,
    show_default=True,
    help="Fail (exit 1) when clean accuracy drops by more than this (0.03 = 3 points).",
)
@click.option(
    "--scan-eps",
    type=_POSITIVE,
    multiple=True,
    help="More ε for the before/after scans (the training ε and the policy's always run).",
)
@click.option(
    "--policy",
    "policy_ref",
    metavar="FILE|builtin:NAME",
    help="Policy both scans are judged by [default: builtin:default].",
)
@click.option(
    "--input-range",
    type=(FiniteFloat(), FiniteFloat()),
    default=None,
    metavar="LO HI",
    help="Valid input domain [default: [0, 1] when the data lies in it].",
)
@click.option("--mean", metavar="M[,M...]", help="Per-channel mean subtracted outside the model.")
@click.option("--std", metavar="S[,S...]", help="Per-channel std divided by outside the model.")
@click.option("--layout", type=click.Choice(LAYOUTS), default="NCHW", show_default=True)
@click.option(
    "--model-format",
    type=click.Choice(["torchscript", "torch.export", "onnx"]),
    default=None,
    help="Override the format guessed from the extension.",
)
@click.option("--x-key", default="x", show_default=True, help="Input array in an .npz.")
@click.option("--y-key", default=None, help="Label array in an .npz [default: y].")
@click.option("--allow-low-accuracy", is_flag=True, help="Scan even near-chance models.")
@click.option("--json", "json_path", type=_FILE, help="Write the comparison as JSON here.")
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Progress bar on stderr (default: on for a terminal).",
)
@debug_option
def harden(**opts: Any) -> int:
    """Fine-tune MODEL against adversarial examples, then scan it before and after.

    Trains the model's float parameters with the paper's objective, the adversarial examples
    regenerated from the current weights at every step with the same input contract as scan.
    ONNX in, ONNX out: same graph, new weights, confirmed on onnxruntime. Exits 1 when the
    hardened model is not better on the gate or loses more than --max-clean-drop accuracy.

    \b
    Example:
      robustcheck harden model.onnx --data train.npz --val val.npz --eps 0.1 -o hardened.onnx
    """
    from robustcheck.cli.scan import _floats
    from robustcheck.files import write_text_atomic
    from robustcheck.harden import HardenConfig
    from robustcheck.harden import harden as run_harden
    from robustcheck.harden.report import render
    from robustcheck.policy.load import load_builtin, load_reference

    ref = opts["policy_ref"]
    policy = load_reference(ref) if ref is not None else load_builtin("default")
    with flag_errors():
        config = HardenConfig(
            model=opts["model"],
            data=opts["data"],
            output=opts["output"],
            eps=opts["eps"],
            alpha=opts["alpha"],
            attack=opts["attack"],
            epochs=opts["epochs"],
            lr=opts["lr"],
            optimizer=opts["optimizer"],
            schedule=opts["schedule"],
            batch_size=opts["batch_size"],
            seed=opts["seed"],
            val=opts["val"],
            val_fraction=opts["val_fraction"],
            patience=opts["patience"],
            checkpoint=opts["checkpoint"],
            max_clean_drop=opts["max_clean_drop"],
            scan_eps=list(opts["scan_eps"]),
            policy=policy,
            policy_source=ref or "default",
            input_range=opts["input_range"],
            mean=_floats("--mean", opts["mean"]),
            std=_floats("--std", opts["std"]),
            layout=opts["layout"],
            model_format=opts["model_format"],
            x_key=opts["x_key"],
            y_key=opts["y_key"],
            allow_low_accuracy=opts["allow_low_accuracy"],
        )
    with progress_bar(opts["progress"], "hardening") as callback:
        report = run_harden(config, progress=callback)
    if opts["json_path"] is not None:
        write_text_atomic(opts["json_path"], report.model_dump_json(indent=2) + "\n")
    out(render(report))
    return report.exit_code
