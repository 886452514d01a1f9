"""Log a finished scan to MLflow: where the team already compares its training runs.

``--mlflow`` (``mlflow: true`` in the configuration, ``robustcheck.scan(..., mlflow=True)``) logs
the report to the active MLflow run, or to a new run of the tracking server that
``MLFLOW_TRACKING_URI`` names (MLflow's own defaults otherwise; ``MLFLOW_EXPERIMENT_NAME`` picks
the experiment):

- parameters: the model's and data's hashes and names, the attacks, ε, the policy and its hash;
- metrics (one per attack and ε): ``adv_error/fgsm/0.1``, ``attack_success/…``,
  ``confident_errors/…`` (a count), ``robust_accuracy/…``; then ``clean_accuracy`` and the twin's
  ``fidelity/…`` agreement with the runtime;
- tags: ``robustcheck.verdict``, ``robustcheck.exit_code``, ``robustcheck.complete``;
- artifacts under ``robustcheck/``: ``report.json`` and ``report.html``.

Tracking is a record of the verdict, never part of it: a server that cannot be reached is a
warning (``--mlflow=required`` makes it exit 5). So that a gate is not held minutes by a server
that is down, MLflow's HTTP retries and timeout get short defaults for the call (2 retries,
10 s) where the environment does not set them.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from robustcheck.errors import RuntimeEnvironmentError
from robustcheck.reports import html, json_report

if TYPE_CHECKING:
    from robustcheck.reports.model import Report

Tracking = Literal["off", "on", "required"]
ARTIFACT_DIR = "robustcheck"
_HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
}
_UNSAFE = re.compile(r"[^A-Za-z0-9_\-. /]")
"""What MLflow refuses in a metric or parameter key."""


@dataclass(frozen=True)
class Logged:
    """Where the report went."""

    run_id: str
    tracking_uri: str
    experiment_id: str


def check_installed() -> None:
    """Raise (exit 5) before the scan when MLflow is asked for but not installed."""
    try:
        import mlflow  # noqa: F401  # the optional extra, imported only when --mlflow asks for it
    except ImportError:
        raise RuntimeEnvironmentError(
            "--mlflow: MLflow is not installed",
            hint="pip install 'robustcheck-gate[mlflow]'",
        ) from None


def key(*parts: object) -> str:
    """A metric or parameter key MLflow accepts: ``adv_error/pgd_steps_5/0.1``."""
    return "/".join(_UNSAFE.sub("_", str(p)) for p in parts)


def metrics(report: Report) -> dict[str, float]:
    """The report's figures as MLflow metrics (rates in [0, 1], counts as numbers)."""
    found: dict[str, float] = {}
    for r in report.results:
        found[key("adv_error", r.attack, r.eps)] = r.adversarial_error_rate
        if r.attack_success_rate is not None:
            found[key("attack_success", r.attack, r.eps)] = r.attack_success_rate
        found[key("confident_errors", r.attack, r.eps)] = float(
            r.high_confidence_misclassifications
        )
        found[key("robust_accuracy", r.attack, r.eps)] = 1.0 - r.adversarial_error_rate
    if report.results:
        found["clean_accuracy"] = 1.0 - report.results[0].clean_error_rate
    fidelity = report.fidelity
    if fidelity.clean_top1_agreement is not None:
        found["fidelity/clean_top1_agreement"] = fidelity.clean_top1_agreement
    if fidelity.clean_max_abs_probability_difference is not None:
        found["fidelity/clean_max_abs_probability_difference"] = (
            fidelity.clean_max_abs_probability_difference
        )
    if fidelity.adversarial_max_abs_probability_difference is not None:
        found["fidelity/adversarial_max_abs_probability_difference"] = (
            fidelity.adversarial_max_abs_probability_difference
        )
    return found


def params(report: Report) -> dict[str, str]:
    """What was scanned, and how: enough to tell two runs' scans apart."""
    found = {
        "robustcheck.model": Path(report.model.path).name,
        "robustcheck.model_sha256": report.model.sha256,
        "robustcheck.model_format": report.model.format,
        "robustcheck.data": Path(report.data.path).name,
        "robustcheck.data_sha256": report.data.sha256,
        "robustcheck.samples": str(report.data.n_samples),
        "robustcheck.attacks": ",".join(report.settings.attacks),
        "robustcheck.eps": ",".join(f"{e:g}" for e in report.settings.eps),
        "robustcheck.seed": str(report.settings.seed),
        "robustcheck.version": report.versions.robustcheck,
    }
    if report.policy is not None:
        found["robustcheck.policy"] = report.policy.source
        found["robustcheck.policy_sha256"] = report.policy.sha256
    return found


def tags(report: Report) -> dict[str, str]:
    return {
        "robustcheck.verdict": report.verdict,
        "robustcheck.exit_code": str(report.exit_code),
        "robustcheck.complete": str(report.complete).lower(),
    }


def log_report(report: Report) -> Logged:
    """Log ``report`` to the active run, or to a new run that is ended here; any failure of
    MLflow's (an unreachable server, a refused key) raises :class:`RuntimeEnvironmentError`."""
    check_installed()
    import mlflow  # the optional extra (and its own heavy imports): only when --mlflow is on

    try:
        with _http_defaults(), _run(report) as run:
            mlflow.log_params(params(report))
            mlflow.log_metrics(metrics(report))
            mlflow.set_tags(tags(report))
            with tempfile.TemporaryDirectory(prefix="robustcheck-mlflow-") as folder:
                Path(folder, "report.json").write_text(json_report.render(report), "utf-8")
                Path(folder, "report.html").write_text(html.render(report), "utf-8")
                mlflow.log_artifacts(folder, artifact_path=ARTIFACT_DIR)
            return Logged(run.info.run_id, mlflow.get_tracking_uri(), run.info.experiment_id)
    except RuntimeEnvironmentError:
        raise
    except Exception as exc:  # MLflow raises many kinds (HTTP, SQL, file system, its own)
        detail = " ".join(str(exc).split())[:300] or type(exc).__name__
        raise RuntimeEnvironmentError(
            f"--mlflow: could not log to {_uri()}: {type(exc).__name__}: {detail}"
        ) from None


@contextlib.contextmanager
def _run(report: Report) -> Iterator[Any]:
    """The caller's active run, or a new one named after the model that ends with this call."""
    import mlflow as api  # the optional extra: only when --mlflow is on

    active = api.active_run()
    if active is not None:
        yield active
        return
    with api.start_run(run_name=f"robustcheck {Path(report.model.path).name}") as run:
        yield run


@contextlib.contextmanager
def _http_defaults() -> Iterator[None]:
    """MLflow's HTTP retry settings, shortened for this call where the environment sets none."""
    added = [name for name in _HTTP_DEFAULTS if name not in os.environ]
    for name in added:
        os.environ[name] = _HTTP_DEFAULTS[name]
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)


def _uri() -> str:
    try:
        import mlflow as api  # the optional extra: only when --mlflow is on

        return str(api.get_tracking_uri())
    except Exception:  # naming the target must not hide the error being reported
        return "the tracking server"
