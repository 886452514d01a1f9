"""Data loaders by name, and which file suffixes (or directories) each one claims.

Each built-in is declared beside its load function (``@loader("npz", suffixes=(".npz",))``);
robustcheck.data.builtin registers them; a plugin adds its own loader with
:meth:`LoaderRegistry.register`, which refuses a name or suffix that is already taken.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from robustcheck.data.base import Dataset
from robustcheck.data.options import LoadOptions
from robustcheck.errors import DataError, UsageError

LoadFn = Callable[[Path, LoadOptions], Dataset]


@dataclass(frozen=True)
class LoaderSpec:
    name: str
    load: LoadFn
    suffixes: tuple[str, ...] = ()
    """Lower-case file suffixes (with the dot) chosen automatically."""
    directory: bool = False
    """Whether this loader reads a directory rather than a file."""
    options: frozenset[str] = frozenset()
    """The :class:`LoadOptions` fields it honours; setting any other one is a usage error."""
    description: str = ""


class LoaderRegistry:
    def __init__(self) -> None:
        self._by_name: dict[str, LoaderSpec] = {}
        self._by_suffix: dict[str, LoaderSpec] = {}
        self._directory: LoaderSpec | None = None

    def register(self, spec: LoaderSpec) -> None:
        if spec.name in self._by_name:
            raise ValueError(f"a data loader named {spec.name!r} is already registered")
        taken = [s for s in spec.suffixes if s in self._by_suffix]
        if taken:
            owner = self._by_suffix[taken[0]].name
            raise ValueError(f"data loader {spec.name!r}: suffix {taken[0]!r} belongs to {owner!r}")
        if spec.directory and self._directory is not None:
            raise ValueError(
                f"data loader {spec.name!r}: directories belong to {self._directory.name!r}"
            )
        if any(s != s.lower() or not s.startswith(".") for s in spec.suffixes):
            raise ValueError(f"data loader {spec.name!r}: suffixes must be lower-case, like '.npz'")
        self._by_name[spec.name] = spec
        self._by_suffix.update(dict.fromkeys(spec.suffixes, spec))
        if spec.directory:
            self._directory = spec

    def names(self) -> list[str]:
        return sorted(self._by_name)

    def specs(self) -> list[LoaderSpec]:
        return [self._by_name[name] for name in self.names()]

    def get(self, name: str) -> LoaderSpec:
        try:
            return self._by_name[name]
        except KeyError:
            raise UsageError(
                f"--data-format: unknown data format {name!r}; choose from {', '.join(self.names())}"
            ) from None

    def for_path(self, path: Path, *, is_dir: bool) -> LoaderSpec:
        if is_dir:
            if self._directory is None:
                raise DataError(f"{path}: is a directory, and no data loader reads directories")
            return self._directory
        spec = self._by_suffix.get(path.suffix.lower())
        if spec is None:
            known = ", ".join(sorted(self._by_suffix))
            raise DataError(
                f"{path}: unsupported data format {path.suffix or '(none)'!r}",
                hint=f"use one of {known}, an image folder, or pass --data-format",
            )
        return spec


BUILTIN: list[LoaderSpec] = []
"""The loaders that ship with robustcheck, as their modules declare them (:func:`loader`);
robustcheck.data.builtin imports those modules and registers these."""


def loader(
    name: str,
    *,
    suffixes: tuple[str, ...] = (),
    directory: bool = False,
    options: frozenset[str] = frozenset(),
    description: str = "",
) -> Callable[[LoadFn], LoadFn]:
    """Declare the decorated load function as the built-in loader ``name``."""

    def declare(load: LoadFn) -> LoadFn:
        BUILTIN.append(LoaderSpec(name, load, suffixes, directory, options, description))
        return load

    return declare
