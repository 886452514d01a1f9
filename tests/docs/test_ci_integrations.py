"""The composite GitHub Action and the pre-commit hook: parsed, and their shell steps run here."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from robustcheck.cli import cli

ROOT = Path(__file__).resolve().parents[2]
ACTION = ROOT / ".github" / "actions" / "robustcheck" / "action.yml"
HOOKS = ROOT / ".pre-commit-hooks.yaml"
BIN = Path(sys.executable).parent


def _action() -> dict:
    return yaml.safe_load(ACTION.read_text())


def _step(name: str) -> dict:
    return next(step for step in _action()["runs"]["steps"] if step.get("name") == name)


def _run_step(step: dict, inputs: dict[str, str], cwd: Path) -> tuple[int, dict[str, str], str]:
    """Run a `run:` step as the runner would: `${{ inputs.x }}` in its env, bash, $GITHUB_OUTPUT."""
    defaults = {k: v.get("default", "") for k, v in _action()["inputs"].items()}
    values = {**defaults, **inputs}
    env = {
        key: re.sub(r"\$\{\{\s*inputs\.([\w-]+)\s*\}\}", lambda m: values[m.group(1)], value)
        for key, value in step.get("env", {}).items()
    }
    output = cwd / "github_output"
    output.write_text("")
    full_env = {**os.environ, **env, "GITHUB_OUTPUT": str(output)}
    full_env["PATH"] = f"{BIN}{os.pathsep}{full_env.get('PATH', '')}"
    full_env.pop("GITHUB_STEP_SUMMARY", None)
    assert step["shell"] == "bash"
    done = subprocess.run(
        ["bash", "-c", step["run"]], cwd=cwd, env=full_env, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    outputs = dict(line.split("=", 1) for line in output.read_text().splitlines())
    return done.returncode, outputs, done.stdout + done.stderr


def test_the_action_is_composite_with_its_inputs_outputs_and_artifact():
    action = _action()
    assert action["runs"]["using"] == "composite"
    assert {"model", "data", "policy", "eps", "args"} <= set(action["inputs"])
    assert {"verdict", "json", "junit", "markdown", "html"} <= set(action["outputs"])
    for name, output in action["outputs"].items():
        assert output["value"] == f"${{{{ steps.scan.outputs.{name} }}}}"
    upload = _step("Upload the reports")
    assert upload["uses"].startswith("actions/upload-artifact@")
    assert upload["if"].startswith("always()")
    assert _action()["inputs"]["package"]["default"] == "robustcheck-gate"
    # Inputs reach the shell only through the environment (no ${{ }} inside scripts).
    for step in action["runs"]["steps"]:
        assert "${{" not in step.get("run", "")


def test_the_scan_step_gates_and_sets_its_outputs(cnn_model, digits_npz, tmp_path):
    step = _step("Scan")
    inputs = {"model": str(cnn_model.torchscript), "data": str(digits_npz), "eps": "0.1"}
    code, outputs, log = _run_step(step, inputs, tmp_path)
    assert code == 1, log  # the default policy fails a model FGSM fools at ε = 0.1
    assert outputs["verdict"] == "fail" and outputs["exit-code"] == "1"
    report = json.loads((tmp_path / outputs["json"]).read_text())
    assert report["settings"]["eps"] == [0.1]
    for key in ("junit", "markdown", "html"):
        assert (tmp_path / outputs[key]).is_file()

    inputs |= {"eps": "0.03, 0.05", "policy": "builtin:default", "args": "--limit 200 --no-noise"}
    code, outputs, log = _run_step(step, inputs, tmp_path)
    assert code == 0 and outputs["verdict"] == "pass", log
    report = json.loads((tmp_path / outputs["json"]).read_text())
    assert report["settings"]["eps"] == [0.03, 0.05] and report["data"]["n_samples"] == 200


def test_the_scan_step_reports_an_error_verdict(tmp_path):
    code, outputs, _ = _run_step(
        _step("Scan"), {"model": "missing.onnx", "data": "x.npz"}, tmp_path
    )
    assert code in (2, 3) and outputs["verdict"] == "error" and outputs["exit-code"] == str(code)


def test_pre_commit_hook_validates_policies(tmp_path):
    (hook,) = yaml.safe_load(HOOKS.read_text())
    assert hook["id"] == "robustcheck-policy-validate" and hook["language"] == "python"
    assert re.search(hook["files"], "robustness.yaml")
    assert re.search(hook["files"], "ci/robustcheck-policy.yml")
    assert not re.search(hook["files"], "robustcheck.yaml")  # the project configuration
    assert "validate" in cli.commands["policy"].commands  # type: ignore[attr-defined]
    good = tmp_path / "robustness.yaml"
    good.write_text("version: 1\nmin_clean_accuracy: 0.5\n")
    bad = tmp_path / "broken-robustness.yaml"
    bad.write_text("version: 1\nmin_clean_acuracy: 0.5\n")
    command = [str(BIN / hook["entry"].split()[0]), *hook["entry"].split()[1:]]
    ok = subprocess.run([*command, str(good)], capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    failed = subprocess.run(
        [*command, str(good), str(bad)], capture_output=True, text=True, timeout=120
    )
    assert failed.returncode == 3 and "min_clean_acuracy" in failed.stderr
