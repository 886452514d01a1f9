"""End-to-end scans through the library API, cross-checked against an independent FGSM."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from reference_fgsm import fgsm_errors

from robustcheck.engine.config import ScanConfig
from robustcheck.engine.runner import run
from robustcheck.errors import DataError


def _result(report, attack: str, eps: float):
    (match,) = [r for r in report.results if r.attack == attack and r.eps == eps]
    return match


@pytest.mark.parametrize("fmt", ["torchscript", "pt2"])
@pytest.mark.parametrize("name", ["linear_model", "cnn_model"])
def test_error_rates_match_independent_fgsm(request, digits, digits_npz, fmt, name):
    saved = request.getfixturevalue(name)
    path = saved.torchscript if fmt == "torchscript" else saved.pt2
    eps = [0.05, 0.1, 0.25]
    report = run(ScanConfig(model=path, data=digits_npz, eps=eps, batch_size=128))
    for e in eps:
        expected = fgsm_errors(saved.module, digits.x_test, digits.y_test, e)
        assert abs(_result(report, "fgsm", e).adversarial_errors - expected) <= 1


def test_one_gradient_per_batch_whatever_the_sweep(linear_model, digits_npz):
    one = run(
        ScanConfig(model=linear_model.torchscript, data=digits_npz, eps=[0.1], batch_size=100)
    )
    many = run(
        ScanConfig(
            model=linear_model.torchscript,
            data=digits_npz,
            eps=[0.01, 0.05, 0.1, 0.2, 0.3],
            batch_size=100,
        )
    )
    assert one.gradient.evaluations == many.gradient.evaluations == 8  # ceil(719 / 100)


def test_two_runs_give_identical_metrics(cnn_model, digits_npz):
    config = ScanConfig(model=cnn_model.pt2, data=digits_npz, eps=[0.1, 0.2], seed=7)
    first, second = run(config), run(config)
    assert first.results == second.results
    assert first.gradient == second.gradient


def test_noise_hurts_less_than_fgsm_on_the_cnn(cnn_model, digits_npz):
    report = run(ScanConfig(model=cnn_model.torchscript, data=digits_npz, eps=[0.1, 0.25]))
    for eps in (0.1, 0.25):
        noise = _result(report, "noise", eps).adversarial_error_rate
        fgsm = _result(report, "fgsm", eps).adversarial_error_rate
        assert noise < fgsm / 2


def test_linear_softmax_shows_the_papers_pattern(linear_model, digits_npz):
    """Goodfellow et al.: shallow softmax at ε=0.25 is fooled almost always, and confidently."""
    report = run(ScanConfig(model=linear_model.torchscript, data=digits_npz, eps=[0.25]))
    r = _result(report, "fgsm", 0.25)
    assert r.clean_error_rate < 0.1
    assert r.adversarial_error_rate > 0.9
    assert r.high_confidence_misclassifications_at_0_5 > 0.5 * r.adversarial_errors
    assert r.mean_confidence_adversarial_errors > 0.5


def test_float64_loss_keeps_gradients_a_float32_loss_loses(digits, tmp_path):
    """A confidently-trained model: float32 cross-entropy gives zero gradients, float64 does not."""
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))
    x, y = torch.from_numpy(digits.x_train), torch.from_numpy(digits.y_train)
    opt = torch.optim.Adam(module.parameters(), lr=0.05)
    for _ in range(300):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(module(x), y).backward()
        opt.step()
    with torch.no_grad():
        module[1].weight.mul_(40.0)
        module[1].bias.mul_(40.0)
    module.eval()
    xt = torch.from_numpy(digits.x_test).requires_grad_(True)
    loss32 = torch.nn.functional.cross_entropy(
        module(xt), torch.from_numpy(digits.y_test), reduction="sum"
    )
    (g32,) = torch.autograd.grad(loss32, xt)
    zero32 = int((g32.reshape(len(g32), -1) == 0).all(dim=1).sum())
    assert zero32 > 10  # the flaw this test guards against is real for this model

    path = tmp_path / "saturated.pt"
    torch.jit.save(torch.jit.trace(module, xt[:2].detach()), str(path))
    data = tmp_path / "d.npz"
    np.savez(data, x=digits.x_test, y=digits.y_test)
    report = run(ScanConfig(model=path, data=data, eps=[0.25]))
    assert report.gradient.zero_gradient_samples == 0
    # A float64 cross-entropy back-propagated in float32 still underflows here; robustcheck's
    # rescaled output gradient moves every sample, so it fools at least as many.
    naive = fgsm_errors(module, digits.x_test, digits.y_test, 0.25)
    assert _result(report, "fgsm", 0.25).adversarial_errors > naive


def test_probability_outputs_are_detected_and_used(digits, linear_model, tmp_path, digits_npz):
    softmax = torch.nn.Sequential(linear_model.module, torch.nn.Softmax(dim=1)).eval()
    path = tmp_path / "softmax.pt"
    torch.jit.save(torch.jit.trace(softmax, torch.from_numpy(digits.x_test[:2])), str(path))
    report = run(ScanConfig(model=path, data=digits_npz, eps=[0.1]))
    logits_report = run(ScanConfig(model=linear_model.torchscript, data=digits_npz, eps=[0.1]))
    assert report.model.output_kind == "probabilities"
    assert (
        abs(
            _result(report, "fgsm", 0.1).adversarial_errors
            - _result(logits_report, "fgsm", 0.1).adversarial_errors
        )
        <= 1
    )


class _Conv1x1Head(torch.nn.Module):
    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x)[:, :, None, None]


def test_outputs_shaped_n_c_1_1_are_accepted(digits, linear_model, tmp_path, digits_npz):
    path = tmp_path / "nc11.pt"
    module = _Conv1x1Head(linear_model.module).eval()
    torch.jit.save(torch.jit.trace(module, torch.from_numpy(digits.x_test[:2])), str(path))
    report = run(ScanConfig(model=path, data=digits_npz, eps=[0.1]))
    flat = run(ScanConfig(model=linear_model.torchscript, data=digits_npz, eps=[0.1]))
    assert report.results == flat.results


def test_missing_labels_use_clean_predictions(linear_model, digits, tmp_path):
    data = tmp_path / "unlabelled.npz"
    np.savez(data, x=digits.x_test)
    report = run(ScanConfig(model=linear_model.torchscript, data=data, eps=[0.1]))
    assert report.data.labels == "predicted"
    assert report.results[0].clean_error_rate == 0.0
    assert any("clean predictions were used as labels" in w for w in report.warnings)


def test_static_batch_pt2_runs_in_fixed_chunks(linear_model, digits, tmp_path, digits_npz):
    path = tmp_path / "static.pt2"
    torch.export.save(
        torch.export.export(linear_model.module, (torch.from_numpy(digits.x_test[:3]),)), str(path)
    )
    report = run(ScanConfig(model=path, data=digits_npz, eps=[0.1], batch_size=50))
    dynamic = run(ScanConfig(model=linear_model.pt2, data=digits_npz, eps=[0.1], batch_size=50))
    assert report.model.input_shape == [3, 1, 8, 8]
    assert report.results == dynamic.results


def test_data_outside_declared_range_is_refused(linear_model, digits_npz):
    with pytest.raises(DataError, match=r"outside --input-range 0 0.5"):
        run(
            ScanConfig(
                model=linear_model.torchscript, data=digits_npz, eps=[0.1], input_range=(0, 0.5)
            )
        )


def test_unclipped_domain_is_reported_with_a_warning(linear_model, digits, tmp_path):
    data = tmp_path / "scaled.npz"
    np.savez(data, x=digits.x_test * 16, y=digits.y_test)
    report = run(ScanConfig(model=linear_model.torchscript, data=data, eps=[1.0]))
    assert report.settings.input_range is None
    assert report.settings.input_range_source == "none"
    assert any("not clipped" in w for w in report.warnings)


class _SqueezesTheBatch(torch.nn.Module):
    """Works on every batch but one of a single sample: `squeeze()` also drops the batch axis."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x.squeeze().unsqueeze(1))


class _AssertsOneChannel(torch.nn.Module):
    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.shape[1] == 1, "expected one channel"
        return self.inner(x)


def test_a_model_that_fails_only_on_single_samples_still_scans(cnn_model, digits_npz, tmp_path):
    path = tmp_path / "squeeze.pt"
    torch.jit.save(
        torch.jit.script(_SqueezesTheBatch(torch.jit.load(str(cnn_model.torchscript)))), str(path)
    )
    report = run(ScanConfig(model=path, data=digits_npz, eps=[0.1], limit=50, isolate=False))
    assert report.data.n_samples == 50


def test_a_torchscript_assertion_on_the_data_blames_the_data(cnn_model, digits, tmp_path):
    path = tmp_path / "asserts.pt"
    torch.jit.save(
        torch.jit.script(_AssertsOneChannel(torch.jit.load(str(cnn_model.torchscript)))), str(path)
    )
    nhwc = tmp_path / "nhwc.npz"
    np.savez(nhwc, x=np.moveaxis(digits.x_test[:20], 1, -1), y=digits.y_test[:20])
    with pytest.raises(
        DataError,
        match=r"nhwc.npz: samples have shape \[8, 8, 1\], on which .*asserts.pt fails \(.*expected one channel",
    ):
        run(ScanConfig(model=path, data=nhwc, eps=[0.1], isolate=False))
