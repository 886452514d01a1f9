"""sybil's parsers for README.md and docs/*.md, and the one working folder each document runs in.

Every fenced block is accounted for:

- ``sh``, ``bash``, ``shell``, ``console``: each command runs (:mod:`_docrun.commands`);
- ``python``: sybil's ``PythonCodeBlockParser``, one namespace per document;
- ``yaml``/``toml`` whose first line names the file (``# robustcheck.yaml``, ``# robustness.yaml``,
  ``# pyproject.toml``): saved in the working folder, where later commands read it, and checked
  by robustcheck's own loaders; every ``yaml`` block of docs/policies.md is a policy;
- ``text``, ``yaml``, ``toml``, ``json``, ``groovy``: data, not run (a ``text`` block that shows a
  ``$ `` command should be ``console``, and fails);
- any other language, or none: fails, so a new kind of block cannot go untested unnoticed.

``<!-- skip: next "reason" -->`` (sybil's directive) skips the next block; the reason is required.
Hidden setup is sybil's ``<!-- invisible-code-block: python ... -->``, with ``workspace`` (a
:class:`DocWorkspace`) in its namespace.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import Any

from sybil import Document, Example, Region, Sybil
from sybil.parsers.markdown import CodeBlockParser, PythonCodeBlockParser
from sybil.parsers.markdown import SkipParser as _SybilSkipParser
from sybil.parsers.markdown.lexers import FencedCodeBlockLexer, RawFencedCodeBlockLexer

from _docrun.commands import (
    PASS_OR_POLICY_FAILED,
    Command,
    CommandFailed,
    inside,
    parse_block,
    run,
)
from _docrun.workspace import Workspaces

ROOT = Path(__file__).resolve().parents[2]
SHELL_LANGUAGES = ("sh", "bash", "shell", "console")
RUN_LANGUAGES = (*SHELL_LANGUAGES, "python")
DATA_LANGUAGES = ("text", "yaml", "toml", "json", "groovy")
POLICY_PAGES = ("policies.md",)
"""Pages (by file name) whose every YAML block is a complete policy."""
_NAMED_FILE = re.compile(r"#\s*(robustcheck\.yaml|robustness\.yaml|pyproject\.toml)\s*$")
WORKSPACES = "docs_workspaces"
"""The session fixture (a :class:`~_docrun.workspace.Workspaces`) sybil puts in each namespace."""


class DocWorkspace:
    """One document's working folder (``workspace`` in its namespace), and the calls a hidden
    setup block may make before the block it prepares."""

    def __init__(self, namespace: dict[str, Any], document: str) -> None:
        self._namespace = namespace
        self._document = document
        self._path: Path | None = None
        self._expected: frozenset[int] | None = None

    @property
    def path(self) -> Path:
        if self._path is None:
            self.use("digits")
        assert self._path is not None
        return self._path

    def use(self, flavour: str) -> None:
        """Work from now on in a fresh copy of another flavour of files (see workspace.py)."""
        workspaces: Workspaces = self._namespace[WORKSPACES]
        parent = workspaces.root / "documents"
        parent.mkdir(exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix=f"{Path(self._document).stem}-", dir=parent))
        self._path = workspaces.copy(flavour, folder / flavour)

    def expect_exit(self, *codes: int) -> None:
        """The next shell block demonstrates these exit codes (instead of 0 or 1)."""
        self._expected = frozenset(codes)

    def take_expected(self) -> frozenset[int]:
        expected, self._expected = self._expected or PASS_OR_POLICY_FAILED, None
        return expected

    def run(self, commands: str) -> str:
        """Run shell-block text here, as a shell block would (for hidden setup)."""
        return "".join(run(c, self.path) for c in parse_block(commands, console=False))

    def trained_digits_cnn(self) -> tuple[Any, Any, Any, Any]:
        return self._namespace[WORKSPACES].trained_digits_cnn()


def _workspace(example: Example) -> DocWorkspace:
    """The document's :class:`DocWorkspace`, made by its first block that runs."""
    if "workspace" not in example.namespace:
        example.namespace["workspace"] = DocWorkspace(example.namespace, example.path)
    return example.namespace["workspace"]


def _run_shell(example: Example, *, console: bool) -> None:
    workspace = _workspace(example)
    accepted = workspace.take_expected()
    commands = parse_block(str(example.parsed), console=console)
    if not commands:
        prompt = "no `$ ` line" if console else "nothing but comments"
        raise CommandFailed(f"a shell block with {prompt}: it runs nothing")
    for command in commands:
        run(command, workspace.path, accepted)


class ShellParser:
    """``sh``, ``bash``, ``shell`` and ``console`` blocks: every command runs."""

    def __init__(self) -> None:
        self._parsers = [
            CodeBlockParser(language, partial(_run_shell, console=language == "console"))
            for language in SHELL_LANGUAGES
        ]

    def __call__(self, document: Document) -> Iterable[Region]:
        for parser in self._parsers:
            yield from parser(document)


class PythonParser:
    """sybil's Python code blocks (and ``>>>`` sessions), run inside the working folder. Hidden
    setup blocks act through ``workspace`` and run where they are, so that one whose page needs
    other files (``workspace.use("text")``) does not first copy the default ones."""

    def __init__(self) -> None:
        self._parser = PythonCodeBlockParser()

    def __call__(self, document: Document) -> Iterable[Region]:
        for region in self._parser(document):
            hidden = document.text.startswith("<!--", region.start)
            evaluator = region.evaluator
            assert evaluator is not None
            region.evaluator = (
                _with_workspace(evaluator) if hidden else _inside_workspace(evaluator)
            )
            yield region


def _with_workspace(evaluator: Callable[[Example], Any]) -> Callable[[Example], Any]:
    def evaluate(example: Example) -> Any:
        _workspace(example)
        return evaluator(example)

    return evaluate


def _inside_workspace(evaluator: Callable[[Example], Any]) -> Callable[[Example], Any]:
    def evaluate(example: Example) -> Any:
        with inside(_workspace(example).path):
            return evaluator(example)

    return evaluate


class ConfigFileParser:
    """YAML and TOML blocks that are robustcheck's own files: saved and loaded by robustcheck."""

    def __init__(self) -> None:
        self._lexer = FencedCodeBlockLexer(
            "yaml|toml", mapping={"language": "language", "source": "source"}
        )

    def __call__(self, document: Document) -> Iterable[Region]:
        policy_page = Path(document.path).name in POLICY_PAGES
        for region in self._lexer(document):
            source = str(region.lexemes["source"])
            named = _NAMED_FILE.match(source.partition("\n")[0])
            if named:
                region.parsed, region.evaluator = (named.group(1), source), _save_and_load
            elif policy_page and region.lexemes["language"] == "yaml":
                region.parsed, region.evaluator = source, _load_policy
            else:
                continue
            yield region


def _save_and_load(example: Example) -> None:
    name, source = example.parsed
    workspace = _workspace(example)
    (workspace.path / name).write_text(source)
    if name == "robustness.yaml":
        _load_policy(example, source)
    else:  # config show applies every setting to the scan's flags: a typo is exit 2
        run(Command(f"robustcheck config show -- --config {name}"), workspace.path, frozenset({0}))


def _load_policy(example: Example, source: str | None = None) -> None:
    from robustcheck.policy.load import parse_policy

    text = str(example.parsed) if source is None else source
    parse_policy(text, source=f"{_relative(example.path)}:{example.line}")


class UnrunnableBlockParser:
    """Fails each fenced block that no parser runs and that is not data: an unknown or missing
    language, or a data block showing a ``$ `` command (write it as ``console``)."""

    def __init__(self) -> None:
        info = re.compile(r"(?P<info>[^\n]*)$\n", re.MULTILINE)
        self._lexer = RawFencedCodeBlockLexer(info, mapping={"info": "info", "source": "source"})

    def __call__(self, document: Document) -> Iterable[Region]:
        for region in self._lexer(document):
            language = (region.lexemes["info"].split() or [""])[0]
            if language in RUN_LANGUAGES:
                continue
            if language in DATA_LANGUAGES:
                commands = [
                    line
                    for line in str(region.lexemes["source"]).splitlines()
                    if line.startswith("$ ")
                ]
                if not commands:
                    continue
                problem = f"a ```{language} block shows the command {commands[0]!r}: make it ```console so it runs"
            else:
                problem = (
                    f"a ```{language} block: the docs tests run {', '.join(RUN_LANGUAGES)} and "
                    f"treat {', '.join(DATA_LANGUAGES)} as data; use one of those, or mark the "
                    'block with <!-- skip: next "why it cannot run" -->'
                )
            region.parsed, region.evaluator = problem, _fail
            yield region


def _fail(example: Example) -> str:
    return str(example.parsed)


class SkipParser(_SybilSkipParser):
    """sybil's ``<!-- skip: next "reason" -->``, refusing a skip that gives no reason."""

    def __call__(self, document: Document) -> Iterable[Region]:
        for region in super().__call__(document):
            action, reason = region.parsed
            if action in ("next", "start") and not (reason or "").strip():
                where = document.line_column(region.start)
                raise ValueError(
                    f'{document.path}, {where}: say why the block cannot run: <!-- skip: {action} "reason" -->'
                )
            yield region


def _relative(path: str) -> str:
    try:
        return Path(path).resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return path


def docs_sybil(patterns: list[str], path: Path = ROOT) -> Sybil:
    return Sybil(
        parsers=[
            SkipParser(),
            ShellParser(),
            PythonParser(),
            ConfigFileParser(),
            UnrunnableBlockParser(),
        ],
        patterns=patterns,
        path=str(path),
        fixtures=[WORKSPACES],
    )


DOCS = docs_sybil(["README.md", "docs/*.md"])
