"""Device placement of PyTorch models, tested on the CPU device (CI has no GPU)."""

from __future__ import annotations

import pytest
import torch

from robustcheck.backends.devices import torch_device
from robustcheck.backends.loader import load_backend
from robustcheck.cli import main
from robustcheck.errors import RuntimeEnvironmentError

DEVICES = ["cpu", *(["cuda"] if torch.cuda.is_available() else [])]


@pytest.mark.parametrize(
    ("requested", "cuda_available", "expected"),
    [
        ("cpu", False, "cpu"),
        ("cpu", True, "cpu"),
        ("auto", False, "cpu"),
        ("auto", True, "cuda"),
        ("cuda", True, "cuda"),
    ],
)
def test_requested_device_resolves_against_the_machine(requested, cuda_available, expected):
    assert torch_device(requested, cuda_available).type == expected


def test_cuda_without_a_gpu_is_an_environment_error():
    with pytest.raises(RuntimeEnvironmentError, match="--device cuda") as caught:
        torch_device("cuda", cuda_available=False)
    assert int(caught.value.exit_code) == 5


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("fmt", ["torchscript", "pt2"])
def test_torch_programs_run_where_asked(device, fmt, cnn_model, digits):
    path = cnn_model.torchscript if fmt == "torchscript" else cnn_model.pt2
    backend = load_backend(path, device=device)
    assert backend.device.type == device and backend.info.device == device
    x = torch.from_numpy(digits.x_test[:8]).to(backend.device)
    scores = backend.scores(x)
    leaf = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(backend.forward(leaf).sum(), leaf)
    assert scores.device == x.device and grad.device == x.device
    expected = cnn_model.module(torch.from_numpy(digits.x_test[:8])).double()
    assert torch.allclose(scores.cpu(), expected, atol=1e-5)


def test_scan_on_cuda_without_a_gpu_exits_5(capsys, cnn_model, digits_npz):
    code = main(
        ["scan", str(cnn_model.torchscript), "--data", str(digits_npz), "--eps", "0.1",
         "--device", "cuda", "--limit", "20"]
    )  # fmt: skip
    err = capsys.readouterr().err
    if torch.cuda.is_available():
        assert code in (0, 1), err
    else:
        assert code == 5 and "--device cuda" in err and len(err.strip().splitlines()) == 1
