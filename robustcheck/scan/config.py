"""What a scan needs to know, validated once, before anything heavy is imported."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from robustcheck.backends.output import OutputKind
from robustcheck.policy.schema import Policy
from robustcheck.vocabulary import ClassOrder, DeployedDtype, Device, Layout, Precision

DEFAULT_BATCH_SIZE = 256
DEFAULT_HIGH_CONFIDENCE = 0.9
MAX_TOKENS = 64


class ScanConfig(BaseModel):
    # protected_namespaces: pydantic < 2.10 warns about the field model_format otherwise.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, protected_namespaces=())

    model: Path
    data: Path
    eps: list[float] = Field(min_length=1)
    eps_units: Literal["raw", "std"] = "raw"
    """``std``: feature i's budget is ε times its standard deviation on the scanned data."""
    eps_scale: Path | None = None
    """A ``.npy`` of per-feature multipliers: feature i's budget is ε · scale_i."""
    batch_size: int = Field(default=DEFAULT_BATCH_SIZE, ge=1)
    auto_batch_size: bool = False
    """``--batch-size auto``: the scan picks the size (see robustcheck.scan.batch_size) and the
    report records it; ``batch_size`` is then ignored."""
    precision: Precision = "fp32"
    """Of the differentiable path; ``bf16`` runs it under bfloat16 autocast (see
    robustcheck.scan.precision)."""
    channel_order: Literal["RGB", "BGR"] = "RGB"
    """The order of 3-channel inputs, for showing example images (OpenCV-style models read BGR)."""
    class_names_file: Path | None = None
    """A UTF-8 text file with one class name per line (label 0 first), for any data format."""
    threads: int | None = Field(default=None, ge=1, le=1024)
    """Intra-op threads for torch and onnxruntime (default: up to 4). Fixed, because reductions
    may round differently with another count; 1 is fastest on a loaded CI runner."""
    high_confidence: float = Field(default=DEFAULT_HIGH_CONFIDENCE, gt=0, le=1)
    seed: int = 0
    input_range: tuple[float, float] | None = None
    output_kind: OutputKind | None = None
    model_format: str | None = None
    surrogate: Path | None = None
    """Transfer attack: craft every gradient attack's perturbations on this model (any format
    robustcheck differentiates, reading the same raw inputs); the target only scores them."""
    device: Device = "auto"
    output: str | None = None
    """ONNX: the output holding class scores (default: detected)."""
    input: str | None = None
    """ONNX: the input attacks perturb (required when the model has several; the data file
    supplies the others as arrays named after them)."""
    allow_external_data: bool = False
    x_key: str | None = None
    """The ``.npz`` array holding the attacked input; None: the one named after the attacked
    ONNX input when the archive has it (as the other inputs are read by their names), else ``x``."""
    y_key: str | None = None
    """None: ``y`` when the file has it; a named key must exist."""
    data_format: str | None = None
    labels_file: Path | None = None
    label_column: str | None = None
    tokenizer: Path | None = None
    """Text models: the ``tokenizer.json`` that tokenizes text data (and decodes examples)."""
    text_column: str | None = None
    feature_columns: list[str] | None = None
    image_size: tuple[int, int] | None = None
    layout: Layout = "NCHW"
    class_order: ClassOrder | None = None
    limit: int | None = Field(default=None, ge=1)
    per_class: int | None = Field(default=None, ge=1)
    mean: list[float] | None = None
    """Per-channel mean subtracted outside the model (raw units); applied inside the gradient path."""
    std: list[float] | None = None
    deployed_dtype: DeployedDtype | None = None
    allow_low_accuracy: bool = False
    attacks: list[str] | None = Field(default=None, min_length=1)
    """Attack specifications ``NAME[:KEY=VALUE,...]`` (see robustcheck.scan.attack_spec); default:
    the policy's ``attacks``, else ``fgsm``."""
    noise_baseline: bool = True
    noise_eps: Literal["all", "largest"] = "all"
    """Where the noise baseline runs: every ε, or the largest (and any a noise rule names)."""
    tokens: list[int] | None = None
    """Text models: token-substitution budgets (HotFlip), at most k swapped tokens per text."""
    find_min_eps: bool = False
    """Per-sample minimal ε along the FGSM direction (also on when the policy has min_eps rules)."""
    fidelity_tolerance: float | None = Field(default=None, gt=0)
    """Largest acceptable |p_gradient_path - p_deployed| before gradients count as untrustworthy;
    default 1e-3, or 1e-2 for float16 models (whose twin runs in float32), or 5e-2 with
    ``precision="bf16"``."""
    allow_low_fidelity: bool = False
    policy: Policy | None = None
    config_source: str | None = None
    """The project configuration file the settings came from, if any (recorded in the report)."""
    policy_source: str | None = None
    """A policy file, ``builtin:NAME``, ``default`` or ``--max-error-rate``."""
    baseline: Path | None = None
    """An earlier JSON report of the same policy, for ``max_increase`` rules."""
    strict: bool = False
    """Warnings fail the gate."""
    exit_zero: bool = False
    """Report-only: a failed gate exits 0 (errors still do not)."""
    checkpoint: Path | None = None
    """Append-only per-batch records; a rerun with the same fingerprint resumes from them."""
    isolate: bool = True
    """Run the scan in a child process under ``timeout_s`` and ``max_memory_mb``."""
    timeout_s: float = Field(default=3600.0, gt=0)
    max_memory_mb: int | None = Field(default=None, gt=0)
    """Resident-memory cap of the scan process; default 80 % of physical memory."""

    @field_validator("eps")
    @classmethod
    def _positive_unique(cls, eps: list[float]) -> list[float]:
        if any(e <= 0 for e in eps):
            raise ValueError("every eps must be greater than 0")
        return sorted(set(eps))

    @field_validator("tokens")
    @classmethod
    def _token_budgets(cls, tokens: list[int] | None) -> list[int] | None:
        if tokens is not None and any(k < 1 or k > MAX_TOKENS for k in tokens):
            raise ValueError(f"every token budget must be between 1 and {MAX_TOKENS}")
        return None if not tokens else sorted(set(tokens))

    @field_validator("attacks")
    @classmethod
    def _attack_syntax(cls, attacks: list[str] | None) -> list[str] | None:
        from robustcheck.scan.attack_spec import parse_attack_spec

        if attacks is None:
            return None
        labels = [parse_attack_spec(a).shown_label for a in attacks]
        repeated = sorted({label for label in labels if labels.count(label) > 1})
        if repeated:
            raise ValueError(
                f"attack {repeated[0]!r} is given twice: give one of them a label, e.g. "
                f"{repeated[0]}:...,label={repeated[0]}-2"
            )
        if "noise" in labels:
            raise ValueError(
                "the noise baseline runs by default (--no-noise-baseline turns it off)"
            )
        return attacks

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
