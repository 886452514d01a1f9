"""Reading policy files: size cap, strict YAML, ``extends``, located one-line errors.

Every failure is a :class:`~robustcheck.errors.PolicyError` whose message starts with the file
(and line, when known), e.g. ``policy.yaml:7: budgets[1].eps: Input should be greater than 0``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from robustcheck import _yaml
from robustcheck.errors import PolicyError
from robustcheck.policy._errors import clip, join, validation_messages
from robustcheck.policy._merge import Raw, merge_policies
from robustcheck.policy.schema import FRAGMENT, Policy

MAX_POLICY_BYTES = 256 * 1024
MAX_EXTENDS_DEPTH = 8
BUILTIN_PREFIX = "builtin:"
BUILTIN_POLICIES = ("default", "strict", "paper-mnist")
STARTER = "_starter"
"""The commented template ``robustcheck policy init`` writes (a builtin file, not a builtin name)."""

_FRONT = ("version", "eps", "attack", "class")


class _ExtendedError(PolicyError):
    """An error in an extended file, already marked with the one ``extends`` that led to it."""


@dataclass(frozen=True)
class _Source:
    """Where policy text comes from: a file, a built-in policy, or a string."""

    name: str
    """Shown in messages."""
    key: str
    """Identity, to detect circular ``extends``."""
    path: Path | None = None
    builtin: str | None = None
    text: bytes | None = None

    def read(self) -> bytes:
        if self.text is not None:
            data = self.text
        elif self.builtin is not None:
            data = _builtin_file(self.builtin).read_bytes()
        else:
            assert self.path is not None
            data = _read_file(self.path)
        if len(data) > MAX_POLICY_BYTES:
            raise PolicyError(
                f"{self.name}: larger than {MAX_POLICY_BYTES // 1024} KiB; a policy is a short YAML file"
            )
        return data

    def resolve(self, ref: str) -> _Source:
        """The source an ``extends: ref`` in this source names."""
        if ref.startswith(BUILTIN_PREFIX):
            return _builtin_source(ref.removeprefix(BUILTIN_PREFIX))
        if self.builtin is not None:
            return _builtin_source(ref.removesuffix(".yaml"))
        if self.path is None:
            raise PolicyError(
                f"{clip(ref)!r}: a relative path needs a policy read from a file; use builtin:NAME"
            )
        return _file_source(self.path.parent / ref)


def load_policy(path: Path) -> Policy:
    """Load a policy file, resolving ``extends``."""
    return _load(_file_source(path))


def load_builtin(name: str) -> Policy:
    """One of the policies shipped with robustcheck: ``default``, ``strict``, ``paper-mnist``."""
    return _load(_builtin_source(name))


def load_reference(ref: str) -> Policy:
    """``builtin:NAME`` or a file path, as given on the command line."""
    if ref.startswith(BUILTIN_PREFIX):
        return load_builtin(ref.removeprefix(BUILTIN_PREFIX))
    return load_policy(Path(ref))


def parse_policy(text: str | bytes, *, source: str = "<policy>") -> Policy:
    """Parse policy text; ``extends`` may only name built-in policies here."""
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    return _load(_Source(name=source, key=f"text:{source}", text=data))


def builtin_text(name: str) -> str:
    """The commented YAML of a built-in policy (or of the ``init`` starter)."""
    return _builtin_file(name).read_text(encoding="utf-8")


def canonical_dict(policy: Policy) -> dict[str, Any]:
    """The resolved policy as plain JSON data: every default filled in, unset rules left out."""
    return policy.model_dump(mode="json", by_alias=True, exclude_none=True)


def policy_sha256(policy: Policy) -> str:
    """sha256 of the resolved policy's canonical JSON: equal for equivalent spellings."""
    text = json.dumps(
        canonical_dict(policy), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def dump_policy(policy: Policy) -> str:
    """The resolved policy as YAML that loads back to an equal policy."""
    return _yaml.dump(_front(canonical_dict(policy)))


def _load(source: _Source) -> Policy:
    raw, model, extended = _resolve(source, ())
    if not extended:
        return model
    try:
        return Policy.model_validate(raw)
    except ValidationError as exc:
        raise PolicyError(
            join(validation_messages(exc, f"{source.name} (merged with its extends)", None))
        ) from None


def _resolve(source: _Source, chain: tuple[_Source, ...]) -> tuple[Raw, Policy, bool]:
    """The raw mapping after merging ``extends``, this file's own model, whether it extends."""
    document = _document(source)
    raw: Raw = document.data
    ref = raw.get("extends")
    model = _validate(raw, source.name, document.lines, fragment=ref is not None)
    if ref is None:
        return raw, model, False
    where = f"{source.name}:{document.lines[('extends',)]}"
    seen = (*chain, source)
    if len(seen) > MAX_EXTENDS_DEPTH:
        raise PolicyError(f"{where}: extends: more than {MAX_EXTENDS_DEPTH} levels of extends")
    try:
        parent = source.resolve(ref)
    except PolicyError as exc:
        raise PolicyError(f"{where}: extends: {exc.message}") from None
    if any(parent.key == s.key for s in seen):
        cycle = " -> ".join(s.name for s in (*seen, parent))
        raise PolicyError(f"{where}: extends: circular extends: {cycle}")
    try:
        parent_raw, _, _ = _resolve(parent, seen)
    except _ExtendedError:
        raise
    except PolicyError as exc:
        raise _ExtendedError(f"{exc.message} (extended from {where})") from None
    return merge_policies(parent_raw, raw), model, True


def _document(source: _Source) -> _yaml.Document:
    data = source.read()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PolicyError(
            f"{source.name}: not UTF-8 text (invalid byte 0x{data[exc.start]:02x} at offset {exc.start})"
        ) from None
    try:
        document = _yaml.parse(text)
    except _yaml.YamlError as exc:
        where = exc.where(source.name)
        raise PolicyError(f"{where}: {exc.message}") from None
    if document.data is None:
        raise PolicyError(f"{source.name}: the file is empty (start with `version: 1`)")
    if not isinstance(document.data, dict):
        kind = "a list" if isinstance(document.data, list) else "a single value"
        raise PolicyError(
            f"{source.name}:1: the top level must be a mapping of keys (version, budgets, ...), not {kind}"
        )
    if "version" not in document.data:
        raise PolicyError(f"{source.name}:1: version: Field required (start with `version: 1`)")
    return document


def _validate(raw: Raw, name: str, lines: dict[_yaml.Location, int], *, fragment: bool) -> Policy:
    try:
        return Policy.model_validate(raw, context={FRAGMENT: fragment})
    except ValidationError as exc:
        raise PolicyError(join(validation_messages(exc, name, lines))) from None


def _read_file(path: Path) -> bytes:
    try:
        if path.is_dir():
            raise PolicyError(f"{path}: is a directory, not a policy file")
        if not path.exists():
            raise PolicyError(f"{path}: no such file")
        if not path.is_file():
            raise PolicyError(f"{path}: not a regular file")
        with path.open("rb") as handle:
            return handle.read(MAX_POLICY_BYTES + 1)
    except OSError as exc:
        raise PolicyError(f"{path}: cannot read: {exc.strerror or exc}") from None


def _file_source(path: Path) -> _Source:
    try:
        key = str(path.resolve())
    except (OSError, RuntimeError):
        key = str(path.absolute())
    return _Source(name=str(path), key=key, path=path)


def _builtin_source(name: str) -> _Source:
    if name not in BUILTIN_POLICIES:
        raise PolicyError(
            f"no built-in policy {clip(name)!r} (choose from {', '.join(BUILTIN_POLICIES)})"
        )
    return _Source(name=f"{BUILTIN_PREFIX}{name}", key=f"builtin:{name}", builtin=name)


def _builtin_file(name: str) -> Any:
    return resources.files("robustcheck.policy").joinpath("builtin").joinpath(f"{name}.yaml")


def _front(value: Any) -> Any:
    """Put identifying keys (version, eps, attack, class) first, for readable dumps."""
    if isinstance(value, dict):
        first = [k for k in _FRONT if k in value]
        rest = [k for k in value if k not in _FRONT]
        return {k: _front(value[k]) for k in first + rest}
    if isinstance(value, list):
        return [_front(v) for v in value]
    return value
