"""The one versioned report. Every renderer reads this model and nothing else."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer

from robustcheck.vocabulary import CheckStatus, DeployedDtype, GateOn, Layout, Severity, Verdict

SCHEMA_VERSION = "1.8"
"""1.1: ``shards`` (merged sharded scans). 1.2: ``settings.batch_size_source`` and
``settings.precision``. 1.3: ``methods`` (how each attack got its direction, with runtime query
counts); ``fidelity.paths`` may be ``none`` (no gradient path was used, so fidelity is not claimed
and its clean figures are null). 1.4: ``model.surrogate`` (transfer scans), ``input.eps_scale`` (ε
per feature), ``fidelity.paths`` ``float32-copy-vs-module`` and ``surrogate-vs-target``. 1.5:
``text_examples`` (token substitutions of text models). 1.6: ``input.embedding`` (text models: the
word-embedding table ε is a budget on, its spread, and ε relative to it). 1.7: ``ensembles``,
``validity.probe``, ``gradient.margin_fallback_samples``. 1.8: ``certification`` (``--certify``:
certified accuracy per ε beside the attacks' robust accuracy)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Interval(_Strict):
    lo: float
    hi: float


class SurrogateSection(_Strict):
    """The model a transfer attack crafted its perturbations on (``--surrogate``)."""

    path: str
    sha256: str
    format: str


class ModelSection(_Strict):
    path: str
    sha256: str
    format: str
    output_kind: str
    output_kind_source: Literal["detected", "declared"]
    n_classes: int
    input_shape: list[int | None]
    surrogate: SurrogateSection | None = None
    """Set for a transfer scan: every gradient attack ran on this model, the target scored."""

    @model_serializer(mode="wrap")
    def _white_box_has_no_surrogate_key(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        if isinstance(data, dict) and data.get("surrogate") is None:
            data.pop("surrogate", None)
        return data


class DataSection(_Strict):
    path: str
    sha256: str
    format: str
    n_samples: int
    labels: Literal["provided", "predicted"]
    """``predicted``: the file had no labels and the model's clean predictions were used."""
    x_key: str
    y_key: str | None
    class_names: list[str] | None = None
    n_file_samples: int | None = None
    """Samples in the file, when ``--limit``/``--per-class`` scanned a subset."""
    selection: str | None = None
    manifest_sha256: str | None = None
    """Hash of the dataset and the sorted indices of the scanned subset."""


class EpsScaleSection(_Strict):
    """Per-feature ε: feature i's budget at sweep value ε is ``ε · scale_i`` in raw units."""

    units: Literal["std", "file"]
    """``std``: each feature's standard deviation on the scanned data; ``file``: ``--eps-scale``."""
    source: str
    n_features: int
    min: float
    median: float
    max: float
    zero_features: int
    """Features with scale 0, never perturbed."""
    sha256: str
    """Hash of the scales as little-endian float64, in feature order."""
    values: list[float] | None = None
    """Every scale, in feature order, for samples of at most 256 features."""


class EmbeddingSection(_Strict):
    """Text models: ε is an L∞ budget on the word embeddings looked up in this table (padding and
    special tokens never move). Embedding scales differ between models, so ε is also stated
    relative to the table's spread."""

    table: str
    """Where the table lives in the model (an initializer or module name)."""
    vocab_size: int
    hidden: int
    """Width of one embedding."""
    spread: float
    """The table's median over dimensions of the per-dimension standard deviation of its rows."""
    eps_relative: list[float] | None
    """Per ε of the sweep (in ``settings.eps`` order), ε / ``spread``; null when the spread is 0."""


class InputSection(_Strict):
    """The input contract the scan assumed: ε and clipping are in raw data units."""

    layout: Layout
    mean: list[float] | None
    std: list[float] | None
    deployed_dtype: DeployedDtype
    eps_model_units: list[list[float]] | None
    """Per ε of the sweep, ε / std per channel: the budget as the model sees it."""
    eps_scale: EpsScaleSection | None = None
    """Set when ε is per feature (``--eps-units std``, ``--eps-scale``); absent otherwise."""
    embedding: EmbeddingSection | None = None
    """Set for a text model (ε is a budget on its word embeddings); absent otherwise."""

    @model_serializer(mode="wrap")
    def _absent_sections_have_no_key(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        if isinstance(data, dict):
            for key in ("eps_scale", "embedding"):
                if data.get(key) is None:
                    data.pop(key, None)
        return data


class SettingsSection(_Strict):
    eps: list[float]
    attacks: list[str]
    batch_size: int
    batch_size_source: Literal["given", "auto"] = "given"
    """``auto``: ``--batch-size auto`` chose ``batch_size`` for the device it ran on."""
    precision: Literal["fp32", "bf16"] = "fp32"
    """Of the gradient computation; the deployed runtime scores in the model's own dtype."""
    seed: int
    high_confidence_threshold: float
    input_range: Interval | None
    input_range_source: Literal["declared", "default", "none"]
    config_source: str | None = None
    """The project configuration that supplied settings (``robustcheck.yaml``, ...), if any."""
    attack_parameters: list[dict[str, Any]] | None = None
    """Each attack's name, label and parameters, in the order of ``attacks``."""


class ClassResult(_Strict):
    label: int
    class_name: str | None = None
    n: int
    clean_correct: int
    adversarial_errors: int
    adversarial_error_rate: float | None
    high_confidence_misclassifications: list[int]
    """Per threshold, in the order of ``AttackResult.high_confidence``."""


class HighConfidence(_Strict):
    threshold: float
    count: int
    """Adversarial errors whose top probability is ≥ threshold."""
    rate: float
    """``count / n``."""
    interval: Interval | None


class AttackResult(_Strict):
    attack: str
    eps: float
    n: int
    clean_error_rate: float
    adversarial_error_rate: float
    adversarial_error_rate_interval: Interval | None
    attack_success_rate: float | None
    """Fraction of clean-correct samples the attack made wrong; null when none were correct."""
    attack_success_rate_interval: Interval | None
    high_confidence_threshold: float
    high_confidence_misclassifications: int
    high_confidence_misclassification_rate: float
    high_confidence_misclassification_rate_interval: Interval | None
    high_confidence_misclassifications_at_0_5: int
    mean_confidence_adversarial_errors: float | None
    adversarial_errors: int
    adversarial_errors_before_rounding: int | None = None
    """uint8 deployments: errors before rounding to the grid (the gate uses the rounded ones)."""
    clean_correct: int
    high_confidence: list[HighConfidence]
    """Every threshold tracked: τ first, then 0.5, then any a policy asks for."""
    per_class: list[ClassResult]
    target_hits: int | None = None
    """Targeted attacks: samples whose adversarial prediction is their target class."""


class GradientSection(_Strict):
    evaluations: int
    """Forward+backward passes: one per batch, whatever the number of ε."""
    zero_gradient_samples: int
    """Samples whose input gradient is exactly zero everywhere, for every loss: no gradient
    attack can move them."""
    margin_fallback_samples: int = 0
    """Samples where cross-entropy's input gradient vanished (an over-confident model) and the
    gradient attacks followed the margin loss instead (schema 1.7)."""


class StabilitySection(_Strict):
    """How many clean predictions could flip on rounding alone."""

    fragile_samples: int
    """Samples whose top-1 minus top-2 probability is below ``fragile_margin``."""
    fragile_margin: float
    tied_samples: int
    """Samples whose top two probabilities are exactly equal (never counted as correct)."""


class FidelitySection(_Strict):
    """How closely the differentiable path (gradients) agrees with the deployed runtime (judge)."""

    paths: Literal[
        "same-module",
        "onnx-twin-vs-onnxruntime",
        "float32-copy-vs-module",
        "surrogate-vs-target",
        "none",
    ]
    """Where gradients and scores come from: one module; an ONNX twin and onnxruntime; a
    half-precision PyTorch module's float32 copy and the module; for a transfer scan, the
    surrogate and the target: then the numbers are their *agreement*, not a fidelity (the
    surrogate is another model by design), and ``tolerance`` is 1 (no limit). ``none``: no attack
    followed a gradient path (query-only), so nothing is claimed."""
    clean_max_abs_probability_difference: float | None
    """``null`` when ``paths`` is ``none``."""
    clean_top1_agreement: float | None
    adversarial_max_abs_probability_difference: float | None
    """Measured on the first batch's adversarial inputs at every ε."""
    adversarial_top1_agreement: float | None
    tolerance: float
    trusted: bool
    """False when a difference exceeds the tolerance: the gradients may not be the model's."""


class AttackMethod(_Strict):
    """How one attack obtained its perturbations, and what it cost on the deployed runtime."""

    attack: str
    method: (
        Literal["gradient", "surrogate-gradient", "estimated-gradient", "random-search", "random"]
        | str
    )
    """``gradient``: white-box, through the differentiable path; ``surrogate-gradient``: a
    transfer scan's, through the surrogate (``model.surrogate``); ``estimated-gradient``: the sign
    estimated from runtime queries alone (SPSA, NES); ``random-search``: random proposals kept
    when the runtime's scores improve (Square); ``random``: the noise baseline."""
    queries: int | None = None
    """Runtime queries the attack spent, over every sample and ε (gradient-free attacks)."""
    queries_per_sample: float | None = None
    """``queries / n``."""
    max_queries_per_sample: int | None = None


class Check(_Strict):
    rule: str
    attack: str | None = None
    eps: float | None = None
    label: int | None = None
    """Set for per-class rules."""
    class_name: str | None = None
    severity: Severity = "fail"
    gate_on: GateOn = "point"
    observed: float | None
    limit: float
    status: CheckStatus
    message: str


class PolicySection(_Strict):
    source: str
    """A policy file path, ``default`` (the bundled default policy) or ``--max-error-rate``."""
    sha256: str
    """Hash of the resolved policy's canonical JSON."""
    resolved: dict[str, Any]


class ExampleImage(_Strict):
    """One clean / perturbation / adversarial triple for the HTML report (image models only)."""

    index: int
    label: int
    eps: float
    clean_prediction: int
    clean_confidence: float
    adversarial_prediction: int
    adversarial_confidence: float
    clean_png: str
    """Base64-encoded PNG."""
    perturbation_png: str
    adversarial_png: str


class TokenSwap(_Strict):
    position: int
    """Position in the tokenized sequence."""
    original: str
    substitute: str


class TextExample(_Strict):
    """One text a token-substitution attack flipped: original and adversarial, as the tokenizer
    decodes them (token ids when no tokenizer was given)."""

    index: int
    label: int
    attack: str
    tokens: int
    """The budget k the example was found at."""
    clean_prediction: int
    clean_confidence: float
    adversarial_prediction: int
    adversarial_confidence: float
    original_text: str
    adversarial_text: str
    swaps: list[TokenSwap]


class ValidityCheck(_Strict):
    """One reason the numbers might not measure the model's robustness."""

    name: str
    status: Literal["ok", "flagged", "not_applicable"]
    attack: str | None = None
    eps: float | None = None
    reason: str


class MemberResult(_Strict):
    attack: str
    """The member's label in the chain."""
    broke: int
    """Samples it fooled that no member before it had fooled."""


class EnsembleResult(_Strict):
    """An ensemble at one ε: what each member of the chain added (schema 1.7)."""

    attack: str
    eps: float
    members: list[MemberResult]


class ProbeResult(_Strict):
    eps: float
    samples: int
    probe_errors: int
    """Adversarial errors of the probe's attack on the probed samples (clean errors included)."""
    one_step_errors: int
    """Adversarial errors of the one-step attack it checks, on the same samples."""
    probe_only: int
    """Samples the probe fools and the one-step attack does not (paired comparison)."""
    one_step_only: int
    """Samples the one-step attack fools and the probe does not."""


class ProbeSection(_Strict):
    """The FGSM-gap probe (schema 1.7): a short iterative attack on a fixed sample, run when the
    scan's gradient attacks are all one-step ones, to see whether they under-report."""

    attack: str
    against: str
    evaluations: int
    """Gradient evaluations (batched forward+backward calls) the probe spent; not part of
    ``gradient.evaluations``."""
    results: list[ProbeResult]


class ValiditySection(_Strict):
    """Whether the attack, not the model, could explain the numbers (gradient masking and the
    like). ``reliable`` is false when any check is flagged."""

    reliable: bool
    checks: list[ValidityCheck]
    probe: ProbeSection | None = None
    """The FGSM-gap probe's counts, when it ran (check ``fgsm_gap``)."""


class MinEpsSection(_Strict):
    """Per-sample minimal ε along the FGSM direction, by bisection on the deployed runtime."""

    method: str
    eps_max: float
    resolution: float
    """Grid step: every value is a multiple of it."""
    n: int
    clean_errors: int
    """Samples wrong without perturbation (minimal ε 0)."""
    not_found: int
    """Samples not fooled at ``eps_max``."""
    median: float | None
    """``null`` when at least half the samples were not fooled at ``eps_max``."""
    percentiles: dict[str, float | None]
    histogram: list[int]
    """Samples per equal bin over (0, eps_max] (clean errors in the first)."""


class EnvironmentSection(_Strict):
    device: str
    threads: int
    deterministic: bool


class Versions(_Strict):
    robustcheck: str
    python: str
    numpy: str
    torch: str | None = None
    onnx: str | None = None
    onnxruntime: str | None = None


class ShardEntry(_Strict):
    index: int
    """1-based, of ``ShardsSection.count``."""
    samples: int
    batches: int
    digest: str
    """SHA-256 of the partial result's contents, as checked by the merge."""
    duration_s: float


class ShardsSection(_Strict):
    """Provenance of a report merged from shards (``report merge``, ``--executor ray``)."""

    count: int
    executor: Literal["merge", "ray"]
    parts: list[ShardEntry]


class CertifiedResult(_Strict):
    """At one ε: how many samples are proven robust, beside what the attacks left standing."""

    eps: float
    n: int
    certified: int
    """Samples whose every margin (true class minus another) has a positive lower bound over the
    whole ε-box within the input domain: no input there changes the prediction."""
    certified_accuracy: float
    attacked_robust_accuracy: float | None
    """The lowest robust accuracy an attack left at this ε (the strongest attack's): robust
    accuracy lies between ``certified_accuracy`` and this."""
    strongest_attack: str | None
    gap: float | None
    """``attacked_robust_accuracy - certified_accuracy``: what neither proof nor attack decided."""
    refuted: int | None = None
    """Samples the strongest attack shows not robust (misclassified after it, clean errors
    included): the certifier could never prove those."""
    not_attempted: int = 0
    """Samples left uncertified because ``--certify-time-limit`` ran out (not refuted)."""


class CertificationSection(_Strict):
    """``--certify``: sound lower bounds on robust accuracy (schema 1.8)."""

    method: Literal["ibp", "crown"]
    tolerance: float
    """A margin bound counts as positive above ``tolerance × (1 + max |logit|)`` of the sample."""
    duration_s: float
    samples_per_s: float | None
    results: list[CertifiedResult]


class Report(_Strict):
    schema_version: str = SCHEMA_VERSION
    complete: bool
    verdict: Verdict
    exit_code: int
    model: ModelSection
    data: DataSection
    settings: SettingsSection
    input: InputSection | None = None
    gradient: GradientSection
    fidelity: FidelitySection
    stability: StabilitySection | None = None
    results: list[AttackResult]
    checks: list[Check]
    policy: PolicySection | None = None
    examples: list[ExampleImage] = Field(default_factory=list)
    text_examples: list[TextExample] = Field(default_factory=list)
    """Text models: flipped texts per token budget (absent from the JSON when empty)."""
    validity: ValiditySection | None = None
    min_eps: MinEpsSection | None = None
    warnings: list[str] = Field(default_factory=list)
    versions: Versions
    environment: EnvironmentSection
    started_at: str
    duration_s: float
    shards: ShardsSection | None = None
    """Set only for a report merged from shards; an unsharded report has no such key."""
    methods: list[AttackMethod] | None = None
    """Per attack, in the order of ``settings.attacks``: how its perturbations were obtained."""
    ensembles: list[EnsembleResult] | None = None
    """Per ensemble attack (``auto``) and ε, each member's share (schema 1.7; absent without one)."""
    certification: CertificationSection | None = None
    """``--certify``: certified accuracy per ε (schema 1.8; absent without it)."""

    @model_serializer(mode="wrap")
    def _unsharded_has_no_shards_key(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        if isinstance(data, dict) and data.get("shards") is None:
            data.pop("shards", None)
        if isinstance(data, dict) and data.get("methods") is None:
            data.pop("methods", None)
        if isinstance(data, dict) and not data.get("text_examples"):
            data.pop("text_examples", None)
        if isinstance(data, dict) and not data.get("ensembles"):
            data.pop("ensembles", None)
        if isinstance(data, dict) and data.get("certification") is None:
            data.pop("certification", None)
        return data
