"""onnxruntime's ``com.microsoft`` contrib operators, which onnx.backend.test has no cases for:
each one-node graph against onnxruntime itself, and the twin's input gradient through it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
import torch

from robustcheck.backends.onnx.twin import OnnxTwin
from robustcheck.backends.onnx.twin.tensors import tensor_from_numpy
from robustcheck.errors import UnsupportedModelError

MS = "com.microsoft"


def _floats(*shape: int, seed: int = 0, low: float = -2.0, high: float = 2.0) -> np.ndarray:
    generator = np.random.default_rng(seed + 31 * len(shape) + sum(shape))
    return generator.uniform(low, high, size=shape).astype(np.float32)


_X = _floats(2, 3, 8)
_SKIP = _floats(2, 3, 8, seed=1)
_HIDDEN = _floats(8, seed=2)
_BIAS = _floats(8, seed=3)
_IDS = np.array([[1, 2, 5], [4, 0, 2]], dtype=np.int32)
_SEGMENTS = np.array([[0, 0, 1], [0, 1, 1]], dtype=np.int32)
_MASK = np.array([[1, 0, 1], [1, 1, 0]], dtype=np.int32)


@dataclass(frozen=True)
class Case:
    op: str
    inputs: list[tuple[str, np.ndarray | None]]
    attrs: dict[str, Any] = field(default_factory=dict)
    outputs: int = 1
    domain: str = MS
    opset: int = 1


# fmt: off
CASES: dict[str, Case] = {
    "Gelu": Case("Gelu", [("x", _X)]),
    "FastGelu": Case("FastGelu", [("x", _X)]),
    "FastGelu-bias": Case("FastGelu", [("x", _X), ("b", _BIAS)]),
    "BiasGelu": Case("BiasGelu", [("x", _X), ("b", _BIAS)]),
    "QuickGelu": Case("QuickGelu", [("x", _X)]),
    "QuickGelu-alpha": Case("QuickGelu", [("x", _X)], {"alpha": 1.3}),
    "FusedMatMul": Case("FusedMatMul", [("x", _X), ("w", _floats(8, 5, seed=4))], {"alpha": 0.5}),
    "FusedMatMul-transA-transB": Case("FusedMatMul", [("x", _floats(2, 8, 3)), ("w", _floats(2, 5, 8, seed=4))], {"transA": 1, "transB": 1}),
    "FusedMatMul-transBatchA": Case("FusedMatMul", [("x", _floats(3, 2, 4)), ("w", _floats(2, 4, 5, seed=4))], {"transBatchA": 1}),
    "FusedMatMul-transBatchB-transB": Case("FusedMatMul", [("x", _floats(2, 3, 4)), ("w", _floats(5, 2, 4, seed=4))], {"transBatchB": 1, "transB": 1, "alpha": 2.0}),
    "SkipLayerNormalization": Case("SkipLayerNormalization", [("x", _X), ("s", _SKIP), ("g", _HIDDEN), ("be", _BIAS), ("bi", _floats(8, seed=5))], {"epsilon": 1e-5}, outputs=4),
    "SkipLayerNormalization-gamma-only": Case("SkipLayerNormalization", [("x", _X), ("s", _SKIP), ("g", _HIDDEN)], outputs=1),
    "SkipLayerNormalization-sum-output": Case("SkipLayerNormalization", [("x", _X), ("s", _SKIP), ("g", _HIDDEN), ("", None), ("bi", _BIAS)], outputs=4),
    "SkipLayerNormalization-broadcast-skip": Case("SkipLayerNormalization", [("x", _X), ("s", _floats(3, 8, seed=6)), ("g", _HIDDEN), ("be", _BIAS)]),
    "SkipSimplifiedLayerNormalization": Case("SkipSimplifiedLayerNormalization", [("x", _X), ("s", _SKIP), ("g", _HIDDEN), ("bi", _BIAS)], {"epsilon": 1e-6}, outputs=4),
    "SkipSimplifiedLayerNormalization-no-bias": Case("SkipSimplifiedLayerNormalization", [("x", _X), ("s", _SKIP), ("g", _HIDDEN)]),
    "SimplifiedLayerNormalization": Case("SimplifiedLayerNormalization", [("x", _X), ("g", _HIDDEN)], {"epsilon": 1e-6}, outputs=2, domain="", opset=17),
    "SimplifiedLayerNormalization-axis": Case("SimplifiedLayerNormalization", [("x", _X), ("g", _floats(3, 8, seed=7))], {"axis": 1}, domain="", opset=17),
    "Attention": Case("Attention", [("x", _X), ("w", _floats(8, 24, seed=8, low=-0.5, high=0.5)), ("b", _floats(24, seed=9))], {"num_heads": 2}),
    "Attention-lengths-unidirectional": Case("Attention", [("x", _X), ("w", _floats(8, 24, seed=8, low=-0.5, high=0.5)), ("b", _floats(24, seed=9)), ("m", np.array([2, 3], dtype=np.int32))], {"num_heads": 4, "unidirectional": 1}),
    "Attention-raw-mask-scale": Case("Attention", [("x", _X), ("w", _floats(8, 24, seed=8, low=-0.5, high=0.5)), ("b", _floats(24, seed=9)), ("m", np.array([[1, 1, 0], [1, 0, 1]], dtype=np.int32))], {"num_heads": 2, "scale": 0.3, "mask_filter_value": -100.0}),
    "Attention-3d-mask-qkv-sizes": Case("Attention", [("x", _X), ("w", _floats(8, 20, seed=8, low=-0.5, high=0.5)), ("b", _floats(20, seed=9)), ("m", np.tril(np.ones((2, 3, 3), dtype=np.int32)))], {"num_heads": 2, "qkv_hidden_sizes": [8, 8, 4]}),
    "Attention-attention-bias": Case("Attention", [("x", _X), ("w", _floats(8, 24, seed=8, low=-0.5, high=0.5)), ("b", _floats(24, seed=9)), ("", None), ("", None), ("ab", _floats(1, 2, 3, 3, seed=10))], {"num_heads": 2}),
    "MultiHeadAttention": Case("MultiHeadAttention", [("x", _X), ("k", _SKIP), ("v", _floats(2, 3, 8, seed=11))], {"num_heads": 2}),
    "MultiHeadAttention-bias-lengths": Case("MultiHeadAttention", [("x", _X), ("k", _SKIP), ("v", _floats(2, 3, 8, seed=11)), ("b", _floats(24, seed=9)), ("m", np.array([2, 3], dtype=np.int32))], {"num_heads": 4}),
    "MultiHeadAttention-raw-mask-scale": Case("MultiHeadAttention", [("x", _X), ("k", _SKIP), ("v", _floats(2, 3, 8, seed=11)), ("", None), ("m", np.array([[1, 1, 0], [1, 0, 1]], dtype=np.int32))], {"num_heads": 2, "scale": 0.3, "mask_filter_value": -100.0}),
    "MultiHeadAttention-3d-mask": Case("MultiHeadAttention", [("x", _X), ("k", _SKIP), ("v", _floats(2, 3, 8, seed=11)), ("", None), ("m", np.tril(np.ones((2, 3, 3), dtype=np.int32)))], {"num_heads": 2}),
    "MultiHeadAttention-unidirectional": Case("MultiHeadAttention", [("x", _X), ("k", _SKIP), ("v", _floats(2, 3, 8, seed=11)), ("b", _floats(24, seed=9))], {"num_heads": 2, "unidirectional": 1}),
    "MultiHeadAttention-cross": Case("MultiHeadAttention", [("x", _X), ("k", _floats(2, 5, 8, seed=12)), ("v", _floats(2, 5, 6, seed=13)), ("b", _floats(22, seed=9)), ("m", np.array([[1, 1, 1, 0, 1], [1, 0, 1, 1, 1]], dtype=np.int32))], {"num_heads": 2}),
    "MultiHeadAttention-attention-bias": Case("MultiHeadAttention", [("x", _X), ("k", _SKIP), ("v", _floats(2, 3, 8, seed=11)), ("", None), ("", None), ("ab", _floats(2, 1, 3, 3, seed=10))], {"num_heads": 2}),
    "EmbedLayerNormalization": Case("EmbedLayerNormalization", [("ids", _IDS), ("seg", _SEGMENTS), ("x", _floats(6, 8, seed=14)), ("pos", _floats(5, 8, seed=15)), ("segt", _floats(2, 8, seed=16)), ("g", _HIDDEN), ("be", _BIAS), ("m", _MASK)], outputs=3),
    "EmbedLayerNormalization-no-segment-no-mask": Case("EmbedLayerNormalization", [("ids", _IDS), ("", None), ("x", _floats(6, 8, seed=14)), ("pos", _floats(5, 8, seed=15)), ("", None), ("g", _HIDDEN), ("be", _BIAS)], {"epsilon": 0.1}, outputs=2),
    "EmbedLayerNormalization-position-ids": Case("EmbedLayerNormalization", [("ids", _IDS), ("seg", _SEGMENTS), ("x", _floats(6, 8, seed=14)), ("pos", _floats(5, 8, seed=15)), ("segt", _floats(2, 8, seed=16)), ("g", _HIDDEN), ("be", _BIAS), ("", None), ("p", np.array([[4, 2, 0], [1, 1, 3]], dtype=np.int32))], outputs=3),
    "EmbedLayerNormalization-shared-position-ids": Case("EmbedLayerNormalization", [("ids", _IDS), ("seg", _SEGMENTS), ("x", _floats(6, 8, seed=14)), ("pos", _floats(5, 8, seed=15)), ("segt", _floats(2, 8, seed=16)), ("g", _HIDDEN), ("be", _BIAS), ("m", _MASK), ("p", np.array([[2, 3, 4]], dtype=np.int32))], outputs=2),
}
# fmt: on


def _model(case: Case, node_model: Any, outputs: int | None = None) -> Any:
    return node_model(
        case.op,
        case.inputs,
        opset=case.opset,
        domain=case.domain,
        outputs=outputs or case.outputs,
        **case.attrs,
    )


def _feeds(case: Case) -> dict[str, np.ndarray]:
    return {name: value for name, value in case.inputs if name and value is not None}


# BiasAdd has no onnxruntime CPU kernel (the optimizer emits it for CUDA), so it is checked
# against its definition in ContribOperators.md instead.
_BIAS_ADD = Case("BiasAdd", [("x", _X), ("b", _BIAS), ("s", _SKIP)])


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_matches_onnxruntime(case: Case, node_model: Any, twin_matches_ort: Any) -> None:
    model = _model(case, node_model)
    feeds = _feeds(case)
    twin_matches_ort(model, feeds)


def test_bias_add_is_input_plus_bias_plus_skip(node_model: Any) -> None:
    twin = OnnxTwin(_model(_BIAS_ADD, node_model))
    with torch.no_grad():
        got = twin.run({n: tensor_from_numpy(v) for n, v in _feeds(_BIAS_ADD).items()})["y0"]
    np.testing.assert_allclose(got.numpy(), _X + _BIAS + _SKIP, rtol=1e-6, atol=1e-6)


_ALL = {**CASES, "BiasAdd": _BIAS_ADD}


@pytest.mark.parametrize("case", _ALL.values(), ids=_ALL.keys())
def test_float64_agrees_with_float32(case: Case, node_model: Any) -> None:
    model = _model(case, node_model, outputs=1)
    feeds = _feeds(case)
    twin = OnnxTwin(model)
    with torch.no_grad():
        single = twin.run({n: tensor_from_numpy(v) for n, v in feeds.items()})["y0"]
        twin.to(torch.float64)
        double = twin.run({n: tensor_from_numpy(v).double() for n, v in feeds.items()})["y0"]
    assert double.dtype == torch.float64
    np.testing.assert_allclose(double.numpy(), single.double().numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("case", _ALL.values(), ids=_ALL.keys())
def test_gradient_is_finite_and_non_zero(case: Case, node_model: Any) -> None:
    model = _model(case, node_model, outputs=1)
    twin = OnnxTwin(model)
    feeds = {n: tensor_from_numpy(v) for n, v in _feeds(case).items()}
    x = feeds["x"].requires_grad_(True)
    y = twin.run(feeds)["y0"]
    weights = torch.from_numpy(_floats(*y.shape, seed=9))
    (y * weights).sum().backward()
    assert x.grad is not None
    assert torch.isfinite(x.grad).all()
    assert x.grad.abs().max() > 0


def _heads(t: np.ndarray, heads: int) -> np.ndarray:
    """(B, S, D) → (B, S, N, 1, H), ready to be packed on axis 3."""
    return t.reshape(t.shape[0], t.shape[1], heads, 1, -1)


@pytest.mark.parametrize("packed", ["qkv", "kv"])
def test_multi_head_attention_packed_equals_separate(
    packed: str, node_model: Any, ort_run: Any
) -> None:
    """onnxruntime's CPU kernel refuses packed inputs (CUDA only), so the twin's packed reading is
    compared with onnxruntime on the same Q, K and V passed separately."""
    q, k, v, b = _X, _SKIP, _floats(2, 3, 8, seed=11), _floats(24, seed=9)
    separate = node_model(
        "MultiHeadAttention",
        [("x", q), ("k", k), ("v", v), ("b", b)],
        opset=1,
        domain=MS,
        num_heads=2,
    )
    (want,) = ort_run(separate, {"x": q, "k": k, "v": v, "b": b})
    if packed == "qkv":
        inputs = [("x", np.concatenate([_heads(t, 2) for t in (q, k, v)], axis=3))]
        inputs += [("", None), ("", None), ("b", b)]
    else:
        inputs = [("x", q), ("kv", np.concatenate([_heads(k, 2), _heads(v, 2)], axis=3))]
        inputs += [("", None), ("b", b)]
    twin = OnnxTwin(node_model("MultiHeadAttention", inputs, opset=1, domain=MS, num_heads=2))
    with torch.no_grad():
        got = twin.run({n: tensor_from_numpy(a) for n, a in inputs if a is not None})["y0"]
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    ("inputs", "named"),
    [
        ([("x", _X), ("k", _SKIP), ("v", _SKIP), ("", None), ("", None), ("", None), ("pk", _floats(2, 2, 1, 4))], "past_key"),
        ([("x", _X), ("k", _floats(2, 2, 3, 4)), ("v", _floats(2, 2, 3, 4))], "cross-attention cache"),
    ],
    ids=["past-key", "bnsh-key"],
)  # fmt: skip
def test_multi_head_attention_refuses_decoder_state(
    inputs: list[tuple[str, np.ndarray | None]], named: str, node_model: Any
) -> None:
    twin = OnnxTwin(node_model("MultiHeadAttention", inputs, opset=1, domain=MS, num_heads=2))
    with pytest.raises(UnsupportedModelError, match=named):
        twin.run({n: tensor_from_numpy(a) for n, a in inputs if a is not None})
