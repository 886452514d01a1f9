"""The CI recipes in docs/ci.md parse as their systems would read them and use only real flags."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import yaml

from robustcheck.cli import cli

DOC = (Path(__file__).resolve().parents[2] / "docs" / "ci.md").read_text()


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC, flags=re.DOTALL)


def _scan_commands() -> list[list[str]]:
    commands = []
    for block in _blocks("yaml") + _blocks("groovy"):
        text = block.replace(">\n", " ").replace("\n      ", " ").replace("\n          ", " ")
        for match in re.finditer(r"robustcheck scan [^\n'\"]*", text):
            commands.append(shlex.split(match.group(0)))
    return commands


def test_yaml_recipes_parse():
    blocks = _blocks("yaml")
    assert len(blocks) == 2
    github, gitlab = (yaml.safe_load(b) for b in blocks)
    steps = github["jobs"]["robustcheck"]["steps"]
    assert any("robustcheck scan" in step.get("run", "") for step in steps)
    assert gitlab["robustness"]["artifacts"]["reports"]["junit"] == "robustcheck.xml"


def test_recipes_use_only_flags_that_exist():
    scan = cli.commands["scan"]
    known = {opt for param in scan.params for opt in getattr(param, "opts", [])}
    commands = _scan_commands()
    assert len(commands) >= 3
    for command in commands:
        flags = {arg for arg in command if arg.startswith("--")}
        assert flags <= known, flags - known


def test_jenkins_publishes_the_junit_file_it_writes():
    (groovy,) = _blocks("groovy")
    assert "--junit robustcheck.xml" in groovy and "junit 'robustcheck.xml'" in groovy
