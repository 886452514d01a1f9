"""Text classifiers in ONNX: the word-embedding lookup, the tail scored on onnxruntime."""

from __future__ import annotations

import _textmodels as tm
import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper

from robustcheck.backends.loader import load_backend
from robustcheck.backends.onnx.embedding import find_word_embedding
from robustcheck.data.tokens import pack_tokens
from robustcheck.errors import UnsupportedModelError


def _tokens(task) -> np.ndarray:
    return pack_tokens(task.input_ids, task.attention_mask, None, np.arange(len(tm.SPECIALS)))


def _probabilities(scores: torch.Tensor) -> np.ndarray:
    return torch.softmax(scores.to(torch.float64), dim=1).numpy()


@pytest.fixture(scope="module", params=["bert", "distilbert"])
def exported(request, text_zoo, tmp_path_factory):
    """Each network exported by both exporters: (name, path)."""
    model = text_zoo.models[request.param]
    dynamo = tmp_path_factory.mktemp("dynamo") / f"{request.param}.onnx"
    tm.export_onnx(model.module, text_zoo.test, dynamo, dynamo=True)
    return [(f"{request.param}-opset17", model.onnx), (f"{request.param}-dynamo", dynamo)]


def test_the_word_embedding_is_the_vocabulary_table_not_positions_or_types(exported):
    for name, path in exported:
        lookup = find_word_embedding(onnx.load(path), name)
        assert lookup.ids_input == "input_ids"
        assert lookup.table.shape == (len(tm.vocabulary()), 32), name
        assert "word_embeddings" in lookup.table_name, name


def test_tail_on_onnxruntime_agrees_with_the_full_graph_on_clean_inputs(exported, text_zoo):
    tokens = _tokens(text_zoo.test)
    for name, path in exported:
        backend = load_backend(path)
        full = _probabilities(backend.token_scores(tokens))
        packed = torch.from_numpy(backend.embed(tokens))
        tail = _probabilities(backend.scores(packed))
        assert np.max(np.abs(full - tail)) <= 1e-5, name
        twin = _probabilities(backend.differentiable_scores(packed))
        assert np.max(np.abs(twin - tail)) <= 1e-4, name
        # and the full graph is the model the test trained
        with torch.no_grad():
            module = text_zoo.models[name.split("-")[0]].module
            ids = torch.from_numpy(text_zoo.test.input_ids)
            mask = torch.from_numpy(text_zoo.test.attention_mask)
            reference = _probabilities(module(ids, mask))
        assert np.max(np.abs(full - reference)) <= 1e-5, name


def test_gradients_reach_only_the_embeddings_of_real_words(text_zoo):
    backend = load_backend(text_zoo.models["bert"].onnx)
    tokens = _tokens(text_zoo.test)
    packed = torch.from_numpy(backend.embed(tokens)).requires_grad_(True)
    scores = backend.forward(packed)
    scores[:, 0].sum().backward()
    grad = packed.grad
    assert grad is not None
    hidden = backend.info.embedding.hidden
    assert torch.all(grad[..., hidden:] == 0)  # the token channels are not differentiable
    real = torch.from_numpy(tokens[..., 3] == 0)
    assert torch.all(grad[..., :hidden].abs().sum(-1)[real] > 0)


def _integer_model_without_lookup(path) -> None:
    ids = helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["N", 4])
    out = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 2])
    weight = helper.make_tensor("w", TensorProto.FLOAT, [4, 2], np.ones(8).tolist())
    graph = helper.make_graph(
        [
            helper.make_node("Cast", ["input_ids"], ["f"], to=TensorProto.FLOAT),
            helper.make_node("MatMul", ["f", "w"], ["logits"]),
        ],
        "no-lookup",
        [ids],
        [out],
        initializer=[weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, path)


def test_no_embedding_lookup_is_refused_in_one_line_naming_the_integer_inputs(tmp_path):
    path = tmp_path / "counts.onnx"
    _integer_model_without_lookup(path)
    with pytest.raises(UnsupportedModelError) as err:
        load_backend(path)
    message = str(err.value.message)
    assert "\n" not in message
    assert "input_ids" in message and "Gather" in message and "embedding" in message
