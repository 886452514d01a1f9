"""Everything the CLI shows passes through here: control characters and CI command prefixes removed."""

from __future__ import annotations

import re

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
