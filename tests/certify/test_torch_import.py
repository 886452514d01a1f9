"""One network, four routes into the bound graph: the TorchScript-based and the dynamo ONNX
exporters, a TorchScript file and a torch.export (.pt2) file give the same certificates."""

from __future__ import annotations

import io

import onnx
import pytest
import torch

from robustcheck.certify import certify, from_onnx, from_torch
from robustcheck.errors import UnsupportedModelError

SAMPLES = 100
EPS = 0.02


def _dynamo_onnx(module: torch.nn.Module, example: torch.Tensor) -> onnx.ModelProto:
    batch = torch.export.Dim("batch")
    program = torch.onnx.export(
        module, (example,), dynamo=True, dynamic_shapes=({0: batch},), verbose=False
    )
    buffer = io.BytesIO()
    program.save(buffer)
    return onnx.load_from_string(buffer.getvalue())


@pytest.mark.parametrize("name", ["cnn_model", "linear_model"])
def test_every_route_gives_the_same_certificate(name, request, digits):
    saved = request.getfixturevalue(name)
    x = torch.from_numpy(digits.x_test[:SAMPLES])
    y = torch.from_numpy(digits.y_test[:SAMPLES])
    graphs = {
        "torchscript exporter": from_torch(saved.module, x[:2]),
        "dynamo exporter": from_onnx(_dynamo_onnx(saved.module, x[:2]), (1, 8, 8)),
        "TorchScript file": from_torch(torch.jit.load(str(saved.torchscript)), x[:2]),
        ".pt2 file": from_torch(torch.export.load(str(saved.pt2)), x[:2]),
    }
    certificates = {
        route: certify(g, x, y, EPS, lo=0.0, hi=1.0, method="crown") for route, g in graphs.items()
    }
    reference = certificates["torchscript exporter"]
    assert reference.count > 0
    for route, cert in certificates.items():
        assert cert.count == reference.count, route
        torch.testing.assert_close(cert.worst, reference.worst, atol=1e-6, rtol=1e-6)


def test_a_model_that_cannot_be_exported_or_bounded_is_an_unsupported_model():
    class DataDependent(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.nonzero().float().sum() * x

    with pytest.raises(UnsupportedModelError):
        from_torch(DataDependent(), torch.ones(2, 3))
