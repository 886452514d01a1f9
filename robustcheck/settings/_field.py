"""How one setting is declared: a pydantic field (type, default, validation, help text) whose
annotation carries a :class:`Flag` saying how it is spelled on the command line and whether a
configuration file may set it::

    eps: Annotated[list[float], Flag(metavar="EPS")] = setting([], "L∞ budget ...")

The command line, the configuration file, ``config show``, ``docs/cli.md`` and the Python API are
all derived from these declarations (robustcheck.cli._settings builds the click options).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field
from pydantic.fields import FieldInfo

Kind = Literal[
    "default", "file", "path", "report", "report-spec", "csv-floats", "batch-size", "policy"
]
"""How a value is read from text where its type alone does not say: ``file`` a path that must
not be a folder, ``path`` a file or a folder, ``report`` a built-in format's report target (``-``
is standard output; the flag's name is the format's), ``report-spec`` a ``FORMAT=PATH`` target of
any format, ``csv-floats`` comma-separated numbers (a list in a file), ``batch-size`` a number or
``auto``, ``policy`` a policy file or ``builtin:NAME`` (resolved against the configuration's
folder when it is a file)."""


@dataclass(frozen=True)
class Flag:
    """The command-line spelling of a setting, and where else it may be set."""

    names: tuple[str, ...] = ()
    """Option names, e.g. ``("-o", "--output")``; default: ``--`` + the field name with dashes.
    The first long name without its dashes is the setting's key in a configuration file."""
    argument: bool = False
    """A positional argument (``MODEL``) rather than an option."""
    negate: bool = False
    """A switch whose presence sets the (by default ``True``) setting to ``False``: ``--no-noise``
    sets ``noise_baseline``."""
    secondary: str | None = None
    """The off spelling of an on/off pair: ``--progress/--no-progress`` (the setting is then
    ``None`` when neither is given)."""
    metavar: str | None = None
    bare: str | None = None
    """The value of the option given without one: ``--mlflow`` is ``--mlflow=on``."""
    kind: Kind = "default"
    file: bool = True
    """Whether a configuration file may set it. Switches that weaken the gate or the sandbox are
    command-line only: a file in the repository under review must not turn them on for the job
    that judges it."""
    show_default: bool | str | None = None
    """``None``: shown when there is a default other than ``None`` or ``False``."""
    listing: str | None = None
    """An entry-point group whose built-in names fill ``{listing}`` in the help, when help is
    shown (``Built-ins: fgsm, pgd, ...``): reading them imports nothing."""
    fingerprint: bool = True
    """Whether the setting can change what a scan measures (a checkpoint or a shard must not be
    reused across it); paths, report targets and resource limits cannot."""
    local: bool = False
    """Whether it describes this machine or this run rather than the scan (a path as mounted
    here, a resource limit, where this run's output goes): the parts of a sharded scan may differ
    in it, and nothing else."""

    def option_names(self, field: str) -> tuple[str, ...]:
        return self.names or ("--" + field.replace("_", "-"),)

    def key(self, field: str) -> str:
        """The setting's key in a configuration file: ``input-range``, or ``model``."""
        if self.argument:
            return field
        longs = [n for n in self.option_names(field) if n.startswith("--")]
        return longs[0][2:] if longs else field.replace("_", "-")

    def shown(self, field: str) -> str:
        """How a message names the setting: its first long option, or the argument's name."""
        if self.argument:
            return field.upper()
        return "--" + self.key(field)


def setting(default: Any = ..., help: str = "", **constraints: Any) -> Any:
    """``Field(default, description=help, **constraints)``; a list or dict default is copied for
    each instance."""
    if isinstance(default, (list, dict)):
        value = default
        return Field(default_factory=lambda: type(value)(value), description=help, **constraints)
    return Field(default, description=help, **constraints)


def flag_of(info: FieldInfo) -> Flag:
    for item in info.metadata:
        if isinstance(item, Flag):
            return item
    return Flag()


def flags(model: type[BaseModel]) -> dict[str, Flag]:
    """Field name → its :class:`Flag`, in declaration order."""
    return {name: flag_of(info) for name, info in model.model_fields.items()}
