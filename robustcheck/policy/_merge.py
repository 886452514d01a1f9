"""The ``extends`` merge rule, applied to raw (already validated) policy mappings.

1. A key the child sets replaces the parent's value; a key set to ``null`` is removed.
2. Except ``all_eps`` and ``input``, which merge key by key, and ``budgets``, which merge
   budget by budget: a child budget with the same attack and ε as a parent budget merges
   into it key by key, any other child budget is appended.
3. Inside ``all_eps`` and a budget, ``per_class`` merges entry by entry on ``class`` and
   ``max_increase`` key by key. A rule itself (``max_accuracy_drop: {...}``) is replaced
   whole: the child's ``0.2`` does not inherit the parent's ``severity: warn``.
4. ``extends`` is not inherited.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

Raw = dict[str, Any]


def merge_policies(parent: Raw, child: Raw) -> Raw:
    merged = _merge_keys(parent, child, {"all_eps": _merge_block, "input": _merge_keys})
    if isinstance(parent.get("budgets"), list) and isinstance(child.get("budgets"), list):
        merged["budgets"] = _merge_list(parent["budgets"], child["budgets"], _budget_key)
    merged.pop("extends", None)
    return _drop_nulls(merged)


def _merge_keys(
    parent: Raw, child: Raw, nested: dict[str, Callable[[Raw, Raw], Raw]] | None = None
) -> Raw:
    merged = dict(parent)
    for key, value in child.items():
        merge = (nested or {}).get(key)
        if merge is not None and isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _merge_block(parent: Raw, child: Raw) -> Raw:
    merged = _merge_keys(parent, child, {"max_increase": _merge_keys})
    if isinstance(parent.get("per_class"), list) and isinstance(child.get("per_class"), list):
        merged["per_class"] = _merge_list(
            parent["per_class"], child["per_class"], lambda entry: _typed(entry.get("class"))
        )
    return merged


def _merge_list(parent: list[Raw], child: list[Raw], key: Callable[[Raw], Hashable]) -> list[Raw]:
    merged = list(parent)
    index = {key(entry): i for i, entry in enumerate(merged)}
    for entry in child:
        at = index.get(key(entry))
        if at is None:
            index[key(entry)] = len(merged)
            merged.append(entry)
        else:
            merged[at] = _merge_block(merged[at], entry)
    return merged


def _budget_key(budget: Raw) -> Hashable:
    if "tokens" in budget:
        return (budget.get("attack", "hotflip"), "tokens", budget["tokens"])
    return (budget.get("attack", "fgsm"), float(budget.get("eps", 0)))


def _typed(value: Any) -> Hashable:
    """``3`` (a label) and ``"3"`` (a class name) are different classes."""
    return (type(value).__name__, value)


def _drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value
