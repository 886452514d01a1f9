"""A small, strict YAML reader for policy and project-configuration files.

Built on ``yaml.SafeLoader``. It refuses what makes a gate hard to read or review: anchors and
aliases, merge keys (``<<``), duplicate keys, non-string keys, custom tags and deep nesting.
It records the line of every value so validation errors can point into the file.

Scalars are read by the YAML 1.2 core schema, not PyYAML's YAML 1.1: ``010`` is ten (not eight),
``1:30`` and ``yes`` are strings (not 90 and true), ``1e-3`` is a number. Only ``true``/``false``,
``null``/``~``, decimal, ``0o`` and ``0x`` integers, and decimal floats with ``.inf``/``.nan``
are anything but strings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

MAX_DEPTH = 32

Location = tuple[str | int, ...]

_CORE = "tag:yaml.org,2002:"
_SCALAR_TAGS = {_CORE + t for t in ("str", "int", "float", "bool", "null")}
_CORE_SCHEMA = {  # YAML 1.2.2, section 10.3.2: tag -> (regex, first characters)
    "null": (r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    "bool": (r"^(?:true|True|TRUE|false|False|FALSE)$", list("tTfF")),
    "int": (r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", list("-+0123456789")),
    "float": (
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        list("-+0123456789."),
    ),
}


class YamlError(Exception):
    """A document that is not acceptable policy YAML; ``line`` and ``column`` are 1-based when
    known."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column

    def where(self, name: str) -> str:
        """``name:line:col`` (or as much of it as is known), as compilers print it."""
        if self.line is None:
            return name
        return f"{name}:{self.line}" + ("" if self.column is None else f":{self.column}")


@dataclass(frozen=True)
class Document:
    data: Any
    lines: dict[Location, int]
    """1-based line of the value at each location (the key's line for mapping values)."""


def _in_core_schema(tag: str) -> bool:
    return tag in {_CORE + name for name in ("null", "bool", "int", "float")}


def _core_int(loader: yaml.SafeLoader, node: ScalarNode) -> int:
    text = str(loader.construct_scalar(node))
    if text.startswith(("0o", "0x")):
        return int(text[2:], 8 if text[1] == "o" else 16)
    return int(text, 10)  # "010" is ten: no leading-zero octal


def _core_float(loader: yaml.SafeLoader, node: ScalarNode) -> float:
    text = str(loader.construct_scalar(node)).lower()
    return float(text.replace(".inf", "inf").replace(".nan", "nan"))


class _Loader(yaml.SafeLoader):
    yaml_implicit_resolvers: ClassVar[dict[Any, Any]] = {
        first: [(tag, regexp) for tag, regexp in resolvers if not _in_core_schema(tag)]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        event = self.peek_event()
        line = event.start_mark.line + 1
        if isinstance(event, yaml.AliasEvent):
            raise YamlError(f"alias *{event.anchor} is not allowed: write the value out", line)
        if getattr(event, "anchor", None) is not None:
            raise YamlError(f"anchor &{event.anchor} is not allowed: write the value out", line)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise YamlError(f"nested deeper than {MAX_DEPTH} levels", line)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


class _Dumper(yaml.SafeDumper):
    """Quotes strings the loader would read as numbers, so dumps load back unchanged."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> Any:
        return super().increase_indent(flow, False)


def _represent_str(dumper: _Dumper, data: str) -> Any:
    # PyYAML folds a NEL or Unicode line separator written in a plain or single-quoted
    # scalar into a space; double quotes escape every such character.
    style = '"' if any(not ch.isprintable() for ch in data) else None
    return dumper.represent_scalar(_CORE + "str", data, style=style)


_Dumper.add_representer(str, _represent_str)
# The dumper keeps YAML 1.1's resolvers as well: it quotes any string either schema reads as
# something else, so what it writes loads back unchanged.
for _cls in (_Loader, _Dumper):
    for _tag, (_pattern, _first) in _CORE_SCHEMA.items():
        _cls.add_implicit_resolver(_CORE + _tag, re.compile(_pattern, re.ASCII), _first)
_Loader.add_constructor(_CORE + "int", _core_int)
_Loader.add_constructor(_CORE + "float", _core_float)


def parse(text: str) -> Document:
    """Parse one YAML document into plain Python values and their lines."""
    lines: dict[Location, int] = {}
    try:
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            data = None if node is None else _build(loader, node, (), lines)
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = ", ".join(part for part in (exc.context, exc.problem) if part) or "invalid YAML"
        problem = " ".join(problem.split())  # PyYAML's messages span lines
        if mark is None:
            raise YamlError(_clip(problem)) from None
        raise YamlError(_clip(problem), mark.line + 1, mark.column + 1) from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        raise YamlError(
            f"unacceptable character #x{exc.character:04x}: {exc.reason}", line
        ) from None
    except yaml.YAMLError as exc:
        raise YamlError(_clip(" ".join(str(exc).split()))) from None
    return Document(data, lines)


def dump(data: Any) -> str:
    return yaml.dump(
        data,
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=100,
    )


def _build(loader: _Loader, node: Node, at: Location, lines: dict[Location, int]) -> Any:
    lines.setdefault(at, node.start_mark.line + 1)
    if isinstance(node, MappingNode):
        return _build_mapping(loader, node, at, lines)
    if isinstance(node, SequenceNode):
        _expect_tag(node, _CORE + "seq")
        return [_build(loader, item, (*at, i), lines) for i, item in enumerate(node.value)]
    if node.tag not in _SCALAR_TAGS:
        raise YamlError(
            f"{_tag_name(node.tag)} values are not supported: quote the value",
            node.start_mark.line + 1,
        )
    implicit = loader.resolve(ScalarNode, node.value, (True, False))
    if node.tag not in (implicit, _CORE + "str"):
        raise YamlError(
            f"tag !!{_tag_name(node.tag)} is not allowed on {_clip(node.value, 60)!r}",
            node.start_mark.line + 1,
        )
    try:
        return loader.construct_object(node)
    except (ValueError, OverflowError, KeyError):
        raise YamlError(
            f"invalid {_tag_name(node.tag)} {_clip(node.value, 60)}", node.start_mark.line + 1
        ) from None


def _build_mapping(
    loader: _Loader, node: MappingNode, at: Location, lines: dict[Location, int]
) -> dict[str, Any]:
    _expect_tag(node, _CORE + "map")
    result: dict[str, Any] = {}
    for key_node, value_node in node.value:
        line = key_node.start_mark.line + 1
        if key_node.tag == _CORE + "merge":
            raise YamlError("merge keys (<<) are not allowed: write the keys out", line)
        if not isinstance(key_node, ScalarNode):
            raise YamlError(f"a key must be a string, not a {key_node.id}", line)
        if key_node.tag != _CORE + "str":
            raise YamlError(
                f"key {_clip(key_node.value, 60)!r} reads as {_tag_name(key_node.tag)}, "
                "not a string: quote it",
                line,
            )
        key = key_node.value
        path = (*at, key)
        if key in result:
            raise YamlError(f"duplicate key {_clip(key, 60)!r} (first at line {lines[path]})", line)
        lines[path] = line
        result[key] = _build(loader, value_node, path, lines)
    return result


def _expect_tag(node: Node, tag: str) -> None:
    if node.tag != tag:
        raise YamlError(f"tag {_tag_name(node.tag)} is not allowed", node.start_mark.line + 1)


def _tag_name(tag: str) -> str:
    return tag.removeprefix(_CORE) if tag.startswith(_CORE) else _clip(tag, 60)


def _clip(text: str, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
