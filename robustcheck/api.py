"""The Python API: scan a model from a notebook, a test or a training script.

``robustcheck.scan(model, data, eps=...)`` takes what the caller already holds — a path, a
``torch.nn.Module`` or an ``onnx.ModelProto``; a path, an ``(x, y)`` pair of arrays or tensors, or
an iterable of such batches — and returns the typed :class:`~robustcheck.reports.model.Report`
the command line writes as JSON. Every other setting is a keyword named like the command line's
long option (``--batch-size`` is ``batch_size``), validated by the same settings model
(:class:`robustcheck.settings.scan.ScanSettings`), so there is no third copy of the options.

In-memory models and data are written to a temporary folder first (a ``torch.export`` program,
an ``.onnx`` file, an ``.npz``) and scanned exactly as the command line scans files: the same
counts, the same report (its ``model.path`` and ``data.path`` name what was passed). The scan
runs in this process (``isolate=False``, the default: the caller already holds the model);
``isolate=True`` runs it in a child process with ``timeout_s`` and ``max_memory_mb``, as the
command line does.

Errors raise the project's typed exceptions (:class:`robustcheck.errors.RobustcheckError`
subclasses: ``UsageError`` for a bad argument, ``InputError`` for a model, data or policy that
cannot be used, ...), with the command line's one-line messages; never ``SystemExit``.
"""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import ValidationError

from robustcheck._warnings import deprecations_dropped
from robustcheck.data import load_dataset
from robustcheck.engine.resolve import resolve_scan
from robustcheck.errors import (
    DataError,
    ModelError,
    PolicyError,
    RobustcheckError,
    RuntimeEnvironmentError,
    UsageError,
)
from robustcheck.execution.isolation import default_max_memory_mb, run_isolated
from robustcheck.execution.local import run_here
from robustcheck.policy.load import load_builtin, load_reference
from robustcheck.policy.schema import Policy as _Policy
from robustcheck.reports.builtin import reporter_registry
from robustcheck.reports.json_report import read as _read_report
from robustcheck.reports.model import Check
from robustcheck.reports.model import Report as _Report
from robustcheck.settings.scan import ScanSettings
from robustcheck.tracking.mlflow_run import check_installed, log_report

if TYPE_CHECKING:
    import onnx
    import torch

__all__ = ["Policy", "Report", "TrackingWarning", "load_report", "scan"]

PathLike = str | os.PathLike[str]
log = logging.getLogger(__name__)
_LOADER_OPTIONS = frozenset(
    {"data_format", "x_key", "y_key", "label_column", "labels_file", "image_size", "layout"}
)
"""Settings that change how the data file is read (for the sample an in-memory module is
exported against)."""
_ARGUMENTS = frozenset({"model", "data", "eps", "attacks", "policy_ref", "max_error_rate"})
"""Settings given by :func:`scan`'s own parameters, not as keywords."""


class Report(_Report):
    """A scan's report (the JSON report's typed model, docs/reports.md) with what a caller asks
    of it: the verdict, the failing rules, and every report format."""

    @property
    def passed(self) -> bool:
        """The scan finished and every gating rule passed (what exit code 0 means)."""
        return self.complete and self.verdict == "pass"

    @property
    def failures(self) -> list[Check]:
        """The rules that failed (or could not be evaluated), in the report's order."""
        return [c for c in self.checks if c.status in ("fail", "error")]

    def render(self, format: str) -> str:
        """The report in a registered format (``json``, ``junit``, ``markdown``, ``html`` or a
        plugin's), as ``--report FORMAT=PATH`` writes it."""
        registry, _ = reporter_registry()
        if format not in registry:
            raise UsageError(
                f"render(): unknown report format {format!r}; installed: "
                + ", ".join(registry.names())
            )
        return registry.get(format)().render(self)

    def to_json(self) -> str:
        return self.render("json")

    def to_junit(self) -> str:
        return self.render("junit")

    def to_markdown(self) -> str:
        return self.render("markdown")

    def to_html(self, path: PathLike | None = None) -> str:
        """The self-contained HTML page; written to ``path`` too when one is given."""
        text = self.render("html")
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    @classmethod
    def _of(cls, report: _Report) -> Report:
        return cls.model_validate_json(report.model_dump_json())


class Policy(_Policy):
    """A policy (docs/policies.md) built in code, ``Policy(budgets=[...])``, or read from YAML,
    ``Policy.from_yaml(path)``; an invalid one raises :class:`~robustcheck.errors.PolicyError`."""

    def __init__(self, **rules: Any) -> None:
        try:
            super().__init__(**rules)
        except ValidationError as exc:
            raise PolicyError(f"policy: {_one_line(exc)}") from None

    @classmethod
    def from_yaml(cls, path: PathLike) -> Policy:
        """The policy file at ``path`` (or ``builtin:NAME``), ``extends`` merged, as ``--policy``
        reads it."""
        return cls._of(load_reference(os.fspath(path)))

    @classmethod
    def builtin(cls, name: str) -> Policy:
        """A built-in policy: ``default``, ``strict`` or ``paper-mnist``."""
        return cls._of(load_builtin(name))

    @classmethod
    def _of(cls, policy: _Policy) -> Policy:
        return cls.model_validate(policy.model_dump(exclude_unset=True))


def scan(
    model: PathLike | torch.nn.Module | onnx.ModelProto,
    data: PathLike | tuple[Any, Any] | Iterable[tuple[Any, Any]],
    *,
    eps: float | Iterable[float] = (),
    attacks: str | Iterable[str] | None = None,
    policy: Policy | _Policy | PathLike | None = None,
    max_error_rate: float | None = None,
    isolate: bool = False,
    **settings: Any,
) -> Report:
    """Scan ``model`` on ``data`` and return the report.

    ``eps``: one budget or several, in raw data units (the policy's ε are scanned too).
    ``attacks``: ``"fgsm"``, ``["fgsm", "auto"]``... as ``--attack`` (default: the policy's, else
    FGSM). ``policy``: a :class:`Policy`, a policy file or ``"builtin:NAME"`` (default:
    ``builtin:default``); ``max_error_rate`` instead gates on one limit, as ``--max-error-rate``.
    ``settings``: any other ``robustcheck scan`` option by its long name with ``_`` for ``-``
    (``batch_size=64``, ``input_range=(0, 1)``, ``limit=200``, ``device="cuda"``).
    """
    unknown = sorted(set(settings) - set(ScanSettings.model_fields) | set(settings) & _ARGUMENTS)
    if unknown:
        raise UsageError(
            f"scan(): unknown setting {unknown[0]!r} (the settings are robustcheck scan's long "
            "options with _ for -; model, data, eps, attacks and policy are parameters)"
        )
    with tempfile.TemporaryDirectory(prefix="robustcheck-") as folder:
        tmp = Path(folder)
        data_path, shown_data, example = _data_file(data, tmp)
        if example is None and not isinstance(model, str | os.PathLike):
            example = _first_samples(data_path, settings)  # to export an in-memory module
        model_path, shown_model = _model_file(model, tmp, example)
        values: dict[str, Any] = {
            **settings,
            "model": model_path,
            "data": data_path,
            "eps": [float(eps)] if isinstance(eps, int | float) else [float(e) for e in eps],
            "attacks": [attacks] if isinstance(attacks, str) else list(attacks or []),
            "isolate": isolate,
            "max_error_rate": max_error_rate,
        }
        built: _Policy | None = None
        if isinstance(policy, _Policy):
            built = policy
        elif policy is not None:
            values["policy_ref"] = os.fspath(policy)
        try:
            checked = ScanSettings.model_validate(values)
        except ValidationError as exc:
            raise UsageError(_one_line(exc, flags=True)) from None
        config = resolve_scan(checked, policy=built, policy_source=None if built is None else "api")
        if checked.mlflow != "off":
            check_installed()
        try:
            if isolate:
                report = run_isolated(
                    config,
                    timeout_s=config.timeout_s,
                    max_memory_mb=config.max_memory_mb or default_max_memory_mb(),
                )
            else:
                report = run_here(config)
        except RobustcheckError as exc:  # name what the caller passed, not the temporary files
            for path, shown in ((model_path, shown_model), (data_path, shown_data)):
                if shown is not None:
                    exc.message = exc.message.replace(str(path), shown)
            exc.args = (exc.message,)
            raise
    named = _named(report, shown_model, shown_data)
    if checked.mlflow != "off":
        _track(named, required=checked.mlflow == "required")
    return named


def _track(report: Report, *, required: bool) -> None:
    """``mlflow=True``: log to the active run; a failure is a :class:`TrackingWarning` (the
    verdict stands), or with ``mlflow="required"`` the error itself."""
    try:
        logged = log_report(report)
    except RuntimeEnvironmentError as exc:
        if required:
            raise
        warnings.warn(f"{exc.one_line()} (the verdict stands)", TrackingWarning, stacklevel=3)
        return
    log.info("mlflow: run %s at %s", logged.run_id, logged.tracking_uri)


class TrackingWarning(UserWarning):
    """The report could not be logged to MLflow (``scan(..., mlflow=True)``)."""


def load_report(path: PathLike) -> Report:
    """A JSON report a scan wrote (raises :class:`~robustcheck.errors.InputError` when it is not
    one, or is the stub of a scan that did not finish)."""
    return Report._of(_read_report(Path(path)))


def _one_line(exc: ValidationError, *, flags: bool = False) -> str:
    """The first error as the command line words it: ``--batch-size: ...``."""
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"])
    if flags and error["loc"]:
        where = "--" + str(error["loc"][0]).replace("_", "-")
    return f"{where}: {error['msg']}" if where else str(error["msg"])


def _named(report: _Report, model: str | None, data: str | None) -> Report:
    """The report naming what the caller passed, not the temporary files it was scanned from."""
    update: dict[str, Any] = {}
    if model is not None:
        update["model"] = report.model.model_copy(update={"path": model})
    if data is not None:
        update["data"] = report.data.model_copy(update={"path": data})
    return Report._of(report.model_copy(update=update))


def _model_file(model: Any, tmp: Path, example: np.ndarray | None) -> tuple[Path, str | None]:
    """A path to scan, and how the report names an in-memory model (``None`` for a path)."""
    if isinstance(model, str | os.PathLike):
        return Path(model), None
    kind = type(model).__module__.split(".")[0]
    if kind == "onnx" and type(model).__name__ == "ModelProto":
        path = tmp / "model.onnx"
        path.write_bytes(model.SerializeToString())
        return path, f"in-memory onnx.ModelProto {model.graph.name or 'graph'}"
    if kind == "torch" or _is_module(model):
        if example is None:
            raise DataError("scan(): an in-memory torch model needs data with at least one sample")
        path = tmp / "model.pt2"
        _export(model, example, path)
        return path, f"in-memory torch.nn.Module {type(model).__name__}"
    raise UsageError(
        f"scan(): model must be a path, a torch.nn.Module or an onnx.ModelProto, not "
        f"{type(model).__name__}"
    )


def _is_module(model: Any) -> bool:
    try:
        import torch  # the caller's model is a torch object: torch is already imported
    except ImportError:  # pragma: no cover - torch is a dependency
        return False
    return isinstance(model, torch.nn.Module)


def _export(model: Any, example: np.ndarray, path: Path) -> None:
    """``model`` as a ``torch.export`` program with a dynamic batch size (what ``.pt2`` scans)."""
    import torch  # delayed: the API module is imported by `import robustcheck`'s lazy names

    sensitive = (torch.nn.modules.dropout._DropoutNd, torch.nn.modules.batchnorm._NormBase)
    if any(m.training and isinstance(m, sensitive) for m in model.modules()):
        raise UsageError(
            "scan(): the model's dropout or batch-norm layers are in training mode: call "
            "model.eval() first"
        )
    batch = torch.export.Dim("batch")
    sample = torch.from_numpy(np.ascontiguousarray(example[:2]))
    try:
        with deprecations_dropped(log, "exporting the model"):
            program = torch.export.export(model, (sample,), dynamic_shapes=({0: batch},))
            torch.export.save(program, str(path))
    except Exception as exc:
        raise ModelError(
            f"scan(): torch.export cannot export the model ({type(exc).__name__}: "
            f"{' '.join(str(exc).split())[:300]}); save it yourself (torch.export.save, or "
            "torch.onnx.export) and pass the path"
        ) from None


def _array(value: Any, what: str) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().cpu().numpy()
    try:
        return np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise DataError(f"scan(): {what} is not an array ({exc})") from None


def _data_file(data: Any, tmp: Path) -> tuple[Path, str | None, np.ndarray | None]:
    """A path to scan, how the report names in-memory data, and a sample of the inputs (for
    exporting an in-memory model)."""
    if isinstance(data, str | os.PathLike):
        return Path(data), None, None
    if isinstance(data, Mapping):
        raise UsageError("scan(): data must be a path, an (x, y) pair or an iterable of pairs")
    if isinstance(data, tuple) and len(data) == 2:
        batches: list[tuple[Any, Any]] = [data]
    else:
        try:
            batches = list(data)
        except TypeError:
            raise UsageError(
                f"scan(): data must be a path, an (x, y) pair or an iterable of (x, y) batches, "
                f"not {type(data).__name__}"
            ) from None
    if not batches:
        raise DataError("scan(): data holds no batch")
    xs, ys = [], []
    for i, batch in enumerate(batches):
        if not (isinstance(batch, tuple | list) and len(batch) == 2):
            raise UsageError(f"scan(): batch {i} of data is not an (x, y) pair")
        xs.append(_array(batch[0], f"x of batch {i}"))
        ys.append(_array(batch[1], f"y of batch {i}"))
    try:
        x, y = np.concatenate(xs), np.concatenate(ys)
    except ValueError as exc:
        raise DataError(f"scan(): the batches of data do not fit together ({exc})") from None
    if x.shape[0] != y.shape[0]:
        raise DataError(f"scan(): x has {x.shape[0]} samples but y has {y.shape[0]} labels")
    path = tmp / "data.npz"
    np.savez(path, x=x, y=y)
    return path, f"in-memory arrays x{list(x.shape)} y{list(y.shape)}", x[:2] if x.size else None


def _first_samples(path: Path, settings: Mapping[str, Any]) -> np.ndarray:
    """Two inputs of the data file, read as the scan will read it (its errors name the file)."""
    options = {k: v for k, v in settings.items() if k in _LOADER_OPTIONS and v is not None}
    dataset = load_dataset(path, **options)
    return next(dataset.batches(2)).x
