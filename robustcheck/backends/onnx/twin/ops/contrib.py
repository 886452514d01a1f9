"""onnxruntime's contrib operators (``com.microsoft``) that its transformer optimizer and
optimum emit when they fuse a BERT/ViT-style graph: the GELU family, the skip/bias layer
norms, FusedMatMul and BiasAdd. Their reference is onnxruntime's docs/ContribOperators.md and
its CPU kernels, which the tests compare against. ``SimplifiedLayerNormalization`` (RMS norm)
is registered by onnxruntime in the default domain, so it is declared there.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from robustcheck.backends.onnx.twin.ops._axes import normalize_axis
from robustcheck.backends.onnx.twin.registry import op
from robustcheck.errors import UnsupportedModelError

MICROSOFT = "com.microsoft"
_SKIP_EPSILON = 1e-12  # onnxruntime's kDefaultSkipLayerNormEpsilon
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


def _erf_gelu(x: Tensor) -> Tensor:
    return 0.5 * x * (1.0 + torch.erf(x * (1.0 / math.sqrt(2.0))))


@op("Gelu", 1, domain=MICROSOFT)
def ms_gelu(x: Tensor) -> Tensor:
    """The exact (erf) GELU."""
    return _erf_gelu(x)


@op("BiasGelu", 1, domain=MICROSOFT)
def bias_gelu(a: Tensor, b: Tensor) -> Tensor:
    """``Gelu(A + B)``, the bias broadcast over the last axis."""
    return _erf_gelu(a + b)


@op("FastGelu", 1, domain=MICROSOFT)
def fast_gelu(x: Tensor, bias: Tensor | None = None) -> Tensor:
    """The tanh approximation of GELU, after adding the optional bias."""
    if bias is not None:
        x = x + bias
    return 0.5 * x * (1.0 + torch.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)))


@op("QuickGelu", 1, domain=MICROSOFT)
def quick_gelu(x: Tensor, *, alpha: float = 1.702) -> Tensor:
    return x * torch.sigmoid(alpha * x)


@op("BiasAdd", 1, domain=MICROSOFT)
def bias_add(x: Tensor, bias: Tensor, skip: Tensor) -> Tensor:
    return x + bias + skip


@op("FusedMatMul", 1, domain=MICROSOFT)
def fused_matmul(
    a: Tensor,
    b: Tensor,
    *,
    alpha: float = 1.0,
    transA: int = 0,  # ONNX attribute names, hence the camel case
    transB: int = 0,
    transBatchA: int = 0,
    transBatchB: int = 0,
) -> Tensor:
    """``alpha * op(A) @ op(B)``; ``transBatch`` moves the first axis behind the batch axes
    (``[d0, d1, ..., M, K]`` read as ``[d1, ..., d0, M, K]``) before ``trans`` swaps the last two."""
    return alpha * torch.matmul(_operand(a, transA, transBatchA), _operand(b, transB, transBatchB))


def _operand(x: Tensor, trans: int, trans_batch: int) -> Tensor:
    if trans_batch and x.dim() > 2:
        x = x.permute(*range(1, x.dim() - 1), 0, x.dim() - 1)
    if trans and x.dim() >= 2:
        x = x.transpose(-1, -2)
    return x


def _skip_sum(x: Tensor, skip: Tensor, bias: Tensor | None) -> Tensor:
    total = x + skip
    return total + bias if bias is not None else total


@op("SkipLayerNormalization", 1, domain=MICROSOFT)
def skip_layer_normalization(
    x: Tensor,
    skip: Tensor,
    gamma: Tensor,
    beta: Tensor | None = None,
    bias: Tensor | None = None,
    *,
    epsilon: float = _SKIP_EPSILON,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """LayerNorm over the last axis of ``input + skip (+ bias)``; the outputs are the result,
    the mean, the inverse standard deviation, and the sum itself."""
    total = _skip_sum(x, skip, bias)
    mean = total.mean(dim=-1, keepdim=True)
    centered = total - mean
    inv_std = torch.rsqrt((centered * centered).mean(dim=-1, keepdim=True) + epsilon)
    y = centered * inv_std * gamma
    if beta is not None:
        y = y + beta
    return y, mean, inv_std, total


@op("SkipSimplifiedLayerNormalization", 1, domain=MICROSOFT)
def skip_simplified_layer_normalization(
    x: Tensor,
    skip: Tensor,
    gamma: Tensor,
    bias: Tensor | None = None,
    *,
    epsilon: float = _SKIP_EPSILON,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """RMS norm over the last axis of ``input + skip (+ bias)``; the outputs are as
    SkipLayerNormalization's, with 1/rms for the inverse deviation and zeros for the mean (no
    mean is subtracted; onnxruntime writes zeros there too)."""
    total = _skip_sum(x, skip, bias)
    inv_rms = torch.rsqrt((total * total).mean(dim=-1, keepdim=True) + epsilon)
    return total * inv_rms * gamma, torch.zeros_like(inv_rms), inv_rms, total


@op("SimplifiedLayerNormalization", 1)
def simplified_layer_normalization(
    x: Tensor, scale: Tensor, *, axis: int = -1, epsilon: float = 1e-5, stash_type: int = 1
) -> tuple[Tensor, Tensor]:
    """RMS norm over the axes from ``axis`` on; the outputs are the result and 1/rms."""
    dims = tuple(range(normalize_axis(axis, x.dim()), x.dim()))
    low = x.dtype in (torch.float16, torch.bfloat16)
    work = x.to(torch.float32) if stash_type == 1 and low else x
    inv_rms = torch.rsqrt((work * work).mean(dim=dims, keepdim=True) + epsilon)
    return (work * inv_rms).to(x.dtype) * scale, inv_rms


_MASK_FILTER = -10000.0  # onnxruntime's default mask_filter_value


def _attention_mask(mask_index: Tensor, batch: int, steps: int, total: int) -> Tensor:
    """A (B, 1, S, T) boolean of the key positions each query may attend to."""
    positions = torch.arange(total, device=mask_index.device)
    if mask_index.dim() == 1 and mask_index.shape[0] == batch:
        keep = positions.reshape(1, total) < mask_index.to(torch.int64).reshape(batch, 1)
        return keep.reshape(batch, 1, 1, total)
    if mask_index.dim() == 2:
        return (mask_index != 0).reshape(batch, 1, 1, total)
    if mask_index.dim() == 3:
        return (mask_index != 0).reshape(batch, 1, steps, total)
    raise UnsupportedModelError(
        f"the gradient twin's attention takes a mask of key lengths (B), or a raw mask "
        f"(B, T) or (B, S, T), not one of shape {list(mask_index.shape)}"
    )


@op("Attention", 1, domain=MICROSOFT)
def attention(
    x: Tensor,
    weights: Tensor,
    bias: Tensor | None = None,
    mask_index: Tensor | None = None,
    past: Tensor | None = None,
    attention_bias: Tensor | None = None,
    past_sequence_length: Tensor | None = None,
    *,
    num_heads: int,
    qkv_hidden_sizes: Sequence[int] | None = None,
    scale: float | None = None,
    unidirectional: int = 0,
    mask_filter_value: float = _MASK_FILTER,
    do_rotary: int = 0,
    past_present_share_buffer: int = 0,
    rotary_embedding_dim: int = 0,
) -> Tensor:
    """Multi-head self-attention with the Q, K and V projections packed in ``weights``
    (onnxruntime's BERT fusion). Masked scores get ``mask_filter_value`` added, as in
    onnxruntime; a past state (generation) and rotary embeddings are refused."""
    if past is not None or past_sequence_length is not None or do_rotary:
        raise UnsupportedModelError(
            "the gradient twin's Attention runs encoders: past state and rotary embeddings "
            "(decoder generation) are not supported"
        )
    batch, steps, _ = x.shape
    projected = torch.matmul(x, weights)
    if bias is not None:
        projected = projected + bias
    q_size, k_size, v_size = qkv_hidden_sizes or [weights.shape[1] // 3] * 3
    q, k, v = projected.split([q_size, k_size, v_size], dim=-1)

    def heads(t: Tensor) -> Tensor:
        return t.reshape(batch, steps, num_heads, -1).transpose(1, 2)

    factor = scale if scale else 1.0 / math.sqrt(q_size // num_heads)
    masking = _Masking(mask_index, attention_bias, bool(unidirectional), mask_filter_value)
    return _attend(heads(q), heads(k), heads(v), factor, masking)


@dataclass(frozen=True)
class _Masking:
    mask: Tensor | None
    """Key lengths (B) or a raw 0/1 mask (B, T) or (B, S, T)."""
    bias: Tensor | None
    causal: bool
    filter_value: float


def _attend(q: Tensor, k: Tensor, v: Tensor, factor: float, masking: _Masking) -> Tensor:
    """Scaled dot-product attention over heads: ``q`` (B, N, S, H), ``k`` and ``v``
    (B, N, T, H) → (B, S, N * H_v). Masked keys get ``filter_value`` *added* to their scores,
    as onnxruntime's kernels do (a fully masked row then still averages its values)."""
    batch, _, steps, _ = q.shape
    total = k.shape[2]
    scores = torch.matmul(q, k.transpose(-1, -2)) * factor
    if masking.mask is not None:
        keep = _attention_mask(masking.mask, batch, steps, total)
        scores = scores + torch.where(keep, 0.0, masking.filter_value).to(scores.dtype)
    if masking.bias is not None:
        scores = scores + masking.bias
    if masking.causal:
        causal = torch.ones(steps, total, dtype=torch.bool, device=q.device).tril()
        scores = scores.masked_fill(~causal, float("-inf"))
    context = torch.matmul(torch.softmax(scores, dim=-1), v)
    return context.transpose(1, 2).reshape(batch, steps, -1)


@op("MultiHeadAttention", 1, domain=MICROSOFT)
def multi_head_attention(
    query: Tensor,
    key: Tensor | None = None,
    value: Tensor | None = None,
    bias: Tensor | None = None,
    key_padding_mask: Tensor | None = None,
    attention_bias: Tensor | None = None,
    past_key: Tensor | None = None,
    past_value: Tensor | None = None,
    past_sequence_length: Tensor | None = None,
    cache_indirection: Tensor | None = None,
    *,
    num_heads: int,
    scale: float | None = None,
    mask_filter_value: float = _MASK_FILTER,
    unidirectional: int = 0,
    output_count: int = 1,
) -> Tensor:
    """Self or cross attention on projected Q, K and V (separate (B, S, D) tensors, packed QKV
    (B, S, N, 3, H) in ``query`` or packed KV (B, T, N, 2, H) in ``key``), ``bias`` added to
    each. Decoder state is refused: past/present key and value, cache indirection, and keys or
    values already split into heads (B, N, T, H), which is how a cross-attention cache arrives."""
    refused = [
        name
        for name, given in (
            ("past_key", past_key is not None),
            ("past_value", past_value is not None),
            ("past_sequence_length", past_sequence_length is not None),
            ("cache_indirection", cache_indirection is not None),
            ("present_key/present_value/qk outputs", output_count > 1),
            ("key in (B, N, T, H) (a cross-attention cache)", key is not None and key.dim() == 4),
            (
                "value in (B, N, T, H) (a cross-attention cache)",
                value is not None and value.dim() == 4,
            ),
        )
        if given
    ]
    if refused:
        raise UnsupportedModelError(
            "the gradient twin's MultiHeadAttention runs encoders, without decoder state: "
            + ", ".join(refused)
            + " not supported"
        )
    q, k, v = _unpack_qkv(query, key, value)
    if bias is not None:
        q_bias, k_bias, v_bias = bias.split([q.shape[-1], k.shape[-1], v.shape[-1]])
        q, k, v = q + q_bias, k + k_bias, v + v_bias

    def heads(t: Tensor) -> Tensor:
        return t.reshape(t.shape[0], t.shape[1], num_heads, -1).transpose(1, 2)

    factor = scale if scale else 1.0 / math.sqrt(q.shape[-1] // num_heads)
    masking = _Masking(key_padding_mask, attention_bias, bool(unidirectional), mask_filter_value)
    return _attend(heads(q), heads(k), heads(v), factor, masking)


def _unpack_qkv(
    query: Tensor, key: Tensor | None, value: Tensor | None
) -> tuple[Tensor, Tensor, Tensor]:
    """(B, S, D) query, key and value, from whichever packing the node uses."""
    if query.dim() == 5:
        q, k, v = query.unbind(dim=3)
        return tuple(t.flatten(2) for t in (q, k, v))  # type: ignore[return-value]
    if key is not None and key.dim() == 5:
        k, v = key.unbind(dim=3)
        return query, k.flatten(2), v.flatten(2)
    if key is None or value is None:
        raise UnsupportedModelError(
            "MultiHeadAttention needs key and value unless query packs Q, K and V "
            "(B, S, N, 3, H) or key packs K and V (B, T, N, 2, H)"
        )
    return query, key, value


_EMBED_EPSILON = 1e-12  # onnxruntime's kDefaultEmbedLayerNormEpsilon


@op("EmbedLayerNormalization", 1, domain=MICROSOFT)
def embed_layer_normalization(
    input_ids: Tensor,
    segment_ids: Tensor | None = None,
    word_embedding: Tensor | None = None,
    position_embedding: Tensor | None = None,
    segment_embedding: Tensor | None = None,
    gamma: Tensor | None = None,
    beta: Tensor | None = None,
    mask: Tensor | None = None,
    position_ids: Tensor | None = None,
    *,
    epsilon: float = _EMBED_EPSILON,
    mask_index_type: int = 1,
) -> tuple[Tensor, Tensor, Tensor]:
    """BERT's embedding block: word + position (+ segment) embeddings looked up and summed,
    then LayerNorm over the hidden axis. The outputs are the result, the mask index (each
    row's mask summed, int32; zeros without a mask, as onnxruntime writes it) and the sum
    before normalization. Positions default to ``0..S-1``."""
    if word_embedding is None or position_embedding is None or gamma is None:
        raise UnsupportedModelError(
            "EmbedLayerNormalization needs word_embedding, position_embedding and gamma"
        )
    batch, steps = input_ids.shape
    if position_ids is None:
        positions = torch.arange(steps, device=input_ids.device).expand(batch, steps)
    else:
        positions = position_ids.to(torch.int64).expand(batch, steps)
    total = word_embedding[input_ids.to(torch.int64)] + position_embedding[positions]
    if segment_ids is not None and segment_embedding is not None:
        total = total + segment_embedding[segment_ids.to(torch.int64)]
    mean = total.mean(dim=-1, keepdim=True)
    centered = total - mean
    y = centered * torch.rsqrt((centered * centered).mean(dim=-1, keepdim=True) + epsilon) * gamma
    if beta is not None:
        y = y + beta
    if mask is None:
        mask_index = torch.zeros(batch, dtype=torch.int32, device=input_ids.device)
    else:
        mask_index = (mask != 0).sum(dim=1).to(torch.int32)
    return y, mask_index, total
