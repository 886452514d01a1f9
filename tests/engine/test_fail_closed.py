"""The false-PASS traps: each is refused with an explanation, never scored as robust."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from robustcheck.cli import main
from robustcheck.engine.config import ScanConfig
from robustcheck.engine.runner import run
from robustcheck.errors import MeasurementError


class InputRounding(torch.nn.Module):
    """Quantises its input to 16 grey levels first: the gradient is zero everywhere."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(torch.round(x * 16) / 16)


class SaturatedSoftmax(torch.nn.Module):
    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.inner(x) * 1000.0, dim=1)


class TiedTopTwo(torch.nn.Module):
    """Depends on the input, but classes 0 and 1 always tie for first place."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.reshape(x.shape[0], -1).sum(dim=1, keepdim=True)
        return torch.cat([s + 100, s + 100, s.expand(-1, 8)], dim=1)


class Constant(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros(x.shape[0], 10) + x.reshape(x.shape[0], -1)[:, :10] * 0


class NaNLogits(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], -1)[:, :10] * float("nan")


class Noisy(torch.nn.Module):
    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.inner(x)
        return out + torch.rand_like(out)


def _save(module: torch.nn.Module, path, scripted: bool = False):
    module = module.eval()
    saved = (
        torch.jit.script(module)
        if scripted
        else torch.jit.trace(module, torch.rand(2, 1, 8, 8), check_trace=False)
    )
    torch.jit.save(saved, str(path))
    return path


TRAPS = {
    "input_rounding": (lambda lin: InputRounding(lin), "gradient is exactly zero"),
    "saturated_softmax": (lambda lin: SaturatedSoftmax(lin), "gradient is exactly zero"),
    "tied_logits": (lambda lin: TiedTopTwo(), "tie exactly"),
    "constant_logits": (lambda lin: Constant(), "does not depend on the input"),
    "nan_logits": (lambda lin: NaNLogits(), "NaN or Inf"),
    "nondeterministic": (lambda lin: Noisy(lin), "not deterministic"),
}


@pytest.mark.parametrize("trap", sorted(TRAPS))
def test_trap_is_refused_with_an_explanation(trap, linear_model, digits_npz, tmp_path, capsys):
    build, explanation = TRAPS[trap]
    path = _save(build(linear_model.module), tmp_path / f"{trap}.pt")
    with pytest.raises(MeasurementError, match=explanation):
        run(ScanConfig(model=path, data=digits_npz, eps=[0.1]))
    report = tmp_path / "r.json"
    code = main(
        [
            "scan",
            str(path),
            "--data",
            str(digits_npz),
            "--eps",
            "0.1",
            "--policy",
            "builtin:default",
            "--json",
            str(report),
        ]
    )
    captured = capsys.readouterr()
    assert code == 3 and "PASS" not in captured.out
    assert '"complete": false' in report.read_text()
    if explanation == "gradient is exactly zero":  # what still measures such a model
        assert "--attack square" in captured.err, captured.err


def test_fragile_samples_are_counted(linear_model, digits_npz):
    report = run(ScanConfig(model=linear_model.torchscript, data=digits_npz, eps=[0.1]))
    assert report.stability is not None
    assert report.stability.tied_samples == 0
    assert 0 <= report.stability.fragile_samples < 10


def test_two_scans_give_byte_identical_json_apart_from_time(
    cnn_model, digits_npz, tmp_path, capsys
):
    import json

    outputs = []
    for name in ("a.json", "b.json"):
        assert (
            main(
                [
                    "scan",
                    str(cnn_model.torchscript),
                    "--data",
                    str(digits_npz),
                    "--eps",
                    "0.1",
                    "--eps",
                    "0.2",
                    "--json",
                    str(tmp_path / name),
                    "--report-only",
                ]
            )
            == 0
        )
        data = json.loads((tmp_path / name).read_text())
        data.pop("started_at"), data.pop("duration_s")
        outputs.append(json.dumps(data, sort_keys=True))
    capsys.readouterr()
    assert outputs[0] == outputs[1]
    assert np.isfinite(json.loads(outputs[0])["results"][0]["adversarial_error_rate"])
