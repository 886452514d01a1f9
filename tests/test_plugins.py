"""Data-loader plugins through entry points: the example plugin works, a broken one is named."""

from __future__ import annotations

import json
from importlib import metadata

from robustcheck.cli import main
from robustcheck.data.builtin import builtin_registry
from robustcheck.plugins import DATA_LOADERS, register_plugins


def test_example_plugin_is_installed_and_scans(capsys, cnn_model, digits, tmp_path):
    assert main(["plugins"]) == 0
    assert "jsonl    plugin" in capsys.readouterr().out
    data = tmp_path / "samples.jsonl"
    data.write_text(
        "".join(
            json.dumps({"x": x.tolist(), "y": int(y)}) + "\n"
            for x, y in zip(digits.x_test[:200], digits.y_test[:200], strict=True)
        )
    )
    report = tmp_path / "r.json"
    code = main(
        [
            "scan",
            str(cnn_model.torchscript),
            "--data",
            str(data),
            "--eps",
            "0.1",
            "--json",
            str(report),
            "--report-only",
        ]
    )
    assert code == 0, capsys.readouterr().err
    body = json.loads(report.read_text())
    assert body["data"]["format"] == "jsonl" and body["data"]["n_samples"] == 200


def test_a_broken_plugin_is_reported_and_skipped():
    registry = builtin_registry()
    entry_points = [
        metadata.EntryPoint("missing", "no_such_module_xyz:LOADER", DATA_LOADERS),
        metadata.EntryPoint("wrong_type", "json:dumps", DATA_LOADERS),
        metadata.EntryPoint("jsonl", "robustcheck_plugin_jsonl:LOADER", DATA_LOADERS),
        metadata.EntryPoint("npz_again", "robustcheck_plugin_jsonl:LOADER", DATA_LOADERS),
    ]
    statuses = {s.name: s for s in register_plugins(registry, entry_points)}
    assert "ModuleNotFoundError" in statuses["missing"].error
    assert "not a LoaderSpec" in statuses["wrong_type"].error
    assert statuses["jsonl"].error is None
    assert "already registered" in statuses["npz_again"].error
    assert "jsonl" in registry.names() and "npz" in registry.names()
