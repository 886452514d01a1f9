"""Text classifiers through the scan engine: FGSM on the word embeddings, judged by onnxruntime.

Cross-checked against an independent FGSM written directly on the trained ``transformers``
module (``inputs_embeds``), which never goes through ONNX, the twin or the packed leaf.
"""

from __future__ import annotations

import _textmodels as tm
import numpy as np
import pytest
import torch

from robustcheck.attacks import FGSM, PGD, BatchContext
from robustcheck.attacks.gradient import PGDParams
from robustcheck.backends.loader import load_backend
from robustcheck.backends.output import OutputKind
from robustcheck.data.tokens import pack_tokens
from robustcheck.engine.config import ScanConfig
from robustcheck.engine.loop import leaf_budget
from robustcheck.engine.runner import run
from robustcheck.errors import DataError

EPS = [0.02, 0.05, 0.1, 0.3]


def _errors(report, eps: float) -> int:
    (result,) = [r for r in report.results if r.attack == "fgsm" and r.eps == eps]
    return result.adversarial_errors


def reference_fgsm_errors(module: tm.Classifier, task, eps: float) -> int:
    """FGSM on the word embeddings of the torch module, special tokens and padding held fixed."""
    ids = torch.from_numpy(task.input_ids)
    mask = torch.from_numpy(task.attention_mask)
    y = torch.from_numpy(task.y)
    table = module.net.get_input_embeddings().weight.detach()
    clean = table[ids].clone().requires_grad_(True)
    logits = module.net(inputs_embeds=clean, attention_mask=mask).logits
    torch.nn.functional.cross_entropy(logits, y, reduction="sum").backward()
    free = ((mask == 1) & (ids >= len(tm.SPECIALS))).unsqueeze(-1)
    adv = clean.detach() + eps * torch.sign(clean.grad) * free
    with torch.no_grad():
        predicted = module.net(inputs_embeds=adv, attention_mask=mask).logits.argmax(1)
    return int((predicted != y).sum())


@pytest.mark.parametrize("kind", ["bert", "distilbert"])
def test_embedding_fgsm_matches_an_independent_fgsm_and_rises_with_eps(text_zoo, kind):
    model = text_zoo.models[kind]
    report = run(ScanConfig(model=model.onnx, data=text_zoo.tokens_npz, eps=EPS, batch_size=16))
    assert report.data.format == "tokens"
    assert report.fidelity.trusted
    errors = [_errors(report, e) for e in EPS]
    assert errors == sorted(errors) and errors[-1] > errors[0]
    assert errors[-1] >= len(text_zoo.test.y) // 4  # the attack does bite
    for e, counted in zip(EPS, errors, strict=True):
        assert abs(counted - reference_fgsm_errors(model.module, text_zoo.test, e)) <= 1, e
    text = " ".join(report.warnings)
    assert "word embeddings" in text and "median per-dimension std" in text
    assert "agrees with the full graph" in text


def test_padding_special_tokens_and_token_channels_never_move(text_zoo):
    backend = load_backend(text_zoo.models["distilbert"].onnx)
    test = text_zoo.test
    tokens = pack_tokens(test.input_ids, test.attention_mask, None, np.arange(len(tm.SPECIALS)))
    x = torch.from_numpy(backend.embed(tokens))
    ctx = BatchContext(
        model=backend,
        x=x,
        y=torch.from_numpy(test.y),
        kind=OutputKind.LOGITS,
        domain=None,
        clean_scores=backend.scores(x),
        free=leaf_budget(backend, x),
    )
    hidden = backend.info.embedding.hidden
    pinned = torch.from_numpy(tokens[..., 3] == 1)
    pgd = PGD(PGDParams(steps=3, random_start=True))
    for attack in (FGSM(), pgd):
        for adv in attack(ctx, [0.1]).adversarial.values():
            moved = (adv - x.to(torch.float64)).abs()
            assert torch.all(moved[..., hidden:] == 0)
            assert torch.all(moved[..., :hidden][pinned] == 0)
            assert moved[..., :hidden][~pinned].max() == pytest.approx(0.1)


def test_image_data_for_a_text_model_is_refused(text_zoo, digits_npz):
    with pytest.raises(DataError, match="text model"):
        run(
            ScanConfig(
                model=text_zoo.models["bert"].onnx, data=digits_npz, eps=[0.1], data_format="npz"
            )
        )


@pytest.mark.parametrize("kind", ["bert", "distilbert"])
def test_onnx_torchscript_and_pt2_scans_of_one_network_agree(text_zoo, kind, tmp_path):
    model = text_zoo.models[kind]
    pt2 = tm.export_pt2(model.module, text_zoo.test, tmp_path / f"{kind}.pt2")
    reports = [
        run(ScanConfig(model=path, data=text_zoo.tokens_npz, eps=EPS, tokens=[1, 2]))
        for path in (model.onnx, model.torchscript, pt2)
    ]
    assert [r.model.format for r in reports] == ["onnx", "torchscript", "torch.export"]
    onnx_counts, *others = (
        {(r.attack, r.eps): r.adversarial_errors for r in report.results} for report in reports
    )
    for counts in others:
        assert onnx_counts.keys() == counts.keys()
        for key, count in onnx_counts.items():
            assert abs(count - counts[key]) <= 1, key
