"""``robustcheck surrogate fit``: distil a target into a small torch model for ``--surrogate``."""

from __future__ import annotations

from pathlib import Path

import click

from robustcheck.cli._options import FiniteFloat, debug_option
from robustcheck.cli._terminal import err, out
from robustcheck.vocabulary import LAYOUTS


@click.group(name="surrogate")
def surrogate_group() -> None:
    """Surrogate models for transfer attacks (scan --surrogate)."""


@surrogate_group.command(name="fit")
@click.argument("target", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--data",
    "data",
    type=click.Path(path_type=Path),
    required=True,
    help="Inputs to distil on (.npz, .npy, .csv, image folder); their labels are not used.",
)
@click.option(
    "--out",
    "out_path",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="Where to save the surrogate (TorchScript, e.g. surrogate.pt).",
)
@click.option("--epochs", type=click.IntRange(min=1, max=100_000), default=60, show_default=True)
@click.option(
    "--holdout",
    type=FiniteFloat(0, 1, max_open=True),
    default=0.2,
    show_default=True,
    help="Share of the data held out of training to measure agreement on unseen inputs.",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--min-agreement",
    type=FiniteFloat(0, 1),
    default=None,
    help="Exit 1 when the held-out agreement (else the training one) is below this.",
)
@click.option("--data-format", metavar="NAME", help="Override the data format guessed.")
@click.option("--x-key", default="x", show_default=True, help="Input array of an .npz.")
@click.option("--label-column", help="CSV: the label column, left out of the features.")
@click.option("--feature-column", "feature_columns", multiple=True, help="CSV: a feature column.")
@click.option(
    "--layout", type=click.Choice(LAYOUTS), default="NCHW", show_default=True,
    help="Axis order of image inputs (the surrogate reads the data's own layout).",
)  # fmt: skip
@click.option("--output", "output_name", metavar="NAME", help="ONNX: the class-score output.")
@debug_option
def fit_command(
    target: Path,
    data: Path,
    out_path: Path,
    epochs: int,
    holdout: float,
    seed: int,
    min_agreement: float | None,
    data_format: str | None,
    x_key: str,
    label_column: str | None,
    feature_columns: tuple[str, ...],
    layout: str,
    output_name: str | None,
) -> int:
    """Train a small torch model on TARGET's own predictions (distillation) and save it.

    An MLP for feature vectors, a small CNN for images ([C, H, W] samples). Only TARGET's scores
    are read, so any model onnxruntime runs can be distilled, a random forest included. Prints
    the agreement (same top-1 class) with TARGET on the training and the held-out split.

    \b
    Example:
      robustcheck surrogate fit forest.onnx --data train.npz --out surrogate.pt
      robustcheck scan forest.onnx --data test.npz --eps 0.1 --surrogate surrogate.pt
    """
    import torch

    from robustcheck._warnings import TORCHSCRIPT_DEPRECATED, recorded_warnings
    from robustcheck.data import load_dataset
    from robustcheck.engine.transfer import load_target
    from robustcheck.errors import RuntimeEnvironmentError, UsageError
    from robustcheck.files import file_sha256
    from robustcheck.surrogate import FitSettings, fit_surrogate, save_surrogate

    if out_path.resolve() in (target.resolve(), data.resolve()):
        raise UsageError(f"--out {out_path}: would overwrite an input")
    with recorded_warnings([TORCHSCRIPT_DEPRECATED]) as loading:
        backend = load_target(target, device="cpu", output=output_name)
        dataset = load_dataset(
            data,
            data_format=data_format,
            x_key=x_key,
            label_column=label_column,
            feature_columns=list(feature_columns) or None,
            layout=layout,  # type: ignore[arg-type]
        )
    _notes("reading the target and the data", loading)
    settings = FitSettings(epochs=epochs, holdout=holdout, seed=seed, layout=layout)
    result = fit_surrogate(backend, dataset, settings)
    _notes("distilling the target", result.notes)
    example = torch.from_numpy(next(dataset.batches(2)).x.astype("float32"))
    try:
        _notes("saving the surrogate", save_surrogate(result, example, out_path))
    except OSError as exc:
        raise RuntimeEnvironmentError(f"{out_path}: cannot write ({exc.strerror})") from None
    held = (
        "nothing held out"
        if result.holdout_agreement is None
        else f"{result.holdout_agreement:.1%} on {result.n_holdout} held-out samples"
    )
    out(
        f"{out_path}: {result.architecture} distilled from {target} "
        f"({result.target_kind.value}); agreement with the target: "
        f"{result.train_agreement:.1%} on {result.n_train} training samples, {held}\n"
        f"sha256 {file_sha256(out_path)}; use it with: robustcheck scan {target} "
        f"--surrogate {out_path} ..."
    )
    judged = (
        result.holdout_agreement if result.holdout_agreement is not None else result.train_agreement
    )
    if min_agreement is not None and judged < min_agreement:
        out(f"agreement {judged:.1%} is below --min-agreement {min_agreement:g}")
        return 1
    return 0


def _notes(doing: str, warned: list[str] | tuple[str, ...]) -> None:
    """Warnings raised by a dependency (or the target) as robustcheck's own one-line notes on
    stderr."""
    for note in warned:
        err(f"robustcheck: note: a warning was raised while {doing}: {note}")
