"""Text models in ONNX: the word embeddings are the leaf, the graph's tail runs on onnxruntime.

The deployed graph is split at its word-embedding lookup (:mod:`.embedding`). onnxruntime scores
adversarial embeddings with the *tail* (the same nodes and weights from the lookup's output on)
and scores token ids with the full graph; the gradient twin runs the tail. Inputs are the packed
``[N, L, H + 4]`` tensors of :mod:`robustcheck.text.layout`.
"""

from __future__ import annotations

import numpy as np
import onnx
import torch

from robustcheck.backends.base import ModelInfo, SideInputs
from robustcheck.backends.onnx.embedding import Lookup, build_tail, find_word_embedding
from robustcheck.backends.onnx.io import OutputSpec, choose_output
from robustcheck.backends.onnx.runtime import create_session, providers_for
from robustcheck.backends.onnx.twin import OnnxTwin, default_registry
from robustcheck.backends.output import class_scores, scores_shape
from robustcheck.errors import UnsupportedModelError
from robustcheck.text.layout import IDS, MASK, TYPES, EmbeddingLeaf, embeddings, pack
from robustcheck.text.layout import side as side_channels
from robustcheck.text.layout import table_spread as spread_of
from robustcheck.vocabulary import Device

_NP_INT = {onnx.TensorProto.INT64: np.int64, onnx.TensorProto.INT32: np.int32}


class TextOnnxBackend:
    def __init__(
        self,
        info: ModelInfo,
        full: object,
        tail: object,
        twin: OnnxTwin,
        lookup: Lookup,
        side_inputs: dict[str, tuple[int, type]],
        output: OutputSpec,
        device: torch.device,
    ) -> None:
        self.info = info
        self.device = device
        self._full = full
        self._tail = tail
        self._twin = twin
        self._lookup = lookup
        self._side = side_inputs
        """Integer input name → (side channel, numpy dtype), for the full graph."""
        self._tail_inputs = {i.name for i in tail.get_inputs()}  # type: ignore[attr-defined]
        self._output = output
        self._hidden = lookup.table.shape[1]

    @property
    def table(self) -> np.ndarray:
        """The word-embedding table ``[vocab, H]``."""
        return self._lookup.table

    def embed(self, tokens: np.ndarray) -> np.ndarray:
        """``[N, L, 4]`` token channels → the packed leaf ``[N, L, H + 4]``."""
        ids = tokens[..., IDS]
        if ids.size and int(ids.max()) >= self.table.shape[0]:
            raise UnsupportedModelError(
                f"{self.info.path}: token id {int(ids.max())} is outside the embedding table "
                f"({self.table.shape[0]} rows)"
            )
        return pack(self.table[ids], tokens)

    def scores(self, x: torch.Tensor, side: SideInputs | None = None) -> torch.Tensor:
        """Rows whose embeddings are exactly their tokens' table rows are texts: the full
        deployed graph scores their token ids. The others (perturbed embeddings) go through the
        tail on onnxruntime."""
        tokens = side_channels(x, self._hidden).cpu().numpy()
        real = self._texts(x, tokens)
        if real.all():
            return self.token_scores(tokens).to(self.device)
        feed = self._side_feed(tokens, self._tail_inputs)
        feed[self._lookup.output] = np.ascontiguousarray(
            embeddings(x, self._hidden).detach().cpu().numpy(), dtype=self.table.dtype
        )
        (raw,) = self._tail.run([self._output.name], feed)  # type: ignore[attr-defined]
        out = class_scores(np.asarray(raw, np.float64), self.info.path)
        if real.any():
            out[real] = self.token_scores(tokens[real]).numpy()
        return torch.from_numpy(out).to(self.device)

    def _texts(self, x: torch.Tensor, tokens: np.ndarray) -> np.ndarray:
        """Per row: whether every embedding is its token's row of the table, exactly."""
        looked_up = self.table[np.minimum(tokens[..., IDS], self.table.shape[0] - 1)]
        values = embeddings(x, self._hidden).detach().cpu().to(torch.float64).numpy()
        in_table = tokens[..., IDS] < self.table.shape[0]
        same = (values == looked_up.astype(np.float64)).all(axis=-1) & in_table
        return np.asarray(same.all(axis=1))

    def token_scores(self, tokens: np.ndarray) -> torch.Tensor:
        """Scores of the full deployed graph on real token ids (``[N, L, 4]`` channels)."""
        feed = self._side_feed(tokens, set(self._side))
        (raw,) = self._full.run([self._output.name], feed)  # type: ignore[attr-defined]
        return torch.from_numpy(class_scores(np.asarray(raw, np.float64), self.info.path))

    def _side_feed(self, tokens: np.ndarray, wanted: set[str]) -> dict[str, np.ndarray]:
        return {
            name: np.ascontiguousarray(tokens[..., channel], dtype=dtype)
            for name, (channel, dtype) in self._side.items()
            if name in wanted
        }

    def forward(self, x: torch.Tensor, side: SideInputs | None = None) -> torch.Tensor:
        tokens = side_channels(x, self._hidden)
        feeds = {
            name: tokens[..., channel]
            for name, (channel, _) in self._side.items()
            if name in self._twin.input_names
        }
        feeds[self._lookup.output] = embeddings(x, self._hidden).to(torch.float32)
        value = self._twin.run(feeds, outputs=[self._output.name])[self._output.name]
        return value.reshape(scores_shape(tuple(value.shape), self.info.path))

    def differentiable_scores(
        self, x: torch.Tensor, side: SideInputs | None = None
    ) -> torch.Tensor:
        with torch.no_grad():
            return self.forward(x).to(torch.float64)


def _side_inputs(model: onnx.ModelProto, lookup: Lookup, where: str) -> dict[str, tuple[int, type]]:
    """Which side channel feeds each graph input; anything else is refused."""
    initializers = {i.name for i in model.graph.initializer}
    found: dict[str, tuple[int, type]] = {}
    for value in model.graph.input:
        if value.name in initializers:
            continue
        name, elem = value.name, value.type.tensor_type.elem_type
        lowered = name.lower()
        channel = (
            IDS
            if name == lookup.ids_input
            else MASK
            if "mask" in lowered
            else TYPES
            if "type" in lowered or "segment" in lowered
            else None
        )
        if channel is None or elem not in _NP_INT:
            raise UnsupportedModelError(
                f"{where}: input {name!r} ({onnx.TensorProto.DataType.Name(elem).lower()}) is neither the token ids "
                f"{lookup.ids_input!r}, an attention mask nor token types: robustcheck feeds only those"
            )
        found[name] = (channel, _NP_INT[elem])
    return found


def load_text_onnx(
    model: onnx.ModelProto,
    where: str,
    sha256: str,
    *,
    device: Device,
    output: str | None,
    threads: int,
) -> TextOnnxBackend:
    lookup = find_word_embedding(model, where)
    side_inputs = _side_inputs(model, lookup, where)
    providers = providers_for(device)
    full = create_session(model.SerializeToString(), where, providers, threads)
    output_spec = choose_output(full, where, output)
    tail_model = build_tail(model, lookup, [output_spec.name])
    twin = OnnxTwin(tail_model, default_registry(), source=where)
    tail = create_session(tail_model.SerializeToString(), f"{where} (tail)", providers, threads)
    torch_device = torch.device("cuda" if providers[0] != "CPUExecutionProvider" else "cpu")
    twin.to(dtype=torch.float32, device=torch_device)
    leaf = EmbeddingLeaf(
        table=lookup.table_name,
        vocab_size=int(lookup.table.shape[0]),
        hidden=int(lookup.table.shape[1]),
        spread=spread_of(lookup.table),
        inputs=tuple(side_inputs),
    )
    info = ModelInfo(
        path=where,
        format="onnx",
        sha256=sha256,
        input_name=lookup.output,
        input_shape=(),
        input_dtype=str(lookup.table.dtype),
        output_name=output_spec.name,
        device=torch_device.type,
        threads=threads,
        differentiable_path="onnx-twin-vs-onnxruntime",
        notes=(output_spec.note,) if output_spec.note else (),
        embedding=leaf,
    )
    return TextOnnxBackend(info, full, tail, twin, lookup, side_inputs, output_spec, torch_device)
