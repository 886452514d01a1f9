"""Data loaders by name, and which file suffixes (or directories) each one claims.

Built-ins are registered explicitly in :func:`builtin_registry`; a plugin adds its own loader with
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


def builtin_registry() -> LoaderRegistry:
    """A registry holding the loaders that ship with robustcheck."""
    from robustcheck.data.images import load_images
    from robustcheck.data.npy import load_npy
    from robustcheck.data.npz import load_npz
    from robustcheck.data.tabular import load_csv
    from robustcheck.data.text import load_text
    from robustcheck.data.tokens import load_tokens

    registry = LoaderRegistry()
    registry.register(
        LoaderSpec(
            "npz",
            load_npz,
            suffixes=(".npz",),
            options=frozenset({"x_key", "y_key", "layout"}),
            description="NumPy archive with an input array and an optional label array",
        )
    )
    registry.register(
        LoaderSpec(
            "npy",
            load_npy,
            suffixes=(".npy",),
            options=frozenset({"labels_file", "layout"}),
            description="NumPy array of inputs (memory-mapped); labels from --labels-file",
        )
    )
    registry.register(
        LoaderSpec(
            "csv",
            load_csv,
            suffixes=(".csv", ".tsv"),
            options=frozenset({"label_column", "feature_columns"}),
            description="table with a header row: numeric feature columns and a label column",
        )
    )
    registry.register(
        LoaderSpec(
            "tokens",
            load_tokens,
            options=frozenset({"y_key", "tokenizer"}),
            description="pre-tokenized text (.npz: input_ids, attention_mask, optional "
            "token_type_ids and special_ids, labels y); chosen for text models",
        )
    )
    registry.register(
        LoaderSpec(
            "text",
            load_text,
            options=frozenset({"tokenizer", "text_column", "label_column"}),
            description="text with labels (.jsonl, .csv or .tsv: text and label columns), "
            "tokenized with --tokenizer tokenizer.json; chosen for text models",
        )
    )
    registry.register(
        LoaderSpec(
            "images",
            load_images,
            directory=True,
            options=frozenset({"labels_file", "image_size", "layout", "class_order"}),
            description="PNG/JPEG folder: one sub-folder per class, or flat with a labels file",
        )
    )
    return registry
