"""Building the report's provenance sections from the scan's configuration and inputs."""

from __future__ import annotations

import platform
from importlib import metadata

import numpy as np

from robustcheck._version import __version__
from robustcheck.data import Dataset
from robustcheck.engine.budget import EpsScale
from robustcheck.engine.config import ScanConfig
from robustcheck.engine.contract import Normalisation
from robustcheck.policy.load import canonical_dict, policy_sha256
from robustcheck.reports.model import (
    DataSection,
    EmbeddingSection,
    InputSection,
    PolicySection,
    Versions,
)


def data_section(config: ScanConfig, dataset: Dataset, manifest: str | None) -> DataSection:
    subset = manifest is not None
    parts = [f"--per-class {config.per_class}"] * (config.per_class is not None)
    parts += [f"--limit {config.limit}"] * (config.limit is not None)
    return DataSection(
        path=dataset.path,
        sha256=dataset.sha256,
        format=dataset.format,
        n_samples=dataset.n_samples,
        labels="provided" if dataset.y is not None else "predicted",
        x_key=dataset.x_key,
        y_key=dataset.y_key,
        class_names=None if dataset.class_names is None else list(dataset.class_names),
        n_file_samples=dataset.source.n if subset else None,
        selection=f"{', '.join(parts)}, seed {config.seed}" if subset else None,
        manifest_sha256=manifest,
    )


def input_section(
    config: ScanConfig,
    norm: Normalisation | None,
    scale: EpsScale | None = None,
    embedding: EmbeddingSection | None = None,
) -> InputSection:
    eps_units = None
    if norm is not None:
        std = norm.std.reshape(-1).astype(float).tolist()
        eps_units = [[e / s for s in std] for e in config.eps]
    return InputSection(
        layout=config.layout,
        mean=config.mean,
        std=config.std,
        deployed_dtype=config.deployed_dtype or "float32",
        eps_model_units=eps_units,
        eps_scale=None if scale is None else scale.section(),
        embedding=embedding,
    )


def model_input_shape(
    declared: tuple[int | None, ...], sample_shape: tuple[int, ...]
) -> list[int | None]:
    """The shape the model was fed, ``None`` for the batch: declared sizes where the model
    declares them, the data's where it leaves them dynamic or declares nothing (TorchScript)."""
    if len(declared) != len(sample_shape) + 1:
        return [None, *sample_shape]
    rest = (s if d is None else d for d, s in zip(declared[1:], sample_shape, strict=True))
    return [declared[0], *rest]


_SHAPE_HINTS = {
    "images": "check --layout (NCHW vs NHWC) and --image-size",
    "npz": "check --layout (NCHW vs NHWC) and the array's shape",
    "npy": "check --layout (NCHW vs NHWC) and the array's shape",
    "csv": "check --feature-column: the model expects a different number of features",
}


def shape_hint(data_format: str) -> str:
    """What to check when samples do not fit the model, naming only flags that apply to the data."""
    return _SHAPE_HINTS.get(data_format, "check that the data has the shape the model expects")


def policy_section(config: ScanConfig) -> PolicySection | None:
    if config.policy is None:
        return None
    return PolicySection(
        source=config.policy_source or "api",
        sha256=policy_sha256(config.policy),
        resolved=canonical_dict(config.policy),
    )


def versions() -> Versions:
    def version(dist: str) -> str | None:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return None

    return Versions(
        robustcheck=__version__,
        python=platform.python_version(),
        numpy=np.__version__,
        torch=version("torch"),
        onnx=version("onnx"),
        onnxruntime=version("onnxruntime-gpu") or version("onnxruntime"),
    )
