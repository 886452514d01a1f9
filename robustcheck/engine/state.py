"""A batch's tally as JSON-able state (checkpoint records), and back; and :class:`BatchRecords`,
what the batch loop needs of a store of them (the execution layer's checkpoint file is one)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from typing import Any, Protocol

from robustcheck.backends.output import OutputKind
from robustcheck.engine.fidelity import Agreement
from robustcheck.engine.min_eps import MinEps
from robustcheck.engine.sanity import Stability
from robustcheck.engine.tally import Plan, Queries, Tally
from robustcheck.metrics import Counts
from robustcheck.reports.model import ExampleImage, TextExample


class BatchRecords(Protocol):
    """Per-batch records of one scan, kept across runs (``--checkpoint``)."""

    done: dict[int, dict[str, Any]]
    """Batch start → its record (:func:`tally_state`), for batches finished earlier."""

    def record(self, start: int, state: dict[str, Any]) -> None: ...

    def verify_complete(self, starts: list[int]) -> None:
        """Refuse records that are not exactly the scan's batches."""


def tally_state(tally: Tally) -> dict[str, Any]:
    def counts(table: dict[tuple[str, float], Counts]) -> dict[str, Any]:
        return {f"{name}@{eps!r}": asdict(c) for (name, eps), c in table.items()}

    return {
        "kind": tally.kind.value,
        "n_classes": tally.n_classes,
        "counts": counts(tally.counts),
        "unrounded": None if tally.unrounded is None else counts(tally.unrounded),
        "zero_gradient": tally.zero_gradient,
        "margin_fallback": tally.margin_fallback,
        "gradient_evaluations": tally.gradient_evaluations,
        "clean": asdict(tally.clean),
        "adversarial": asdict(tally.adversarial),
        "stability": asdict(tally.stability),
        "examples": [
            e.model_dump() for eps in sorted(tally.examples) for e in tally.examples[eps].values()
        ],
        "text_examples": [
            e.model_dump()
            for k in sorted(tally.text_examples)
            for e in tally.text_examples[k].values()
        ],
        "only_fooled_by": tally.only_fooled_by,
        "broken_by": tally.broken_by,
        "probe": tally.probe,
        "probe_evaluations": tally.probe_evaluations,
        "min_eps": None if tally.min_eps is None else asdict(tally.min_eps),
        "queries": {label: asdict(q) for label, q in tally.queries.items()},
        "certified": tally.certified,
        "certify_seconds": tally.certify_seconds,
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
    text_examples: dict[float, dict[int, TextExample]] = {}
    for raw in state.get("text_examples", []):
        text = TextExample.model_validate(raw)
        text_examples.setdefault(float(text.tokens), {})[text.label] = text
    return Tally(
        kind=OutputKind(state["kind"]),
        n_classes=int(state["n_classes"]),
        counts=counts(state["counts"]),
        unrounded=None if state["unrounded"] is None else counts(state["unrounded"]),
        zero_gradient=int(state["zero_gradient"]),
        margin_fallback=int(state.get("margin_fallback", 0)),
        gradient_evaluations=int(state["gradient_evaluations"]),
        clean=Agreement(**state["clean"]),
        adversarial=Agreement(**state["adversarial"]),
        stability=Stability(**state["stability"]),
        examples=examples,
        text_examples=text_examples,
        only_fooled_by={k: int(v) for k, v in state["only_fooled_by"].items()},
        broken_by={k: int(v) for k, v in state.get("broken_by", {}).items()},
        probe={k: [int(x) for x in v] for k, v in state.get("probe", {}).items()},
        probe_evaluations=int(state.get("probe_evaluations", 0)),
        min_eps=None if state["min_eps"] is None else MinEps(**state["min_eps"]),
        queries={label: Queries(**q) for label, q in state.get("queries", {}).items()},
        certified={k: [int(x) for x in v] for k, v in state.get("certified", {}).items()},
        certify_seconds=float(state.get("certify_seconds", 0.0)),
    )


def fingerprint(parts: dict[str, Any]) -> str:
    """A hash of everything that determines a scan's numbers (its records are only reused by a
    scan with the same fingerprint)."""
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()
