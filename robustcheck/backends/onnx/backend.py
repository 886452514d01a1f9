"""ONNX models: onnxruntime scores every prediction; a torch twin of the graph gives gradients."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from robustcheck.backends._batching import as_numpy, round_to, run_in_fixed_batches
from robustcheck.backends.base import ModelInfo
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
    ) -> None:
        self.info = info
        self.device = device
        self._session = session
        self._twin = twin
        self._input = input_spec
        self._output = output_spec
        self._twin_dtype = twin_dtype

    @property
    def twin(self) -> OnnxTwin:
        """The differentiable twin (``robustcheck harden`` trains its initializers)."""
        return self._need_twin()

    def _need_twin(self) -> OnnxTwin:
        if self._twin is None:
            raise UnsupportedModelError(
                f"{self.info.path}: loaded for scores only (no gradient twin was built)"
            )
        return self._twin

    def scores(self, x: torch.Tensor) -> torch.Tensor:
        run = self._run_bound if self.device.type == "cuda" else self._run_host
        return run_in_fixed_batches(run, x, self._input.static_batch)

    def _run_host(self, chunk: torch.Tensor) -> torch.Tensor:
        # A zero-copy view when the batch already has the deployed dtype.
        feed = {self._input.name: as_numpy(chunk, self._input.dtype)}
        (raw,) = self._session.run([self._output.name], feed)  # type: ignore[attr-defined]
        return self._class_scores(raw)

    def _run_bound(self, chunk: torch.Tensor) -> torch.Tensor:
        """CUDA: onnxruntime reads the batch where it lies (I/O binding); only [N, C] comes back."""
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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return run_in_fixed_batches(self._twin_forward, x, self._input.static_batch)

    def _twin_forward(self, x: torch.Tensor) -> torch.Tensor:
        # Round to the deployed dtype first, so the twin sees exactly what the runtime sees.
        feed = round_to(x, self._input.dtype).to(self._twin_dtype)
        out = self._need_twin().run({self._input.name: feed}, outputs=[self._output.name])
        value = out[self._output.name]
        return value.reshape(scores_shape(tuple(value.shape), self.info.path))

    def differentiable_scores(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.forward(x).to(torch.float64)


def load_onnx(
    path: Path,
    sha256: str,
    *,
    device: Device = "auto",
    output: str | None = None,
    allow_external_data: bool = False,
    threads: int | None = None,
    need_gradient: bool = True,
) -> OnnxBackend:
    where = str(path)
    model = read_onnx(path, allow_external_data=allow_external_data)
    registry = default_registry()
    twin = None
    if need_gradient:  # lists every unsupported operator at once
        twin = OnnxTwin(model, registry, source=where)
    providers = providers_for(device)
    threads = threads or default_threads()
    session = create_session(model.SerializeToString(), where, providers, threads)
    input_spec = choose_input(session, where)
    output_spec = choose_output(session, where, output)
    blocked = (
        non_differentiable_nodes(model, registry, outputs=[output_spec.name])
        if need_gradient
        else []
    )
    if blocked:
        raise UnsupportedModelError(
            f"{where}: no gradient flows from input {input_spec.name!r} to output "
            f"{output_spec.name!r}: it stops at {', '.join(blocked[:5])}",
            hint="non-differentiable models need a gradient-free attack, which is planned",
        )
    # fp16 models: differentiate a float32 twin; the fidelity certificate shows what that costs.
    twin_dtype = torch.float64 if input_spec.dtype == np.float64 else torch.float32
    torch_device = torch.device("cuda" if providers[0] != "CPUExecutionProvider" else "cpu")
    if twin is not None:
        twin.to(dtype=twin_dtype, device=torch_device)
    info = ModelInfo(
        path=where,
        format="onnx",
        sha256=sha256,
        input_name=input_spec.name,
        input_shape=input_spec.shape,
        input_dtype=str(input_spec.dtype),
        output_name=output_spec.name,
        device=torch_device.type,
        threads=threads,
        differentiable_path="onnx-twin-vs-onnxruntime" if need_gradient else "none",
        notes=(output_spec.note,) if output_spec.note else (),
        input_consumers=tuple(n.op_type for n in model.graph.node if input_spec.name in n.input),
    )
    return OnnxBackend(info, session, twin, input_spec, output_spec, twin_dtype, torch_device)
