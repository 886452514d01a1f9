"""``robustcheck policy``: validate, show, create policy files and print their JSON Schema."""

from __future__ import annotations

from pathlib import Path

import click

from robustcheck.cli._options import debug_option
from robustcheck.cli._terminal import err, out
from robustcheck.errors import PolicyError, RuntimeEnvironmentError, UsageError
from robustcheck.exit_codes import ExitCode


@click.group()
def policy() -> None:
    """Validate, inspect and create policy files (the limits a scan is gated on).

    See docs/policies.md for the format.
    """


@policy.command()
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@debug_option
def validate(files: tuple[str, ...]) -> int:
    """Check policy files.

    Prints `FILE: ok` or the file's located error for each FILE (a path or builtin:NAME);
    exits 0 when all are valid, else 3.
    """
    from robustcheck.policy.load import load_reference

    invalid = 0
    for name in files:
        try:
            load_reference(name)
        except PolicyError as exc:
            invalid += 1
            err(exc.one_line())
        else:
            out(f"{name}: ok")
    return int(ExitCode.INPUT_ERROR if invalid else ExitCode.OK)


@policy.command()
@click.argument("file", metavar="FILE")
@debug_option
def show(file: str) -> int:
    """Print a policy as resolved, in YAML.

    FILE (a path or builtin:NAME) with its extends merged and every default filled in, headed
    by the sha256 that scan reports record.
    """
    from robustcheck.policy.load import dump_policy, load_reference, policy_sha256

    resolved = load_reference(file)
    out(f"# resolved from {file}\n# sha256: {policy_sha256(resolved)}\n{dump_policy(resolved)}")
    return int(ExitCode.OK)


@policy.command()
@debug_option
def schema() -> int:
    """Print the policy JSON Schema.

    The same text as policies/robustcheck-policy.schema.json, for editor completion.
    """
    from robustcheck.policy.schema import json_schema_text

    out(json_schema_text())
    return int(ExitCode.OK)


@policy.command()
@click.argument(
    "path",
    type=click.Path(path_type=Path, dir_okay=False),
    default="robustcheck-policy.yaml",
    required=False,
)
@click.option("--force", is_flag=True, help="Overwrite PATH if it exists.")
@debug_option
def init(path: Path, force: bool) -> int:
    """Write a commented starter policy.

    Writes PATH (default: robustcheck-policy.yaml); an existing file is kept unless --force.
    """
    from robustcheck.files import write_text_atomic
    from robustcheck.policy.load import STARTER, builtin_text

    if path.exists() and not force:
        raise UsageError(f"{path} already exists", hint="pass --force to overwrite it")
    try:
        write_text_atomic(path, builtin_text(STARTER), "policy")
    except OSError as exc:
        raise RuntimeEnvironmentError(f"{path}: cannot write: {exc.strerror or exc}") from None
    out(f"wrote {path}")
    return int(ExitCode.OK)
