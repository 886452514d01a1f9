"""The packed leaf a text model is attacked through: word embeddings with the tokens beside them.

The scan engine and the attacks see one float tensor ``x`` per batch. For a text model it is
``[N, L, H + 4]``: the ``H`` channels of each position hold the looked-up word embedding (the
attacked leaf), and four side channels hold that position's token id, attention mask, token type
and whether it is *pinned* (padding or a special token, never perturbed). Riding in ``x`` the
side channels follow every row selection an attack makes; the budget mask
(:func:`budget_mask`) gives them, and the pinned positions, a budget of zero, so no attack can
change them, and the backend reads them back as integers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

SIDE_CHANNELS = ("input_ids", "attention_mask", "token_type_ids", "pinned")
"""The side channels after the embedding, in order."""
IDS, MASK, TYPES, PINNED = range(len(SIDE_CHANNELS))


@dataclass(frozen=True)
class EmbeddingLeaf:
    """What a text backend's leaf is: the word-embedding table it was looked up in."""

    table: str
    """Where the table lives in the model (an initializer or module name)."""
    vocab_size: int
    hidden: int
    spread: float
    """The table's median per-dimension standard deviation: the unit ε is also stated in."""
    inputs: tuple[str, ...]
    """The model's integer inputs, in the deployed graph's order."""

    @property
    def width(self) -> int:
        """Channels per position of the packed leaf."""
        return self.hidden + len(SIDE_CHANNELS)


def table_spread(table: np.ndarray) -> float:
    """Median over dimensions of the per-dimension standard deviation of the table's rows."""
    return float(np.median(np.std(np.asarray(table, dtype=np.float64), axis=0)))


def pack(embeddings: np.ndarray, tokens: np.ndarray) -> np.ndarray:
    """``[N, L, H]`` embeddings and ``[N, L, 4]`` side channels → the ``[N, L, H + 4]`` leaf."""
    return np.concatenate([embeddings, tokens.astype(embeddings.dtype)], axis=-1)


def side(x: torch.Tensor, hidden: int) -> torch.Tensor:
    """The side channels of a packed batch as int64 ``[N, L, 4]`` (exact: small integers)."""
    return x[..., hidden:].detach().round().to(torch.int64)


def embeddings(x: torch.Tensor, hidden: int) -> torch.Tensor:
    """The embedding channels of a packed batch (autograd kept)."""
    return x[..., :hidden]


def budget_mask(x: torch.Tensor, hidden: int) -> torch.Tensor:
    """1 where an attack may move ``x`` (embeddings of positions that are not pinned), else 0."""
    free = (x[..., hidden + PINNED : hidden + PINNED + 1] == 0).to(torch.float64)
    mask = torch.zeros(x.shape, dtype=torch.float64, device=x.device)
    mask[..., :hidden] = free
    return mask


@dataclass(frozen=True)
class Substitutions:
    """The vocabulary a token-substitution attack may swap in: the embedding table ``[V, H]``
    (float64, on the scan's device) and which rows are allowed (no special tokens; with a
    tokenizer, only word pieces of the replaced token's kind)."""

    table: torch.Tensor
    allowed: torch.Tensor
    """bool ``[V]``."""
    token_class: torch.Tensor | None = None
    """int8 ``[V]``: a token's case and piece kind (word start, ``##`` continuation, ``Ġ``/``▁``
    word start); a swap must keep it, when given."""


def substituted(x_adv: torch.Tensor, x: torch.Tensor, hidden: int) -> torch.Tensor:
    """Per sample, how many positions hold another token than in ``x``."""
    ids = hidden + IDS
    return (x_adv[..., ids] != x[..., ids]).sum(dim=1)


def check_token_budget(x_adv: torch.Tensor, x: torch.Tensor, hidden: int, k: int) -> None:
    """A token-substitution result must change at most ``k`` tokens per text, never a pinned
    position, never a mask or type channel. A violation is a bug in the attack, not bad input."""
    x64 = x.to(torch.float64)
    kept = [hidden + MASK, hidden + TYPES, hidden + PINNED]
    pinned = x64[..., hidden + PINNED] == 1
    changed = (x_adv[..., :hidden] != x64[..., :hidden]).any(dim=-1)
    if (
        bool((substituted(x_adv, x64, hidden) > k).any())
        or bool((x_adv[..., kept] != x64[..., kept]).any())
        or bool((changed & pinned).any())
    ):
        raise AssertionError(f"a token-substitution attack exceeded its budget of {k} tokens")
