"""``robustcheck policy``: validate, show, schema, init — exit codes and output, run in-process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest

import robustcheck.cli
from robustcheck.cli.policy import policy
from robustcheck.policy.load import STARTER, builtin_text, load_builtin, parse_policy
from robustcheck.policy.schema import json_schema_text

ROOT = Path(__file__).resolve().parents[2]
VALID = "version: 1\nmin_clean_accuracy: 0.5\n"


@pytest.fixture
def run(monkeypatch, capsys):
    """Run ``robustcheck policy ...`` through ``main`` (exit codes, error lines) in-process."""
    if "policy" not in robustcheck.cli.cli.commands:
        group = click.Group(
            "robustcheck", commands={**robustcheck.cli.cli.commands, "policy": policy}
        )
        monkeypatch.setattr(robustcheck.cli, "cli", group)

    def invoke(*args: object) -> tuple[int, str, str]:
        code = robustcheck.cli.main(["policy", *map(str, args)])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return invoke


def test_validate_ok(run, tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(VALID)
    assert run("validate", path, "builtin:strict") == (0, f"{path}: ok\nbuiltin:strict: ok\n", "")


def test_validate_reports_each_invalid_file_and_exits_3(run, tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text(VALID)
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nbudgets:\n  - eps: -1\n    max_accuracy_drop: 0.1\n")
    code, out, err = run("validate", good, bad, tmp_path / "missing.yaml")
    assert code == 3
    assert out == f"{good}: ok\n"
    assert err.splitlines() == [
        f"{bad}:3: budgets[0].eps: Input should be greater than 0",
        f"{tmp_path / 'missing.yaml'}: no such file",
    ]


def test_validate_needs_a_file(run):
    code, _, err = run("validate")
    assert code == 2 and "Missing argument" in err


def test_show_prints_the_resolved_policy(run, tmp_path):
    (tmp_path / "base.yaml").write_text(VALID + "all_eps: {max_accuracy_drop: 0.3}\n")
    child = tmp_path / "child.yaml"
    child.write_text("version: 1\nextends: base.yaml\nmin_clean_accuracy: 0.8\n")
    code, out, err = run("show", child)
    assert (code, err) == (0, "")
    assert out.startswith(f"# resolved from {child}\n# sha256: ")
    assert "extends" not in out.split("\n", 2)[2]
    shown = parse_policy(out)
    assert shown.min_clean_accuracy is not None and shown.min_clean_accuracy.limit == 0.8
    assert shown.all_eps is not None


def test_show_a_builtin(run):
    code, out, _ = run("show", "builtin:paper-mnist")
    assert code == 0 and parse_policy(out) == load_builtin("paper-mnist")


def test_show_an_invalid_file_is_an_input_error(run, tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("version: 1\nversion: 1\n")
    code, out, err = run("show", path)
    assert (code, out) == (3, "")
    assert err == f"robustcheck: error: {path}:2: duplicate key 'version' (first at line 1)\n"


def test_schema_prints_the_checked_in_json_schema(run):
    code, out, _ = run("schema")
    assert code == 0 and out == json_schema_text()
    assert out == (ROOT / "policies" / "robustcheck-policy.schema.json").read_text()
    assert json.loads(out)["title"] == "robustcheck policy"


def test_init_writes_a_valid_commented_starter(run, tmp_path):
    path = tmp_path / "robustcheck-policy.yaml"
    assert run("init", path) == (0, f"wrote {path}\n", "")
    assert path.read_text() == builtin_text(STARTER)
    assert run("validate", path)[0] == 0


def test_init_refuses_to_overwrite_without_force(run, tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("mine\n")
    code, out, err = run("init", path)
    assert (code, out) == (2, "")
    assert err == f"robustcheck: error: {path} already exists (pass --force to overwrite it)\n"
    assert path.read_text() == "mine\n"
    assert run("init", path, "--force")[0] == 0
    assert path.read_text() == builtin_text(STARTER)


def test_init_defaults_to_the_current_directory(run, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run("init")[0] == 0
    assert (tmp_path / "robustcheck-policy.yaml").exists()


def test_policy_commands_do_not_import_torch():
    code = (
        "import sys; from click.testing import CliRunner; from robustcheck.cli.policy import policy;"
        "r = CliRunner().invoke(policy, ['validate', 'builtin:default']);"
        "assert r.exit_code == 0, r.output; assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
