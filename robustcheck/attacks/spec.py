"""Attack specifications as users write them: ``NAME[:KEY=VALUE,...]``.

``fgsm``, ``pgd:steps=20,restarts=2``, ``fgsm:target=least-likely,label=fgsm-ll``. The reserved
key ``label`` renames the attack in results and policy rules (two configurations of one attack in
a scan need different labels). Values stay text here; each attack's pydantic ``Params`` converts
and checks them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from robustcheck.errors import UsageError

_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")


@dataclass(frozen=True)
class AttackSpec:
    name: str
    options: dict[str, str] = field(default_factory=dict)
    label: str | None = None

    @property
    def shown_label(self) -> str:
        return self.label or self.name

    def text(self) -> str:
        items = [f"{k}={v}" for k, v in self.options.items()]
        if self.label:
            items.append(f"label={self.label}")
        return self.name + (":" + ",".join(items) if items else "")


def parse_attack_spec(text: str, where: str = "--attack") -> AttackSpec:
    name, _, rest = text.strip().partition(":")
    name = name.strip()
    if not _NAME.match(name):
        raise UsageError(
            f"{where} {text!r}: expected NAME[:KEY=VALUE,...] with a lower-case attack name"
        )
    options: dict[str, str] = {}
    label = None
    for item in filter(None, (part.strip() for part in rest.split(","))) if rest else []:
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not value:
            raise UsageError(f"{where} {text!r}: {item!r} is not KEY=VALUE")
        if key in options or (key == "label" and label is not None):
            raise UsageError(f"{where} {text!r}: {key!r} is given twice")
        if key == "label":
            if not _NAME.match(value):
                raise UsageError(f"{where} {text!r}: label {value!r} must be a lower-case name")
            label = value
        else:
            options[key] = value
    return AttackSpec(name, options, label)
