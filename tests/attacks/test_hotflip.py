"""HotFlip on a real text model: every counted error is a text the deployed model gets wrong.

Each adversarial text's token ids are re-scored here by a fresh onnxruntime session on the
full exported graph, independent of robustcheck's backends.
"""

from __future__ import annotations

import _textmodels as tm
import numpy as np
import onnxruntime as ort
import pytest
import torch
from attacks.conftest import text_batch_context

from robustcheck.attacks.hotflip import HotFlip, HotFlipParams
from robustcheck.backends.loader import load_backend
from robustcheck.data import load_dataset
from robustcheck.engine.config import ScanConfig
from robustcheck.engine.runner import run
from robustcheck.engine.text import prepare_text, substitutions_for
from robustcheck.errors import UsageError

BUDGETS = [1.0, 2.0, 4.0]


def _ort_errors(path, ids: np.ndarray, mask: np.ndarray, y: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (logits,) = session.run(None, {"input_ids": ids, "attention_mask": mask})
    return np.argmax(logits, axis=1) != y


@pytest.mark.parametrize("kind", ["bert", "distilbert"])
def test_every_counted_error_is_confirmed_on_onnxruntime_from_its_token_ids(text_zoo, kind):
    path = text_zoo.models[kind].onnx
    backend = load_backend(path)
    ctx = text_batch_context(backend, text_zoo, [1, 2, 4])
    hidden = backend.info.embedding.hidden
    out = HotFlip(HotFlipParams(beam=4))(ctx, BUDGETS).adversarial
    test = text_zoo.test
    special = np.isin(test.input_ids, np.arange(len(tm.SPECIALS))) | (test.attention_mask == 0)
    report = run(ScanConfig(model=path, data=text_zoo.tokens_npz, eps=[0.05], tokens=[1, 2, 4]))
    counted = {r.eps: r.adversarial_errors for r in report.results if r.attack == "hotflip"}
    errors = []
    for k in BUDGETS:
        adv = out[k].numpy()
        ids = np.rint(adv[..., hidden]).astype(np.int64)
        # padding and special tokens never change; at most k tokens do
        assert np.array_equal(ids[special], test.input_ids[special])
        assert ((ids != test.input_ids).sum(axis=1) <= k).all()
        # the embeddings are the substituted tokens' own rows: a text, not a perturbation
        assert np.array_equal(adv[..., :hidden], backend.table[ids].astype(np.float64))
        wrong = _ort_errors(path, ids, test.attention_mask, test.y)
        assert int(wrong.sum()) == counted[k]
        errors.append(int(wrong.sum()))
    assert errors == sorted(errors) and errors[-1] > 0
    clean_wrong = _ort_errors(path, test.input_ids, test.attention_mask, test.y)
    assert errors[0] > int(clean_wrong.sum())


def test_substitutes_are_never_special_tokens(text_zoo):
    backend = load_backend(text_zoo.models["bert"].onnx)
    ctx = text_batch_context(backend, text_zoo, [4])
    hidden = backend.info.embedding.hidden
    adv = HotFlip(HotFlipParams(beam=8))(ctx, [4.0]).adversarial[4.0].numpy()
    ids = np.rint(adv[..., hidden]).astype(np.int64)
    swapped = ids[ids != text_zoo.test.input_ids]
    assert swapped.size and not np.isin(swapped, np.arange(len(tm.SPECIALS))).any()


def test_token_budgets_need_a_text_model(linear_model, digits_npz):
    with pytest.raises(UsageError, match="not a text model"):
        run(ScanConfig(model=linear_model.torchscript, data=digits_npz, eps=[0.1], tokens=[1]))


def test_token_classes_keep_case_and_piece_kind():
    from robustcheck.engine.text import token_class

    assert token_class("good") == token_class("bad") != token_class("Good")
    assert token_class("##ing") != token_class("ing")
    assert token_class("Ġthe") != token_class("the") and token_class("▁the") == token_class("Ġa")
    assert token_class("42") == token_class(",")


def test_with_a_tokenizer_swaps_keep_the_replaced_token_s_case(text_zoo):
    backend = load_backend(text_zoo.models["bert"].onnx)
    dataset = load_dataset(text_zoo.tokens_npz, data_format="tokens", tokenizer=text_zoo.tokenizer)
    dataset, _ = prepare_text(backend, dataset, [0.1])
    subs = substitutions_for(backend, dataset, [4])
    vocab = tm.vocabulary()
    assert subs.token_class is not None
    capitalised = torch.tensor([w[0].isupper() and w.isalpha() for w in vocab])
    lower = subs.token_class[vocab.index("good")]
    assert bool((subs.token_class[capitalised] != lower).all())
    assert bool((subs.token_class[torch.tensor([w.islower() for w in vocab])] == lower).all())
    assert not bool(subs.allowed[: len(tm.SPECIALS)].any())
