"""ONNX files from real exporters: onnxruntime judges, the twin differentiates, numbers match torch."""

from __future__ import annotations

import _onnx_zoo as zoo
import numpy as np
import pytest
import torch
from _onnx_zoo import EXPORTERS, UNEXPORTABLE, export_onnx

from robustcheck.backends.loader import load_backend
from robustcheck.backends.output import detect_output_kind, to_probabilities
from robustcheck.engine.config import ScanConfig
from robustcheck.engine.runner import run

CASES = [(a, e) for a in zoo.ARCHITECTURES for e in EXPORTERS if (a, e) not in UNEXPORTABLE]
EPS = [0.05, 0.15]


def _errors(report, attack="fgsm"):
    return {r.eps: r.adversarial_errors for r in report.results if r.attack == attack}


@pytest.mark.parametrize(("arch", "exporter"), CASES, ids=[f"{a}-{e}" for a, e in CASES])
def test_twin_agrees_with_onnxruntime_and_fgsm_matches_torchscript(onnx_zoo, arch, exporter):
    entry = onnx_zoo.get(arch, exporter)
    backend = load_backend(entry.onnx[exporter])
    x = torch.from_numpy(np.load(entry.data)["x"])
    runtime = backend.scores(x).numpy()
    kind = detect_output_kind(runtime)
    twin = backend.differentiable_scores(x).numpy()
    assert np.abs(to_probabilities(twin, kind) - to_probabilities(runtime, kind)).max() < 1e-4

    onnx_report = run(ScanConfig(model=entry.onnx[exporter], data=entry.data, eps=EPS))
    torch_report = run(ScanConfig(model=entry.torchscript, data=entry.data, eps=EPS))
    assert onnx_report.fidelity.paths == "onnx-twin-vs-onnxruntime"
    assert onnx_report.fidelity.trusted, onnx_report.fidelity
    assert onnx_report.verdict == "pass"
    for eps, errors in _errors(torch_report).items():
        assert abs(_errors(onnx_report)[eps] - errors) <= 1, (
            eps,
            _errors(onnx_report),
            _errors(torch_report),
        )
    assert _errors(onnx_report, "noise") == _errors(torch_report, "noise") or all(
        abs(_errors(onnx_report, "noise")[e] - _errors(torch_report, "noise")[e]) <= 1 for e in EPS
    )


def test_softmax_output_is_detected_as_probabilities(onnx_zoo):
    entry = onnx_zoo.get("softmax_mlp", "dynamo")
    report = run(ScanConfig(model=entry.onnx["dynamo"], data=entry.data, eps=[0.1]))
    assert report.model.output_kind == "probabilities"


@pytest.mark.parametrize("exporter", ["torchscript-13", "dynamo"])
def test_fixed_batch_one_model_is_scanned_sample_by_sample(onnx_zoo, tmp_path, exporter):
    entry = onnx_zoo.get("residual_bn", exporter)
    example = torch.from_numpy(np.load(entry.data)["x"][:1])
    path = export_onnx(
        entry.module, example, tmp_path / "batch1.onnx", exporter, dynamic_batch=False
    )
    fixed = run(ScanConfig(model=path, data=entry.data, eps=EPS, batch_size=64))
    dynamic = run(ScanConfig(model=entry.onnx[exporter], data=entry.data, eps=EPS, batch_size=64))
    assert fixed.model.input_shape[0] == 1
    assert fixed.gradient.evaluations == dynamic.gradient.evaluations == 5
    for eps, errors in _errors(dynamic).items():
        assert abs(_errors(fixed)[eps] - errors) <= 1


def test_fp16_model_is_scored_in_fp16(onnx_zoo, tmp_path):
    entry = onnx_zoo.get("mobile_se_hardswish", "torchscript-17")
    half = zoo.MobileLike()
    half.load_state_dict(entry.module.state_dict())
    half = half.half().eval()
    example = torch.from_numpy(np.load(entry.data)["x"][:4]).half()
    path = export_onnx(half, example, tmp_path / "fp16.onnx", "torchscript-17")
    report = run(ScanConfig(model=path, data=entry.data, eps=EPS))
    reference = run(ScanConfig(model=entry.torchscript, data=entry.data, eps=EPS))
    assert report.verdict == "pass", report.warnings
    assert report.fidelity.trusted
    assert report.fidelity.clean_top1_agreement > 0.99
    for eps, errors in _errors(reference).items():
        assert abs(_errors(report)[eps] - errors) <= 0.03 * report.data.n_samples


def test_nhwc_data_in_nchw_layout_is_refused_with_both_shapes(onnx_zoo):
    from robustcheck.errors import DataError

    entry = onnx_zoo.get("nhwc", "dynamo")
    nchw = onnx_zoo.get("residual_bn", "dynamo").data
    with pytest.raises(
        DataError, match=r"samples have shape \[1, 8, 8\] but .* expects \[N, 8, 8, 1\]"
    ):
        run(ScanConfig(model=entry.onnx["dynamo"], data=nchw, eps=[0.1]))
