"""The ONNX project's own operator test cases, run through the gradient twin.

``onnx.backend.test`` ships the official node cases (and a few small converted PyTorch
models at old opsets). They run here through a :class:`onnx.backend.base.Backend` adapter,
with an include list of one line per supported operator, as in onnx/onnx
``tests/python/backend_reference_test.py`` and google/jaxonnxruntime
``tests/onnx_ops_test.py``. Cases outside the include list are not collected at all.
"""

from __future__ import annotations

import re
import unittest
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnx.backend.test
import pytest
import torch
from onnx.backend.base import Backend, BackendRep
from onnx.backend.test.loader import load_model_tests

from robustcheck.backends.onnx.twin import OnnxTwin, default_registry
from robustcheck.backends.onnx.twin.analysis import model_opsets, resolve_node
from robustcheck.backends.onnx.twin.tensors import tensor_from_numpy, tensor_to_numpy

# One line per registered operator: the official cases (and old-opset converted models)
# that exercise it. Keys are (domain, op_type) as the registry spells them.
# fmt: off
INCLUDE: dict[tuple[str, str], str] = {
    ("", "Abs"): r"^test_abs_",
    ("", "Acos"): r"^test_acos_",
    ("", "Acosh"): r"^test_acosh_",
    ("", "Add"): r"^test_add_",
    ("", "And"): r"^test_and(2d|3d|4d|_bcast)",
    ("", "ArgMax"): r"^test_argmax_",
    ("", "ArgMin"): r"^test_argmin_",
    ("", "Asin"): r"^test_asin_",
    ("", "Asinh"): r"^test_asinh_",
    ("", "Atan"): r"^test_atan_",
    ("", "Atanh"): r"^test_atanh_",
    ("", "AveragePool"): r"^test_averagepool_|^test_AvgPool",
    ("", "BatchNormalization"): r"^test_batchnorm_",
    ("", "BitShift"): r"^test_bitshift_",
    ("", "BitwiseAnd"): r"^test_bitwise_and_",
    ("", "BitwiseNot"): r"^test_bitwise_not_",
    ("", "BitwiseOr"): r"^test_bitwise_or_",
    ("", "BitwiseXor"): r"^test_bitwise_xor_",
    ("", "Cast"): r"^test_cast_",
    ("", "CastLike"): r"^test_castlike_",
    ("", "Ceil"): r"^test_ceil_",
    ("", "Celu"): r"^test_celu_",
    ("", "Clip"): r"^test_clip_|^test_operator_clip_",
    ("", "Compress"): r"^test_compress_",
    ("", "Concat"): r"^test_concat_|^test_operator_concat2_",
    ("", "Constant"): r"^test_constant_cpu$",
    ("", "ConstantOfShape"): r"^test_constantofshape_",
    ("", "Conv"): r"^test_basic_conv_|^test_conv_with_|^test_Conv[123]d|^test_operator_conv_",
    ("", "ConvInteger"): r"^test_convinteger_",
    ("", "ConvTranspose"): r"^test_convtranspose_|^test_ConvTranspose2d|^test_operator_convtranspose_",
    ("", "Cos"): r"^test_cos_",
    ("", "Cosh"): r"^test_cosh_",
    ("", "CumSum"): r"^test_cumsum_",
    ("", "DequantizeLinear"): r"^test_dequantizelinear",
    ("", "DepthToSpace"): r"^test_depthtospace_",
    ("", "Div"): r"^test_div_",
    ("", "Dropout"): r"^test_dropout_",
    ("", "Einsum"): r"^test_einsum_",
    ("", "DynamicQuantizeLinear"): r"^test_dynamicquantizelinear",
    ("", "Elu"): r"^test_elu_|^test_ELU_",
    ("", "Equal"): r"^test_equal_",
    ("", "Erf"): r"^test_erf_",
    ("", "Exp"): r"^test_exp_|^test_operator_exp_",
    ("", "Expand"): r"^test_expand_",
    ("", "EyeLike"): r"^test_eyelike_",
    ("", "Flatten"): r"^test_flatten_|^test_operator_flatten_|^test_operator_view_",
    ("", "Floor"): r"^test_floor_",
    ("", "Gather"): r"^test_gather_(?!elements)|^test_Embedding",
    ("", "GatherElements"): r"^test_gather_elements_",
    ("", "GatherND"): r"^test_gathernd_",
    ("", "Gelu"): r"^test_gelu_",
    ("", "Gemm"): r"^test_gemm_",
    ("", "GlobalAveragePool"): r"^test_globalaveragepool_",
    ("", "GlobalMaxPool"): r"^test_globalmaxpool_",
    ("", "Greater"): r"^test_greater_(?!equal)",
    ("", "GreaterOrEqual"): r"^test_greater_equal_",
    ("", "GridSample"): r"^test_gridsample",
    ("", "GroupNormalization"): r"^test_group_normalization_",
    ("", "GRU"): r"^test_gru_",
    ("", "HardSigmoid"): r"^test_hardsigmoid_",
    ("", "HardSwish"): r"^test_hardswish_",
    ("", "Hardmax"): r"^test_hardmax_",
    ("", "Identity"): r"^test_identity_",
    ("", "If"): r"^test_if_cpu$|^test_if_seq|^test_if_opt",
    ("", "InstanceNormalization"): r"^test_instancenorm_|^test_operator_symbolic_override_cpu",
    ("", "IsInf"): r"^test_isinf",
    ("", "IsNaN"): r"^test_isnan",
    ("", "LRN"): r"^test_lrn_",
    ("", "LayerNormalization"): r"^test_layer_normalization_",
    ("", "LeakyRelu"): r"^test_leakyrelu_|^test_LeakyReLU",
    ("", "Less"): r"^test_less_(?!equal)",
    ("", "LessOrEqual"): r"^test_less_equal_",
    ("", "Log"): r"^test_log_(example_)?cpu$",
    ("", "LogSoftmax"): r"^test_logsoftmax_|^test_LogSoftmax_|^test_log_softmax_",
    ("", "LpNormalization"): r"^test_(l1|l2|lp)normalization_",
    ("", "LpPool"): r"^test_lppool_",
    ("", "LSTM"): r"^test_lstm_",
    ("", "Loop"): r"^test_loop",
    ("", "MatMul"): r"^test_matmul_|^test_Linear_no_bias_",
    ("", "MatMulInteger"): r"^test_matmulinteger",
    ("", "Max"): r"^test_max_|^test_operator_max_",
    ("", "MaxPool"): r"^test_maxpool_|^test_MaxPool|^test_operator_maxpool_",
    ("", "Mean"): r"^test_mean_",
    ("", "Min"): r"^test_min_|^test_operator_min_",
    ("", "Mish"): r"^test_mish_",
    ("", "Mod"): r"^test_mod_",
    ("", "Mul"): r"^test_mul_",
    ("", "Neg"): r"^test_neg_",
    ("", "NonZero"): r"^test_nonzero_",
    ("", "Not"): r"^test_not_",
    ("", "OneHot"): r"^test_onehot_",
    ("", "Or"): r"^test_or(2d|3d|4d|_bcast)",
    ("", "PRelu"): r"^test_prelu_",
    ("", "Pad"): r"^test_(constant|edge|reflect|wrap)_pad|^test_(Constant|Reflection|Replication|Zero)Pad2d|^test_operator_pad_",
    ("", "Pow"): r"^test_pow_",
    ("", "RMSNormalization"): r"^test_rms_normalization_",
    ("", "QLinearConv"): r"^test_qlinearconv",
    ("", "QLinearMatMul"): r"^test_qlinearmatmul_",
    ("", "QuantizeLinear"): r"^test_quantizelinear",
    ("", "Range"): r"^test_range_",
    ("", "Reciprocal"): r"^test_reciprocal_",
    ("", "ReduceL1"): r"^test_reduce_l1_",
    ("", "ReduceL2"): r"^test_reduce_l2_",
    ("", "ReduceLogSum"): r"^test_reduce_log_sum_(?!exp)",
    ("", "ReduceLogSumExp"): r"^test_reduce_log_sum_exp_",
    ("", "ReduceMax"): r"^test_reduce_max_",
    ("", "ReduceMean"): r"^test_reduce_mean_|^test_operator_reduced_mean",
    ("", "ReduceMin"): r"^test_reduce_min_",
    ("", "ReduceProd"): r"^test_reduce_prod_",
    ("", "ReduceSum"): r"^test_reduce_sum_(?!square)|^test_operator_reduced_sum",
    ("", "ReduceSumSquare"): r"^test_reduce_sum_square_",
    ("", "Relu"): r"^test_relu_|^test_ReLU_|^test_single_relu_model_",
    ("", "Reshape"): r"^test_reshape_|^test_operator_repeat_dim_overflow_",
    ("", "Resize"): r"^test_resize_",
    ("", "ReverseSequence"): r"^test_reversesequence_",
    ("", "RNN"): r"^test_rnn_seq_length|^test_simple_rnn_",
    ("", "Round"): r"^test_round_",
    ("", "Scan"): r"^test_scan",
    ("", "ScatterElements"): r"^test_scatter_elements_",
    ("", "ScatterND"): r"^test_scatternd_",
    ("", "Selu"): r"^test_selu_|^test_SELU_|^test_operator_selu_",
    ("", "Shape"): r"^test_shape_",
    ("", "Shrink"): r"^test_shrink_",
    ("", "Sigmoid"): r"^test_sigmoid_|^test_Sigmoid_",
    ("", "Sign"): r"^test_sign_",
    ("", "Sin"): r"^test_sin_",
    ("", "Sinh"): r"^test_sinh_",
    ("", "Size"): r"^test_size_",
    ("", "Slice"): r"^test_slice_|^test_operator_index_",
    ("", "Softmax"): r"^test_softmax_|^test_Softmax_|^test_Softmin_",
    ("", "Softplus"): r"^test_softplus_|^test_Softplus_",
    ("", "Softsign"): r"^test_softsign_",
    ("", "SpaceToDepth"): r"^test_spacetodepth_",
    ("", "Split"): r"^test_split_(?!to_sequence)|^test_operator_chunk_",
    ("", "Sqrt"): r"^test_sqrt_|^test_operator_sqrt_",
    ("", "Squeeze"): r"^test_squeeze_",
    ("", "Sub"): r"^test_sub_",
    ("", "Sum"): r"^test_sum_|^test_operator_symbolic_override_nested_",
    ("", "Swish"): r"^test_swish_",
    ("", "Tan"): r"^test_tan_",
    ("", "Tanh"): r"^test_tanh_|^test_Tanh_",
    ("", "ThresholdedRelu"): r"^test_thresholdedrelu_",
    ("", "Tile"): r"^test_tile_|^test_operator_repeat_cpu",
    ("", "TopK"): r"^test_top_k_",
    ("", "Transpose"): r"^test_transpose_|^test_operator_permute2_",
    ("", "Trilu"): r"^test_tri[lu]_",
    ("", "Unsqueeze"): r"^test_unsqueeze_",
    ("", "Upsample"): r"^test_upsample_",
    ("", "Where"): r"^test_where_",
    ("", "Xor"): r"^test_xor(2d|3d|4d|_bcast)",
    ("ai.onnx.ml", "ArrayFeatureExtractor"): r"^test_ai_onnx_ml_array_feature_extractor_",
}
# fmt: on

# Registered operators that onnx.backend.test has no cases for; each is tested by hand.
NO_NODE_CASES: dict[tuple[str, str], str] = {
    # onnxruntime's contrib operators (the default-domain one is onnxruntime's too).
    ("", "SimplifiedLayerNormalization"): "test_twin_contrib_ops.py, against onnxruntime",
    ("com.microsoft", "Attention"): "test_twin_contrib_ops.py, against onnxruntime",
    ("com.microsoft", "EmbedLayerNormalization"): "test_twin_contrib_ops.py, against onnxruntime",
    ("com.microsoft", "MultiHeadAttention"): "test_twin_contrib_ops.py, against onnxruntime",
    ("com.microsoft", "BiasAdd"): "test_twin_contrib_ops.py, against onnxruntime",
    ("com.microsoft", "BiasGelu"): "test_twin_contrib_ops.py, against onnxruntime",
    ("com.microsoft", "FastGelu"): "test_twin_contrib_ops.py, against onnxruntime",
    ("com.microsoft", "FusedMatMul"): "test_twin_contrib_ops.py, against onnxruntime",
    ("com.microsoft", "Gelu"): "test_twin_contrib_ops.py, against onnxruntime",
    ("com.microsoft", "QuickGelu"): "test_twin_contrib_ops.py, against onnxruntime",
    ("com.microsoft", "SkipLayerNormalization"): "test_twin_contrib_ops.py, against onnxruntime",
    (
        "com.microsoft",
        "SkipSimplifiedLayerNormalization",
    ): "test_twin_contrib_ops.py, against onnxruntime",
    ("com.microsoft", "QGemm"): "test_twin_quantized.py, QOperator models against onnxruntime",
    ("com.microsoft", "QLinearAdd"): "test_twin_qlinear_contrib.py, against onnxruntime",
    ("com.microsoft", "QLinearAveragePool"): "test_twin_qlinear_contrib.py, against onnxruntime",
    ("com.microsoft", "QLinearConcat"): "test_twin_qlinear_contrib.py, against onnxruntime",
    (
        "com.microsoft",
        "QLinearGlobalAveragePool",
    ): "test_twin_qlinear_contrib.py, against onnxruntime",
    ("com.microsoft", "QLinearLeakyRelu"): "test_twin_qlinear_contrib.py, against onnxruntime",
    ("com.microsoft", "QLinearMul"): "test_twin_qlinear_contrib.py, against onnxruntime",
    ("com.microsoft", "QLinearSigmoid"): "test_twin_qlinear_contrib.py, against onnxruntime",
    ("com.microsoft", "QLinearSoftmax"): "test_twin_qlinear_contrib.py, against onnxruntime",
    ("ai.onnx.ml", "LinearClassifier"): "test_twin_ml.py, against onnxruntime",
    ("ai.onnx.ml", "LinearRegressor"): "test_twin_ml.py, against onnxruntime",
    ("ai.onnx.ml", "Normalizer"): "test_twin_ml.py, against onnxruntime",
    ("ai.onnx.ml", "Scaler"): "test_twin_ml.py, against onnxruntime",
    (
        "ai.onnx.ml",
        "ZipMap",
    ): "test_twin_ml.py, against onnxruntime (twin passes probabilities through)",
}

# Precise cases that cannot pass for a principled reason. Nothing else is excluded.
EXCLUDE: dict[str, str] = {
    # torch keeps uint16/32/64 as storage-only dtypes: no add/compare/div/pow/topk kernels.
    # A classifier's differentiable path never computes in them.
    # (Equal, Mul, TopK on uint64, Pow with a uint32/64 exponent, and BitShift, which works on
    # the bits, do run, so they are tested.) (De)quantizing to or from uint16 only converts,
    # which torch does.
    r"^(?!test_(equal|mul)_uint|test_pow_types_float32_uint(32|64)_|test_top_k_uint64_|test_bitshift_"
    r"|test_(de)?quantizelinear_uint16_)"
    r".*_uint(16|32|64)_": "torch has no CPU kernels for uint16/uint32/uint64 arithmetic",
    # The twin differentiates deployed inference graphs; batch statistics are a training op.
    r"^test_batchnorm_.*_training_mode_": "training-mode BatchNormalization is refused",
    # Sub-byte and 8-bit float formats have no torch arithmetic and no place on a
    # float gradient path.
    r"^test_cast(like)?_.*(FLOAT8|FLOAT4E2M1|INT4|INT2)": "float8/float4/int4/int2 tensors",
    r"^test_(de)?quantizelinear_(e4m3fn|e5m2|u?int4|u?int2|float4e2m1)": "float8/float4/int4/int2 tensors",
    r"^test_equal_string": "string tensors have no torch equivalent",
    r"^test_identity_(sequence|opt)_": "sequence and optional values are not tensors",
    r"^test_if_(seq|opt)_|^test_loop1[36]_seq": "sequence and optional values are not tensors",
    # Scan-8 (a batch axis and sequence_lens) predates every exporter robustcheck meets.
    r"^test_scan_sum_": "Scan before opset 9 is not implemented",
    # These expected outputs divide by scale * input_length (fractional here); the spec
    # text and onnxruntime divide by the integer output length, and the twin follows the
    # runtime it stands in for (LEGACY_CASES checks align_corners against onnxruntime).
    r"^test_resize_downsample_scales_(linear|cubic)_align_corners_": "reference disagrees with onnxruntime",
}


def collected_case_names(test_cases: dict[str, type]) -> list[str]:
    """Names of the cases that will run (included, CPU, not excluded)."""
    return [
        name
        for case in test_cases.values()
        for name, member in vars(case).items()
        if name.startswith("test_")
        and not getattr(member, "__unittest_skip__", False)
        and not getattr(member, "__unittest_expecting_failure__", False)
    ]


def _to_tensor(value: Any) -> torch.Tensor:
    if isinstance(value, onnx.TensorProto):
        value = onnx.numpy_helper.to_array(value)
    if not isinstance(value, np.ndarray | np.generic):
        raise TypeError(f"the twin runs tensors only, got {type(value).__name__}")
    return tensor_from_numpy(np.asarray(value))


class TwinBackendRep(BackendRep):
    def __init__(self, model: onnx.ModelProto) -> None:
        self._twin = OnnxTwin(model)

    def run(self, inputs: Any, **kwargs: Any) -> tuple[np.ndarray, ...]:
        if isinstance(inputs, dict):
            feeds = {name: _to_tensor(value) for name, value in inputs.items()}
        else:
            feeds = {
                name: _to_tensor(value)
                for name, value in zip(self._twin.input_names, inputs, strict=True)
            }
        with torch.no_grad():
            outputs = self._twin.run(feeds)
        return tuple(tensor_to_numpy(outputs[name]) for name in self._twin.output_names)


class TwinBackend(Backend):
    @classmethod
    def prepare(cls, model: onnx.ModelProto, device: str = "CPU", **kwargs: Any) -> TwinBackendRep:
        return TwinBackendRep(model)

    @classmethod
    def supports_device(cls, device: str) -> bool:
        return device == "CPU"


def _uncollect_skipped(test_cases: dict[str, type]) -> None:
    """Drop cases outside the include list and CUDA variants, so they are never collected."""
    for case in test_cases.values():
        for name in [n for n in vars(case) if n.startswith("test_")]:
            reason = getattr(getattr(case, name), "__unittest_skip_why__", "")
            if reason == "no matched include pattern" or name.endswith("_cuda"):
                delattr(case, name)


def _expect_excluded_to_fail(test_cases: dict[str, type]) -> None:
    """Run every EXCLUDE case as an expected failure rather than skipping it.

    An excluded case that starts passing then fails the suite (unittest's unexpected success),
    so the list cannot silently go stale.
    """
    for case in test_cases.values():
        for name in [n for n in vars(case) if n.startswith("test_") and not n.endswith("_cuda")]:
            if any(re.search(pattern, name) for pattern in EXCLUDE):
                setattr(case, name, unittest.expectedFailure(getattr(case, name)))


with warnings.catch_warnings():
    # Generating the cases' expected outputs with numpy emits overflow warnings.
    warnings.simplefilter("ignore", RuntimeWarning)
    _backend_test = onnx.backend.test.BackendTest(TwinBackend, __name__)
for _pattern in INCLUDE.values():
    _backend_test.include(_pattern)
_TEST_CASES = _backend_test.test_cases
_uncollect_skipped(_TEST_CASES)
_expect_excluded_to_fail(_TEST_CASES)
globals().update(_TEST_CASES)


def test_every_registered_op_has_official_cases_or_a_hand_written_test() -> None:
    collected = collected_case_names(_TEST_CASES)
    registered = set(default_registry().op_types())
    uncovered = {}
    for op in sorted(registered):
        if op in NO_NODE_CASES:
            continue
        pattern = INCLUDE.get(op)
        if pattern is None:
            uncovered[op] = "no include line"
        elif not any(re.search(pattern, name) for name in collected):
            uncovered[op] = f"{pattern!r} collects no case"
    assert not uncovered, uncovered
    assert set(INCLUDE) <= registered, "include lines for operators the registry lacks"
    assert not set(INCLUDE) & set(NO_NODE_CASES)


# --- Older opset versions ---------------------------------------------------------------
# onnx.backend.test regenerates its node cases at each operator's newest opset, so the
# versions a model from an older exporter resolves to are checked here, one node each,
# against onnxruntime (the runtime robustcheck deploys against).


def _floats(*shape: int, low: float = -2.0, high: float = 2.0) -> np.ndarray:
    generator = np.random.default_rng(sum(shape) * 7919 + len(shape))
    return generator.uniform(low, high, size=shape).astype(np.float32)


def _ints(*values: int) -> np.ndarray:
    return np.array(values, dtype=np.int64)


def _scalar(value: float) -> np.ndarray:
    return np.array(value, dtype=np.float32)


_IMAGE = _floats(1, 2, 5, 6)
_EMPTY = np.zeros(0, dtype=np.float32)

# (op_type, opset, inputs in node order, attributes, number of outputs)
# fmt: off
LEGACY_CASES: list[tuple[str, int, list[tuple[str, np.ndarray]], dict[str, Any], int]] = [
    ("ArgMax", 11, [("x", _floats(3, 4))], {"axis": 1, "keepdims": 0}, 1),
    ("ArgMin", 11, [("x", _floats(3, 4))], {"axis": 0}, 1),
    ("BitShift", 11, [("x", np.array([1, 200, 7], dtype=np.uint8)), ("y", np.array([1, 3, 0], dtype=np.uint8))], {"direction": "RIGHT"}, 1),
    ("BitShift", 11, [("x", np.array([1, 2**40, 7], dtype=np.uint64)), ("y", np.array([63, 20, 2], dtype=np.uint64))], {"direction": "LEFT"}, 1),
    ("Compress", 9, [("x", _floats(3, 4)), ("c", np.array([True, False, True]))], {"axis": 0}, 1),
    ("Compress", 9, [("x", _floats(3, 4)), ("c", np.array([False, True, False, True, True]))], {}, 1),
    ("AveragePool", 7, [("x", _IMAGE)], {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "count_include_pad": 1}, 1),
    ("AveragePool", 10, [("x", _IMAGE)], {"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1}, 1),
    ("BatchNormalization", 7, [("x", _floats(2, 3, 4)), ("s", _floats(3)), ("b", _floats(3)), ("m", _floats(3)), ("v", _floats(3, low=0.5))], {"epsilon": 1e-3}, 1),
    ("BatchNormalization", 9, [("x", _IMAGE), ("s", _floats(2)), ("b", _floats(2)), ("m", _floats(2)), ("v", _floats(2, low=0.5))], {}, 1),
    ("Constant", 11, [], {"value": onnx.numpy_helper.from_array(_floats(2, 3))}, 1),
    ("DepthToSpace", 7, [("x", _floats(1, 8, 2, 3))], {"blocksize": 2}, 1),
    ("Dropout", 7, [("x", _floats(2, 3))], {"ratio": 0.3}, 1),
    ("GatherND", 11, [("x", _floats(2, 2, 2)), ("i", np.array([[0, 1], [1, 0]], dtype=np.int64))], {}, 1),
    ("Gemm", 7, [("a", _floats(3, 4)), ("b", _floats(5, 4)), ("c", _floats(5))], {"transB": 1, "alpha": 0.5, "beta": 2.0}, 1),
    ("GridSample", 16, [("x", _IMAGE), ("g", _floats(1, 3, 4, 2, low=-1.2, high=1.2))], {"mode": "bicubic", "padding_mode": "reflection"}, 1),
    ("GridSample", 16, [("x", _IMAGE), ("g", _floats(1, 4, 3, 2, low=-1.2, high=1.2))], {"mode": "nearest", "align_corners": 1, "padding_mode": "border"}, 1),
    ("GroupNormalization", 18, [("x", _floats(2, 4, 3)), ("s", _floats(2)), ("b", _floats(2))], {"num_groups": 2}, 1),
    ("GRU", 7, [("x", _floats(3, 2, 4)), ("w", _floats(1, 9, 4)), ("r", _floats(1, 9, 3)), ("b", _floats(1, 18))], {"hidden_size": 3, "linear_before_reset": 1}, 2),
    ("Hardmax", 11, [("x", _floats(2, 3, 4))], {"axis": 1}, 1),
    ("Softmax", 11, [("x", _floats(2, 3, 4))], {"axis": 1}, 1),
    ("LogSoftmax", 11, [("x", _floats(2, 3, 4))], {"axis": 1}, 1),
    ("LpPool", 7, [("x", _IMAGE)], {"kernel_shape": [2, 2], "p": 3}, 1),
    ("LSTM", 7, [("x", _floats(3, 2, 4)), ("w", _floats(1, 12, 4)), ("r", _floats(1, 12, 3)), ("b", _floats(1, 24))], {"hidden_size": 3, "input_forget": 1}, 3),
    ("MaxPool", 8, [("x", _IMAGE)], {"kernel_shape": [2, 3], "strides": [2, 1], "storage_order": 1}, 2),
    ("MaxPool", 12, [("x", _IMAGE)], {"kernel_shape": [3, 3], "pads": [1, 0, 1, 2], "dilations": [1, 2]}, 2),
    ("Mean", 7, [("a", _floats(2, 3)), ("b", _floats(2, 3)), ("c", _floats(2, 3))], {}, 1),
    ("Pad", 11, [("x", _floats(3, 4)), ("p", _ints(1, 2, 0, 1))], {"mode": "edge"}, 1),
    ("Pad", 11, [("x", _floats(3, 4)), ("p", _ints(1, -1, 2, 0)), ("v", _scalar(1.5))], {}, 1),
    ("Pad", 18, [("x", _floats(3, 4)), ("p", _ints(2, 1)), ("", None), ("a", _ints(-1))], {"mode": "reflect"}, 1),
    ("QuantizeLinear", 10, [("x", _floats(3, 4)), ("s", _scalar(0.02)), ("z", np.array(128, dtype=np.uint8))], {}, 1),
    ("QuantizeLinear", 13, [("x", _floats(2, 3, 4)), ("s", np.array([0.01, 0.02, 0.05], dtype=np.float32)), ("z", np.array([0, 10, -5], dtype=np.int8))], {"axis": 1}, 1),
    ("QuantizeLinear", 19, [("x", _floats(3, 4)), ("s", _scalar(0.01)), ("z", np.array(-3, dtype=np.int8))], {}, 1),
    ("QuantizeLinear", 21, [("x", _floats(4, 6)), ("s", _floats(4, 2, low=0.01, high=0.05)), ("z", np.full((4, 2), 7, dtype=np.uint8))], {"axis": 1, "block_size": 3}, 1),
    ("DequantizeLinear", 10, [("x", np.array([[0, 3, 128], [255, 17, 200]], dtype=np.uint8)), ("s", _scalar(0.02)), ("z", np.array(128, dtype=np.uint8))], {}, 1),
    ("DequantizeLinear", 13, [("x", np.array([[-128, 3, 127], [0, -17, 100]], dtype=np.int8)), ("s", np.array([0.1, 0.03], dtype=np.float32)), ("z", np.array([2, -4], dtype=np.int8))], {"axis": 0}, 1),
    ("DequantizeLinear", 21, [("x", np.arange(24, dtype=np.uint8).reshape(4, 6)), ("s", _floats(2, 6, low=0.01, high=0.05)), ("z", np.full((2, 6), 9, dtype=np.uint8))], {"axis": 0, "block_size": 3}, 1),
    ("Range", 11, [("s", _scalar(1.0)), ("l", _scalar(4.0)), ("d", _scalar(0.75))], {}, 1),
    ("ReduceL1", 13, [("x", _floats(2, 3, 4))], {"axes": [1], "keepdims": 0}, 1),
    ("ReduceL2", 13, [("x", _floats(2, 3, 4))], {"axes": [0, 2]}, 1),
    ("ReduceLogSum", 13, [("x", _floats(2, 3, low=0.5))], {"axes": [-1]}, 1),
    ("ReduceLogSumExp", 13, [("x", _floats(2, 3, 4))], {"axes": [2], "keepdims": 0}, 1),
    ("ReduceMin", 13, [("x", _floats(2, 3, 4))], {}, 1),
    ("ReduceProd", 13, [("x", _floats(2, 3, 4))], {"axes": [0, 1]}, 1),
    ("ReduceSumSquare", 13, [("x", _floats(2, 3, 4))], {"axes": [1]}, 1),
    ("Resize", 10, [("x", _IMAGE), ("s", np.array([1, 1, 2, 1.5], dtype=np.float32))], {"mode": "nearest"}, 1),
    ("Resize", 10, [("x", _IMAGE), ("s", np.array([1, 1, 2, 2], dtype=np.float32))], {"mode": "linear"}, 1),
    ("Resize", 11, [("x", _IMAGE), ("r", _EMPTY), ("s", np.array([1, 1, 0.6, 1.7], dtype=np.float32))], {"mode": "linear", "coordinate_transformation_mode": "align_corners"}, 1),
    ("Resize", 13, [("x", _IMAGE), ("", None), ("", None), ("z", _ints(1, 2, 7, 4))], {"mode": "cubic"}, 1),
    ("Resize", 18, [("x", _IMAGE), ("", None), ("", None), ("z", _ints(9, 9))], {"axes": [2, 3], "keep_aspect_ratio_policy": "not_larger"}, 1),
    ("ScatterElements", 11, [("x", _floats(3, 4)), ("i", np.array([[1, -1], [0, 2]], dtype=np.int64)), ("u", _floats(2, 2))], {"axis": 1}, 1),
    ("ScatterElements", 16, [("x", _floats(3, 4)), ("i", np.array([[1, 1], [0, 1]], dtype=np.int64)), ("u", _floats(2, 2))], {"reduction": "add"}, 1),
    ("RNN", 7, [("x", _floats(3, 2, 4)), ("w", _floats(2, 3, 4)), ("r", _floats(2, 3, 3))], {"hidden_size": 3, "direction": "bidirectional"}, 2),
    ("ScatterND", 11, [("x", _floats(4, 3)), ("i", np.array([[1], [3]], dtype=np.int64)), ("u", _floats(2, 3))], {}, 1),
    ("Shape", 13, [("x", _floats(2, 3, 4))], {}, 1),
    ("SpaceToDepth", 13, [("x", _floats(1, 2, 4, 6))], {"blocksize": 2}, 1),
    ("TopK", 7, [("x", _floats(3, 5))], {"k": 2, "axis": 0}, 2),
    ("TopK", 10, [("x", _floats(3, 5)), ("k", _ints(3))], {}, 2),
    ("Upsample", 7, [("x", _IMAGE)], {"scales": [1.0, 1.0, 2.0, 3.0], "mode": "nearest"}, 1),
    ("Upsample", 9, [("x", _IMAGE), ("s", np.array([1, 1, 2, 2], dtype=np.float32))], {"mode": "linear"}, 1),
]
# fmt: on


def _legacy_id(case: tuple[str, int, Any, Any, Any]) -> str:
    return f"{case[0]}-opset{case[1]}"


@pytest.mark.parametrize("case", LEGACY_CASES, ids=[_legacy_id(c) for c in LEGACY_CASES])
def test_older_opsets_match_onnxruntime(case: Any, node_model: Any, twin_matches_ort: Any) -> None:
    op_type, opset, inputs, attributes, outputs = case
    model = node_model(op_type, inputs, opset=opset, outputs=outputs, **attributes)
    feeds = {name: value for name, value in inputs if name}
    twin_matches_ort(model, feeds)


def _reached_specs(models: Iterable[onnx.ModelProto]) -> set[tuple[str, str, int]]:
    registry = default_registry()
    reached = set()
    for model in models:
        opsets = model_opsets(model)
        for node in model.graph.node:
            spec = resolve_node(node, opsets, registry)
            if spec is not None:
                reached.add((spec.domain, spec.op_type, spec.since_version))
    return reached


def test_every_registered_version_runs_in_a_conformance_case(node_model: Any) -> None:
    """Each versioned implementation meets an official case or a case in LEGACY_CASES."""
    collected = {name.removesuffix("_cpu") for name in collected_case_names(_TEST_CASES)}
    official = [case.model for case in load_model_tests(kind="node") if case.name in collected]
    for kind in ("pytorch-converted", "pytorch-operator", "simple"):
        for case in load_model_tests(kind=kind):
            if case.name in collected and case.model_dir:
                official.append(onnx.load(Path(case.model_dir) / "model.onnx"))
    legacy = [
        node_model(op, inputs, opset=opset, outputs=n, **attrs)
        for op, opset, inputs, attrs, n in LEGACY_CASES
    ]
    reached = _reached_specs([*official, *legacy])
    registered = {(s.domain, s.op_type, s.since_version) for s in default_registry()}
    unreached = sorted(key for key in registered - reached if key[:2] not in NO_NODE_CASES)
    assert not unreached, unreached
