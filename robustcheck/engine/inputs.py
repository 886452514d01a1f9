"""A scan's inputs, checked against its model: the data (with a multi-input model's other
inputs), its shape, the valid domain and the normalisation outside the model."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Literal

from robustcheck.attacks import InputDomain
from robustcheck.backends.base import Backend
from robustcheck.data import Dataset, load_dataset, select
from robustcheck.data.class_names import read_class_names
from robustcheck.data.npz import read_side_arrays
from robustcheck.engine.attack_plan import (
    min_eps_plan,
)
from robustcheck.engine.config import ScanConfig
from robustcheck.engine.contract import (
    Normalisation,
)
from robustcheck.engine.sections import (
    shape_hint,
)
from robustcheck.errors import DataError, UsageError, quoted
from robustcheck.plugins import data_registry

DomainSource = Literal["declared", "default", "none"]


def named_input(backend: Backend) -> str | None:
    """The attacked input's name when the model names its inputs (ONNX; TorchScript and ``.pt2``
    inputs have no name of their own), for an ``.npz`` array named after it."""
    return backend.info.input_name if backend.info.format == "onnx" else None


def load_data(config: ScanConfig, input_name: str | None = None) -> tuple[Dataset, str | None]:
    registry, plugins = data_registry()
    broken = [
        f"data-loader plugin {p.name!r} ({p.value}) was skipped: {p.error}"
        for p in plugins
        if p.error
    ]
    dataset = load_dataset(
        config.data,
        registry=registry,
        data_format=config.data_format,
        x_key=config.x_key,
        input_name=input_name,
        y_key=config.y_key,
        label_column=config.label_column,
        feature_columns=config.feature_columns or None,
        labels_file=config.labels_file,
        image_size=config.image_size,
        layout=config.layout,
        class_order=config.class_order,
        tokenizer=config.tokenizer,
        text_column=config.text_column,
    )
    if broken:
        dataset = replace(dataset, notes=(*dataset.notes, *broken))
    if config.class_names_file is not None:
        dataset = replace(dataset, class_names=read_class_names(config.class_names_file))
    if config.limit is None and config.per_class is None:
        return dataset, None
    return select(dataset, limit=config.limit, per_class=config.per_class, seed=config.seed)


def check_min_eps_possible(config: ScanConfig, backend: Backend) -> None:
    """The minimal-ε search follows the clean gradient's sign: a query-only model has none."""
    if min_eps_plan(config) is None or backend.info.differentiable_path != "none":
        return
    flag = "--find-min-eps" if config.find_min_eps else "the policy's min_eps rules"
    raise UsageError(
        f"{flag}: the minimal-ε search follows the input gradient, which {backend.info.path} "
        f"has no path for ({'; '.join(backend.info.blockers)})",
        hint="leave the minimal-ε search out for this model",
    )


def with_side_inputs(dataset: Dataset, backend: Backend) -> Dataset:
    """A multi-input model's other inputs, read from the data file's arrays named after them."""
    names = backend.info.side_inputs
    if not names:
        return dataset
    if dataset.format != "npz":
        raise DataError(
            f"{dataset.path}: {backend.info.path} has other inputs ({quoted(names)}) besides "
            f"{backend.info.input_name!r}; only an .npz file can hold them (arrays named after them)"
        )
    side = read_side_arrays(Path(dataset.path), names, dataset.source.n)
    return replace(dataset, side=side)


def normalisation(config: ScanConfig, dataset: Dataset) -> Normalisation | None:
    if config.mean is None and config.std is None:
        return None
    mean = config.mean or [0.0]
    std = config.std or [1.0]
    return Normalisation.build(mean, std, config.layout, dataset.sample_shape)


def check_input_shape(backend: Backend, dataset: Dataset) -> None:
    """The data's per-sample shape must fit the model's declared input (dynamic dims fit anything)."""
    declared = backend.info.input_shape
    sample = dataset.sample_shape
    if not declared:  # TorchScript declares none: the first batch tells (see _scan.scan)
        return
    expected = declared[1:]
    fits = len(expected) == len(sample) and all(
        d is None or d == s for d, s in zip(expected, sample, strict=True)
    )
    if not fits:
        shown = ", ".join(
            "N" if i == 0 else ("?" if d is None else str(d)) for i, d in enumerate(declared)
        )
        raise DataError(
            f"{dataset.path}: samples have shape {list(sample)} but {backend.info.path} expects "
            f"[{shown}] (input {backend.info.input_name!r})",
            hint=shape_hint(dataset.format),
        )


def resolve_domain(
    declared: tuple[float, float] | None,
    dataset: Dataset,
    value_range: tuple[float, float] | None = None,
) -> tuple[InputDomain | None, DomainSource, list[str]]:
    """The clip interval: declared, else [0, 1] when the data lies in it, else none (with a warning).
    ``value_range``: the data's, when already known (it takes a pass over the data)."""
    lo, hi = value_range or dataset.value_range()
    if declared is not None:
        if lo < declared[0] or hi > declared[1]:
            raise DataError(
                f"{dataset.path}: values span [{lo:g}, {hi:g}], outside --input-range "
                f"{declared[0]:g} {declared[1]:g}"
            )
        return InputDomain(*declared), "declared", []
    if lo >= 0.0 and hi <= 1.0:
        return InputDomain(0.0, 1.0), "default", []
    return (
        None,
        "none",
        [
            f"data values span [{lo:g}, {hi:g}] and no --input-range was given: adversarial inputs "
            "are not clipped to a valid domain"
        ],
    )
