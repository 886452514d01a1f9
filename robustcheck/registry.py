"""A small typed registry, and entry-point plugins loaded one at a time.

Every extensible part (attacks, data loaders) is a registry: built-ins are registered explicitly
and through the same entry-point group plugins use; each plugin is loaded inside its own
try/except (after sqlfluff's plugin host), so a broken one is named and skipped, never fatal; a
plugin may replace a built-in of the same name (the listing says so).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from importlib import metadata
from typing import Generic, TypeVar

from robustcheck.errors import UsageError

T = TypeVar("T")

DATA_LOADERS = "robustcheck.data_loaders"
ATTACKS = "robustcheck.attacks"
"""The entry-point groups of data-loader and attack plugins (built-ins are declared there too)."""


class Registry(Generic[T]):
    """Named entries of one kind; a name is registered once unless replaced on purpose."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str, entry: T, *, replace: bool = False) -> None:
        if name in self._entries and not replace and self._entries[name] is not entry:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._entries[name] = entry

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            known = ", ".join(sorted(self._entries)) or "none"
            raise UsageError(f"unknown {self.kind} {name!r}; available: {known}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._entries))

    def names(self) -> list[str]:
        return sorted(self._entries)


@dataclass(frozen=True)
class PluginStatus:
    name: str
    value: str
    distribution: str | None
    error: str | None = None
    builtin: bool = False
    """Shipped with robustcheck itself (registered through the same group)."""
    replaces_builtin: bool = False


def load_plugins(
    group: str,
    register: Callable[[str, object, bool], None],
    builtin_names: set[str],
    entry_points: Iterable[metadata.EntryPoint] | None = None,
) -> list[PluginStatus]:
    """Load every entry point of ``group`` and ``register(name, obj, replaces_builtin)`` it.

    ``register`` validates the object (raising on anything wrong); a failure is recorded in the
    returned status and the plugin skipped.
    """
    if entry_points is None:
        entry_points = metadata.entry_points(group=group)
    statuses = []
    for ep in sorted(entry_points, key=lambda e: e.name):
        dist = ep.dist.name if ep.dist is not None else None
        own = _is_builtin(ep)
        replaces = ep.name in builtin_names and not own
        try:
            register(ep.name, ep.load(), replaces)
        except Exception as exc:  # a broken plugin is reported, never fatal
            statuses.append(PluginStatus(ep.name, ep.value, dist, f"{type(exc).__name__}: {exc}"))
            continue
        statuses.append(PluginStatus(ep.name, ep.value, dist, None, own, replaces))
    return statuses


def _is_builtin(ep: metadata.EntryPoint) -> bool:
    return ep.value.startswith("robustcheck.") or ep.value.startswith("robustcheck:")


def builtin_names(group: str) -> list[str]:
    """The names robustcheck itself declares in the entry-point group ``group``, read from the
    installed metadata without importing anything (``--help`` lists the built-in attacks this
    way: the attack classes import torch). Empty when robustcheck's metadata is not installed."""
    return sorted({ep.name for ep in metadata.entry_points(group=group) if _is_builtin(ep)})
