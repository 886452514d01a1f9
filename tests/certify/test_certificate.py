"""End to end on digits networks: certificates are sound against PGD, useful at a small ε, and
CROWN proves at least what IBP proves."""

from __future__ import annotations

import pytest
import torch
from _certify_models import pgd_broken

from robustcheck.certify import certify, from_torch

SAMPLES = 200


@pytest.fixture(scope="module", params=["mlp", "cnn"])
def network(request, mlp_model, cnn_model, digits):
    module = mlp_model if request.param == "mlp" else cnn_model.module
    x = torch.from_numpy(digits.x_test[:SAMPLES])
    y = torch.from_numpy(digits.y_test[:SAMPLES])
    return module, from_torch(module, x[:2]), x, y


@pytest.mark.parametrize("eps", [0.02, 0.05])
def test_no_certified_sample_is_broken_by_pgd(network, eps):
    module, graph, x, y = network
    broken = pgd_broken(module, x, y, eps)
    for method in ("ibp", "crown"):
        cert = certify(graph, x, y, eps, lo=0.0, hi=1.0, method=method)
        assert not (cert.certified & broken).any(), method
        assert (cert.worst <= cert.margins.amin(1)).all()


def test_certifies_at_a_small_eps_and_crown_proves_what_ibp_does(network):
    _, graph, x, y = network
    ibp = certify(graph, x, y, 0.01, lo=0.0, hi=1.0, method="ibp")
    crown = certify(graph, x, y, 0.01, lo=0.0, hi=1.0, method="crown")
    assert crown.count > 0.5 * SAMPLES
    assert crown.count >= ibp.count
    assert (crown.worst >= ibp.worst - 1e-9).float().mean() > 0.95


def test_zero_eps_certifies_exactly_the_correct_predictions(network):
    module, graph, x, y = network
    with torch.no_grad():
        logits = module.double()(x.double())
    module.float()
    cert = certify(graph, x, y, 0.0, method="crown")
    clean_margin = logits.gather(1, y[:, None]) - logits
    clean_margin[torch.arange(len(y)), y] = float("inf")
    torch.testing.assert_close(cert.worst, clean_margin.amin(1), atol=1e-4, rtol=1e-5)
    assert torch.equal(cert.certified, clean_margin.amin(1) > cert.tolerance)


def test_per_feature_eps_and_the_input_domain_only_shrink_the_box(network):
    _, graph, x, y = network
    scalar = certify(graph, x, y, 0.03, method="crown")
    border = torch.zeros(1, 8, 8, dtype=torch.float64)
    border[:, 2:6, 2:6] = 0.03  # only the centre of the image may move
    feature = certify(graph, x, y, border, method="crown")
    clipped = certify(graph, x, y, 0.03, lo=0.0, hi=1.0, method="crown")
    assert (feature.worst >= scalar.worst - 1e-9).all()
    assert (clipped.worst >= scalar.worst - 1e-9).all()
    assert feature.count >= scalar.count and clipped.count >= scalar.count


def test_chunking_does_not_change_the_bounds(network):
    _, graph, x, y = network
    whole = certify(graph, x[:20], y[:20], 0.02, lo=0.0, hi=1.0)
    chunked = certify(graph, x[:20], y[:20], 0.02, lo=0.0, hi=1.0, max_elements=50_000)
    torch.testing.assert_close(whole.margins, chunked.margins)
