"""ONNX models: onnxruntime scores every prediction; a torch twin of the graph gives gradients.

A model the twin cannot differentiate (a tree ensemble, an op it lacks, an integer input) loads
as a *query-only* backend when no attack needs a gradient: onnxruntime scores it and nothing else.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from robustcheck.backends.base import ModelInfo, SideInputs
from robustcheck.backends.batching import as_numpy, round_to, run_in_fixed_batches
from robustcheck.backends.onnx.blockers import (
    WAYS_FORWARD,
    Blockers,
    scores_output,
    white_box_blockers,
)
from robustcheck.backends.onnx.embedding import NoEmbeddingLookup, is_token_model
from robustcheck.backends.onnx.io import (
    InputSpec,
    OutputSpec,
    check_side_inputs_batched,
    choose_output,
    input_spec,
    zipmap_to_array,
)
from robustcheck.backends.onnx.model_file import read_onnx
from robustcheck.backends.onnx.runtime import create_session, providers_for
from robustcheck.backends.onnx.text_backend import TextOnnxBackend, load_text_onnx
from robustcheck.backends.onnx.twin import OnnxTwin, default_registry
from robustcheck.backends.output import class_scores, scores_shape
from robustcheck.backends.threads import default_threads
from robustcheck.errors import UnsupportedModelError
from robustcheck.vocabulary import Device


class OnnxBackend:
    def __init__(
        self,
        info: ModelInfo,
        session: object,
        twin: OnnxTwin | None,
        input_spec: InputSpec,
        output_spec: OutputSpec,
        twin_dtype: torch.dtype,
        device: torch.device,
        side_specs: tuple[InputSpec, ...] = (),
    ) -> None:
        self.info = info
        self.device = device
        self._session = session
        self._twin = twin
        self._input = input_spec
        self._output = output_spec
        self._twin_dtype = twin_dtype
        self._side = {spec.name: spec for spec in side_specs}

    @property
    def twin(self) -> OnnxTwin:
        """The differentiable twin (``robustcheck harden`` trains its initializers)."""
        if self._twin is None:
            raise self._no_gradient()
        return self._twin

    def _no_gradient(self) -> UnsupportedModelError:
        return UnsupportedModelError(
            f"{self.info.path}: loaded query-only, without a gradient path: "
            + "; ".join(self.info.blockers),
            hint=WAYS_FORWARD,
        )

    def scores(self, x: torch.Tensor, side: SideInputs | None = None) -> torch.Tensor:
        self._check_side(side)
        run = self._run_bound if self.device.type == "cuda" else self._run_host
        return run_in_fixed_batches(run, x, self._input.static_batch, side or None)

    def _check_side(self, side: SideInputs | None) -> None:
        given = set(side or ())
        if given != set(self._side):
            missing = ", ".join(sorted(set(self._side) - given)) or "none"
            raise UnsupportedModelError(
                f"{self.info.path}: the model's other inputs must come with the data "
                f"(missing: {missing})"
            )

    def _feeds(self, chunk: torch.Tensor, side: SideInputs | None) -> dict[str, np.ndarray]:
        # A zero-copy view when the batch already has the deployed dtype.
        feed = {self._input.name: _host_feed(chunk, self._input.dtype)}
        for name, value in (side or {}).items():
            feed[name] = as_numpy(value, self._side[name].dtype)
        return feed

    def _run_host(self, chunk: torch.Tensor, side: SideInputs | None = None) -> torch.Tensor:
        feed = self._feeds(chunk, side)
        (raw,) = self._session.run([self._output.name], feed)  # type: ignore[attr-defined]
        return self._class_scores(raw)

    def _run_bound(self, chunk: torch.Tensor, side: SideInputs | None = None) -> torch.Tensor:
        """CUDA: onnxruntime reads the batch where it lies (I/O binding); only [N, C] comes back."""
        if side or self._input.dtype.kind != "f":
            return self._run_host(chunk.cpu(), side).to(self.device)
        feed = round_to(chunk.detach(), self._input.dtype).contiguous()
        binding = self._session.io_binding()  # type: ignore[attr-defined]
        binding.bind_input(
            name=self._input.name,
            device_type="cuda",
            device_id=feed.device.index or 0,
            element_type=self._input.dtype,
            shape=tuple(feed.shape),
            buffer_ptr=feed.data_ptr(),
        )
        binding.bind_output(self._output.name, "cpu")
        self._session.run_with_iobinding(binding)  # type: ignore[attr-defined]
        (raw,) = binding.copy_outputs_to_cpu()
        return self._class_scores(raw).to(self.device)

    def _class_scores(self, raw: object) -> torch.Tensor:
        array = (
            zipmap_to_array(raw)  # type: ignore[arg-type]
            if self._output.zipmap
            else np.asarray(raw, dtype=np.float64)
        )
        return torch.from_numpy(class_scores(array, self.info.path))

    def forward(self, x: torch.Tensor, side: SideInputs | None = None) -> torch.Tensor:
        if self._twin is None:
            raise self._no_gradient()
        self._check_side(side)
        return run_in_fixed_batches(self._twin_forward, x, self._input.static_batch, side or None)

    def _twin_forward(self, x: torch.Tensor, side: SideInputs | None = None) -> torch.Tensor:
        assert self._twin is not None
        # Round to the deployed dtype first, so the twin sees exactly what the runtime sees.
        feeds = {self._input.name: round_to(x, self._input.dtype).to(self._twin_dtype)}
        for name, value in (side or {}).items():
            feeds[name] = value.to(self._twin_dtype) if value.is_floating_point() else value
        out = self._twin.run(feeds, outputs=[self._output.name])
        value = out[self._output.name]
        return value.reshape(scores_shape(tuple(value.shape), self.info.path))

    def differentiable_scores(
        self, x: torch.Tensor, side: SideInputs | None = None
    ) -> torch.Tensor:
        with torch.no_grad():
            return self.forward(x, side).to(torch.float64)


def _host_feed(chunk: torch.Tensor, dtype: np.dtype) -> np.ndarray:
    """The batch in the input's dtype; integer inputs take the nearest value (a perturbation
    smaller than half a unit leaves them unchanged), clipped to the type's range."""
    if dtype.kind == "f":
        return as_numpy(chunk, dtype)
    if dtype.kind == "b":
        return as_numpy(chunk.detach() >= 0.5, dtype)
    info = np.iinfo(dtype)
    rounded = torch.round(chunk.detach().to(torch.float64)).clamp_(info.min, info.max)
    return as_numpy(rounded, dtype)


def load_onnx(
    path: Path,
    sha256: str,
    *,
    device: Device = "auto",
    output: str | None = None,
    allow_external_data: bool = False,
    threads: int | None = None,
    input_name: str | None = None,
    need_gradient: bool = True,
) -> OnnxBackend | TextOnnxBackend:
    """Every blocker to white-box scanning is collected first: with ``need_gradient`` they are
    refused in one error, else the model loads query-only (``differentiable_path == "none"``)."""
    where = str(path)
    model = read_onnx(path, allow_external_data=allow_external_data)
    threads = threads or default_threads()
    if input_name is None and is_token_model(model):
        try:  # a text classifier: the word embeddings are the attacked leaf
            return load_text_onnx(
                model, where, sha256, device=device, output=output, threads=threads
            )
        except NoEmbeddingLookup:
            if need_gradient:
                raise  # gradient-free attacks can still query it (below)
    registry = default_registry()
    # Judged from the graph first (as `inspect` does), so a model onnxruntime cannot even load
    # still gets every blocker named; then again if the runtime picks another scores output.
    guess = output or scores_output(model.graph)
    blockers = white_box_blockers(
        model, output=guess, input_name=input_name, registry=registry, where=where
    )
    if blockers.reasons and need_gradient:
        raise blockers.refusal(where)
    if not blockers.queryable:
        raise blockers.not_queryable(where)
    providers = providers_for(device)
    session = create_session(model.SerializeToString(), where, providers, threads)
    output_spec = choose_output(session, where, output)
    if output_spec.name != guess:
        blockers = white_box_blockers(
            model, output=output_spec.name, input_name=input_name, registry=registry, where=where
        )
        if blockers.reasons and need_gradient:
            raise blockers.refusal(where)
    assert blockers.attacked is not None
    spec = input_spec(session, blockers.attacked.name, where)
    side = tuple(input_spec(session, i.name, where) for i in blockers.side)
    check_side_inputs_batched(model, spec.name, [i.name for i in side], where)
    torch_device = torch.device("cuda" if providers[0] != "CPUExecutionProvider" else "cpu")
    # fp16 models: differentiate a float32 twin; the fidelity certificate shows what that costs.
    twin_dtype = torch.float64 if spec.dtype == np.float64 else torch.float32
    twin = None
    if not blockers.reasons:
        try:
            twin = OnnxTwin(model, registry, source=where)
        except UnsupportedModelError as err:  # an attribute the twin's op does not understand
            if need_gradient:
                raise
            blockers = replace(blockers, reasons=(err.message,))
    if twin is not None:
        twin.to(dtype=twin_dtype, device=torch_device)
    rounding = twin.straight_through_nodes if twin is not None else 0
    info = _info(where, sha256, spec, output_spec, torch_device, threads, blockers, model, rounding)
    return OnnxBackend(info, session, twin, spec, output_spec, twin_dtype, torch_device, side)


def _info(
    where: str,
    sha256: str,
    spec: InputSpec,
    output_spec: OutputSpec,
    device: torch.device,
    threads: int,
    blockers: Blockers,
    model: object,
    rounding: int,
) -> ModelInfo:
    # What ran instead of the twin depends on the scan (gradient-free attacks, or a surrogate):
    # the scan says it (robustcheck.engine.transfer.gradient_path_notes), from ``blockers``.
    notes = [output_spec.note] if output_spec.note else []
    if rounding:
        nodes_word = "node" if rounding == 1 else "nodes"
        notes.append(
            f"the gradient twin passes gradients straight through {rounding} quantizing "
            f"{nodes_word} (BPDA: rounding forward, identity backward); onnxruntime's predictions "
            "are the judge"
        )
    nodes = model.graph.node  # type: ignore[attr-defined]
    return ModelInfo(
        path=where,
        format="onnx",
        sha256=sha256,
        input_name=spec.name,
        input_shape=spec.shape,
        input_dtype=str(spec.dtype),
        output_name=output_spec.name,
        device=device.type,
        threads=threads,
        differentiable_path="none" if blockers.reasons else "onnx-twin-vs-onnxruntime",
        notes=tuple(notes),
        input_consumers=tuple(n.op_type for n in nodes if spec.name in n.input),
        blockers=blockers.reasons,
        side_inputs=tuple(i.name for i in blockers.side),
    )
