"""robustcheck harden on real digits models: the acceptance criteria of issue 14."""

from __future__ import annotations

import hashlib
from pathlib import Path

import onnx
import pytest

from robustcheck.cli import main
from robustcheck.engine.config import ScanConfig
from robustcheck.engine.runner import run as scan
from robustcheck.harden import HardenConfig, harden


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _error(report, attack: str, eps: float) -> float:
    return next(r for r in report.results if r.attack == attack and r.eps == eps)


@pytest.mark.slow
def test_fgsm_training_halves_fgsm_error_and_lowers_pgd_error(mlp, tmp_path):
    before = _sha(mlp.onnx)
    out = tmp_path / "hardened.onnx"
    report = harden(
        HardenConfig(
            model=mlp.onnx, data=mlp.train, val=mlp.test, output=out, eps=0.1, epochs=5, lr=0.02
        )
    )
    fgsm = _error(report.before, "fgsm", 0.1), _error(report.after, "fgsm", 0.1)
    pgd = _error(report.before, "pgd", 0.1), _error(report.after, "pgd", 0.1)
    assert fgsm[1].adversarial_error_rate <= fgsm[0].adversarial_error_rate / 2
    assert pgd[1].adversarial_error_rate < pgd[0].adversarial_error_rate
    assert fgsm[1].clean_error_rate - fgsm[0].clean_error_rate <= 0.03
    assert report.verdict == "pass" and report.exit_code == 0
    assert {(r.attack, r.eps) for r in report.rows} >= {("fgsm", 0.1), ("pgd", 0.1), ("noise", 0.1)}
    assert _sha(mlp.onnx) == before  # the input is only read

    # ONNX in, ONNX out: same graph, same opset, same signature, only new weights.
    original, hardened = onnx.load(str(mlp.onnx)), onnx.load(str(out))
    assert [(n.op_type, list(n.input), list(n.output)) for n in hardened.graph.node] == [
        (n.op_type, list(n.input), list(n.output)) for n in original.graph.node
    ]
    assert list(hardened.opset_import) == list(original.opset_import)
    assert hardened.graph.input == original.graph.input
    assert hardened.graph.output == original.graph.output
    assert [i.name for i in hardened.graph.initializer] == [
        i.name for i in original.graph.initializer
    ]
    assert hardened.graph.initializer != original.graph.initializer
    assert report.write_back.max_abs_probability_difference <= 1e-4
    assert report.after.fidelity.trusted
    rescan = scan(ScanConfig(model=out, data=mlp.test, eps=[0.1], isolate=False))
    assert rescan.verdict == "pass"


@pytest.mark.parametrize("fmt", ["torchscript", "pt2", "onnx"])
def test_each_format_round_trips_and_is_deterministic(fmt, mlp, linear_model, tmp_path):
    model = {"torchscript": mlp.torchscript, "pt2": linear_model.pt2, "onnx": mlp.onnx}[fmt]
    outputs = []
    for name in ("a", "b"):
        out = tmp_path / f"{name}{model.suffix}"
        report = harden(
            HardenConfig(model=model, data=mlp.test, output=out, eps=0.1, epochs=1, lr=0.01, seed=3)
        )
        assert report.write_back.max_abs_probability_difference <= 1e-4
        assert report.output_sha256 == _sha(out) != _sha(model)
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]  # same seed, byte-identical weights


def test_pgd_training_is_gated_on_its_own_attack(mlp, tmp_path):
    report = harden(
        HardenConfig(
            model=mlp.onnx,
            data=mlp.test,
            output=tmp_path / "h.onnx",
            eps=0.1,
            epochs=1,
            lr=0.01,
            attack="pgd:steps=3,early_stop=false",
        )
    )
    assert report.gate.attack == "pgd-train"
    assert {r.attack for r in report.rows} >= {"fgsm", "pgd", "pgd-train"}


def test_checkpoint_resumes_an_interrupted_run(mlp, tmp_path):
    def config(out: Path) -> HardenConfig:
        return HardenConfig(
            model=mlp.onnx,
            data=mlp.test,
            output=out,
            eps=0.1,
            epochs=2,
            lr=0.01,
            batch_size=128,
            checkpoint=tmp_path / "state.ckpt",
        )

    class Interrupted(Exception):
        pass

    def stop_in_epoch_two(done: int, total: int) -> None:
        if done > total // 2:
            raise Interrupted

    with pytest.raises(Interrupted):
        harden(config(tmp_path / "x.onnx"), progress=stop_in_epoch_two)
    assert not (tmp_path / "x.onnx").exists()
    resumed = harden(config(tmp_path / "resumed.onnx"))
    assert resumed.resumed_from_epoch == 1
    (tmp_path / "state.ckpt").unlink()
    straight = harden(config(tmp_path / "straight.onnx"))
    assert straight.resumed_from_epoch is None
    assert (tmp_path / "resumed.onnx").read_bytes() == (tmp_path / "straight.onnx").read_bytes()
    assert [h.val_fgsm_error for h in resumed.history] == [
        h.val_fgsm_error for h in straight.history
    ]


def test_a_model_that_does_not_improve_fails_the_gate(mlp, tmp_path, capsys):
    code = main(
        [
            "harden", str(mlp.onnx), "--data", str(mlp.test), "--eps", "0.1", "--epochs", "1",
            "--lr", "1e-12", "-o", str(tmp_path / "h.onnx"), "--json", str(tmp_path / "h.json"),
        ]
    )  # fmt: skip
    assert code == 1
    assert "FAIL: fgsm error at ε=0.1 did not fall" in capsys.readouterr().out
    assert '"verdict": "fail"' in (tmp_path / "h.json").read_text()
