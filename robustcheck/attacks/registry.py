"""The attack registry: each built-in registers beside its definition (``@ATTACKS.register``);
plugins come from the ``robustcheck.attacks`` entry-point group (:mod:`robustcheck.attacks.builtin`
gathers the built-ins and adds the plugins)."""

from __future__ import annotations

from robustcheck.attacks.base import Attack, capability_problems
from robustcheck.registry import ATTACKS as GROUP
from robustcheck.registry import Registry


def _attack_class(name: str, entry: object) -> type[Attack]:
    if not (isinstance(entry, type) and issubclass(entry, Attack)):
        raise TypeError(f"it is a {type(entry).__name__}, not an Attack subclass")
    if entry.name != name:
        raise ValueError(f"the class says its name is {entry.name!r}, the entry point {name!r}")
    problems = capability_problems(entry)
    if problems:
        raise TypeError(
            f"{entry.__qualname__} declares inconsistent capabilities: {'; '.join(problems)}"
        )
    return entry


ATTACKS: Registry[type[Attack]] = Registry(
    "attack", GROUP, _attack_class, name_of=lambda cls: str(getattr(cls, "name", ""))
)
"""The built-in attacks, as their modules register them; never holds plugins (see
:meth:`Registry.with_plugins`)."""
