"""The Python API: an in-memory model and arrays scan to the counts the command line gets from
the same model saved to disk; bad arguments raise the project's typed errors; the public names
are the documented ones."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

import robustcheck
from robustcheck.cli import main

ROOT = Path(__file__).resolve().parents[2]
EPS = [0.05, 0.1]
N = 200


def _counts(report) -> dict[tuple[str, float], int]:
    return {(r.attack, r.eps): r.adversarial_errors for r in report.results}


def _cli_counts(model: Path, data: Path, tmp_path: Path, capsys) -> dict[tuple[str, float], int]:
    out = tmp_path / "cli.json"
    argv = [
        "scan",
        str(model),
        "--data",
        str(data),
        "--json",
        str(out),
        "--exit-zero",
        "--no-isolation",
    ]
    for e in EPS:
        argv += ["--eps", str(e)]
    assert main(argv) == 0
    capsys.readouterr()
    return {
        (r["attack"], r["eps"]): r["adversarial_errors"]
        for r in json.loads(out.read_text())["results"]
    }


@pytest.fixture(scope="module")
def sample(digits, tmp_path_factory) -> tuple[np.ndarray, np.ndarray, Path]:
    path = tmp_path_factory.mktemp("api") / "digits.npz"
    x, y = digits.x_test[:N], digits.y_test[:N]
    np.savez(path, x=x, y=y)
    return x, y, path


def test_an_in_memory_module_scans_like_the_cli_on_its_saved_program(
    cnn_model, sample, tmp_path, capsys
):
    x, y, path = sample
    report = robustcheck.scan(cnn_model.module.eval(), (torch.from_numpy(x), y), eps=EPS)
    assert isinstance(report, robustcheck.Report)
    assert _counts(report) == _cli_counts(cnn_model.pt2, path, tmp_path, capsys)
    assert report.model.path == "in-memory torch.nn.Module Sequential"
    assert report.data.path == f"in-memory arrays x[{N}, 1, 8, 8] y[{N}]"
    # Batches (an iterable of pairs) are the same data.
    batches = [(x[i : i + 64], y[i : i + 64]) for i in range(0, N, 64)]
    assert _counts(robustcheck.scan(cnn_model.module, batches, eps=EPS)) == _counts(report)


def test_an_onnx_model_proto_scans_like_the_cli_on_its_file(cnn_model, sample, tmp_path, capsys):
    import onnx

    x, y, path = sample
    onnx_path = tmp_path / "cnn.onnx"
    torch.onnx.export(
        cnn_model.module.eval(), (torch.from_numpy(x[:2]),), str(onnx_path),
        input_names=["x"], output_names=["logits"],
        dynamic_axes={"x": {0: "n"}, "logits": {0: "n"}}, dynamo=False,
    )  # fmt: skip
    report = robustcheck.scan(onnx.load(str(onnx_path)), (x, y), eps=EPS)
    assert _counts(report) == _cli_counts(onnx_path, path, tmp_path, capsys)
    assert report.fidelity.paths == "onnx-twin-vs-onnxruntime"  # onnxruntime judged


def test_the_report_gates_renders_and_reloads(cnn_model, sample, tmp_path):
    *_, path = sample
    policy = robustcheck.Policy(budgets=[{"eps": 0.1, "max_adversarial_error_rate": 0.05}])
    report = robustcheck.scan(str(cnn_model.pt2), path, eps=0.1, policy=policy, limit=100)
    assert not report.passed and report.verdict == "fail"
    assert [c.rule for c in report.failures] == ["max_adversarial_error_rate"]
    assert report.to_junit().startswith("<?xml") and "robustcheck" in report.to_markdown()
    html = report.to_html(tmp_path / "r.html")
    assert (tmp_path / "r.html").read_text() == html
    saved = tmp_path / "r.json"
    saved.write_text(report.to_json())
    again = robustcheck.load_report(saved)
    assert again == report and again.failures == report.failures
    strict = robustcheck.Policy.from_yaml("builtin:default")
    assert robustcheck.scan(cnn_model.pt2, path, eps=0.001, policy=strict, limit=50).passed


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda m, x, y: robustcheck.scan(m, (x, y), eps=-0.1), "UsageError", "--eps"),
        (
            lambda m, x, y: robustcheck.scan(m, (x, y), eps=0.1, batch_sise=8),
            "UsageError",
            "'batch_sise'",
        ),
        (
            lambda m, x, y: robustcheck.scan(m, (x, y), eps=0.1, batch_size=0),
            "UsageError",
            "--batch-size",
        ),
        (
            lambda m, x, y: robustcheck.scan(m, (x, y[:3]), eps=0.1),
            "DataError",
            "but y has 3 labels",
        ),
        (lambda m, x, y: robustcheck.scan(42, (x, y), eps=0.1), "UsageError", "not int"),
        (lambda m, x, y: robustcheck.scan(m, "missing.npz", eps=0.1), "DataError", "missing.npz"),
        (
            lambda m, x, y: robustcheck.scan(m.train(), (x, y), eps=0.1),
            "UsageError",
            "model.eval()",
        ),
        (
            lambda m, x, y: robustcheck.scan(m, (x, (y + 1) % 10), eps=0.1),
            "DataError",
            "in-memory arrays",
        ),
        (
            lambda m, x, y: robustcheck.scan(m, (x, y), eps=0.1, attacks="nope"),
            "UsageError",
            "nope",
        ),
        (
            lambda m, x, y: robustcheck.Policy(min_clean_accuracy="x"),
            "PolicyError",
            "min_clean_accuracy",
        ),
        (
            lambda m, x, y: robustcheck.Policy.from_yaml("missing.yaml"),
            "PolicyError",
            "missing.yaml",
        ),
    ],
)
def test_bad_arguments_raise_typed_errors_never_system_exit(
    cnn_model, sample, call, error, message
):
    x, y, _ = sample
    # A copy with a dropout layer: one case calls .train().
    module = torch.nn.Sequential(*cnn_model.module, torch.nn.Dropout(0.1)).eval()
    with pytest.raises(getattr(robustcheck, error)) as caught:
        call(module, x, y)
    assert message in str(caught.value)
    assert isinstance(caught.value, robustcheck.RobustcheckError)


def test_the_public_names_are_the_documented_ones():
    page = (ROOT / "docs" / "python-api.md").read_text()
    (listing,) = re.findall(r"<!-- public API -->\n(.*?)\n<!-- /public API -->", page, re.DOTALL)
    documented = sorted(re.findall(r"^- `robustcheck\.(\w+)`", listing, re.MULTILINE))
    assert documented == sorted(n for n in robustcheck.__all__ if n != "__version__")
    for name in robustcheck.__all__:
        assert getattr(robustcheck, name) is not None


def test_import_robustcheck_stays_light():
    code = "import sys, robustcheck; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_mypy_accepts_a_typed_user_script(tmp_path):
    script = tmp_path / "gate.py"
    script.write_text(
        textwrap.dedent(
            """
            import numpy as np
            import robustcheck

            def gate(model_path: str, x: np.ndarray, y: np.ndarray) -> bool:
                policy = robustcheck.Policy.from_yaml("builtin:default")
                report: robustcheck.Report = robustcheck.scan(
                    model_path, (x, y), eps=[0.03, 0.1], policy=policy, batch_size=64
                )
                for check in report.failures:
                    print(check.message)
                text: str = report.to_markdown()
                return report.passed and bool(text)
            """
        )
    )
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--ignore-missing-imports",
         "--cache-dir", str(tmp_path / ".mypy"), str(script)],
        capture_output=True, text=True, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
