"""Per-feature ε on tabular data whose features range from 0.1 to 1,700 (breast_cancer)."""

from __future__ import annotations

import _onnx_zoo as zoo
import numpy as np
import pytest
import torch
from sklearn.datasets import load_breast_cancer

from robustcheck.attacks import FGSM, PGD, BatchContext, project
from robustcheck.backends.loader import load_backend
from robustcheck.backends.output import OutputKind
from robustcheck.cli import main
from robustcheck.engine.config import ScanConfig
from robustcheck.engine.runner import run
from robustcheck.reports import html, markdown, summary

EPS = [0.1, 0.3]


class Standardised(torch.nn.Module):
    """A small MLP that standardises raw features itself, as a deployed tabular model would."""

    def __init__(self, mean: np.ndarray, std: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("mean", torch.from_numpy(mean.astype(np.float32)))
        self.register_buffer("std", torch.from_numpy(std.astype(np.float32)))
        self.net = torch.nn.Sequential(
            torch.nn.Linear(30, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x - self.mean) / self.std)


@pytest.fixture(scope="module")
def cancer(tmp_path_factory):
    root = tmp_path_factory.mktemp("cancer")
    data = load_breast_cancer()
    x, y = data.data.astype(np.float32), data.target.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(y))
    train, test = order[:369], order[369:]
    torch.manual_seed(0)
    module = Standardised(x[train].mean(0), x[train].std(0))
    opt = torch.optim.Adam(module.parameters(), lr=0.01)
    xt, yt = torch.from_numpy(x[train]), torch.from_numpy(y[train])
    for _ in range(200):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(module(xt), yt).backward()
        opt.step()
    module.eval()
    npz = root / "cancer.npz"
    np.savez(npz, x=x[test], y=y[test])
    onnx_path = zoo.export_onnx(
        module, torch.from_numpy(x[:4]), root / "mlp.onnx", "torchscript-17"
    )
    return module, onnx_path, npz, x[test], y[test]


def _errors(report, attack="fgsm"):
    return {r.eps: r.adversarial_errors for r in report.results if r.attack == attack}


def _reference_fgsm(module, x, y, budget):
    """FGSM with a per-feature budget, in plain torch on the float64 module: x + ε_i·sign(g_i)."""
    m = module.double()
    xx = torch.from_numpy(x.astype(np.float64)).requires_grad_(True)
    loss = torch.nn.functional.cross_entropy(m(xx), torch.from_numpy(y), reduction="sum")
    (g,) = torch.autograd.grad(loss, xx)
    adv = xx.detach() + torch.from_numpy(budget) * torch.sign(g)
    with torch.no_grad():
        wrong = int((m(adv).argmax(1).numpy() != y).sum())
    module.float()
    return wrong


def test_one_raw_eps_on_features_of_very_different_scales_warns(cancer):
    _, model, data, _, _ = cancer
    report = run(ScanConfig(model=model, data=data, eps=[1.0]))
    assert any("feature scales differ by" in w and "--eps-units std" in w for w in report.warnings)
    assert report.input.eps_scale is None
    assert "eps_scale" not in report.model_dump(mode="json")["input"]


def test_eps_in_std_units_is_eps_times_each_features_std(cancer):
    module, model, data, x, y = cancer
    report = run(ScanConfig(model=model, data=data, eps=EPS, eps_units="std"))
    scale = report.input.eps_scale
    std = x.astype(np.float64).std(axis=0)
    assert scale.units == "std" and scale.n_features == 30
    np.testing.assert_allclose(scale.values, std, rtol=1e-12)
    assert scale.min == pytest.approx(std.min()) and scale.max == pytest.approx(std.max())
    assert scale.max / scale.min > 100
    assert not any("feature scales differ" in w for w in report.warnings)
    for rendered in (summary.render(report), markdown.render(report), html.render(report)):
        assert "ε per feature" in rendered and "30 features" in rendered
    for eps in EPS:
        reference = _reference_fgsm(module, x, y, eps * std)
        assert abs(_errors(report)[eps] - reference) <= 1, (eps, _errors(report), reference)
    assert _errors(report)[0.3] > _errors(report, "noise")[0.3] + 10
    assert _errors(report)[0.1] < _errors(report)[0.3]


def test_a_scale_file_holding_the_std_vector_gives_the_same_numbers(cancer, tmp_path):
    _, model, data, x, _ = cancer
    path = tmp_path / "eps.npy"
    np.save(path, x.astype(np.float64).std(axis=0))
    by_units = run(ScanConfig(model=model, data=data, eps=EPS, eps_units="std"))
    by_file = run(ScanConfig(model=model, data=data, eps=EPS, eps_scale=path))
    assert by_file.input.eps_scale.units == "file"
    assert by_file.input.eps_scale.source == str(path)
    assert [r.adversarial_errors for r in by_file.results] == [
        r.adversarial_errors for r in by_units.results
    ]


def test_per_feature_budget_bounds_every_attack(cancer):
    _, model, _, x, y = cancer
    backend = load_backend(model)
    scale = torch.from_numpy(x.astype(np.float64).std(axis=0))[None]
    xt = torch.from_numpy(x[:64])
    ctx = BatchContext(
        model=backend,
        x=xt,
        y=torch.from_numpy(y[:64]),
        kind=OutputKind.LOGITS,
        domain=None,
        clean_scores=backend.scores(xt),
        eps_scale=scale,
    )
    budget = 0.5 * scale
    fgsm = FGSM()(ctx, [0.5]).adversarial[0.5]
    step = (fgsm - xt.to(torch.float64)).abs()
    moved = ctx.clean_gradient().gradient != 0
    torch.testing.assert_close(step[moved], budget.expand_as(step)[moved], rtol=1e-12, atol=0)
    pgd = PGD()(ctx, [0.5]).adversarial[0.5]
    assert bool(((pgd - xt.to(torch.float64)).abs() <= budget + 1e-12).all())
    far = xt.to(torch.float64) + 10 * scale
    clipped = project(far, xt, budget, None)
    torch.testing.assert_close(clipped - xt.to(torch.float64), budget.expand_as(clipped))


def test_bad_scale_settings_fail_in_one_line(cancer, tmp_path, capsys):
    _, model, data, _, _ = cancer
    wrong = tmp_path / "wrong.npy"
    np.save(wrong, np.ones(7))
    args = ["scan", str(model), "--data", str(data), "--eps", "0.1", "--no-isolation"]
    assert main([*args, "--eps-scale", str(wrong)]) == 3
    assert "--eps-scale" in capsys.readouterr().err
    assert main([*args, "--eps-scale", str(wrong), "--eps-units", "std"]) == 2
    assert "exclusive" in capsys.readouterr().err
    negative = tmp_path / "negative.npy"
    np.save(negative, -np.ones(30))
    assert main([*args, "--eps-scale", str(negative)]) == 3
