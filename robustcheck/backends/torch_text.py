"""Text models saved as TorchScript: the word-embedding module's output is the attacked leaf.

The word embedding is the ``Embedding`` submodule with the most rows (the vocabulary-sized table;
position and token-type tables are smaller). To run the program from given embeddings, its table
is swapped, for one call, for a table whose rows *are* those embeddings, and the token ids for
``0..N·L-1`` (skipping the padding index, whose row gets no gradient): the lookup then returns
exactly the embeddings given, and autograd reaches them. Real texts are scored with the original
table on their token ids.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from robustcheck.backends.base import ModelInfo, SideInputs
from robustcheck.backends.output import scores_shape
from robustcheck.errors import UnsupportedModelError, quoted
from robustcheck.text.layout import (
    IDS,
    MASK,
    TYPES,
    EmbeddingLeaf,
    embeddings,
    pack,
    table_spread,
)
from robustcheck.text.layout import side as side_channels

_IDS_NAMES = ("input_ids", "ids", "tokens", "token_ids")


def text_inputs(module: Any) -> list[str]:
    """The forward's argument names, when it looks like a text model (token ids first and an
    ``Embedding`` submodule), else ``[]``."""
    try:
        names = [a.name for a in module.forward.schema.arguments[1:]]
    except (AttributeError, RuntimeError):
        return []
    has_embedding = any(getattr(s, "original_name", "") == "Embedding" for s in module.modules())
    return names if names and names[0] in _IDS_NAMES and has_embedding else []


def _word_embedding(module: Any, where: str) -> tuple[str, Any, int | None]:
    found = []
    for name, sub in module.named_modules():
        weight = getattr(sub, "weight", None) if sub.original_name == "Embedding" else None
        if isinstance(weight, torch.Tensor) and weight.dim() == 2:
            found.append((int(weight.shape[0]), name, sub))
    if not found:
        raise UnsupportedModelError(
            f"{where}: integer inputs but no word-embedding lookup found (looked for an "
            "Embedding submodule with a 2-D table)"
        )
    _, name, sub = max(found, key=lambda f: f[0])
    pads = [n.inputsAt(2).toIValue() for n in sub.graph.nodes() if n.kind() == "aten::embedding"]
    padding = pads[0] if pads and isinstance(pads[0], int) and pads[0] >= 0 else None
    return name, sub, padding


class _ThroughTable(torch.autograd.Function):
    """Runs the program on a swapped table and hands the table's gradient back to its rows."""

    @staticmethod
    def forward(ctx: Any, rows: torch.Tensor, run: Callable[[torch.Tensor], torch.Tensor]) -> Any:
        leaf = rows.detach().requires_grad_(True)
        with torch.enable_grad():
            out = run(leaf)
        ctx.leaf, ctx.out = leaf, out
        return out.detach()

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> Any:
        (rows,) = torch.autograd.grad(ctx.out, ctx.leaf, grad, allow_unused=True)
        return (torch.zeros_like(ctx.leaf) if rows is None else rows), None


class TorchTextBackend:
    """``holder.<attr>`` is the word-embedding table the program reads (an ``Embedding``'s
    ``weight`` in TorchScript; a plain attribute of the unlifted module for ``.pt2``)."""

    def __init__(
        self, module: Any, info: ModelInfo, holder: Any, attr: str, padding: int | None
    ) -> None:
        self._module = module
        self.info = info
        self.device = torch.device("cpu")
        self._holder, self._attr = holder, attr
        self._table = getattr(holder, attr)
        self._padding = padding
        self._channels = [_channel(name) for name in info.embedding.inputs]  # type: ignore[union-attr]
        self._hidden = int(self._table.shape[1])

    @property
    def table(self) -> np.ndarray:
        return self._table.detach().numpy()

    def embed(self, tokens: np.ndarray) -> np.ndarray:
        ids = tokens[..., IDS]
        if ids.size and int(ids.max()) >= self._table.shape[0]:
            raise UnsupportedModelError(
                f"{self.info.path}: token id {int(ids.max())} is outside the embedding table "
                f"({self._table.shape[0]} rows)"
            )
        return pack(self.table[ids], tokens)

    def _call(self, ids: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        args = [ids if c == IDS else tokens[..., c] for c in self._channels]
        out = self._module(*args)
        if isinstance(out, (tuple, list)):
            out = out[0]
        return out.reshape(scores_shape(tuple(out.shape), self.info.path))

    def token_scores(self, tokens: np.ndarray) -> torch.Tensor:
        t = torch.from_numpy(np.asarray(tokens, np.int64))
        with torch.no_grad():
            return self._call(t[..., IDS], t).to(torch.float64)

    def forward(self, x: torch.Tensor, side: SideInputs | None = None) -> torch.Tensor:
        tokens = side_channels(x, self._hidden)
        n, length = tokens.shape[:2]
        rows = embeddings(x, self._hidden).to(torch.float32).reshape(n * length, self._hidden)
        index = torch.arange(n * length)
        if self._padding is not None and self._padding <= n * length:
            filler = rows.new_zeros((1, self._hidden))
            rows = torch.cat([rows[: self._padding], filler, rows[self._padding :]])
            index = index + (index >= self._padding).to(index.dtype)
        ids = index.reshape(n, length)

        def run(table: torch.Tensor) -> torch.Tensor:
            setattr(self._holder, self._attr, table)
            try:
                return self._call(ids, tokens)
            finally:
                setattr(self._holder, self._attr, self._table)

        out: torch.Tensor = _ThroughTable.apply(rows, run)
        return out

    def scores(self, x: torch.Tensor, side: SideInputs | None = None) -> torch.Tensor:
        """Real texts (embeddings exactly their tokens' rows) run on their ids, others through
        the swapped table."""
        tokens = side_channels(x, self._hidden).numpy()
        values = embeddings(x, self._hidden).detach().to(torch.float64).numpy()
        ids = np.minimum(tokens[..., IDS], self._table.shape[0] - 1)
        real = (values == self.table[ids].astype(np.float64)).all(axis=(1, 2))
        with torch.no_grad():
            if real.all():
                return self.token_scores(tokens)
            out = self.forward(x).to(torch.float64)
        if real.any():
            out[torch.from_numpy(real)] = self.token_scores(tokens[real])
        return out

    def differentiable_scores(
        self, x: torch.Tensor, side: SideInputs | None = None
    ) -> torch.Tensor:
        return self.scores(x)


def _channel(name: str) -> int:
    lowered = name.lower()
    if name in _IDS_NAMES:
        return IDS
    if "mask" in lowered:
        return MASK
    if "type" in lowered or "segment" in lowered:
        return TYPES
    raise UnsupportedModelError(
        f"input {name!r} is neither token ids, an attention mask nor token types"
    )


def load_torchscript_text(module: Any, info: ModelInfo, names: list[str]) -> TorchTextBackend:
    table_name, embedding, padding = _word_embedding(module, info.path)
    return _text_backend(module, info, names, table_name, (embedding, "weight"), padding)


def exported_text_inputs(program: Any) -> list[str]:
    """A ``torch.export`` program's user inputs when it looks like a text model, else ``[]``."""
    names = list(program.graph_signature.user_inputs)
    has_lookup = any(_is_embedding(node) for node in program.graph.nodes)
    return names if names and names[0] in _IDS_NAMES and has_lookup else []


def _is_embedding(node: Any) -> bool:
    return node.op == "call_function" and node.target is torch.ops.aten.embedding.default


def load_exported_text(module: Any, info: ModelInfo, names: list[str]) -> TorchTextBackend:
    """``module``: the program's unlifted ``GraphModule``; its word table becomes a plain
    attribute (not a parameter), so a table of any size can stand in for it for one call."""
    found = []
    for node in module.graph.nodes:
        table = node.args[0] if _is_embedding(node) else None
        if table is not None and table.op == "get_attr":
            weight = (
                module.get_parameter(table.target) if _has_param(module, table.target) else None
            )
            padding = node.args[2] if len(node.args) > 2 else None
            if weight is not None and weight.dim() == 2:
                found.append((int(weight.shape[0]), table.target, padding))
    if not found:
        raise UnsupportedModelError(
            f"{info.path}: integer inputs {quoted(names)} but no word-embedding lookup found "
            "(looked for aten.embedding on a 2-D parameter)"
        )
    _, target, padding = max(found, key=lambda f: f[0])
    prefix, _, attr = target.rpartition(".")
    holder = module.get_submodule(prefix) if prefix else module
    weight = holder._parameters.pop(attr).detach()
    setattr(holder, attr, weight)
    pad = padding if isinstance(padding, int) and padding >= 0 else None
    return _text_backend(module, info, names, target, (holder, attr), pad)


def _has_param(module: Any, target: str) -> bool:
    try:
        module.get_parameter(target)
    except AttributeError:
        return False
    return True


def _text_backend(
    module: Any,
    info: ModelInfo,
    names: list[str],
    table_name: str,
    slot: tuple[Any, str],
    padding: int | None,
) -> TorchTextBackend:
    where = info.path
    try:
        [_channel(n) for n in names]
    except UnsupportedModelError as err:
        raise UnsupportedModelError(f"{where}: {err.message}") from None
    table = getattr(*slot).detach().numpy()
    leaf = EmbeddingLeaf(
        table=table_name,
        vocab_size=int(table.shape[0]),
        hidden=int(table.shape[1]),
        spread=table_spread(table),
        inputs=tuple(names),
    )
    text_info = ModelInfo(
        path=where,
        format=info.format,
        sha256=info.sha256,
        input_name=table_name,
        input_shape=(),
        input_dtype="float32",
        output_name=info.output_name,
        threads=info.threads,
        embedding=leaf,
    )
    return TorchTextBackend(module, text_info, slot[0], slot[1], padding)
