"""What an ONNX file contains and what robustcheck can do with it (``robustcheck inspect``)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import onnx
from pydantic import BaseModel, ConfigDict

from robustcheck.backends.onnx.blockers import scores_output, white_box_blockers
from robustcheck.backends.onnx.model_file import read_onnx
from robustcheck.backends.onnx.twin import default_registry, non_differentiable_nodes
from robustcheck.backends.onnx.twin.analysis import (
    inline_local_functions,
    model_opsets,
    node_opset,
    walk_nodes,
)

# Ops whose output is a probability distribution when they end the graph.
_PROBABILITY_OPS = {"Softmax", "ZipMap", "Normalizer"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ValueInfo(_Strict):
    name: str
    type: str
    shape: list[int | str | None]


class OpUse(_Strict):
    domain: str
    op_type: str
    opset: int
    count: int
    supported: bool
    differentiable: bool | None


class OnnxInspection(_Strict):
    path: str
    ir_version: int
    producer: str
    opsets: dict[str, int]
    inputs: list[ValueInfo]
    outputs: list[ValueInfo]
    output_kind_guess: str
    ops: list[OpUse]
    unsupported: list[str]
    non_differentiable: list[str]
    attacked_input: str | None = None
    """The input a scan would perturb (``--input``, else the only one)."""
    blockers: list[str] = []
    """Every reason a white-box ``scan`` refuses the model (the same check ``scan`` makes);
    empty when gradient attacks can run."""
    certification_blockers: list[str] = []
    """Every node that blocks ``--certify`` (bound propagation); empty when it can run (filled
    in by the command, which may import the certifier)."""
    gradient_free_attacks: list[str] = []
    """Attacks that query the runtime only, which remain available when ``blockers`` is not
    empty (filled in by the command, which knows the attack registry)."""


def _value_info(value: onnx.ValueInfoProto) -> ValueInfo:
    kind = value.type.WhichOneof("value")
    if kind == "tensor_type":
        tensor = value.type.tensor_type
        dtype = onnx.TensorProto.DataType.Name(tensor.elem_type).lower()
        dims: list[int | str | None] = [
            d.dim_value if d.HasField("dim_value") else (d.dim_param or None)
            for d in tensor.shape.dim
        ]
        return ValueInfo(name=value.name, type=f"tensor({dtype})", shape=dims)
    return ValueInfo(name=value.name, type=kind or "unknown", shape=[])


# Ops that pass a distribution through unchanged (up to shape or dtype).
_PASS_THROUGH = {"Identity", "Cast", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose"}


def _output_kind_guess(graph: onnx.GraphProto) -> str:
    """What ``scan`` will find on data, guessed from the graph: probabilities when the scores
    output comes from Softmax (or ZipMap, Normalizer), possibly through shape-only ops."""
    producers = {out: node for node in graph.node for out in node.output}
    name = scores_output(graph)
    seen: set[str] = set()
    node = producers.get(name) if name else None
    while node is not None and node.op_type in _PASS_THROUGH and node.input[0] not in seen:
        seen.add(node.input[0])
        node = producers.get(node.input[0])
    if node is not None and node.op_type in _PROBABILITY_OPS:
        return f"probabilities ({name} comes from {node.op_type})"
    return "logits (no trailing Softmax); confirmed on data by `scan`"


def inspect_onnx(
    path: Path, *, allow_external_data: bool = False, input_name: str | None = None
) -> OnnxInspection:
    model = inline_local_functions(read_onnx(path, allow_external_data=allow_external_data))
    registry = default_registry()
    opsets = model_opsets(model)
    uses: Counter[tuple[str, str, int]] = Counter(
        (node.domain or "", node.op_type, node_opset(node, opsets))
        for node in walk_nodes(model.graph)  # subgraphs (If branches, Loop bodies) included
    )
    ops = []
    for (domain, op_type, opset), count in sorted(uses.items()):
        spec = registry.lookup(domain, op_type, opset)
        ops.append(
            OpUse(
                domain=domain,
                op_type=op_type,
                opset=opset,
                count=count,
                supported=spec is not None,
                differentiable=None if spec is None else spec.differentiable,
            )
        )
    initializers = {init.name for init in model.graph.initializer}
    unsupported = [
        f"{o.domain or 'ai.onnx'}::{o.op_type} (opset {o.opset})" for o in ops if not o.supported
    ]
    blockers = white_box_blockers(
        model,
        output=scores_output(model.graph),
        input_name=input_name,
        registry=registry,
        where=str(path),
    )
    return OnnxInspection(
        path=str(path),
        ir_version=model.ir_version,
        producer=f"{model.producer_name} {model.producer_version}".strip(),
        opsets=opsets,
        inputs=[_value_info(v) for v in model.graph.input if v.name not in initializers],
        outputs=[_value_info(v) for v in model.graph.output],
        output_kind_guess=_output_kind_guess(model.graph),
        ops=ops,
        unsupported=unsupported,
        non_differentiable=(
            []
            if unsupported
            else non_differentiable_nodes(model, registry, outputs=_outputs(model))
        ),
        attacked_input=None if blockers.attacked is None else blockers.attacked.name,
        blockers=list(blockers.reasons),
    )


def _outputs(model: onnx.ModelProto) -> list[str] | None:
    scores = scores_output(model.graph)
    return None if scores is None else [scores]


def render(inspection: OnnxInspection) -> str:
    lines = [
        f"model     {inspection.path}",
        f"producer  {inspection.producer or '-'} (IR {inspection.ir_version}); opsets "
        + ", ".join(f"{d or 'ai.onnx'}={v}" for d, v in sorted(inspection.opsets.items())),
    ]
    for label, values in (("input ", inspection.inputs), ("output", inspection.outputs)):
        for v in values:
            shape = ", ".join("?" if d is None else str(d) for d in v.shape)
            lines.append(f"{label}    {v.name}: {v.type} [{shape}]")
    lines += [f"scores    {inspection.output_kind_guess}", "", "ops (count, twin support):"]
    for o in inspection.ops:
        state = (
            "unsupported"
            if not o.supported
            else ("ok" if o.differentiable else "ok, not differentiable")
        )
        lines.append(f"  {o.domain or 'ai.onnx'}::{o.op_type} opset {o.opset}  x{o.count}  {state}")
    if inspection.certification_blockers:
        lines.append("cannot certify (--certify):")
        lines += [f"  - {reason}" for reason in inspection.certification_blockers]
    else:
        lines.append("certification: every node has a bound rule; --certify ibp|crown can run")
    if not inspection.blockers:
        lines.append(
            "gradient twin: every op supported; gradient attacks (fgsm, bim, pgd, apgd, auto) can run"
        )
        return "\n".join(lines) + "\n"
    lines.append("cannot scan with gradient attacks:")
    lines += [f"  - {reason}" for reason in inspection.blockers]
    if inspection.attacked_input is None:
        lines.append("name the input to attack with --input NAME (scan and inspect)")
    else:
        free = ", ".join(f"--attack {name}" for name in inspection.gradient_free_attacks)
        lines.append(
            f"still available: gradient-free attacks ({free or 'none installed'}) and transfer "
            "attacks from a differentiable surrogate (--surrogate MODEL)"
        )
    return "\n".join(lines) + "\n"
