"""A small typed registry, and entry-point plugins loaded one at a time.

Every extensible part (attacks, data loaders, report formats) is a :class:`Registry`: a built-in
registers beside its definition (``@ATTACKS.register("fgsm")`` on the class), a duplicate name is
refused, and :meth:`Registry.with_plugins` returns a copy holding the installed plugins of the
registry's entry-point group too — each loaded inside its own try/except (after sqlfluff's plugin
host), so a broken one is named and skipped, never fatal; a plugin may replace a built-in of the
same name, and the listing says so (after torch.onnx's exporter registry). Built-ins are declared
in the same groups, so ``--help`` can list them without importing them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from importlib import metadata
from typing import Generic, TypeVar

from robustcheck.errors import UsageError

T = TypeVar("T")
E = TypeVar("E")

DATA_LOADERS = "robustcheck.data_loaders"
ATTACKS = "robustcheck.attacks"
REPORTERS = "robustcheck.reporters"
"""The entry-point groups of plugins (robustcheck's own built-ins are declared there too)."""


class Registry(Generic[T]):
    """Named entries of one kind; a name is registered once unless a plugin replaces it."""

    def __init__(
        self,
        kind: str,
        group: str | None = None,
        check: Callable[[str, object], T] | None = None,
        name_of: Callable[[object], str] | None = None,
    ) -> None:
        self.kind = kind
        self.group = group
        """The entry-point group plugins of this kind are declared in."""
        self._check = check
        """Validates an entry (raising on anything wrong) and returns it typed."""
        self._name_of = name_of
        """The name an entry gives itself (an attack class's ``name``), for :meth:`register`."""
        self._entries: dict[str, T] = {}

    def register(self, name: str | None = None) -> Callable[[E], E]:
        """A decorator registering the decorated definition under ``name``, or the name it
        gives itself; a second registration of the name is refused."""

        def decorate(entry: E) -> E:
            assert name is not None or self._name_of is not None, "register() needs a name"
            self.add(name if name is not None else self._name_of(entry), entry)  # type: ignore[misc]
            return entry

        return decorate

    def add(self, name: str, entry: object, *, replace: bool = False) -> None:
        checked = self._check(name, entry) if self._check is not None else entry
        if name in self._entries and not replace and self._entries[name] is not checked:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._entries[name] = checked  # type: ignore[assignment]

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

    def copy(self) -> Registry[T]:
        twin: Registry[T] = Registry(self.kind, self.group, self._check, self._name_of)
        twin._entries = dict(self._entries)
        return twin

    def with_plugins(
        self, entry_points: Iterable[metadata.EntryPoint] | None = None
    ) -> tuple[Registry[T], list[PluginStatus]]:
        """A copy of this registry with the plugins of its group added (this one is unchanged),
        and the status of each entry point."""
        assert self.group is not None, f"the {self.kind} registry has no entry-point group"
        merged = self.copy()
        builtins = set(self._entries)

        def add(name: str, entry: object, replaces: bool) -> None:
            merged.add(name, entry, replace=replaces)

        return merged, load_plugins(self.group, add, builtins, entry_points)


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
