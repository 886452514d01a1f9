"""Every setting of ``robustcheck scan``, declared once.

The ``scan`` command's options, the project configuration's keys (``robustcheck.yaml``,
``[tool.robustcheck]``), ``config show``, ``docs/cli.md`` and the Python API all come from this
model (robustcheck.cli._settings derives the click options). A new setting is a field here plus
its use.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationInfo, field_validator

from robustcheck.attacks.spec import parse_attack_spec
from robustcheck.settings._field import Flag, flags, setting
from robustcheck.settings.contract import ContractSettings
from robustcheck.settings.reports import ReportTarget, report_targets
from robustcheck.vocabulary import (
    NOISE_BASELINE,
    ClassOrder,
    DeployedDtype,
    Device,
    Precision,
)

MAX_TOKENS = 64
DEFAULT_BATCH_SIZE = 256
DEFAULT_HIGH_CONFIDENCE = 0.9

PositiveFloat = Annotated[float, Field(gt=0)]
TokenBudget = Annotated[int, Field(ge=1, le=MAX_TOKENS)]


class ScanSettings(ContractSettings):
    """What ``robustcheck scan`` can be told; validated before anything heavy is imported."""

    model: Annotated[
        Path | None, Flag(argument=True, kind="path", fingerprint=False, local=True)
    ] = setting(None, "The model to scan: .onnx, TorchScript .pt/.ts, or torch.export .pt2.")
    data: Annotated[Path | None, Flag(kind="path", fingerprint=False, local=True)] = setting(
        None, "Labelled samples: .npz (x, y), .npy (+ --labels-file), .csv, or an image folder."
    )
    eps: list[PositiveFloat] = setting(
        [],
        "L∞ budget in raw data units; repeat for a sweep (one gradient serves all). "
        "The ε of the policy's budgets are always scanned too.",
    )
    eps_units: Annotated[Literal["raw", "std"], Flag(show_default=True)] = setting(
        "raw",
        "raw: ε in the data's units for every feature; std: feature i's budget is ε times its "
        "standard deviation on the scanned data (tabular features of very different scales).",
    )
    eps_scale: Annotated[Path | None, Flag(metavar="FILE", kind="file", fingerprint=False)] = (
        setting(
            None,
            "A .npy of per-feature multipliers (shaped like a sample): feature i's budget is "
            "ε·scale_i. To give ε per feature directly, save that vector and pass --eps 1.",
        )
    )
    batch_size: Annotated[int | Literal["auto"], Flag(kind="batch-size", show_default=True)] = (
        setting(
            DEFAULT_BATCH_SIZE,
            "Samples per batch, or auto: the largest batch that fits on the GPU (probed once, "
            "halving on out-of-memory); on the CPU auto is 256. The report records the size "
            "used: the noise baseline and random starts are seeded per batch.",
        )
    )
    precision: Annotated[Precision, Flag(show_default=True)] = setting(
        "fp32",
        "Of the gradient computation: bf16 runs it under bfloat16 autocast (faster on recent "
        "GPUs; counts may change slightly). The deployed model always scores in its own dtype.",
    )
    threads: int | None = setting(
        None,
        "Intra-op threads for torch and onnxruntime [default: OMP_NUM_THREADS if set, else up "
        "to 4]. Results are reproducible for a fixed count; on a loaded CI runner (or several "
        "scans at once) 1 is often fastest: idle threads wait on busy cores.",
        ge=1,
        le=1024,
    )
    high_confidence: Annotated[float, Flag(show_default=True)] = setting(
        DEFAULT_HIGH_CONFIDENCE,
        "τ: an adversarial error counts as high-confidence when its top probability ≥ τ.",
        gt=0,
        le=1,
    )
    seed: Annotated[int, Flag(show_default=True)] = setting(0, "Seed of the noise baseline.")
    output_kind: Annotated[Literal["auto", "logits", "probabilities"], Flag(show_default=True)] = (
        setting("auto", "What the model returns; auto detects probabilities.")
    )
    surrogate: Annotated[Path | None, Flag(metavar="MODEL", kind="file", fingerprint=False)] = (
        setting(
            None,
            "Transfer attack: craft the perturbations on this model (.onnx, .pt, .pt2; it reads "
            "the same raw inputs) and score them on MODEL, which is never differentiated. The "
            "error found is a lower bound for MODEL. `robustcheck surrogate fit` trains one. See "
            "docs/attacks.md.",
        )
    )
    device: Annotated[Device, Flag(show_default=True)] = setting(
        "auto", "Where the model and the attacks run; auto uses CUDA only when a GPU is present."
    )
    output: Annotated[str | None, Flag(metavar="NAME")] = setting(
        None, "ONNX: the output holding class scores (default: detected)."
    )
    input: Annotated[str | None, Flag(metavar="NAME")] = setting(
        None,
        "ONNX: the input to attack, for a model with several; the data (.npz) holds every input "
        "as an array named after it (the others fed unchanged); the attacked one may also be x.",
    )
    allow_external_data: Annotated[bool, Flag(file=False)] = setting(
        False, "ONNX: load weights from external-data files inside the model's directory."
    )
    fidelity_tolerance: float | None = setting(
        None,
        "Largest probability difference allowed between the gradient path and the deployed "
        "runtime [default: 1e-3; 1e-2 for float16 models; 5e-2 with --precision bf16].",
        gt=0,
    )
    allow_low_fidelity: Annotated[bool, Flag(file=False)] = setting(
        False,
        "Keep the verdict when the gradient path disagrees with the runtime beyond the tolerance.",
    )
    data_format: Annotated[str | None, Flag(metavar="NAME")] = setting(
        None,
        "Override the data format guessed from the extension: npz, npy, csv, images, or a "
        "plugin's (robustcheck plugins lists them).",
    )
    labels_file: Annotated[Path | None, Flag(kind="file", fingerprint=False, local=True)] = setting(
        None, "Labels for a .npy or a flat image folder (.npy, .txt or .csv)."
    )
    label_column: str | None = setting(None, "CSV: the label column [default: label].")
    feature_columns: Annotated[list[str], Flag(names=("--feature-column",))] = setting(
        [], "CSV: a feature column; repeat to select several [default: all but the label]."
    )
    image_size: Annotated[tuple[int, int] | None, Flag(metavar="H W")] = setting(
        None, "Image folders: resize and centre-crop to H×W."
    )
    class_order: ClassOrder | None = setting(None, "Image folders: class index order.")
    limit: int | None = setting(None, "Scan a stratified sample of N samples (seeded).", ge=1)
    per_class: int | None = setting(None, "Scan K samples of each class (seeded).", ge=1)
    deployed_dtype: DeployedDtype | None = setting(
        None,
        "What the deployed model receives; adversarial inputs are rounded to it (uint8 needs "
        "--input-range).",
    )
    class_names_file: Annotated[
        Path | None, Flag(names=("--class-names",), kind="file", fingerprint=False)
    ] = setting(
        None,
        "A text file with one class name per line (label 0 first), so reports say '0°/180°', "
        "not '0/1'. An .npz may carry them as a 'classes' array instead.",
    )
    channel_order: Annotated[Literal["RGB", "BGR"], Flag(show_default=True)] = setting(
        "RGB", "Channel order of 3-channel inputs, for showing example images."
    )
    noise_baseline: Annotated[bool, Flag(names=("--no-noise",), negate=True)] = setting(
        True, "Skip the random-sign noise baseline."
    )
    noise_eps: Annotated[Literal["all", "largest"], Flag(show_default=True)] = setting(
        "all",
        "Run the noise baseline at every ε, or only at the largest (and any ε a policy rule on "
        "noise names): a 5-ε sweep then costs about a fifth less.",
    )
    attacks: Annotated[
        list[str],
        Flag(names=("--attack",), metavar="NAME[:KEY=VALUE,...]", listing="robustcheck.attacks"),
    ] = setting(
        [],
        "An attack to run; repeat for several (e.g. --attack fgsm --attack pgd:steps=20,"
        "restarts=2). {listing} Default: the policy's attacks, else fgsm. See docs/attacks.md.",
    )
    tokenizer: Annotated[Path | None, Flag(kind="file")] = setting(
        None,
        "Text models: the model's tokenizer.json (needs robustcheck-gate[text]); tokenizes "
        ".jsonl/.csv text data and names special tokens and the vocabulary.",
    )
    text_column: Annotated[str | None, Flag(metavar="NAME")] = setting(
        None, "Text data: the field or column holding the text [default: text]."
    )
    tokens: list[TokenBudget] = setting(
        [],
        "Text models: also run HotFlip token substitutions with at most K swapped tokens per "
        "text; repeat for several budgets (--tokens 1 --tokens 2 --tokens 4). Each adversarial "
        "text is scored on its token ids. See docs/text.md.",
    )
    gap_probe: Annotated[bool, Flag(names=("--no-gap-probe",), negate=True)] = setting(
        True,
        "Skip the FGSM-gap probe: when the only gradient attacks are one-step ones, a 10-step "
        "APGD on 64 fixed samples checks that they do not under-report (validity check fgsm_gap).",
    )
    certify: Annotated[Literal["off", "ibp", "crown"], Flag(bare="crown", show_default=True)] = (
        setting(
            "off",
            "Also prove robustness: per sample and ε, a sound lower bound on every margin over the "
            "whole ε-box (bound propagation through the model's graph); certified accuracy is "
            "reported beside the attacks' robust accuracy. --certify alone is crown (tighter); ibp "
            "is faster. Feed-forward ONNX/PyTorch classifiers (docs/certify.md lists the ops).",
        )
    )
    certify_time_limit: Annotated[float | None, Flag(metavar="SECONDS")] = setting(
        None,
        "Stop certifying after this many seconds of this process's certification: the samples "
        "left are reported as not attempted (never as refuted) and count as not certified.",
        gt=0,
    )
    find_min_eps: bool = setting(
        False,
        "Per sample, the smallest ε up to the largest --eps that fools the model along the FGSM "
        "direction (bisection, forwards only): median, percentiles and a histogram.",
    )
    policy_ref: Annotated[
        str | None,
        Flag(names=("--policy",), metavar="FILE|builtin:NAME", kind="policy", fingerprint=False),
    ] = setting(
        None,
        "ε-budget policy (YAML). Default: builtin:default, which fails when an attack that ran "
        "flips more than half of the correctly classified samples at any ε, or when a validity "
        "check marks the numbers unreliable.",
    )
    baseline: Annotated[Path | None, Flag(kind="file", fingerprint=False)] = setting(
        None, "An earlier JSON report of the same policy, for its max_increase rules."
    )
    strict: Annotated[bool, Flag(fingerprint=False)] = setting(False, "Warnings fail the gate.")
    exit_zero: Annotated[
        bool, Flag(names=("--exit-zero", "--report-only"), file=False, fingerprint=False)
    ] = setting(False, "Report only: exit 0 when the gate fails (errors still do not).")
    max_error_rate: Annotated[float | None, Flag(fingerprint=False)] = setting(
        None,
        "Gate without a policy file: fail (exit 1) when the adversarial error rate of any attack "
        "that ran exceeds this at any ε.",
        ge=0,
        le=1,
    )
    json_path: Annotated[
        Path | None, Flag(names=("--json",), kind="report", fingerprint=False, local=True)
    ] = setting(None, "Write the JSON report (the source of truth) here (- for standard output).")
    junit_path: Annotated[
        Path | None, Flag(names=("--junit",), kind="report", fingerprint=False, local=True)
    ] = setting(None, "Write a JUnit XML report here.")
    markdown_path: Annotated[
        Path | None, Flag(names=("--markdown",), kind="report", fingerprint=False, local=True)
    ] = setting(None, "Write a Markdown summary here.")
    html_path: Annotated[
        Path | None, Flag(names=("--html",), kind="report", fingerprint=False, local=True)
    ] = setting(None, "Write a self-contained HTML report here.")
    reports: Annotated[
        list[str],
        Flag(
            names=("--report",),
            metavar="FORMAT=PATH",
            kind="report-spec",
            listing="robustcheck.reporters",
            fingerprint=False,
            local=True,
        ),
    ] = setting(
        [],
        "Write the report in FORMAT to PATH (- for standard output); repeat for several formats. "
        "{listing} Each format is given once: --report junit=PATH is --junit PATH.",
    )
    checkpoint: Annotated[Path | None, Flag(kind="file", fingerprint=False, local=True)] = setting(
        None, "Record each finished batch here; rerunning the same scan resumes from it."
    )
    shard: Annotated[str | None, Flag(metavar="I/N", fingerprint=False, local=True)] = setting(
        None,
        "Scan only part I of N of the data (whole batches) and write a partial result to "
        "--json; `robustcheck report merge` joins the N parts into the report. See docs/scale.md.",
    )
    executor: Annotated[
        Literal["local", "ray"], Flag(show_default=True, fingerprint=False, local=True)
    ] = setting(
        "local",
        "ray: run --shards parts as Ray tasks (pip install 'robustcheck-gate[ray]') and "
        "merge them.",
    )
    ray_address: Annotated[str | None, Flag(metavar="ADDR", fingerprint=False, local=True)] = (
        setting(
            None,
            "Ray cluster to join (e.g. ray://head:10001 or auto) [default: start a local Ray].",
        )
    )
    shards: Annotated[int | None, Flag(fingerprint=False, local=True)] = setting(
        None,
        "With --executor ray: the number of parts [default: the cluster's CPUs (GPUs for "
        "--device cuda)].",
        ge=1,
    )
    timeout_s: Annotated[
        float, Flag(names=("--timeout",), show_default=True, fingerprint=False, local=True)
    ] = setting(3600.0, "Stop the scan after this many seconds (exit 5).", gt=0)
    max_memory_mb: Annotated[
        int | None, Flag(names=("--max-memory",), metavar="MIB", fingerprint=False, local=True)
    ] = setting(
        None,
        "Stop the scan when its resident memory exceeds this (exit 5); gradient-free attacks "
        "size their runtime calls, and gradient attacks their forward+backward passes, to fit "
        "in it [default: 80% of RAM].",
        ge=1,
    )
    isolate: Annotated[
        bool,
        Flag(names=("--no-isolation",), negate=True, file=False, fingerprint=False, local=True),
    ] = setting(True, "Run the model in this process (no timeout or memory cap; for debugging).")
    progress: Annotated[
        bool | None, Flag(secondary="--no-progress", fingerprint=False, local=True)
    ] = setting(None, "Progress bar on stderr (default: on for a terminal, off when CI is set).")
    step_summary: Annotated[
        bool, Flag(names=("--no-step-summary",), negate=True, fingerprint=False, local=True)
    ] = setting(True, "Do not append the Markdown summary (or the error) to $GITHUB_STEP_SUMMARY.")

    mlflow: Annotated[
        Literal["off", "on", "required"],
        Flag(bare="on", show_default=True, fingerprint=False, local=True),
    ] = setting(
        "off",
        "Log the report to MLflow (pip install 'robustcheck-gate[mlflow]'): to the active run, "
        "else a new run on MLFLOW_TRACKING_URI: parameters, adv_error/ATTACK/EPS and other "
        "metrics, the verdict as a tag, the JSON and HTML reports. --mlflow alone is on: a "
        "failure to log is a warning; --mlflow=required makes it exit 5. See docs/mlflow.md.",
    )

    @field_validator("mlflow", mode="before")
    @classmethod
    def _mlflow_switch(cls, value: Any) -> Any:
        """``mlflow: true`` in a configuration file, ``mlflow=True`` in Python."""
        if isinstance(value, bool):
            return "on" if value else "off"
        return value

    @field_validator("batch_size")
    @classmethod
    def _positive_batch(cls, value: int | str) -> int | str:
        if isinstance(value, int) and value < 1:
            raise ValueError(f"{value} is not a batch size: at least 1, or auto")
        return value

    @field_validator("eps")
    @classmethod
    def _unique_eps(cls, eps: list[float]) -> list[float]:
        return sorted(set(eps))

    @field_validator("reports")
    @classmethod
    def _reports_given_once(cls, reports: list[str], info: ValidationInfo) -> list[str]:
        report_targets(cls._report_flags(info.data), reports)  # the flags are validated first
        return reports

    @classmethod
    def _report_flags(cls, values: dict[str, Any]) -> dict[str, Path | None]:
        """Format → the path its own flag gives (``--json PATH``), or None."""
        declared = flags(cls).items()
        return {
            flag.key(name): values.get(name) for name, flag in declared if flag.kind == "report"
        }

    def report_targets(self) -> list[ReportTarget]:
        """Every report asked for, by its own flag or ``--report FORMAT=PATH``."""
        return report_targets(self._report_flags(dict(self)), self.reports)

    @field_validator("tokens")
    @classmethod
    def _unique_tokens(cls, tokens: list[int]) -> list[int]:
        return sorted(set(tokens))

    @field_validator("attacks")
    @classmethod
    def _attack_syntax(cls, attacks: list[str]) -> list[str]:
        labels = [parse_attack_spec(a).shown_label for a in attacks]
        repeated = sorted({label for label in labels if labels.count(label) > 1})
        if repeated:
            raise ValueError(
                f"attack {repeated[0]!r} is given twice: give one of them a label, e.g. "
                f"{repeated[0]}:...,label={repeated[0]}-2"
            )
        if NOISE_BASELINE in labels:
            raise ValueError("the noise baseline runs by default (--no-noise turns it off)")
        return attacks
