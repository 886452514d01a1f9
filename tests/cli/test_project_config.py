"""Project configuration end to end: robustcheck.yaml and [tool.robustcheck] feed `scan`."""

from __future__ import annotations

import json

import pytest

from robustcheck.cli import main


def _run(capsys, *args):
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def project(tmp_path, monkeypatch, cnn_model, digits_npz):
    """A working directory whose robustcheck.yaml names a model and data by relative paths."""
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "cnn.pt").write_bytes(cnn_model.torchscript.read_bytes())
    (tmp_path / "test.npz").write_bytes(digits_npz.read_bytes())
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _yaml(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_bare_scan_takes_everything_from_robustcheck_yaml(capsys, project):
    _yaml(
        project / "robustcheck.yaml",
        "model: models/cnn.pt\ndata: test.npz\neps: [0.05, 0.1]\nlimit: 40\n"
        "json: out.json\nno-noise: true\n",
    )
    code, out, err = _run(capsys, "scan", "--no-isolation")
    report = json.loads((project / "out.json").read_text())
    assert (code, err) == (0, "")
    assert report["data"]["n_samples"] == 40
    assert sorted({r["eps"] for r in report["results"]}) == [0.05, 0.1]
    assert {r["attack"] for r in report["results"]} == {"fgsm"}
    assert "json report: out.json" in out


def test_flags_override_settings(capsys, project):
    _yaml(
        project / "robustcheck.yaml",
        "model: models/cnn.pt\ndata: test.npz\neps: 0.05\nlimit: 40\njson: out.json\n",
    )
    code, _, _ = _run(capsys, "scan", "--eps", "0.25", "--limit", "30", "--no-isolation")
    report = json.loads((project / "out.json").read_text())
    assert code in (0, 1)
    assert {r["eps"] for r in report["results"]} == {0.25}
    assert report["data"]["n_samples"] == 30


def test_pyproject_table_is_used_and_robustcheck_yaml_wins_over_it(capsys, project):
    (project / "pyproject.toml").write_text(
        '[project]\nname = "x"\n\n[tool.robustcheck]\nmodel = "models/cnn.pt"\n'
        'data = "test.npz"\neps = [0.1]\nlimit = 20\n',
        encoding="utf-8",
    )
    code, out, _ = _run(capsys, "config", "show", "--format", "json")
    shown = json.loads(out)
    assert code == 0
    assert shown["config"] == "pyproject.toml [tool.robustcheck]"
    assert shown["settings"]["limit"] == {
        "value": 20,
        "source": "pyproject.toml [tool.robustcheck]",
    }
    _yaml(project / "robustcheck.yaml", "limit: 7\n")
    _, out, _ = _run(capsys, "config", "show", "--format", "json")
    shown = json.loads(out)
    assert shown["config"] == "robustcheck.yaml"
    assert shown["settings"]["limit"] == {"value": 7, "source": "robustcheck.yaml:1"}
    assert shown["settings"]["model"]["value"] is None


def test_paths_are_relative_to_an_explicit_config_file(capsys, project, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("ci")
    _yaml(elsewhere / "scan.yaml", "data: ../test.npz\njson: reports/r.json\npolicy: gate.yaml\n")
    code, out, _ = _run(
        capsys, "config", "show", "--format", "json", "--config", elsewhere / "scan.yaml"
    )
    settings = json.loads(out)["settings"]
    assert code == 0
    assert settings["data"]["value"] == str(elsewhere / "../test.npz")
    assert settings["json"]["value"] == str(elsewhere / "reports/r.json")
    assert settings["policy"]["value"] == str(elsewhere / "gate.yaml")
    assert settings["data"]["source"] == f"{elsewhere / 'scan.yaml'}:1"


def test_builtin_policy_names_are_not_paths(capsys, project):
    _yaml(project / "robustcheck.yaml", "policy: builtin:strict\n")
    _, out, _ = _run(capsys, "config", "show", "--format", "json")
    assert json.loads(out)["settings"]["policy"]["value"] == "builtin:strict"


def test_config_show_text_names_each_source(capsys, project):
    _yaml(project / "robustcheck.yaml", "data: test.npz\n\nbatch_size: 64\n")
    code, out, _ = _run(capsys, "config", "show", "--", "models/cnn.pt", "--eps", "0.1")
    rows = {line.split()[0]: line.split()[-1] for line in out.splitlines()[1:]}
    assert code == 0
    assert out.splitlines()[0] == "configuration: robustcheck.yaml"
    assert rows["data"] == "robustcheck.yaml:1"
    assert rows["batch-size"] == "robustcheck.yaml:3"
    assert rows["eps"] == "line" and rows["model"] == "line"  # "command line"
    assert rows["seed"] == "default"


def test_the_configuration_is_found_from_a_subdirectory(capsys, project, monkeypatch):
    (project / ".git").mkdir()  # the repository root: the search stops here
    _yaml(project / "robustcheck.yaml", "data: test.npz\neps: 0.05\nno-noise: true\n")
    sub = project / "src" / "pkg"
    sub.mkdir(parents=True)
    monkeypatch.chdir(sub)
    code, out, _ = _run(capsys, "config", "show", "--", "../../models/cnn.pt")
    assert code == 0 and out.splitlines()[0] == "configuration: ../../robustcheck.yaml"
    rows = {line.split()[0]: line.split()[-1] for line in out.splitlines()[1:]}
    assert rows["data"] == "../../robustcheck.yaml:1"
    code, out, err = _run(capsys, "scan", "../../models/cnn.pt", "--limit", "20", "--no-isolation")
    assert code == 0, err
    assert "data   ../../test.npz" in out and "config ../../robustcheck.yaml" in out


def test_the_search_stops_at_the_repository_root(capsys, project, monkeypatch):
    _yaml(project / "robustcheck.yaml", "data: test.npz\n")
    repo = project / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "pyproject.toml").write_text('[project]\nname = "x"\n', encoding="utf-8")
    monkeypatch.chdir(repo)
    code, out, _ = _run(capsys, "config", "show")
    assert code == 0 and out.startswith("configuration: none found")


def test_no_config_ignores_the_file(capsys, project):
    _yaml(project / "robustcheck.yaml", "data: test.npz\n")
    code, _, err = _run(capsys, "scan", "models/cnn.pt", "--eps", "0.1", "--no-config")
    assert code == 2
    assert "no data to scan" in err


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("epss: 0.1\n", "robustcheck.yaml:1: unknown setting 'epss' (did you mean 'eps'?)"),
        ("data: t.npz\neps: abc\n", "robustcheck.yaml:2: eps: 'abc' is not a valid finite float"),
        ("eps: .nan\n", "robustcheck.yaml:1: eps: 'nan' is not a finite number"),
        ("input-range: [0]\n", "robustcheck.yaml:1: input-range: 2 values are required"),
        ("data: {a: 1}\n", "robustcheck.yaml:1: data: expected a number or a string, not dict"),
        ("batch-size: 0\n", "robustcheck.yaml:1: batch-size: 0 is not in the range x>=1"),
        ("- data\n", "robustcheck.yaml:1: the top level must be a mapping"),
        ("a: &x 1\nb: *x\n", "robustcheck.yaml:1: anchor &x is not allowed"),
        ("debug: true\n", "robustcheck.yaml:1: unknown setting 'debug'"),
        ("eps: 0.1\neps: 0.2\n", "robustcheck.yaml:2: duplicate key"),
        ("eps: 0.1\nEPS: 0.2\nlimit: 1\nLimit: 2\n", "unknown setting 'EPS'"),
        ("eps: 0.1\neps_: 1\n", "unknown setting 'eps-'"),
        ("no_noise: 1\nno-noise: 0\n", "'no-noise' and another spelling of it are both set"),
        ("strict: 1\n", "robustcheck.yaml:1: strict: expected true or false"),
        ("max-error-rate: true\n", "max-error-rate: expected a number or a string, not bool"),
        ("batch-size: 1.5\n", "batch-size: '1.5' is not a valid integer range"),
        ("seed: 1.7\n", "seed: '1.7' is not a valid integer"),
        ("image-size: [1.5, 2]\n", "image-size: '1.5' is not a valid integer"),
        ("input-range: [[0, 1], [0, 1]]\n", "input-range: expected a number or a string, not list"),
        ("eps: [[0.1]]\n", "eps: expected a number or a string, not list"),
        ("eps: ~\n", "robustcheck.yaml:1: eps: expected a number or a string, not null"),
        ("policy: ~\n", "robustcheck.yaml:1: policy: expected a number or a string, not null"),
        ("limit: 1e400\n", "limit: 'inf' is not a valid integer"),
        ("feature-column: [[a]]\n", "feature-column: expected a number or a string, not list"),
        (
            "exit-zero: true\n",
            "exit-zero weakens the gate; it is accepted on the command line only",
        ),
        ("no-isolation: true\n", "no-isolation weakens the gate"),
        ("allow_low_fidelity: true\n", "allow-low-fidelity weakens the gate"),
        ("allow-low-accuracy: false\n", "allow-low-accuracy weakens the gate"),
        ("allow-external-data: true\n", "allow-external-data weakens the gate"),
    ],
)
def test_a_bad_setting_is_a_located_usage_error(capsys, project, text, message):
    _yaml(project / "robustcheck.yaml", text)
    code, out, err = _run(capsys, "scan", "models/cnn.pt", "--data", "test.npz", "--eps", "0.1")
    assert code == 2, err
    assert out == ""
    assert len(err.splitlines()) == 1 and message in err
    assert "Traceback" not in err


def test_invalid_pyproject_is_named(capsys, project):
    (project / "pyproject.toml").write_text("[tool.robustcheck\n", encoding="utf-8")
    code, _, err = _run(capsys, "scan", "models/cnn.pt", "--data", "test.npz", "--eps", "0.1")
    assert code == 2
    assert err.startswith("robustcheck: error: pyproject.toml: invalid TOML")


def test_a_pyproject_without_the_table_is_ignored(capsys, project):
    (project / "pyproject.toml").write_text('[project]\nname = "x"\n', encoding="utf-8")
    code, out, _ = _run(capsys, "config", "show")
    assert code == 0 and out.startswith("configuration: none found")


def test_no_data_anywhere_says_how_to_provide_it(capsys, project):
    code, _, err = _run(capsys, "scan", "models/cnn.pt", "--eps", "0.1")
    assert code == 2
    assert "no data to scan: pass --data PATH, or set `data:` in robustcheck.yaml" in err


def test_a_report_flag_may_not_overwrite_the_config(capsys, project):
    _yaml(project / "robustcheck.yaml", "data: test.npz\neps: 0.1\n")
    code, _, err = _run(capsys, "scan", "models/cnn.pt", "--json", "robustcheck.yaml")
    assert code == 2
    assert "--json robustcheck.yaml: is also an input of the scan" in err
    assert (project / "robustcheck.yaml").read_text() == "data: test.npz\neps: 0.1\n"


def test_missing_explicit_config_is_named(capsys, project):
    code, _, err = _run(capsys, "scan", "--config", "nope.yaml")
    assert code == 2
    assert "nope.yaml: no such file" in err


def test_the_report_names_the_configuration(capsys, project):
    _yaml(
        project / "robustcheck.yaml",
        "model: models/cnn.pt\ndata: test.npz\neps: 0.1\nlimit: 20\njson: out.json\n"
        "markdown: out.md\n",
    )
    _, out, _ = _run(capsys, "scan", "--no-isolation")
    assert json.loads((project / "out.json").read_text())["settings"]["config_source"] == (
        "robustcheck.yaml"
    )
    assert "\nconfig robustcheck.yaml\n" in out
    assert "settings from robustcheck.yaml." in (project / "out.md").read_text()


def test_config_and_no_config_are_exclusive(capsys, project):
    _yaml(project / "robustcheck.yaml", "data: test.npz\n")
    code, _, err = _run(capsys, "scan", "--config", "robustcheck.yaml", "--no-config")
    assert code == 2
    assert "--config and --no-config are exclusive" in err


def test_pyproject_table_in_any_toml_file(capsys, project):
    (project / "ci.toml").write_text("[tool.robustcheck]\nlimit = 3\n", encoding="utf-8")
    code, out, _ = _run(capsys, "config", "show", "--format", "json", "--config", "ci.toml")
    assert code == 0
    assert json.loads(out)["settings"]["limit"]["value"] == 3


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("eps = 1979-05-27", "eps: expected a number or a string, not date"),
        ("limit = inf", "limit: 'inf' is not a valid integer"),
        ("input-range = [0, {a = 1}]", "input-range: expected a number or a string, not dict"),
        ("strict = 1", "strict: expected true or false"),
    ],
)
def test_bad_toml_values_are_usage_errors(capsys, project, toml, message):
    (project / "pyproject.toml").write_text(f"[tool.robustcheck]\n{toml}\n", encoding="utf-8")
    code, _, err = _run(capsys, "scan", "models/cnn.pt", "--data", "test.npz", "--eps", "0.1")
    assert code == 2, err
    assert len(err.splitlines()) == 1 and message in err


def test_config_show_usage_errors_have_a_plain_hint(capsys, project):
    code, _, err = _run(capsys, "config", "show", "--", "--bogus")
    assert code == 2
    assert "No such option '--bogus'" in err and "SCAN ARGS" not in err
