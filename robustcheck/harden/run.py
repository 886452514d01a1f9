"""``harden(config) -> HardenReport``: load, train, write back, confirm, scan before and after.

No printing and no exiting here: the CLI does both. The input model is only ever read; the
hardened file is written atomically, and only after it was reloaded on its own runtime and found
to predict what the trained model predicts.
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from robustcheck.attacks import Attack
from robustcheck.attacks.spec import AttackSpec, parse_attack_spec
from robustcheck.backends.base import Backend
from robustcheck.backends.loader import load_backend
from robustcheck.backends.output import OutputKind, detect_output_kind, to_probabilities
from robustcheck.boundary import guarded
from robustcheck.data import Dataset, load_dataset
from robustcheck.engine.config import ScanConfig
from robustcheck.engine.contract import (
    Normalisation,
    NormalisedBackend,
    check_eps_below_range,
    check_normalisation_not_doubled,
)
from robustcheck.engine.fidelity import tolerance_for
from robustcheck.engine.inputs import resolve_domain
from robustcheck.engine.runner import run as scan
from robustcheck.errors import DataError, MeasurementError, UsageError
from robustcheck.exit_codes import ExitCode
from robustcheck.files import file_sha256, sha256_bytes, write_bytes_atomic
from robustcheck.harden.config import HardenConfig
from robustcheck.harden.params import TrainableModel, open_trainable
from robustcheck.harden.report import HardenReport, WriteBack, judge, rows
from robustcheck.harden.trainer import Progress, Split, Training, train
from robustcheck.plugins import attack_registry, data_registry
from robustcheck.settings import ContractSettings

log = logging.getLogger(__name__)

_CONFIRM_SAMPLES = 1024


@guarded("model", "data")  # foreign exceptions from the model or data: one line, exit 3 or 5
def harden(config: HardenConfig, *, progress: Progress | None = None) -> HardenReport:
    _check_paths(config)
    train_set = _labelled(config.data, config)
    domain, source, _ = resolve_domain(config.input_range, train_set)
    check_eps_below_range([config.eps, *config.scan_eps], domain, source)
    attack, gate_label, report_attacks = _attacks(config)
    x, y = _read(train_set)
    with tempfile.TemporaryDirectory(prefix="robustcheck-harden-") as tmp:
        if config.val is not None:
            val_set = _labelled(config.val, config)
            resolve_domain(config.input_range, val_set)
            val_x, val_y = _read(val_set)
            val_path, keys, val_sha = config.val, (config.x_key, config.y_key), val_set.sha256
        else:
            x, y, val_x, val_y = _hold_out(x, y, config.val_fraction, config.seed)
            val_path, keys, val_sha = Path(tmp) / "validation.npz", ("x", "y"), "held-out"
            np.savez(val_path, x=val_x, y=val_y)
        model = open_trainable(config.model, model_format=config.model_format)
        backend = _normalised(model.backend, config, train_set)
        data, val = Split.of(x, y), Split.of(val_x, val_y)
        kind = _output_kind(backend, data)
        run = Training(
            model=model,
            backend=backend,
            attack=attack,
            kind=kind,
            domain=domain,
            fingerprint=_fingerprint(config, model, train_set.sha256, val_sha),
            progress=progress,
        )
        result = train(run, config, data, val)
        hardened = model.to_bytes()
        candidate = Path(tmp) / f"hardened{config.model.suffix}"
        candidate.write_bytes(hardened)
        write_back = _confirm(candidate, model, backend, config, train_set, val, kind)
        write_bytes_atomic(config.output, hardened)
        before = scan(_scan_config(config, config.model, val_path, keys, report_attacks))
        after = scan(_scan_config(config, config.output, val_path, keys, report_attacks))
    gate, code = judge(before, after, gate_label, config.eps, config.max_clean_drop)
    verdict: Literal["pass", "fail", "error"] = (
        "pass" if code == ExitCode.OK else "fail" if code == ExitCode.POLICY_FAILED else "error"
    )
    return HardenReport(
        verdict=verdict,
        exit_code=int(code),
        model=str(config.model),
        model_sha256=before.model.sha256,
        output=str(config.output),
        output_sha256=sha256_bytes(hardened),
        format=model.format,
        trained_tensors=len(model.parameters),
        trained_values=model.n_values,
        settings=_settings(config),
        history=result.history,
        best_epoch=result.best_epoch,
        stopped_early=result.stopped_early,
        resumed_from_epoch=result.resumed_from,
        write_back=write_back,
        gate=gate,
        rows=rows(before, after),
        before=before,
        after=after,
    )


def _check_paths(config: HardenConfig) -> None:
    """The output never replaces an input (the original model above all)."""
    inputs = [config.model, config.data, config.val, config.checkpoint]
    out = config.output.resolve()
    for path in inputs:
        if path is not None and path.resolve() == out:
            raise UsageError(f"-o {config.output}: is also an input; choose another path")
    if config.output.suffix.lower() != config.model.suffix.lower():
        raise UsageError(
            f"-o {config.output}: the hardened model keeps the format of {config.model.name}; "
            f"use the extension {config.model.suffix or '(none)'}"
        )


def _labelled(path: Path, config: HardenConfig) -> Dataset:
    registry, _ = data_registry()
    dataset = load_dataset(
        path, registry=registry, x_key=config.x_key, y_key=config.y_key, layout=config.layout
    )
    if dataset.y is None:
        raise DataError(
            f"{path}: the data has no labels; training needs the true classes",
            hint="pass a file with labels, or name the label array with --y-key",
        )
    return dataset


def _read(dataset: Dataset) -> tuple[np.ndarray, np.ndarray]:
    assert dataset.y is not None
    indices = dataset.indices()
    return dataset.source.read(indices), np.asarray(dataset.y[indices], dtype=np.int64)


def _hold_out(
    x: np.ndarray, y: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    n = len(y)
    n_val = max(1, round(fraction * n))
    if n - n_val < 1:
        raise DataError(f"{n} samples are too few to hold out a validation set; pass --val")
    order = np.random.default_rng([seed, 7]).permutation(n)
    val, kept = np.sort(order[:n_val]), np.sort(order[n_val:])
    return x[kept], y[kept], x[val], y[val]


def _attacks(config: HardenConfig) -> tuple[Attack, str, list[str]]:
    """The training attack, the label the gate reads, and the scans' attack list."""
    spec = parse_attack_spec(config.attack)
    registry, _ = attack_registry()
    attack = registry.get(spec.name).from_options(spec.options, label=spec.label)
    report = list(config.report_attacks)
    texts = {parse_attack_spec(a).text(): parse_attack_spec(a).shown_label for a in report}
    if spec.text() in texts:
        return attack, texts[spec.text()], report
    labelled = AttackSpec(spec.name, spec.options, label=f"{spec.shown_label}-train")
    return attack, labelled.shown_label, [*report, labelled.text()]


def _normalised(backend: Backend, config: HardenConfig, dataset: Dataset) -> Backend:
    if config.mean is None and config.std is None:
        return backend
    norm = Normalisation.build(
        config.mean or [0.0], config.std or [1.0], config.layout, dataset.sample_shape
    )
    check_normalisation_not_doubled(backend.info, norm)
    return NormalisedBackend(backend, norm)


def _output_kind(backend: Backend, data: Split) -> OutputKind:
    scores = backend.differentiable_scores(data.x[:256])
    return detect_output_kind(scores.cpu().numpy())


def _confirm(
    candidate: Path,
    model: TrainableModel,
    trained: Backend,
    config: HardenConfig,
    dataset: Dataset,
    val: Split,
    kind: OutputKind,
) -> WriteBack:
    """Reload the hardened file as ``scan`` would and compare its deployed scores with the
    trained model's, in probability."""
    reloaded = _normalised(
        load_backend(candidate, model_format=model.format, device="cpu"), config, dataset
    )
    x = val.x[:_CONFIRM_SAMPLES]
    deployed = to_probabilities(reloaded.scores(x).cpu().numpy(), kind)
    expected = to_probabilities(trained.differentiable_scores(x).cpu().numpy(), kind)
    difference = float(np.max(np.abs(deployed - expected))) if len(x) else 0.0
    tolerance = tolerance_for(reloaded.info, None)
    if not difference <= tolerance:
        raise MeasurementError(
            f"{candidate.name}: the hardened file's runtime disagrees with the trained model "
            f"(max |Δp| {difference:.2g} > {tolerance:g}); nothing was written"
        )
    return WriteBack(max_abs_probability_difference=difference, tolerance=tolerance, samples=len(x))


def _scan_config(
    config: HardenConfig,
    model: Path,
    data: Path,
    keys: tuple[str | None, str | None],
    attacks: list[str],
) -> ScanConfig:
    policy_eps = config.policy.eps_values() if config.policy is not None else []
    contract = config.model_dump(include=set(ContractSettings.model_fields))
    return ScanConfig(
        **{**contract, "x_key": keys[0], "y_key": keys[1]},
        model=model,
        data=data,
        eps=sorted({config.eps, *config.scan_eps, *policy_eps}),
        attacks=attacks,
        policy=config.policy,
        policy_source=config.policy_source,
        device="cpu",
        seed=config.seed,
        isolate=False,
    )


def _settings(config: HardenConfig) -> dict[str, object]:
    return config.model_dump(mode="json", exclude={"policy"})


def _fingerprint(config: HardenConfig, model: TrainableModel, train_sha: str, val_sha: str) -> str:
    """Everything that determines the trained weights; output paths and report options do not."""
    settings = config.model_dump(
        mode="json",
        exclude={"model", "data", "val", "output", "checkpoint", "scan_eps", "report_attacks",
                 "policy", "policy_source", "max_clean_drop", "allow_low_accuracy"},
    )  # fmt: skip
    blob = json.dumps(
        {
            "model": file_sha256(model.path),
            "train": train_sha,
            "val": val_sha,
            "settings": settings,
            "torch": torch.__version__,
        },
        sort_keys=True,
    )
    return sha256_bytes(blob.encode())
