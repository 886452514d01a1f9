"""``robustcheck scan``: parse flags, call :func:`robustcheck.scan.runner.run`, write reports."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from robustcheck.cli._options import (
    BatchSize,
    FiniteFloat,
    LazyHelpOption,
    debug_option,
    flag_errors,
)
from robustcheck.cli._project import effective
from robustcheck.cli._terminal import err, out, progress_bar
from robustcheck.vocabulary import (
    DEPLOYED_DTYPES,
    DEVICES,
    LAYOUTS,
    NOISE_BASELINE,
    PRECISIONS,
    REPORT_FORMATS,
)

if TYPE_CHECKING:
    from robustcheck.cli._outputs import StepSummary
    from robustcheck.cli.config_file import ProjectConfig

_POSITIVE = FiniteFloat(min=0, min_open=True)
_REPORT_PATH = click.Path(path_type=Path, allow_dash=True)
"""A report target: ``-`` is standard output; an existing non-regular file is refused (exit 5)."""


def _attack_help() -> str:
    """The built-in attacks as the registry declares them (entry-point metadata: listing them
    imports no attack, so no torch), the noise baseline aside: it always runs."""
    from robustcheck.registry import ATTACKS, builtin_names

    names = [n for n in builtin_names(ATTACKS) if n != NOISE_BASELINE]
    listed = f"Built-ins: {', '.join(names)}" if names else "Built-ins: see robustcheck plugins"
    return (
        "An attack to run; repeat for several (e.g. --attack fgsm --attack pgd:steps=20,"
        f"restarts=2). {listed} (plus plugins: robustcheck plugins). Default: the policy's "
        "attacks, else fgsm. See docs/attacks.md."
    )


@click.command()
@click.argument("model", type=click.Path(path_type=Path, dir_okay=True), required=False)
@click.option(
    "--data",
    "data",
    type=click.Path(path_type=Path),
    help="Labelled samples: .npz (x, y), .npy (+ --labels-file), .csv, or an image folder.",
)
@click.option(
    "--eps",
    "eps",
    type=_POSITIVE,
    multiple=True,
    help="L∞ budget in raw data units; repeat for a sweep (one gradient serves all). "
    "The ε of the policy's budgets are always scanned too.",
)
@click.option(
    "--eps-units",
    type=click.Choice(["raw", "std"]),
    default="raw",
    show_default=True,
    help="raw: ε in the data's units for every feature; std: feature i's budget is ε times its "
    "standard deviation on the scanned data (tabular features of very different scales).",
)
@click.option(
    "--eps-scale",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    metavar="FILE",
    help="A .npy of per-feature multipliers (shaped like a sample): feature i's budget is "
    "ε·scale_i. To give ε per feature directly, save that vector and pass --eps 1.",
)
@click.option(
    "--batch-size",
    type=BatchSize(),
    default=256,
    show_default=True,
    help="Samples per batch, or auto: the largest batch that fits on the GPU (probed once, "
    "halving on out-of-memory); on the CPU auto is 256. The report records the size used: the "
    "noise baseline and random starts are seeded per batch.",
)
@click.option(
    "--precision",
    type=click.Choice(PRECISIONS),
    default="fp32",
    show_default=True,
    help="Of the gradient computation: bf16 runs it under bfloat16 autocast (faster on recent "
    "GPUs; counts may change slightly). The deployed model always scores in its own dtype.",
)
@click.option(
    "--threads",
    type=click.IntRange(min=1, max=1024),
    default=None,
    help="Intra-op threads for torch and onnxruntime [default: up to 4]. Results are "
    "reproducible for a fixed count; on a loaded CI runner 1 is often fastest.",
)
@click.option(
    "--high-confidence",
    "high_confidence",
    type=FiniteFloat(0, 1, min_open=True),
    default=0.9,
    show_default=True,
    help="τ: an adversarial error counts as high-confidence when its top probability ≥ τ.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the noise baseline.")
@click.option(
    "--input-range",
    type=(FiniteFloat(), FiniteFloat()),
    default=None,
    metavar="LO HI",
    help="Valid input domain; adversarial inputs are clipped to it. "
    "Default: [0, 1] when the data lies in it, else no clipping.",
)
@click.option(
    "--output-kind",
    type=click.Choice(["auto", "logits", "probabilities"]),
    default="auto",
    show_default=True,
    help="What the model returns; auto detects probabilities.",
)
@click.option(
    "--model-format",
    type=click.Choice(["torchscript", "torch.export", "onnx"]),
    default=None,
    help="Override the format guessed from the extension.",
)
@click.option(
    "--surrogate",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    metavar="MODEL",
    help="Transfer attack: craft the perturbations on this model (.onnx, .pt, .pt2; it reads the "
    "same raw inputs) and score them on MODEL, which is never differentiated. The error found "
    "is a lower bound for MODEL. `robustcheck surrogate fit` trains one. See docs/attacks.md.",
)
@click.option(
    "--device",
    type=click.Choice(DEVICES),
    default="auto",
    show_default=True,
    help="Where the model and the attacks run; auto uses CUDA only when a GPU is present.",
)
@click.option(
    "--output",
    "output_name",
    default=None,
    metavar="NAME",
    help="ONNX: the output holding class scores (default: detected).",
)
@click.option(
    "--input",
    "input_name",
    default=None,
    metavar="NAME",
    help="ONNX: the input to attack, for a model with several; the data (.npz) holds every input "
    "as an array named after it (the others fed unchanged); the attacked one may also be x.",
)
@click.option(
    "--allow-external-data",
    is_flag=True,
    help="ONNX: load weights from external-data files inside the model's directory.",
)
@click.option(
    "--fidelity-tolerance",
    type=_POSITIVE,
    default=None,
    help="Largest probability difference allowed between the gradient path and the deployed "
    "runtime [default: 1e-3; 1e-2 for float16 models; 5e-2 with --precision bf16].",
)
@click.option(
    "--allow-low-fidelity",
    is_flag=True,
    help="Keep the verdict when the gradient path disagrees with the runtime beyond the tolerance.",
)
@click.option(
    "--data-format",
    metavar="NAME",
    help="Override the data format guessed from the extension: npz, npy, csv, images, or a "
    "plugin's (robustcheck plugins lists them).",
)
@click.option(
    "--labels-file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Labels for a .npy or a flat image folder (.npy, .txt or .csv).",
)
@click.option("--label-column", help="CSV: the label column [default: label].")
@click.option(
    "--feature-column",
    "feature_columns",
    multiple=True,
    help="CSV: a feature column; repeat to select several [default: all but the label].",
)
@click.option(
    "--image-size",
    type=(int, int),
    metavar="H W",
    help="Image folders: resize and centre-crop to H×W.",
)
@click.option(
    "--layout",
    type=click.Choice(LAYOUTS),
    help="Axis order of image inputs [default: NCHW, or the policy's input.layout].",
)
@click.option(
    "--class-order", type=click.Choice(["sorted", "file"]), help="Image folders: class index order."
)
@click.option(
    "--limit", type=click.IntRange(min=1), help="Scan a stratified sample of N samples (seeded)."
)
@click.option(
    "--per-class", type=click.IntRange(min=1), help="Scan K samples of each class (seeded)."
)
@click.option(
    "--mean",
    metavar="M[,M...]",
    help="Per-channel mean subtracted outside the model, in raw units; applied inside the gradient path.",
)
@click.option(
    "--std", metavar="S[,S...]", help="Per-channel std divided by outside the model (each > 0)."
)
@click.option(
    "--deployed-dtype",
    type=click.Choice(DEPLOYED_DTYPES),
    help="What the deployed model receives; adversarial inputs are rounded to it (uint8 needs --input-range).",
)
@click.option(
    "--allow-low-accuracy",
    is_flag=True,
    help="Scan even when clean accuracy is near chance (usually a preprocessing mismatch).",
)
@click.option(
    "--x-key",
    default=None,
    help="Name of the input array in the .npz [default: the array named after the attacked ONNX "
    "input when there is one (it wins over an x array too; the report says so), else x].",
)
@click.option(
    "--y-key",
    default=None,
    help="Name of the label array in the .npz [default: y]; it must exist when named. Without "
    "a label array (and no --y-key), clean predictions are the labels.",
)
@click.option(
    "--class-names",
    "class_names_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="A text file with one class name per line (label 0 first), so reports say '0°/180°', "
    "not '0/1'. An .npz may carry them as a 'classes' array instead.",
)
@click.option(
    "--channel-order",
    type=click.Choice(["RGB", "BGR"]),
    default="RGB",
    show_default=True,
    help="Channel order of 3-channel inputs, for showing example images.",
)
@click.option("--no-noise", is_flag=True, help="Skip the random-sign noise baseline.")
@click.option(
    "--noise-eps",
    type=click.Choice(["all", "largest"]),
    default="all",
    show_default=True,
    help="Run the noise baseline at every ε, or only at the largest (and any ε a policy rule on "
    "noise names): a 5-ε sweep then costs about a fifth less.",
)
@click.option(
    "--attack",
    "attacks",
    multiple=True,
    metavar="NAME[:KEY=VALUE,...]",
    cls=LazyHelpOption,
    help_text=_attack_help,
)
@click.option(
    "--tokenizer",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Text models: the model's tokenizer.json (needs robustcheck-gate[text]); tokenizes .jsonl/"
    ".csv text data and names special tokens and the vocabulary.",
)
@click.option(
    "--text-column",
    metavar="NAME",
    help="Text data: the field or column holding the text [default: text].",
)
@click.option(
    "--tokens",
    "tokens",
    type=click.IntRange(min=1, max=64),
    multiple=True,
    help="Text models: also run HotFlip token substitutions with at most K swapped tokens per "
    "text; repeat for several budgets (--tokens 1 --tokens 2 --tokens 4). Each adversarial text "
    "is scored on its token ids. See docs/text.md.",
)
@click.option(
    "--find-min-eps",
    is_flag=True,
    help="Per sample, the smallest ε up to the largest --eps that fools the model along the FGSM "
    "direction (bisection, forwards only): median, percentiles and a histogram.",
)
@click.option(
    "--policy",
    "policy_ref",
    metavar="FILE|builtin:NAME",
    help="ε-budget policy (YAML). Default: builtin:default, which fails when FGSM flips more than "
    "half of the correctly classified samples at any ε.",
)
@click.option(
    "--baseline",
    type=click.Path(path_type=Path, dir_okay=False),
    help="An earlier JSON report of the same policy, for its max_increase rules.",
)
@click.option("--strict", is_flag=True, help="Warnings fail the gate.")
@click.option(
    "--exit-zero",
    "--report-only",
    "exit_zero",
    is_flag=True,
    help="Report only: exit 0 when the gate fails (errors still do not).",
)
@click.option(
    "--max-error-rate",
    type=FiniteFloat(0, 1),
    default=None,
    help="Gate without a policy file: fail (exit 1) when the FGSM adversarial error rate at any "
    "ε exceeds this.",
)
@click.option(
    "--json",
    "json_path",
    type=_REPORT_PATH,
    help="Write the JSON report (the source of truth) here (- for standard output).",
)
@click.option("--junit", "junit_path", type=_REPORT_PATH, help="Write a JUnit XML report here.")
@click.option(
    "--markdown", "markdown_path", type=_REPORT_PATH, help="Write a Markdown summary here."
)
@click.option(
    "--html", "html_path", type=_REPORT_PATH, help="Write a self-contained HTML report here."
)
@click.option(
    "--checkpoint",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Record each finished batch here; rerunning the same scan resumes from it.",
)
@click.option(
    "--shard",
    metavar="I/N",
    help="Scan only part I of N of the data (whole batches) and write a partial result to --json; "
    "`robustcheck report merge` joins the N parts into the report. See docs/scale.md.",
)
@click.option(
    "--executor",
    type=click.Choice(["local", "ray"]),
    default="local",
    show_default=True,
    help="ray: run --shards parts as Ray tasks (pip install 'robustcheck-gate[ray]') and merge them.",
)
@click.option(
    "--ray-address",
    metavar="ADDR",
    help="Ray cluster to join (e.g. ray://head:10001 or auto) [default: start a local Ray].",
)
@click.option(
    "--shards",
    type=click.IntRange(min=1),
    default=None,
    help="With --executor ray: the number of parts [default: the cluster's CPUs (GPUs for "
    "--device cuda)].",
)
@click.option(
    "--timeout",
    "timeout_s",
    type=_POSITIVE,
    default=3600,
    show_default=True,
    help="Stop the scan after this many seconds (exit 5).",
)
@click.option(
    "--max-memory",
    "max_memory_mb",
    type=click.IntRange(min=1),
    default=None,
    metavar="MIB",
    help="Stop the scan when its resident memory exceeds this (exit 5) [default: 80% of RAM].",
)
@click.option(
    "--no-isolation",
    is_flag=True,
    help="Run the model in this process (no timeout or memory cap; for debugging).",
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Progress bar on stderr (default: on for a terminal, off when CI is set).",
)
@click.option(
    "--config",
    "config",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Project configuration (YAML, or a pyproject.toml's [tool.robustcheck]). "
    "Default: robustcheck.yaml, else pyproject.toml, in the working directory or the nearest "
    "folder above it, up to the repository root.",
)
@click.option("--no-config", is_flag=True, help="Ignore the project configuration.")
@click.option(
    "--no-step-summary",
    is_flag=True,
    help="Do not append the Markdown summary (or the error) to $GITHUB_STEP_SUMMARY.",
)
@debug_option
@click.pass_context
def scan(ctx: click.Context, **_: Any) -> int:
    """Scan MODEL (.onnx, TorchScript .pt/.ts, or torch.export .pt2) with FGSM.

    Loading a TorchScript or .pt2 file runs code from it: scan only models you would run anyway.

    Any flag (and MODEL, as `model`) can be set in the project configuration, keyed by its long
    name: `data: test.npz`, `eps: [0.03, 0.1]`, `json: report.json`. Flags given here win;
    `robustcheck config show` prints the effective settings and where each came from.

    \b
    Example:
      robustcheck scan model.pt --data test.npz --eps 0.03 --eps 0.1 --max-error-rate 0.5
    """
    from robustcheck.cli._outputs import StepSummary
    from robustcheck.errors import RobustcheckError
    from robustcheck.exit_codes import ExitCode

    summary = StepSummary(enabled=not ctx.params["no_step_summary"])
    try:
        settings = effective(ctx)
        summary.enabled = not settings.values["no_step_summary"]
        return scan_with(settings.values, project=settings.config, summary=summary)
    except click.UsageError as exc:
        summary.append_error(f"usage error: {exc.format_message()}", ExitCode.USAGE_ERROR)
        raise
    except RobustcheckError as exc:
        summary.append_error(f"the scan failed: {exc.one_line()}", int(exc.exit_code))
        raise
    except Exception as exc:
        message = f"internal error: {type(exc).__name__} (rerun with --debug)"
        summary.append_error(message, ExitCode.INTERNAL_ERROR)
        raise


def scan_with(
    opts: dict[str, Any],
    *,
    project: ProjectConfig | None = None,
    summary: StepSummary | None = None,
) -> int:
    """The scan, from effective settings (flags over the project configuration over defaults)."""
    from robustcheck.cli.config_file import CONFIG_FILE, PYPROJECT, PYPROJECT_TABLE
    from robustcheck.scan.config import ScanConfig

    model, data, eps = opts["model"], opts["data"], opts["eps"]
    if model is None:
        raise click.UsageError(
            f"no model to scan: pass MODEL, or set `model:` in {CONFIG_FILE} "
            f"or [{PYPROJECT_TABLE}] in {PYPROJECT}"
        )
    if data is None:
        raise click.UsageError(
            f"no data to scan: pass --data PATH, or set `data:` in {CONFIG_FILE} "
            f"or [{PYPROJECT_TABLE}] in {PYPROJECT}"
        )
    policy, source = _policy(opts["policy_ref"], opts["max_error_rate"], list(eps))
    if opts["no_noise"] and _uses_noise(policy):
        raise click.UsageError("--no-noise: the policy has rules on the noise baseline")
    all_eps = sorted(set(eps) | set(policy.eps_values()))
    if not all_eps:
        raise click.UsageError(
            f"no ε to scan: pass --eps or a --policy with budgets (or set `eps:` in {CONFIG_FILE})"
        )
    contract = _contract(policy, opts)
    if opts["batch_size"] == "auto" and (opts["shard"] is not None or opts["executor"] == "ray"):
        raise click.UsageError(
            "--batch-size auto: the parts of a sharded scan must share one batch size, so pass a "
            "number (the report of an unsharded auto scan says which size it chose)"
        )
    with flag_errors(_FLAGS):
        config = ScanConfig(
            model=model,
            data=data,
            eps=all_eps,
            eps_units=opts["eps_units"],
            eps_scale=opts["eps_scale"],
            data_format=opts["data_format"],
            labels_file=opts["labels_file"],
            label_column=opts["label_column"],
            tokenizer=opts["tokenizer"],
            text_column=opts["text_column"],
            feature_columns=list(opts["feature_columns"]) or None,
            image_size=contract["image_size"],
            layout=contract["layout"] or "NCHW",
            class_order=opts["class_order"],
            limit=opts["limit"],
            per_class=opts["per_class"],
            mean=contract["mean"],
            std=contract["std"],
            deployed_dtype=contract["deployed_dtype"],
            allow_low_accuracy=opts["allow_low_accuracy"],
            batch_size=256 if opts["batch_size"] == "auto" else opts["batch_size"],
            auto_batch_size=opts["batch_size"] == "auto",
            precision=opts["precision"],
            threads=opts["threads"],
            channel_order=opts["channel_order"],
            class_names_file=opts["class_names_file"],
            high_confidence=opts["high_confidence"],
            seed=opts["seed"],
            input_range=contract["input_range"],
            output_kind=None if opts["output_kind"] == "auto" else opts["output_kind"],
            model_format=opts["model_format"],
            surrogate=opts["surrogate"],
            device=opts["device"],
            output=opts["output_name"],
            input=opts["input_name"],
            allow_external_data=opts["allow_external_data"],
            fidelity_tolerance=opts["fidelity_tolerance"],
            allow_low_fidelity=opts["allow_low_fidelity"],
            x_key=opts["x_key"],
            y_key=opts["y_key"],
            noise_baseline=not opts["no_noise"],
            noise_eps=opts["noise_eps"],
            attacks=list(opts["attacks"]) or None,
            tokens=sorted(set(opts["tokens"]) | set(policy.token_values())) or None,
            find_min_eps=opts["find_min_eps"],
            policy=policy,
            policy_source=source,
            config_source=None if project is None else project.source,
            baseline=opts["baseline"],
            strict=opts["strict"],
            exit_zero=opts["exit_zero"],
            checkpoint=opts["checkpoint"],
            isolate=not opts["no_isolation"],
            timeout_s=opts["timeout_s"],
            max_memory_mb=opts["max_memory_mb"],
        )
    paths = {fmt: opts[f"{fmt}_path"] for fmt in REPORT_FORMATS}
    paths = {k: v for k, v in paths.items() if v is not None}
    if opts["shard"] is not None:
        return _scan_shard(config, opts, paths)
    distributed = _distributed(opts)
    return run_and_report(
        config,
        paths=paths,
        progress=opts["progress"],
        also_inputs=[] if project is None else [project.path],
        summary=summary,
        distributed=distributed,
    )


def _distributed(opts: dict[str, Any]) -> dict[str, Any] | None:
    """The Ray settings, or None for a scan on this machine."""
    if opts["executor"] != "ray":
        for flag in ("ray_address", "shards"):
            if opts[flag] is not None:
                raise click.UsageError(f"--{flag.replace('_', '-')} needs --executor ray")
        return None
    if opts["checkpoint"] is not None:
        raise click.UsageError(
            "--checkpoint records one scan's batches; it cannot take Ray's shards"
        )
    return {"address": opts["ray_address"], "shards": opts["shards"]}


def _scan_shard(config: Any, opts: dict[str, Any], paths: dict[str, Path]) -> int:
    """``--shard I/N``: scan part of the data and write its partial result (no verdict yet)."""
    from robustcheck.cli._outputs import ReportTargets
    from robustcheck.errors import RobustcheckError, RuntimeEnvironmentError
    from robustcheck.files import is_stdout, write_text_atomic
    from robustcheck.scan.isolation import scan_shard
    from robustcheck.scan.shards import Shard

    try:
        shard = Shard.parse(opts["shard"])
    except ValueError as exc:
        raise click.UsageError(f"--shard: {exc}") from None
    if opts["executor"] != "local":
        raise click.UsageError("--shard runs one part here; --executor ray runs them all")
    others = sorted(fmt for fmt in paths if fmt != "json")
    if others or "json" not in paths:
        raise click.UsageError(
            "--shard writes a partial result to --json PATH (and no other report format: "
            "`robustcheck report merge` writes them from all the parts)"
        )
    targets = ReportTargets({"json": paths["json"]})
    targets.check_not_inputs(_input_paths(config))
    targets.check_writable()
    targets.write_stubs(f"shard {shard} started and has not finished (or was interrupted)")
    try:
        with progress_bar(opts["progress"], "scanning") as callback:
            partial = scan_shard(config, shard, progress=callback)
    except RobustcheckError as exc:
        targets.write_failure(f"shard {shard} failed: {exc.one_line()}", int(exc.exit_code))
        raise
    text = partial.model_dump_json(indent=2) + "\n"
    if is_stdout(paths["json"]):
        click.echo(text, nl=False)
    else:
        try:
            write_text_atomic(paths["json"], text)
        except OSError as exc:
            raise RuntimeEnvironmentError(
                f"{paths['json']}: cannot write ({exc.strerror})"
            ) from None
    (err if is_stdout(paths["json"]) else out)(
        f"shard {shard}: {partial.samples} of {partial.n_samples} samples "
        f"({len(partial.batches)} batches); partial result: {paths['json']}"
    )
    return 0


def _policy(ref: str | None, max_error_rate: float | None, eps: list[float]) -> tuple[Any, str]:
    """The policy to gate on and where it came from."""
    from robustcheck.policy.load import load_builtin, load_reference
    from robustcheck.policy.schema import max_error_rate_policy

    if ref is not None and max_error_rate is not None:
        raise click.UsageError(
            "--policy and --max-error-rate are exclusive: put the limit in the policy"
        )
    if max_error_rate is not None:
        if not eps:
            raise click.UsageError("--max-error-rate needs at least one --eps")
        return max_error_rate_policy(eps, max_error_rate), "--max-error-rate"
    if ref is not None:
        return load_reference(ref), ref
    return load_builtin("default"), "default"


def _floats(flag: str, text: str | None) -> list[float] | None:
    if text is None:
        return None
    try:
        values = [float(part) for part in text.split(",")]
    except ValueError:
        values = []
    if not values or not all(math.isfinite(v) for v in values):
        raise click.UsageError(f"{flag}: expected comma-separated finite numbers, got {text!r}")
    return values


# ScanConfig fields whose flag is not ``--`` + the field name with dashes.
_FLAGS = {
    "timeout_s": "--timeout",
    "max_memory_mb": "--max-memory",
    "output": "--output",
    "input": "--input",
    "isolate": "--no-isolation",
    "noise_baseline": "--no-noise",
    "attacks": "--attack",
}


def _contract(policy: Any, opts: dict[str, Any]) -> dict[str, Any]:
    """The input contract: command-line flags override the policy's ``input:`` section."""
    flags = {
        "layout": opts["layout"],
        "input_range": opts["input_range"],
        "mean": _floats("--mean", opts["mean"]),
        "std": _floats("--std", opts["std"]),
        "image_size": opts["image_size"],
        "deployed_dtype": opts["deployed_dtype"],
    }
    section = policy.input
    for key, value in flags.items():
        if value is None and section is not None and getattr(section, key) is not None:
            declared = getattr(section, key)
            flags[key] = tuple(declared) if key in ("input_range", "image_size") else declared
    return flags


def _uses_noise(policy: Any) -> bool:
    blocks = [*(policy.budgets or []), *([policy.all_eps] if policy.all_eps else [])]
    return any(block.attack == "noise" for block in blocks)


def run_and_report(
    config: Any,
    *,
    paths: dict[str, Path],
    progress: bool | None,
    also_inputs: list[Path] | None = None,
    summary: StepSummary | None = None,
    distributed: dict[str, Any] | None = None,
) -> int:
    """Stub every report target, scan, then write the reports; an error leaves stubs saying why
    (and an error section in the step summary)."""
    from robustcheck.cli._outputs import ReportTargets, StepSummary
    from robustcheck.errors import RobustcheckError
    from robustcheck.reports import text
    from robustcheck.scan.isolation import default_max_memory_mb, run_isolated

    summary = summary or StepSummary()
    targets = ReportTargets(paths)
    inputs = [*_input_paths(config), *(also_inputs or [])]
    if config.checkpoint is not None:  # the checkpoint is written to as well: never an input
        ReportTargets({"checkpoint": config.checkpoint}).check_not_inputs(inputs)
        inputs.append(config.checkpoint)
    targets.check_not_inputs(inputs)
    targets.check_writable()
    targets.write_stubs("the scan started and has not finished (or was interrupted)")
    try:
        with progress_bar(progress, "scanning") as callback:
            if distributed is not None:
                from robustcheck.scan.ray_executor import run_on_ray

                report = run_on_ray(config, **distributed, progress=callback)
            elif config.isolate:
                report = run_isolated(
                    config,
                    timeout_s=config.timeout_s,
                    max_memory_mb=config.max_memory_mb or default_max_memory_mb(),
                    progress=callback,
                )
            else:
                from robustcheck.scan.runner import run  # torch: only where the scan runs

                report = run(config, progress=callback)
        summary.append_report(report)  # before the reports: a failure here must not leave a PASS
    except RobustcheckError as exc:
        summary.append_error(f"the scan failed: {exc.one_line()}", int(exc.exit_code))
        targets.write_failure(f"the scan failed: {exc.one_line()}", int(exc.exit_code))
        raise
    try:
        targets.write(report)
    except RobustcheckError as exc:
        summary.append_error(f"the reports were not written: {exc.one_line()}", int(exc.exit_code))
        raise
    show = err if targets.to_stdout else out  # standard output holds the report alone
    show(text.render(report))
    for fmt, path in paths.items():
        show(f"{fmt} report: {'standard output' if str(path) == '-' else path}")
    return report.exit_code


def _input_paths(config: Any) -> list[Path]:
    """Every file the scan only reads, which no report flag (nor the checkpoint) may name."""
    optional = [
        config.baseline,
        config.labels_file,
        config.class_names_file,
        config.eps_scale,
        config.surrogate,
        config.tokenizer,
    ]
    source = config.policy_source or ""
    if source not in ("default", "--max-error-rate") and not source.startswith("builtin:"):
        optional.append(Path(source))
    return [config.model, config.data, *(p for p in optional if p is not None)]
