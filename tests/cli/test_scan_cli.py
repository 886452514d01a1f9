"""The CLI contract: exit codes, one-line errors, reports, fast help."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from robustcheck.cli import main
from robustcheck.reports.model import SCHEMA_VERSION


def _scan(capsys, *args):
    code = main(["scan", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_max_error_rate_violation_exits_1(capsys, cnn_model, digits_npz, tmp_path):
    report = tmp_path / "r.json"
    code, out, _ = _scan(
        capsys,
        cnn_model.torchscript,
        "--data",
        digits_npz,
        "--eps",
        "0.25",
        "--max-error-rate",
        "0.1",
        "--json",
        report,
    )
    assert code == 1
    assert "FAIL" in out and "verdict: FAIL" in out
    data = json.loads(report.read_text())
    assert data["verdict"] == "fail" and data["exit_code"] == 1 and data["complete"] is True
    assert data["checks"][0]["status"] == "fail"


def test_within_max_error_rate_exits_0(capsys, cnn_model, digits_npz, tmp_path):
    report = tmp_path / "r.json"
    code, out, _ = _scan(
        capsys,
        cnn_model.pt2,
        "--data",
        digits_npz,
        "--eps",
        "0.01",
        "--eps",
        "0.02",
        "--max-error-rate",
        "0.5",
        "--json",
        report,
    )
    assert code == 0, out
    data = json.loads(report.read_text())
    assert data["verdict"] == "pass"
    assert [(c["rule"], c["status"]) for c in data["checks"]] == [
        ("max_adversarial_error_rate", "pass"),
        ("max_adversarial_error_rate", "pass"),
        ("require_valid", "pass"),
    ]
    for key in ("schema_version", "model", "data", "results", "checks", "versions"):
        assert key in data
    assert set(data["model"]) >= {"path", "sha256", "format"}
    assert set(data["data"]) >= {"path", "sha256", "n_samples", "labels"}
    assert set(data["results"][0]) >= {
        "attack",
        "eps",
        "n",
        "clean_error_rate",
        "adversarial_error_rate",
        "attack_success_rate",
        "high_confidence_threshold",
        "high_confidence_misclassifications",
        "mean_confidence_adversarial_errors",
    }
    assert set(data["versions"]) >= {"robustcheck", "torch", "onnxruntime"}


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["--eps", "-0.1"], "--eps"),
        (["--eps", "abc"], "--eps"),
        (["--eps", "0.1", "--batch-size", "0"], "--batch-size"),
        (["--eps", "0.1", "--batch-size", "automatic"], "--batch-size"),
        (["--eps", "0.1", "--batch-size", "auto", "--shard", "1/2"], "--batch-size auto"),
        (["--eps", "0.1", "--precision", "fp16"], "--precision"),
        (["--eps", "0.1", "--high-confidence", "1.5"], "--high-confidence"),
        (["--eps", "0.1", "--bogus"], "--bogus"),
        ([], "--eps"),
    ],
)
def test_bad_flags_exit_2_with_one_line(capsys, linear_model, digits_npz, args, flag):
    code, out, err = _scan(capsys, linear_model.torchscript, "--data", digits_npz, *args)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and flag in lines[0] and "Traceback" not in err
    assert out == ""


def test_missing_data_option_exits_2(capsys, linear_model):
    code, _, err = _scan(capsys, linear_model.torchscript, "--eps", "0.1")
    assert code == 2 and "--data" in err


@pytest.mark.parametrize("content", [None, b"", b"this is not a model", b"PK\x03\x04garbage"])
@pytest.mark.parametrize("suffix", [".pt", ".pt2"])
def test_missing_or_corrupt_model_exits_3_with_one_line(
    capsys, tmp_path, digits_npz, content, suffix
):
    path = tmp_path / f"model{suffix}"
    if content is not None:
        path.write_bytes(content)
    code, out, err = _scan(capsys, path, "--data", digits_npz, "--eps", "0.1")
    assert code == 3
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert str(path) in lines[0] and "Traceback" not in err
    assert "PASS" not in out


def test_unknown_extension_and_directory_exit_3(capsys, tmp_path, digits_npz):
    odd = tmp_path / "model.bin"
    odd.write_bytes(b"x")
    assert _scan(capsys, odd, "--data", digits_npz, "--eps", "0.1")[0] == 3
    folder = tmp_path / "dir.pt"
    folder.mkdir()
    code, _, err = _scan(capsys, folder, "--data", digits_npz, "--eps", "0.1")
    assert code == 3 and "is a directory" in err


def test_debug_shows_a_traceback(capsys, tmp_path, digits_npz):
    path = tmp_path / "bad.pt"
    path.write_bytes(b"junk")
    code = main(["--debug", "scan", str(path), "--data", str(digits_npz), "--eps", "0.1"])
    assert code == 3 and "Traceback" in capsys.readouterr().err


def test_bad_data_exits_3(capsys, linear_model, tmp_path):
    path = tmp_path / "d.npz"
    path.write_bytes(b"nope")
    code, _, err = _scan(capsys, linear_model.torchscript, "--data", path, "--eps", "0.1")
    assert code == 3 and str(path) in err and len(err.strip().splitlines()) == 1


def test_version(capsys):
    assert main(["--version"]) == 0
    assert "robustcheck" in capsys.readouterr().out


def test_an_isolated_scan_imports_torch_in_its_child_only(linear_model, digits_npz, tmp_path):
    code = (
        "import sys; from robustcheck.cli import main;"
        f"rc = main(['scan', {str(linear_model.torchscript)!r}, '--data', {str(digits_npz)!r},"
        " '--eps', '0.1', '--limit', '20', '--exit-zero', '--no-config']);"
        "print(rc, 'torch' in sys.modules, 'onnxruntime' in sys.modules)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    assert proc.stdout.strip().splitlines()[-1] == "0 False False", proc.stderr


def test_help_is_fast_and_imports_no_torch():
    code = (
        "import sys, time; t = time.perf_counter();"
        "from robustcheck.cli import main;"
        "rc = main(['--help']); main(['scan', '--help']);"
        "assert 'torch' not in sys.modules and 'onnxruntime' not in sys.modules, 'heavy import';"
        "print(time.perf_counter() - t)"
    )
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert float(proc.stdout.strip().splitlines()[-1]) < 0.5
    assert time.perf_counter() - start < 3.0


def test_attack_help_lists_every_built_in_attack_of_the_registry(capsys):
    """The listed names are the registry's built-ins (spsa and nes included), not a hand-written
    list; the noise baseline always runs and is not offered. (Listing them imports no torch:
    test_help_is_fast_and_imports_no_torch.)"""
    from robustcheck.attacks.builtin import attack_registry
    from robustcheck.attacks.registry import ATTACKS

    assert main(["scan", "--help"]) == 0
    help_text = " ".join(capsys.readouterr().out.split())
    listed = help_text.split("Built-ins: ", 1)[1].split(" (plus plugins", 1)[0].split(", ")
    registry, _ = attack_registry()
    eps_builtins = {n for n in ATTACKS.names() if ATTACKS.get(n).budget_unit == "eps"}
    assert set(listed) == eps_builtins - {"noise"} and set(listed) <= set(registry.names())
    assert {"spsa", "nes"} <= set(listed)


def test_all_report_formats_and_step_summary(capsys, monkeypatch, cnn_model, digits_npz, tmp_path):
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    paths = {fmt: tmp_path / f"r.{fmt}" for fmt in ("json", "junit", "markdown", "html")}
    flags = [arg for fmt, path in paths.items() for arg in (f"--{fmt}", str(path))]
    code, _out, _ = _scan(
        capsys, cnn_model.torchscript, "--data", digits_npz, "--eps", "0.05", *flags
    )
    assert code == 0
    assert json.loads(paths["json"].read_text())["complete"] is True
    assert paths["junit"].read_text().startswith("<?xml")
    assert "| fgsm | 0.05 |" in paths["markdown"].read_text()
    html = paths["html"].read_text()
    assert html.startswith("<!DOCTYPE html>") and "data:image/png;base64," in html
    assert summary.read_text().startswith("earlier step\n## robustcheck: PASS")
    assert (paths["json"].stat().st_mode & 0o777) != 0o600


def test_failed_scan_replaces_an_old_pass_with_an_incomplete_stub(
    capsys, cnn_model, digits_npz, tmp_path
):
    report = tmp_path / "r.json"
    junit = tmp_path / "junit.xml"
    assert (
        _scan(
            capsys,
            cnn_model.torchscript,
            "--data",
            digits_npz,
            "--eps",
            "0.05",
            "--json",
            report,
            "--junit",
            junit,
        )[0]
        == 0
    )
    assert json.loads(report.read_text())["verdict"] == "pass"
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a model")
    code, _out, _err = _scan(
        capsys, broken, "--data", digits_npz, "--eps", "0.1", "--json", report, "--junit", junit
    )
    assert code == 3
    stub = json.loads(report.read_text())
    assert stub == {
        "schema_version": SCHEMA_VERSION,
        "complete": False,
        "verdict": "error",
        "exit_code": 3,
        "message": stub["message"],
    }
    assert str(broken) in stub["message"]
    assert "<error" in junit.read_text() and "pass" not in junit.read_text().lower().replace(
        "passed", ""
    )


def test_report_path_that_is_an_input_is_refused(capsys, cnn_model, digits_npz):
    before = digits_npz.read_bytes()
    code, _, err = _scan(
        capsys, cnn_model.torchscript, "--data", digits_npz, "--eps", "0.1", "--json", digits_npz
    )
    assert code == 2 and "--json" in err and "input" in err
    assert digits_npz.read_bytes() == before


def test_ctrl_c_while_the_cli_is_importing_exits_130_without_a_traceback():
    # A Ctrl-C lands during `import click` (the first thing robustcheck.cli imports).
    code = (
        "import sys\n"
        "class Interrupt:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'click':\n"
        "            raise KeyboardInterrupt\n"
        "sys.meta_path.insert(0, Interrupt())\n"
        "from robustcheck.__main__ import run\n"
        "run()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stderr) == (130, "robustcheck: interrupted\n")
