"""The CI recipes in docs/ci.md parse as their systems would read them and use only real flags."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import yaml
from sybil import Document
from sybil.parsers.markdown.lexers import FencedCodeBlockLexer

from robustcheck.cli import cli

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "ci.md").read_text()


def _blocks(language: str) -> list[str]:
    document = Document(DOC, str(ROOT / "docs" / "ci.md"))
    return [str(region.lexemes["source"]) for region in FencedCodeBlockLexer(language)(document)]


def _scan_commands() -> list[list[str]]:
    commands = []
    for block in _blocks("yaml") + _blocks("groovy"):
        text = block.replace(">\n", " ").replace("\n      ", " ").replace("\n          ", " ")
        for match in re.finditer(r"robustcheck scan [^\n'\"]*", text):
            commands.append(shlex.split(match.group(0)))
    return commands


def test_yaml_recipes_parse():
    blocks = _blocks("yaml")
    assert len(blocks) == 4
    github, action_steps, pre_commit, gitlab = (yaml.safe_load(b) for b in blocks)
    steps = github["jobs"]["robustcheck"]["steps"]
    assert any("robustcheck scan" in step.get("run", "") for step in steps)
    assert gitlab["robustness"]["artifacts"]["reports"]["junit"] == "robustcheck.xml"
    (uses,) = [step["uses"] for step in action_steps if "robustcheck" in step.get("uses", "")]
    assert uses.split("@")[0].endswith("/.github/actions/robustcheck")
    assert (ROOT / ".github" / "actions" / "robustcheck" / "action.yml").is_file()
    assert pre_commit["repos"][0]["hooks"][0]["id"] == "robustcheck-policy-validate"


def test_recipes_install_the_distribution_not_the_squatted_name():
    """`robustcheck` on PyPI is another project: every recipe installs robustcheck-gate."""
    installs = re.findall(r"pip install (\S+)", DOC)
    assert installs and all(name.strip("'\"") == "robustcheck-gate" for name in installs), installs


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
