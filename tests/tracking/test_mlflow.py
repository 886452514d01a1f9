"""MLflow tracking (robustcheck.tracking.mlflow_run) against a real tracking server: ``mlflow
server`` with a SQLite backend and a temporary artifact store on 127.0.0.1, read back through
``MlflowClient``. A server that cannot be reached leaves the verdict as it was (or, required,
exits 5 with every report a stub)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import MlflowClient

import robustcheck
from robustcheck.cli import main
from robustcheck.settings import ScanSettings
from robustcheck.tracking.mlflow_run import key, metrics

MLFLOW = Path(sys.executable).with_name("mlflow")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[str]:
    """A tracking server on a free port; yields its URI once it accepts requests."""
    root = tmp_path_factory.mktemp("mlflow")
    port = _free_port()
    process = subprocess.Popen(
        [
            str(MLFLOW), "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
            "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
            "--artifacts-destination", str(root / "artifacts"),
        ],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=root,
        env={**os.environ, "MLFLOW_HOME": str(root)},
    )  # fmt: skip
    ready = threading.Event()
    lines: list[str] = []

    def watch() -> None:  # the server says when it listens; no polling, no sleeping
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if "Uvicorn running on" in line or "Listening at" in line:
                ready.set()
        ready.set()  # it exited: the assertion below shows why

    threading.Thread(target=watch, daemon=True).start()
    ready.wait(timeout=120)
    assert process.poll() is None, "".join(lines)[-3000:]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture
def tracked(server, monkeypatch, request) -> str:
    """MLFLOW_TRACKING_URI set to the server and an experiment of this test's own."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", request.node.name[:60])
    mlflow.set_tracking_uri(server)
    return server


def _runs(server: str, experiment: str) -> list:
    client = MlflowClient(server)
    found = client.get_experiment_by_name(experiment)
    assert found is not None, f"no experiment {experiment!r}"
    return client.search_runs([found.experiment_id])


def test_a_scan_logs_params_metrics_verdict_and_reports(
    tracked, linear_model, digits_npz, tmp_path, capsys
):
    out = tmp_path / "report.json"
    argv = [
        "scan", str(linear_model.pt2), "--data", str(digits_npz), "--eps", "0.05", "--eps", "0.1",
        "--limit", "120", "--no-isolation", "--json", str(out), "--mlflow",
    ]  # fmt: skip
    code = main(argv)
    report = robustcheck.load_report(out)
    assert code == report.exit_code
    assert "mlflow: run " in capsys.readouterr().out
    (run,) = _runs(tracked, os.environ["MLFLOW_EXPERIMENT_NAME"])
    assert run.info.status == "FINISHED"
    assert run.data.tags["robustcheck.verdict"] == report.verdict
    assert run.data.tags["robustcheck.exit_code"] == str(code)
    assert run.data.params["robustcheck.model_sha256"] == report.model.sha256
    assert run.data.params["robustcheck.eps"] == "0.05,0.1"
    fgsm = {r.eps: r for r in report.results if r.attack == "fgsm"}
    assert run.data.metrics["adv_error/fgsm/0.1"] == pytest.approx(fgsm[0.1].adversarial_error_rate)
    assert run.data.metrics["confident_errors/fgsm/0.05"] == (
        fgsm[0.05].high_confidence_misclassifications
    )
    assert run.data.metrics == pytest.approx(metrics(report))
    client = MlflowClient(tracked)
    names = {a.path for a in client.list_artifacts(run.info.run_id, "robustcheck")}
    assert names == {"robustcheck/report.json", "robustcheck/report.html"}
    local = client.download_artifacts(run.info.run_id, "robustcheck/report.json", str(tmp_path))
    assert json.loads(Path(local).read_text()) == json.loads(out.read_text())


def test_the_api_logs_into_the_callers_active_run(tracked, linear_model, digits):
    mlflow.set_experiment(os.environ["MLFLOW_EXPERIMENT_NAME"])
    with mlflow.start_run() as run:
        mlflow.log_param("lr", "0.05")  # the caller's training run, still open
        report = robustcheck.scan(
            linear_model.module, (digits.x_test[:80], digits.y_test[:80]), eps=0.1, mlflow=True
        )
        assert mlflow.active_run().info.run_id == run.info.run_id  # not ended by the scan
    logged = MlflowClient(tracked).get_run(run.info.run_id)
    assert logged.data.params["lr"] == "0.05"
    assert logged.data.tags["robustcheck.verdict"] == report.verdict
    assert logged.data.metrics["adv_error/fgsm/0.1"] == pytest.approx(
        report.results[0].adversarial_error_rate
    )


def _unreachable(monkeypatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{_free_port()}")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])


def test_an_unreachable_server_leaves_the_verdict_as_it_was(
    linear_model, digits_npz, tmp_path, monkeypatch, capsys
):
    _unreachable(monkeypatch)
    base = [
        "scan", str(linear_model.pt2), "--data", str(digits_npz), "--eps", "0.1", "--limit", "80",
        "--no-isolation",
    ]  # fmt: skip
    without = main([*base, "--json", str(tmp_path / "a.json")])
    capsys.readouterr()
    code = main([*base, "--json", str(tmp_path / "b.json"), "--mlflow"])
    err = capsys.readouterr().err
    assert code == without
    assert "warning: --mlflow: could not log to http://127.0.0.1:" in err
    assert "(the verdict stands)" in err
    assert robustcheck.load_report(tmp_path / "b.json").exit_code == without


def test_required_tracking_that_fails_exits_5_and_stubs_the_reports(
    linear_model, digits_npz, tmp_path, monkeypatch, capsys
):
    _unreachable(monkeypatch)
    out = tmp_path / "report.json"
    argv = [
        "scan", str(linear_model.pt2), "--data", str(digits_npz), "--eps", "0.1", "--limit", "80",
        "--no-isolation", "--json", str(out), "--mlflow=required",
    ]  # fmt: skip
    assert main(argv) == 5
    assert "error: --mlflow: could not log to http://127.0.0.1:" in capsys.readouterr().err
    stub = json.loads(out.read_text())
    assert stub["complete"] is False and stub["exit_code"] == 5
    assert "the report was not logged" in json.dumps(stub)


def test_the_api_warns_when_tracking_fails_and_raises_when_required(
    linear_model, digits, monkeypatch
):
    _unreachable(monkeypatch)
    data = (digits.x_test[:40], digits.y_test[:40])
    with pytest.warns(robustcheck.TrackingWarning, match="could not log"):
        report = robustcheck.scan(linear_model.pt2, data, eps=0.1, mlflow=True)
    assert report.complete
    with pytest.raises(robustcheck.RuntimeEnvironmentError, match="could not log"):
        robustcheck.scan(linear_model.pt2, data, eps=0.1, mlflow="required")


def test_mlflow_not_installed_is_exit_5_before_the_scan(linear_model, digits_npz):
    code = (
        "import sys; sys.modules['mlflow'] = None\n"  # what a missing package looks like
        "from robustcheck.cli import main\n"
        f"sys.exit(main(['scan', {str(linear_model.pt2)!r}, '--data', {str(digits_npz)!r},"
        " '--eps', '0.1', '--mlflow']))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 5, done.stderr
    assert "--mlflow: MLflow is not installed" in done.stderr
    assert "robustcheck-gate[mlflow]" in done.stderr


@pytest.mark.parametrize(
    ("given", "expected"), [(True, "on"), (False, "off"), ("required", "required")]
)
def test_the_setting_takes_a_switch_from_files_and_python(given, expected):
    assert ScanSettings.model_validate({"mlflow": given}).mlflow == expected


def test_keys_are_what_mlflow_accepts():
    assert key("adv_error", "pgd:steps=5", 0.1) == "adv_error/pgd_steps_5/0.1"
