"""Half-precision PyTorch models: scanned in their own dtype, gradients through the cast."""

from __future__ import annotations

import _onnx_zoo as zoo
import numpy as np
import pytest
import torch
from _onnx_zoo import export_onnx

from robustcheck.backends.loader import load_backend
from robustcheck.engine.config import ScanConfig
from robustcheck.engine.runner import run
from robustcheck.errors import UnsupportedModelError

EPS = [0.05, 0.15]


def _errors(report, attack="fgsm"):
    return {r.eps: r.adversarial_errors for r in report.results if r.attack == attack}


@pytest.fixture(scope="module")
def residual(digits, tmp_path_factory):
    """A ResNet basic-block CNN trained on digits, and 200 test samples.

    fp16 TorchScript and fp16 ONNX agreed within one sample for initialisation seeds 0-3 (the
    residue is onnxruntime's float16 kernels rounding otherwise than torch's)."""
    root = tmp_path_factory.mktemp("precision")
    torch.manual_seed(0)  # the initialisation: independent of the tests that ran before
    module = zoo.train_briefly(
        zoo.Residual(),
        torch.from_numpy(digits.x_train),
        torch.from_numpy(digits.y_train),
        steps=100,
    )
    data = root / "digits.npz"
    np.savez(data, x=digits.x_test[:200], y=digits.y_test[:200])
    return module, data, root


def _half(module: torch.nn.Module, dtype: torch.dtype) -> torch.nn.Module:
    copy = zoo.Residual()
    copy.load_state_dict(module.state_dict())
    return copy.to(dtype).eval()


def test_fp16_torchscript_scans_and_agrees_with_its_fp16_onnx_export(residual):
    module, data, root = residual
    half = _half(module, torch.float16)
    example = torch.from_numpy(np.load(data)["x"][:4]).half()
    ts = root / "fp16.pt"
    torch.jit.save(torch.jit.trace(half, example), str(ts))
    onnx_path = export_onnx(half, example, root / "fp16.onnx", "torchscript-17")

    backend = load_backend(ts)
    assert backend.info.input_dtype == "float16"
    assert any("computes in float16" in note for note in backend.info.notes)
    x = torch.from_numpy(np.load(data)["x"][:8]).to(torch.float64).requires_grad_(True)
    out = backend.forward(x)
    assert out.dtype == torch.float32
    (grad,) = torch.autograd.grad(out.sum(), x)
    assert grad.dtype == torch.float64 and bool(grad.abs().sum() > 0)

    ts_report = run(ScanConfig(model=ts, data=data, eps=EPS))
    onnx_report = run(ScanConfig(model=onnx_path, data=data, eps=EPS))
    assert ts_report.verdict == "pass", ts_report.warnings
    assert any("computes in float16" in w for w in ts_report.warnings)
    assert onnx_report.fidelity.trusted
    assert ts_report.fidelity.paths == "float32-copy-vs-module" and ts_report.fidelity.trusted
    print(_errors(ts_report), _errors(onnx_report), ts_report.fidelity)
    for eps, errors in _errors(onnx_report).items():
        assert abs(_errors(ts_report)[eps] - errors) <= 1, (
            _errors(ts_report),
            _errors(onnx_report),
        )
    assert _errors(ts_report)[0.15] > _errors(ts_report, "noise")[0.15]


def test_bf16_pt2_and_torchscript_scan_close_to_float32(residual):
    module, data, root = residual
    half = _half(module, torch.bfloat16)
    example = torch.from_numpy(np.load(data)["x"][:4]).to(torch.bfloat16)
    ts = root / "bf16.pt"
    torch.jit.save(torch.jit.trace(half, example), str(ts))
    pt2 = root / "bf16.pt2"
    program = torch.export.export(
        half, (example,), dynamic_shapes=({0: torch.export.Dim("batch")},)
    )
    torch.export.save(program, str(pt2))
    full = root / "fp32.pt"
    torch.jit.save(torch.jit.trace(module, example.float()), str(full))

    reference = _errors(run(ScanConfig(model=full, data=data, eps=EPS)))
    for path in (ts, pt2):
        report = run(ScanConfig(model=path, data=data, eps=EPS))
        print(path.name, _errors(report), reference, report.fidelity)
        assert report.fidelity.paths == "float32-copy-vs-module"
        assert report.fidelity.trusted, report.fidelity
        assert load_backend(path).info.input_dtype == "bfloat16"
        # bfloat16 keeps 8 bits of mantissa: close to float32, not equal.
        for eps, errors in _errors(report).items():
            assert abs(errors - reference[eps]) <= 0.05 * 200, (path, _errors(report), reference)


class _NoHalfKernel(torch.nn.Module):
    """Refuses float16 as a CPU operator without a float16 kernel does (torch's own message)."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype == torch.float16:
            raise RuntimeError("\"slow_conv3d_cpu\" not implemented for 'Half'")
        return self.linear(x.flatten(1))


def test_missing_half_kernel_is_refused_in_one_line_not_as_a_layout_problem(residual, tmp_path):
    _, data, _ = residual
    path = tmp_path / "nohalf.pt"
    torch.jit.save(torch.jit.script(_NoHalfKernel().half().eval()), str(path))
    with pytest.raises(
        UnsupportedModelError,
        match=r"computes in float16 and an operator has no float16 kernel on cpu",
    ):
        run(ScanConfig(model=path, data=data, eps=[0.1]))


def test_harden_refuses_a_half_precision_model(residual, tmp_path):
    from robustcheck.harden.params import open_trainable

    module, _, _ = residual
    path = tmp_path / "fp16.pt"
    half = _half(module, torch.float16)
    torch.jit.save(torch.jit.trace(half, torch.zeros(2, 1, 8, 8, dtype=torch.float16)), str(path))
    with pytest.raises(UnsupportedModelError, match="computes in float16; harden trains float32"):
        open_trainable(path)
