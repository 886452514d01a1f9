"""ONNX models: onnxruntime scores every prediction; a torch twin of the graph gives gradients."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from robustcheck.backends._batching import run_in_fixed_batches
from robustcheck.backends._loss import gradient_result
from robustcheck.backends.base import GradientResult, ModelInfo
from robustcheck.backends.onnx.io import (
    InputSpec,
    OutputSpec,
    choose_input,
    choose_output,
    zipmap_to_array,
)
from robustcheck.backends.onnx.model_file import read_onnx
from robustcheck.backends.onnx.runtime import create_session, providers_for
from robustcheck.backends.onnx.twin import OnnxTwin, default_registry, non_differentiable_nodes
from robustcheck.backends.output import OutputKind, class_scores, scores_shape
from robustcheck.backends.threads import default_threads
from robustcheck.errors import UnsupportedModelError
from robustcheck.vocabulary import Device


class OnnxBackend:
    def __init__(
        self,
        info: ModelInfo,
        session: object,
        twin: OnnxTwin,
        input_spec: InputSpec,
        output_spec: OutputSpec,
        twin_dtype: torch.dtype,
    ) -> None:
        self.info = info
        self._session = session
        self._twin = twin
        self._input = input_spec
        self._output = output_spec
        self._twin_dtype = twin_dtype

    def scores(self, x: np.ndarray) -> np.ndarray:
        def run(chunk: np.ndarray) -> np.ndarray:
            feed = {self._input.name: np.ascontiguousarray(chunk, dtype=self._input.dtype)}
            (raw,) = self._session.run([self._output.name], feed)  # type: ignore[attr-defined]
            array = (
                zipmap_to_array(raw) if self._output.zipmap else np.asarray(raw, dtype=np.float64)
            )
            return class_scores(array, self.info.path)

        return run_in_fixed_batches(run, x, self._input.static_batch)

    def _twin_forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self._twin.run({self._input.name: x}, outputs=[self._output.name])[self._output.name]
        return out.reshape(scores_shape(tuple(out.shape), self.info.path))

    def _as_twin_input(self, x: np.ndarray) -> torch.Tensor:
        # Round to the deployed dtype first, so the twin sees exactly what the runtime sees.
        deployed = np.ascontiguousarray(x, dtype=self._input.dtype)
        return torch.from_numpy(deployed).to(self._twin_dtype)

    def differentiable_scores(self, x: np.ndarray) -> np.ndarray:
        def run(chunk: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                return self._twin_forward(self._as_twin_input(chunk)).to(torch.float64).numpy()

        return run_in_fixed_batches(run, x, self._input.static_batch)

    def loss_gradient(self, x: np.ndarray, y: np.ndarray, kind: OutputKind) -> GradientResult:
        return gradient_result(
            self._twin_forward, self._as_twin_input(x), y, kind, self._input.static_batch
        )


def load_onnx(
    path: Path,
    sha256: str,
    *,
    device: Device = "auto",
    output: str | None = None,
    allow_external_data: bool = False,
) -> OnnxBackend:
    where = str(path)
    model = read_onnx(path, allow_external_data=allow_external_data)
    registry = default_registry()
    twin = OnnxTwin(model, registry, source=where)  # lists every unsupported operator at once
    providers = providers_for(device)
    threads = default_threads()
    session = create_session(model.SerializeToString(), where, providers, threads)
    input_spec = choose_input(session, where)
    output_spec = choose_output(session, where, output)
    blocked = non_differentiable_nodes(model, registry, outputs=[output_spec.name])
    if blocked:
        raise UnsupportedModelError(
            f"{where}: no gradient flows from input {input_spec.name!r} to output "
            f"{output_spec.name!r}: it stops at {', '.join(blocked[:5])}",
            hint="non-differentiable models need a gradient-free attack, which is planned",
        )
    # fp16 models: differentiate a float32 twin; the fidelity certificate shows what that costs.
    twin_dtype = torch.float64 if input_spec.dtype == np.float64 else torch.float32
    twin.to(dtype=twin_dtype)
    info = ModelInfo(
        path=where,
        format="onnx",
        sha256=sha256,
        input_name=input_spec.name,
        input_shape=input_spec.shape,
        input_dtype=str(input_spec.dtype),
        output_name=output_spec.name,
        device="cuda" if providers[0] != "CPUExecutionProvider" else "cpu",
        threads=threads,
        differentiable_path="onnx-twin-vs-onnxruntime",
        notes=(output_spec.note,) if output_spec.note else (),
        input_consumers=tuple(n.op_type for n in model.graph.node if input_spec.name in n.input),
    )
    return OnnxBackend(info, session, twin, input_spec, output_spec, twin_dtype)
