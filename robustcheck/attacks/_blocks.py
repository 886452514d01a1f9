"""Element-wise float64 arithmetic on a batch, run over blocks of rows.

A float64 copy of a batch of 200 images of 3×224×224 is 241 MB, and an expression such as
``clamp(x + α·sign(g), x − ε, x + ε)`` makes one temporary of that size per operation. Run over
blocks of at most :data:`BLOCK_BYTES`, the same operations in the same order give bit-identical
results (each element is computed alone) while the temporaries stay a few MB.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

BLOCK_BYTES = 16 * 2**20
"""The float64 bytes of one block of rows (at least one row)."""

Rows = slice | torch.Tensor
"""Rows of a batch: a range (a view) or their indices (a copy)."""


def row_blocks(like: torch.Tensor, n: int | None = None) -> Iterator[slice]:
    """Consecutive ranges covering the first ``n`` (default: all) rows of ``like``, each at most
    :data:`BLOCK_BYTES` of float64."""
    n = like.shape[0] if n is None else n
    per_row = max(1, like[:1].numel()) * 8
    size = max(1, BLOCK_BYTES // per_row)
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


def rows_of(value: float | torch.Tensor, rows: Rows, n: int) -> float | torch.Tensor:
    """The part of a per-row value (a budget or a step size, shaped ``[n, ...]``) that belongs to
    ``rows``; one number, or a per-feature value (batch dimension 1), is the same for every row."""
    if isinstance(value, torch.Tensor) and value.dim() and value.shape[0] == n and n > 1:
        return value[rows]
    return value


def offset(x64: torch.Tensor, scale: float | torch.Tensor, signs: torch.Tensor) -> torch.Tensor:
    """``x64 + scale·signs`` in float64, ``signs`` of any dtype (int8 signs stay int8 in memory)."""
    out = torch.empty_like(x64)
    n = x64.shape[0]
    for block in row_blocks(x64):
        out[block] = x64[block] + rows_of(scale, block, n) * signs[block].to(torch.float64)
    return out


def clip_to_ball_(
    candidate: torch.Tensor,
    x: torch.Tensor,
    eps: float | torch.Tensor,
    lo: float | None = None,
    hi: float | None = None,
) -> torch.Tensor:
    """``candidate`` (float64, changed in place) clipped to ``[x − ε, x + ε]`` and then to
    ``[lo, hi]`` (when given), block by block; ``x`` of any floating dtype."""
    n = candidate.shape[0]
    for block in row_blocks(candidate):
        part, x64 = candidate[block], x[block].to(torch.float64)
        e = rows_of(eps, block, n)
        torch.maximum(part, x64 - e, out=part)
        torch.minimum(part, x64 + e, out=part)
        if lo is not None and hi is not None:
            part.clamp_(lo, hi)
    return candidate
