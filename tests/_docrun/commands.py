"""A documented command, run as the user would type it, or checked where running it is pointless.

- ``robustcheck ...`` runs in-process through ``robustcheck.cli.main`` (the same code the
  installed command runs, without a process start per line). It must exit 0 or 1 (pass or policy
  failed): a usage error (2), an unreadable input (3) or a crash fails the docs, unless the
  document announced the code it demonstrates (``workspace.expect_exit(...)``).
- ``pip install SPEC``: the distribution must be this project's and every extra must exist in
  pyproject.toml (installing would prove nothing about this checkout).
- ``make TARGET``: the target must exist in the Makefile (running it would recurse into the
  test suite).

Anything else (another program, pipes, redirections, variables) fails: run it some other way,
or mark the block with ``<!-- skip: next "why" -->``.
"""

from __future__ import annotations

import io
import os
import re
import shlex
import sys
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
DISTRIBUTION = "robustcheck-gate"
PASS_OR_POLICY_FAILED = frozenset({0, 1})
_SHELL_SYNTAX = {"|", "||", "&&", ";", "&", ">", ">>", "<", "2>", "2>&1"}


class CommandFailed(AssertionError):
    """A documented command did not do what the docs imply."""


@dataclass
class Command:
    text: str
    """The command line, continuation lines joined."""
    shown: list[str] = field(default_factory=list)
    """For a console block, the output lines the docs show after it."""


def parse_block(source: str, *, console: bool) -> list[Command]:
    """The commands of a shell block. In a console block only ``$ `` lines are commands (and the
    lines a trailing backslash continues); the other lines are the output it shows."""
    commands: list[Command] = []
    continuing = False
    for line in source.splitlines():
        if continuing:
            commands[-1].text += "\n" + line
        elif console and not line.startswith("$ "):
            if commands:
                commands[-1].shown.append(line)
            continue
        else:
            commands.append(Command(line[2:] if console else line))
        continuing = line.endswith("\\")
    for command in commands:
        command.text = command.text.replace("\\\n", " ")
    return [c for c in commands if shlex.split(c.text, comments=True)]


def run(command: Command, cwd: Path, accepted: frozenset[int] = PASS_OR_POLICY_FAILED) -> str:
    """Run (or check) one command in ``cwd``; its output, or :class:`CommandFailed`."""
    argv = shlex.split(command.text, comments=True)
    syntax = [word for word in argv if word in _SHELL_SYNTAX or "$" in word or "`" in word]
    if syntax:
        raise CommandFailed(f"{command.text!r}: shell syntax {syntax} is not run by the docs tests")
    program, args = argv[0], argv[1:]
    if program == "robustcheck":
        code, output = _robustcheck(_expand_globs(args, cwd), cwd)
        if code not in accepted:
            raise CommandFailed(
                f"{command.text!r} exited {code}, expected {sorted(accepted)}:\n{output}"
            )
        _compare_output(command, output)
        return output
    if program == "pip":
        _check_pip(args)
    elif program == "make":
        _check_make(args)
    else:
        raise CommandFailed(
            f"{command.text!r}: the docs tests do not run {program!r}; run the block another way "
            'or mark it with <!-- skip: next "why it cannot run" -->'
        )
    return ""


def _robustcheck(args: list[str], cwd: Path) -> tuple[int, str]:
    from robustcheck.cli import main

    output = io.StringIO()
    with (
        inside(cwd),
        _without_env("GITHUB_STEP_SUMMARY"),
        redirect_stdout(output),
        redirect_stderr(output),
    ):
        code = main(args)
    return code, output.getvalue()


def _expand_globs(args: list[str], cwd: Path) -> list[str]:
    """``part-*.json`` as the shell expands it (a pattern that matches nothing stays as it is)."""
    expanded: list[str] = []
    for arg in args:
        magic = any(c in arg for c in "*?[")
        matches = sorted(p.relative_to(cwd).as_posix() for p in cwd.glob(arg)) if magic else []
        expanded.extend(matches or [arg])
    return expanded


def _compare_output(command: Command, output: str) -> None:
    """Each output line a console block shows must appear, numbers and spacing aside: the docs
    may abridge the output (``...``) but not invent lines."""

    def skeleton(line: str) -> str:
        return " ".join(re.sub(r"\d+(\.\d+)?", "#", line).split())

    printed = {skeleton(line) for line in output.splitlines()}
    missing = [
        line
        for line in command.shown
        if line.strip() not in ("", "...") and skeleton(line) not in printed
    ]
    if missing:
        raise CommandFailed(
            f"{command.text!r} did not print the lines the docs show:\n"
            + "\n".join(missing)
            + f"\n--- it printed:\n{output}"
        )


def _check_pip(args: list[str]) -> None:
    if args[:1] != ["install"] or len(args) < 2:
        raise CommandFailed(f"pip {' '.join(args)}: only `pip install SPEC` is checked")
    extras = set(_pyproject()["project"]["optional-dependencies"])
    for spec in args[1:]:
        try:
            requirement = Requirement(spec)
        except InvalidRequirement as exc:
            raise CommandFailed(f"pip install {spec}: {exc}") from None
        if canonicalize_name(requirement.name) != DISTRIBUTION:
            raise CommandFailed(f"pip install {spec}: this project is published as {DISTRIBUTION}")
        if requirement.extras - extras:
            raise CommandFailed(
                f"pip install {spec}: no extra {sorted(requirement.extras - extras)} in pyproject.toml"
            )


def _check_make(args: list[str]) -> None:
    targets = set(re.findall(r"^([\w.-]+):", (ROOT / "Makefile").read_text(), flags=re.MULTILINE))
    wanted = [arg for arg in args if "=" not in arg and not arg.startswith("-")]
    if not wanted or set(wanted) - targets:
        raise CommandFailed(f"make {' '.join(args)}: no target {sorted(set(wanted) - targets)}")


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


@contextmanager
def inside(folder: Path) -> Iterator[None]:
    before = Path.cwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)


@contextmanager
def _without_env(name: str) -> Iterator[None]:
    saved = os.environ.pop(name, None)
    try:
        yield
    finally:
        if saved is not None:
            os.environ[name] = saved
