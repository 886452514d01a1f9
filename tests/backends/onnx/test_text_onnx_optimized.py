"""Text classifiers after onnxruntime's transformer optimizer, which fuses the embedding block
into ``com.microsoft::EmbedLayerNormalization`` and attention into ``Attention`` (or
``MultiHeadAttention``): the word lookup is found inside the fused node, the tail is cut there,
and the scan measures what it measures on the unoptimized export of the same weights."""

from __future__ import annotations

import collections
import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from robustcheck.backends.onnx.embedding import build_tail, find_word_embedding
from robustcheck.cli import main

EPS = ["0.05", "0.1", "0.3"]


@pytest.fixture(scope="module", params=["bert", "distilbert"])
def optimized(request, text_zoo, tmp_path_factory):
    from onnxruntime.transformers.optimizer import optimize_model

    model = text_zoo.models[request.param]
    fused = optimize_model(str(model.onnx), model_type="bert", num_heads=2, hidden_size=32)
    path = tmp_path_factory.mktemp("optimized") / f"{request.param}-optimized.onnx"
    fused.save_model_to_file(str(path))
    return model, path


def _ops(path) -> collections.Counter:
    return collections.Counter((n.domain, n.op_type) for n in onnx.load(str(path)).graph.node)


def test_the_optimizer_fused_the_embeddings_and_the_lookup_is_found_inside(optimized):
    _, path = optimized
    ops = _ops(path)
    assert ops[("com.microsoft", "EmbedLayerNormalization")] == 1
    assert ops[("com.microsoft", "Attention")] + ops[("com.microsoft", "MultiHeadAttention")] == 2
    lookup = find_word_embedding(onnx.load(str(path)), "m")
    assert lookup.fused and lookup.table_name.endswith("word_embeddings.weight")


def test_tail_agrees_with_the_fused_graph_on_the_table_rows(optimized, text_zoo):
    _, path = optimized
    model = onnx.load(str(path))
    lookup = find_word_embedding(model, "m")
    tail = build_tail(model, lookup, ["logits"])
    assert ("com.microsoft", "EmbedLayerNormalization") not in {
        (n.domain, n.op_type) for n in tail.graph.node
    }
    test = text_zoo.test
    feeds = {"input_ids": test.input_ids, "attention_mask": test.attention_mask}
    full = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    cut = ort.InferenceSession(tail.SerializeToString(), providers=["CPUExecutionProvider"])
    wanted = {i.name for i in cut.get_inputs()}
    leaf = {lookup.output: lookup.table[test.input_ids], **feeds}
    (want,) = full.run(["logits"], feeds)
    (got,) = cut.run(["logits"], {k: v for k, v in leaf.items() if k in wanted})
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def _scan(path, data, report, capsys):
    args = ["scan", str(path), "--data", str(data), "--json", str(report)]
    code = main([*args, *(a for e in EPS for a in ("--eps", e))])
    err = capsys.readouterr().err
    return code, err, json.loads(report.read_text())


def test_scan_of_the_optimized_model_measures_what_the_unoptimized_one_does(
    optimized, text_zoo, tmp_path, capsys
):
    model, path = optimized
    code, err, fused = _scan(path, text_zoo.tokens_npz, tmp_path / "fused.json", capsys)
    assert code in (0, 1), err
    assert fused["fidelity"]["trusted"]
    _, _, plain = _scan(model.onnx, text_zoo.tokens_npz, tmp_path / "plain.json", capsys)

    def errors(report):
        return {
            (r["attack"], r["eps"]): r["adversarial_errors"]
            for r in report["results"]
            if r["attack"] == "fgsm"
        }

    got, want = errors(fused), errors(plain)
    assert got.keys() == want.keys() and len(got) == len(EPS)
    for key, count in want.items():
        assert abs(got[key] - count) <= 2, (key, got, want)
    assert max(got.values()) > 0  # the gradient reaches the embeddings: the attack bites


@pytest.mark.parametrize("opset", [11, 17])
@pytest.mark.parametrize("with_positions", [False, True])
def test_the_rewritten_embedding_block_computes_all_three_outputs(opset, with_positions):
    """The rewrite on its own: every output of the fused node, onnxruntime on both graphs."""
    from onnx import TensorProto, helper, numpy_helper

    from robustcheck.backends.onnx._unfuse import unfuse

    rng = np.random.default_rng(0)
    tables = {
        "word": rng.normal(size=(9, 8)), "pos": rng.normal(size=(6, 8)),
        "seg": rng.normal(size=(2, 8)), "gamma": rng.normal(size=8), "beta": rng.normal(size=8),
    }  # fmt: skip
    inputs = ["ids", "segments", "word", "pos", "seg", "gamma", "beta", "mask"]
    inputs += ["positions"] if with_positions else []
    node = helper.make_node(
        "EmbedLayerNormalization", inputs, ["y", "mask_index", "sum"],
        domain="com.microsoft", epsilon=1e-5,
    )  # fmt: skip
    ints = [
        helper.make_tensor_value_info(n, TensorProto.INT32, ["N", 4])
        for n in ("ids", "segments", "mask", *(["positions"] if with_positions else []))
    ]
    graph = helper.make_graph(
        [node], "eln", ints, [helper.make_empty_tensor_value_info(o) for o in node.output],
        initializer=[numpy_helper.from_array(v.astype(np.float32), k) for k, v in tables.items()],
    )  # fmt: skip
    opsets = [helper.make_opsetid("", opset), helper.make_opsetid("com.microsoft", 1)]
    model = helper.make_model(graph, opset_imports=opsets, ir_version=8)
    feeds = {
        "ids": rng.integers(0, 9, (3, 4)).astype(np.int32),
        "segments": rng.integers(0, 2, (3, 4)).astype(np.int32),
        "mask": np.array([[1, 1, 1, 1], [1, 1, 0, 0], [1, 0, 1, 0]], np.int32),
        "positions": rng.integers(0, 6, (3, 4)).astype(np.int32),
    }
    feeds = {k: v for k, v in feeds.items() if k in inputs}
    rewritten = unfuse(model, 0, "word_rows")
    assert rewritten.graph.node[0].op_type == "Gather"

    def outputs(m):
        session = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
        return session.run(None, feeds)

    for got, want in zip(outputs(rewritten), outputs(model), strict=True):
        assert got.dtype == want.dtype
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
