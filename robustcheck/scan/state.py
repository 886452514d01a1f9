"""A batch's tally as JSON-able state (checkpoint records), and back."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from robustcheck.backends.output import OutputKind
from robustcheck.metrics import Counts
from robustcheck.reports.model import ExampleImage
from robustcheck.scan.fidelity import Agreement
from robustcheck.scan.loop import Plan, Queries, Tally
from robustcheck.scan.min_eps import MinEps
from robustcheck.scan.sanity import Stability


def tally_state(tally: Tally) -> dict[str, Any]:
    def counts(table: dict[tuple[str, float], Counts]) -> dict[str, Any]:
        return {f"{name}@{eps!r}": asdict(c) for (name, eps), c in table.items()}

    return {
        "kind": tally.kind.value,
        "n_classes": tally.n_classes,
        "counts": counts(tally.counts),
        "unrounded": None if tally.unrounded is None else counts(tally.unrounded),
        "zero_gradient": tally.zero_gradient,
        "gradient_evaluations": tally.gradient_evaluations,
        "clean": asdict(tally.clean),
        "adversarial": asdict(tally.adversarial),
        "stability": asdict(tally.stability),
        "examples": [
            e.model_dump() for eps in sorted(tally.examples) for e in tally.examples[eps].values()
        ],
        "only_fooled_by": tally.only_fooled_by,
        "min_eps": None if tally.min_eps is None else asdict(tally.min_eps),
        "queries": {label: asdict(q) for label, q in tally.queries.items()},
    }


def tally_from_state(state: dict[str, Any], plan: Plan) -> Tally:
    def counts(table: dict[str, Any]) -> dict[tuple[str, float], Counts]:
        out = {}
        for a in plan.attacks:
            for e in plan.eps_for(a):
                fields = dict(table[f"{a.label}@{e!r}"])
                fields["thresholds"] = tuple(fields["thresholds"])
                out[(a.label, e)] = Counts(**fields)
        return out

    examples: dict[float, dict[int, ExampleImage]] = {}
    for raw in state["examples"]:
        example = ExampleImage.model_validate(raw)
        examples.setdefault(example.eps, {})[example.label] = example
    return Tally(
        kind=OutputKind(state["kind"]),
        n_classes=int(state["n_classes"]),
        counts=counts(state["counts"]),
        unrounded=None if state["unrounded"] is None else counts(state["unrounded"]),
        zero_gradient=int(state["zero_gradient"]),
        gradient_evaluations=int(state["gradient_evaluations"]),
        clean=Agreement(**state["clean"]),
        adversarial=Agreement(**state["adversarial"]),
        stability=Stability(**state["stability"]),
        examples=examples,
        only_fooled_by={k: int(v) for k, v in state["only_fooled_by"].items()},
        min_eps=None if state["min_eps"] is None else MinEps(**state["min_eps"]),
        queries={label: Queries(**q) for label, q in state.get("queries", {}).items()},
    )
