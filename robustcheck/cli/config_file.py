"""Project configuration: the defaults of ``robustcheck scan`` kept in the repository.

``robustcheck.yaml``, else ``[tool.robustcheck]`` in a ``pyproject.toml``, in the working
directory or the nearest folder above it up to the repository root (or the file named by
``--config``). Keys are the long names of the scan's flags
(``data``, ``eps``, ``policy``, ``json``, ``input-range``, ...; ``_`` may stand for ``-``) plus
``model``. Relative paths are relative to the configuration file. This module only reads and
locates; which keys exist and what their values mean is the command line's business, so flags and
settings cannot drift apart.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from robustcheck import _yaml
from robustcheck.errors import UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

CONFIG_FILE = "robustcheck.yaml"
PYPROJECT = "pyproject.toml"
PYPROJECT_TABLE = "tool.robustcheck"
MAX_CONFIG_BYTES = 256 * 1024


class ProjectConfig(BaseModel):
    """Settings read from one file, keyed by flag name without dashes (``input-range``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str
    """Shown in messages and in ``config show``: ``robustcheck.yaml`` or ``pyproject.toml [tool.robustcheck]``."""
    path: Path
    """The file read."""
    settings: dict[str, Any]
    lines: dict[str, int] = {}
    """1-based line of each setting, when the format records it (YAML)."""

    @property
    def directory(self) -> Path:
        """Relative paths in the settings are relative to this directory."""
        return self.path.parent

    def where(self, key: str) -> str:
        line = self.lines.get(key)
        return f"{self.source}:{line}" if line else self.source


def find_project_config(cwd: Path, explicit: Path | None = None) -> ProjectConfig | None:
    """The configuration ``explicit`` names, else the nearest one from ``cwd`` upwards.

    Like ruff and pytest, each folder from ``cwd`` up is searched for ``robustcheck.yaml``, then a
    ``pyproject.toml`` with a ``[tool.robustcheck]`` table; the search stops at the repository
    root (a folder holding ``.git``) or the filesystem root.
    """
    if explicit is not None:
        if explicit.suffix.lower() == ".toml":
            config = read_pyproject(explicit, shown=str(explicit))
            if config is None:
                raise UsageError(f"--config {explicit}: has no [{PYPROJECT_TABLE}] table")
            return config
        return read_yaml(explicit, shown=str(explicit))
    start = cwd.absolute()
    for folder in (start, *start.parents):
        found = _config_in(folder, start, cwd)
        if found is not None:
            return found
        if os.path.lexists(folder / ".git"):
            return None
    return None


def _config_in(folder: Path, start: Path, cwd: Path) -> ProjectConfig | None:
    for name, reader in ((CONFIG_FILE, read_yaml), (PYPROJECT, read_pyproject)):
        if os.path.lexists(folder / name):
            # Shown and resolved relative to the working directory: `../robustcheck.yaml`.
            shown = os.path.relpath(folder / name, start)
            config = reader(cwd / shown, shown=shown)
            if config is not None:
                return config
    return None


def read_yaml(path: Path, *, shown: str) -> ProjectConfig:
    text = _read_text(path, shown)
    try:
        document = _yaml.parse(text)
    except _yaml.YamlError as exc:
        where = exc.where(shown)
        raise UsageError(f"{where}: {exc.message}") from None
    data = {} if document.data is None else document.data
    if not isinstance(data, dict):
        raise UsageError(
            f"{shown}:1: the top level must be a mapping of settings (data: ..., eps: ...)"
        )
    lines = {key: document.lines[(key,)] for key in data if (key,) in document.lines}
    return _config(shown, path, data, lines)


def read_pyproject(path: Path, *, shown: str) -> ProjectConfig | None:
    """``[tool.robustcheck]`` of a ``pyproject.toml``, or ``None`` when it has no such table."""
    text = _read_text(path, shown)
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{shown}: invalid TOML ({exc})") from None
    tool = document.get("tool")
    table = tool.get("robustcheck") if isinstance(tool, dict) else None
    if table is None:
        return None
    if not isinstance(table, dict):
        raise UsageError(f"{shown}: [{PYPROJECT_TABLE}] must be a table of settings")
    return _config(f"{shown} [{PYPROJECT_TABLE}]", path, table, {})


def _config(source: str, path: Path, data: dict[str, Any], lines: dict[str, int]) -> ProjectConfig:
    settings: dict[str, Any] = {}
    key_lines: dict[str, int] = {}
    for raw_key, value in data.items():
        key = str(raw_key).replace("_", "-")
        if key in settings:
            raise UsageError(f"{source}: {raw_key!r} and another spelling of it are both set")
        settings[key] = value
        if raw_key in lines:
            key_lines[key] = lines[raw_key]
    return ProjectConfig(source=source, path=path, settings=settings, lines=key_lines)


def _read_text(path: Path, shown: str) -> str:
    try:
        if not path.is_file():
            raise UsageError(
                f"{shown}: not a regular file" if path.exists() else f"{shown}: no such file"
            )
        with path.open("rb") as handle:
            data = handle.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise UsageError(f"{shown}: cannot read ({exc.strerror})") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise UsageError(f"{shown}: larger than {MAX_CONFIG_BYTES // 1024} KiB")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{shown}: not UTF-8 text (invalid byte at offset {exc.start})") from None
