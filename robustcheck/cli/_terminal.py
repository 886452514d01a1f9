"""Everything the CLI shows passes through here: control characters and CI command prefixes removed."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# GitHub Actions (::cmd::) and Azure (##vso[) parse these prefixes from any log line.
_WORKFLOW_PREFIX = re.compile(r"^(\s*)(::|##\[|##vso\[)", re.MULTILINE)


def clean(text: str) -> str:
    return _WORKFLOW_PREFIX.sub(r"\1 \2", _CONTROL.sub("", text.replace("\r\n", "\n")))


def out(text: str) -> None:
    click.echo(clean(text), nl=not text.endswith("\n"))


def err(text: str) -> None:
    click.echo(clean(text), err=True)


@contextmanager
def progress_bar(enabled: bool | None, label: str) -> Iterator[Callable[[int, int], None] | None]:
    """A ``(done, total)`` callback drawing a bar on stderr, or None: off by default under CI and
    when stderr is not a terminal."""
    if enabled is None:
        enabled = sys.stderr.isatty() and not os.environ.get("CI")
    if not enabled:
        yield None
        return
    with click.progressbar(length=1, label=label, file=sys.stderr) as bar:

        def update(done: int, total: int) -> None:
            bar.length = total
            bar.update(done - bar.pos)

        yield update
