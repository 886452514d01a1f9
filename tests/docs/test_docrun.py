"""The machinery that runs the docs' code blocks (conftest.py, tests/_docrun) fails when it should.

Each test writes a small markdown page and evaluates it exactly as pytest evaluates README.md and
docs/*.md: same sybil parsers, same workspace of files.
"""

from __future__ import annotations

import re
from pathlib import Path
from unittest import SkipTest

import pytest
from _docrun.commands import Command, CommandFailed, parse_block, run
from _docrun.markdown import DOCS, ROOT, WORKSPACES, docs_sybil
from _docrun.workspace import Workspaces

from robustcheck.errors import PolicyError

BROKEN = "robustcheck scan model.onnx --data sample.npz --no-such-flag"


def _evaluate(
    markdown: str, folder: Path, workspaces: Workspaces, name: str = "page.md"
) -> list[str]:
    """Evaluate every block of ``markdown`` in order; the blocks sybil skipped, by reason."""
    page = folder / name
    page.write_text(markdown)
    document = docs_sybil(["*.md"], folder).parse(page)
    document.namespace[WORKSPACES] = workspaces
    skipped = []
    for example in document.examples():
        try:
            example.evaluate()
        except SkipTest as exc:
            skipped.append(str(exc))
    return skipped


def test_a_broken_flag_in_a_docs_example_fails(tmp_path, docs_workspaces):
    with pytest.raises(CommandFailed, match=r"--no-such-flag' exited 2, expected \[0, 1\]"):
        _evaluate(f"```sh\n{BROKEN}\n```\n", tmp_path, docs_workspaces)
    # The same line without the typo runs: the flag alone failed it.
    fixed = BROKEN.replace("--no-such-flag", "--eps 0.1 --no-noise")
    assert _evaluate(f"```sh\n{fixed}\n```\n", tmp_path, docs_workspaces) == []


def test_a_block_may_announce_the_exit_code_it_demonstrates(tmp_path, docs_workspaces):
    page = (
        "<!-- invisible-code-block: python\nworkspace.expect_exit(2)\n-->\n\n"
        f"```console\n$ {BROKEN}\n...\n```\n"
        # The expectation is for the next block only.
        f"\n```sh\n{BROKEN}\n```\n"
    )
    with pytest.raises(CommandFailed) as failed:
        _evaluate(page, tmp_path, docs_workspaces)
    assert "exited 2, expected [0, 1]" in str(failed.value)


@pytest.mark.parametrize("language", ["sh", "bash", "shell"])
def test_every_shell_block_runs(language, tmp_path, docs_workspaces):
    with pytest.raises(CommandFailed, match="exited 2"):
        _evaluate(f"```{language}\nrobustcheck no-such-command\n```\n", tmp_path, docs_workspaces)


@pytest.mark.parametrize(
    ("block", "problem"),
    [
        ("```zsh\nrobustcheck scan model.onnx\n```\n", "a ```zsh block"),
        ("```\nrobustcheck scan model.onnx\n```\n", "a ``` block"),
        ("```text\n$ robustcheck inspect model.onnx\n```\n", "make it ```console"),
        ("```console\nrobustcheck inspect model.onnx\n```\n", "no `$ ` line"),
        ("```sh\n# robustcheck inspect model.onnx\n```\n", "nothing but comments"),
    ],
)
def test_a_block_nothing_runs_is_not_silently_ignored(block, problem, tmp_path, docs_workspaces):
    with pytest.raises(AssertionError, match=re.escape(problem)):
        _evaluate(block, tmp_path, docs_workspaces)


def test_a_skip_needs_a_reason_and_says_it(tmp_path, docs_workspaces):
    block = "```sh\ncurl https://example.invalid\n```\n"
    with pytest.raises(ValueError, match="say why the block cannot run"):
        _evaluate(f"<!-- skip: next -->\n\n{block}", tmp_path, docs_workspaces)
    skipped = _evaluate(
        f'<!-- skip: next "needs the network" -->\n\n{block}', tmp_path, docs_workspaces
    )
    assert skipped == ["needs the network"]
    with pytest.raises(CommandFailed, match="do not run 'curl'"):
        _evaluate(block, tmp_path, docs_workspaces)


def test_console_output_the_docs_show_must_be_printed(tmp_path, docs_workspaces):
    shown = "$ robustcheck policy validate policy.yaml\npolicy.yaml: ok\n"
    assert _evaluate(f"```console\n{shown}```\n", tmp_path, docs_workspaces) == []
    with pytest.raises(CommandFailed, match="did not print the lines the docs show"):
        _evaluate(f"```console\n{shown}policy.yaml: perfect\n```\n", tmp_path, docs_workspaces)


def test_commands_join_continuations_and_separate_output():
    console = "$ robustcheck scan model.onnx \\\n    --eps 0.1  # a comment\nverdict: PASS\n...\n$ robustcheck inspect model.onnx\n"
    first, second = parse_block(console, console=True)
    assert first.text == "robustcheck scan model.onnx      --eps 0.1  # a comment"
    assert first.shown == ["verdict: PASS", "..."]
    assert second.text == "robustcheck inspect model.onnx" and second.shown == []
    sh = "# comment only\nrobustcheck a \\\n  b \\\n  c\n\nrobustcheck d\n"
    assert [c.text for c in parse_block(sh, console=False)] == [
        "robustcheck a    b    c",
        "robustcheck d",
    ]


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("pip install robustcheck", "published as robustcheck-gate"),
        ("pip install 'robustcheck-gate[nope]'", r"no extra \['nope'\]"),
        ("pip uninstall robustcheck-gate", "only `pip install SPEC`"),
        ("make no-such-target", r"no target \['no-such-target'\]"),
        ("robustcheck scan model.onnx > out.txt", "shell syntax"),
        ("python -m robustcheck scan", "do not run 'python'"),
    ],
)
def test_commands_other_than_robustcheck_are_checked_or_refused(line, problem, tmp_path):
    with pytest.raises(CommandFailed, match=problem):
        run(Command(line), tmp_path)


@pytest.mark.parametrize(
    "line",
    [
        "pip install robustcheck-gate",
        "pip install 'robustcheck-gate[text,ray]'",
        "make TORCH_SPEC='torch>=2.3' demo",
    ],
)
def test_install_and_make_lines_that_hold(line, tmp_path):
    assert run(Command(line), tmp_path) == ""


def test_policy_blocks_are_loaded_by_robustcheck(tmp_path, docs_workspaces):
    typo = "```yaml\nversion: 1\nmin_clean_acuracy: 0.9\n```\n"
    with pytest.raises(PolicyError, match="min_clean_acuracy"):
        _evaluate(typo, tmp_path, docs_workspaces, name="policies.md")
    # Elsewhere a YAML block is data, unless its first line names one of robustcheck's files.
    assert _evaluate(typo, tmp_path, docs_workspaces) == []
    with pytest.raises(PolicyError, match="min_clean_acuracy"):
        _evaluate(
            typo.replace("```yaml\n", "```yaml\n# robustness.yaml\n"), tmp_path, docs_workspaces
        )


def test_config_blocks_are_saved_where_later_commands_read_them(tmp_path, docs_workspaces):
    config = "```yaml\n# robustcheck.yaml\nmodel: model.onnx\neps: [0.1]\n```\n"
    shown = "```console\n$ robustcheck config show\nmodel  model.onnx  robustcheck.yaml:2\n```\n"
    assert _evaluate(config + shown, tmp_path, docs_workspaces) == []
    with pytest.raises(CommandFailed, match="unknown setting 'epss'"):
        _evaluate(config.replace("eps:", "epss:"), tmp_path, docs_workspaces)
    toml = "```toml\n# pyproject.toml\n[tool.robustcheck]\nbatch_size = 1.5\n```\n"
    with pytest.raises(CommandFailed, match="batch-size"):
        _evaluate(toml, tmp_path, docs_workspaces)


def test_every_policy_block_of_the_policies_page_is_collected():
    document = DOCS.parse(ROOT / "docs" / "policies.md")
    policies = [e for e in document.examples() if str(e.parsed).startswith("version: 1")]
    assert len(policies) >= 12
