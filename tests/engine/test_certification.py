"""``--certify`` in a scan (robustcheck.engine.certification): certified accuracy beside the
attacks' robust accuracy, never above it, the same from every model format; the policy's
``certify:`` rules gate on it; what cannot be certified is refused naming what blocks it."""

from __future__ import annotations

import json
import warnings

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from robustcheck.cli import main
from robustcheck.engine.certification import _check_sound
from robustcheck.engine.config import ScanConfig
from robustcheck.engine.runner import run
from robustcheck.errors import InternalError
from robustcheck.settings import ScanSettings

EPS = [0.01, 0.03]
LIMIT = 120


def _scan(model, data, method, **settings):
    config = ScanConfig(
        model=model, data=data, eps=EPS, certify=method, limit=LIMIT,
        attacks=["fgsm", "pgd:steps=10"], **settings,
    )  # fmt: skip
    return run(config)


def _certified(report) -> dict[float, int]:
    assert report.certification is not None
    return {r.eps: r.certified for r in report.certification.results}


@pytest.fixture(scope="module")
def cnn_onnx(cnn_model, tmp_path_factory):
    path = tmp_path_factory.mktemp("certify") / "cnn.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            cnn_model.module, (torch.zeros(2, 1, 8, 8),), str(path), dynamo=False,
            input_names=["x"], dynamic_axes={"x": {0: "n"}},
        )  # fmt: skip
    return path


def test_certified_accuracy_brackets_robust_accuracy_and_crown_beats_ibp(cnn_model, digits_npz):
    crown = _scan(cnn_model.pt2, digits_npz, "crown")
    ibp = _scan(cnn_model.pt2, digits_npz, "ibp")
    section = crown.certification
    assert section is not None and section.method == "crown"
    for row in section.results:
        pgd = next(r for r in crown.results if r.attack == "pgd" and r.eps == row.eps)
        assert row.n == LIMIT
        assert row.certified_accuracy <= row.attacked_robust_accuracy
        assert row.attacked_robust_accuracy <= 1 - pgd.adversarial_error_rate + 1e-12
        assert row.gap == pytest.approx(row.attacked_robust_accuracy - row.certified_accuracy)
    assert _certified(crown)[0.01] > 0.8 * LIMIT
    assert all(_certified(crown)[e] >= _certified(ibp)[e] for e in EPS)
    assert _certified(crown)[0.03] > _certified(ibp)[0.03]
    # The attacks' own numbers do not depend on whether the scan certified.
    plain = run(ScanConfig(model=cnn_model.pt2, data=digits_npz, eps=EPS, limit=LIMIT,
                           attacks=["fgsm", "pgd:steps=10"]))  # fmt: skip
    assert plain.certification is None
    assert [r.adversarial_errors for r in plain.results] == [
        r.adversarial_errors for r in crown.results
    ]


def test_onnx_torchscript_and_pt2_certify_the_same_samples(cnn_model, cnn_onnx, digits_npz):
    counts = {
        str(path): _certified(_scan(path, digits_npz, "crown"))
        for path in (cnn_onnx, cnn_model.torchscript, cnn_model.pt2)
    }
    assert len({tuple(c.items()) for c in counts.values()}) == 1, counts


def test_the_policy_turns_certification_on_and_gates_on_it(cnn_onnx, digits_npz, tmp_path, capsys):
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "version: 1\ncertify:\n  method: ibp\n  min_certified_accuracy: 0.99\n  eps: [0.03]\n"
    )
    out = tmp_path / "report.json"
    argv = [
        "scan", str(cnn_onnx), "--data", str(digits_npz), "--eps", "0.01", "--limit", "60",
        "--policy", str(policy), "--json", str(out), "--no-isolation",
    ]  # fmt: skip
    assert main(argv) == 1
    report = json.loads(out.read_text())
    assert report["certification"]["method"] == "ibp"
    assert [r["eps"] for r in report["certification"]["results"]] == [0.01, 0.03]  # ε added
    (check,) = [c for c in report["checks"] if c["rule"] == "min_certified_accuracy"]
    assert check["status"] == "fail" and check["eps"] == 0.03
    assert "FAIL   certified (ibp) eps=0.03: certified accuracy" in capsys.readouterr().out


def _erf_model(path):
    weight = numpy_helper.from_array(np.full((64, 10), 0.01, np.float32), "w")
    graph = helper.make_graph(
        [
            helper.make_node("Flatten", ["x"], ["flat"], name="flatten"),
            helper.make_node("MatMul", ["flat", "w"], ["h"], name="dense"),
            helper.make_node("Erf", ["h"], ["y"], name="gelu_erf"),
        ],
        "erf", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 1, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 10])], initializer=[weight],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.save(model, path)
    return path


def test_a_model_with_an_op_without_bound_rule_is_refused_naming_the_node(
    tmp_path, digits_npz, capsys
):
    model = _erf_model(tmp_path / "erf.onnx")
    argv = ["scan", str(model), "--data", str(digits_npz), "--eps", "0.1", "--certify"]
    assert main([*argv, "--no-isolation"]) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "gelu_erf" in err and "Erf" in err, err
    assert main(["inspect", str(model)]) == 0
    assert "cannot certify (--certify):" in capsys.readouterr().out


def test_a_certified_sample_an_attack_fooled_is_an_internal_error():
    proven = np.array([False, True, True])
    with pytest.raises(InternalError, match=r"sample 11 is certified at ε=0.1 but pgd fooled"):
        _check_sound(proven, {("pgd", 0.1): np.array([True, True, False])}, 0.1, first=10)
    _check_sound(proven, {("pgd", 0.2): np.array([True, True, True])}, 0.1, first=10)


@pytest.mark.parametrize(
    ("given", "expected"), [("crown", "crown"), ("ibp", "ibp"), ("off", "off")]
)
def test_the_setting_names_the_method(given, expected):
    assert ScanSettings.model_validate({"certify": given}).certify == expected


def test_bare_certify_flag_is_crown(cnn_onnx, digits_npz, tmp_path):
    out = tmp_path / "r.json"
    argv = [
        "scan", str(cnn_onnx), "--data", str(digits_npz), "--eps", "0.01", "--limit", "40",
        "--certify", "--json", str(out), "--no-isolation", "--exit-zero",
    ]  # fmt: skip
    assert main(argv) == 0
    assert json.loads(out.read_text())["certification"]["method"] == "crown"


class _Denormalised(torch.nn.Module):
    """The CNN behind its own de-normalisation: fed ``(x - 0.5) / 0.25`` it computes ``cnn(x)``."""

    def __init__(self, cnn: torch.nn.Module) -> None:
        super().__init__()
        self.cnn = cnn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cnn(x * 0.25 + 0.5)


def test_mean_and_std_outside_the_model_map_the_box_exactly(cnn_model, digits_npz, tmp_path):
    """Normalisation given with --mean/--std is applied to the box: the same network, scanned
    on raw data, certifies the same samples whether it normalises itself or is told to."""
    path = tmp_path / "denormalised.pt2"
    module = _Denormalised(cnn_model.module).eval()
    program = torch.export.export(
        module, (torch.zeros(2, 1, 8, 8),), dynamic_shapes=({0: torch.export.Dim("batch")},)
    )
    torch.export.save(program, str(path))
    for method in ("ibp", "crown"):
        told = _certified(_scan(path, digits_npz, method, mean=[0.5], std=[0.25]))
        itself = _certified(_scan(cnn_model.pt2, digits_npz, method))
        if method == "ibp":  # interval arithmetic: the same boxes, the same bounds
            assert told == itself
        else:  # CROWN's lower ReLU slope follows |l| vs u, a tie the extra affine op can tip
            assert all(abs(told[e] - itself[e]) <= 1 for e in EPS), (told, itself)


def test_a_model_hardened_by_robustcheck_is_certified_below_its_attacked_accuracy(
    cnn_model, digits, digits_npz, tmp_path
):
    """The digits CNN fine-tuned by `robustcheck harden` (FGSM training at ε = 0.1), as a
    team would gate it after hardening: certified at small ε, never above the attacks."""
    from robustcheck.harden import HardenConfig, harden

    train, out = tmp_path / "train.npz", tmp_path / "hardened.pt"
    np.savez(train, x=digits.x_train, y=digits.y_train)
    harden(
        HardenConfig(
            model=cnn_model.torchscript, data=train, val=digits_npz, output=out, eps=0.1,
            epochs=2, lr=0.01, report_attacks=["fgsm"],
        )
    )  # fmt: skip
    report = _scan(out, digits_npz, "crown")
    assert report.certification is not None
    for row in report.certification.results:
        assert 0 < row.certified <= row.n
        assert row.certified_accuracy <= (row.attacked_robust_accuracy or 0.0)


def test_a_spent_time_limit_leaves_samples_not_attempted_never_refuted(cnn_model, digits_npz):
    """With 64-sample batches and no time to spare, the first batch certifies its first ε and
    every later one is reported not attempted (the rule on it then fails: not proven)."""
    report = _scan(cnn_model.pt2, digits_npz, "crown", certify_time_limit=1e-9, batch_size=64)
    section = report.certification
    assert section is not None
    first, second = section.results
    assert first.not_attempted == LIMIT - 64 and second.not_attempted == LIMIT
    assert 0 < first.certified <= 64 and second.certified == 0
    strongest = {r.eps: r for r in report.results if r.attack == first.strongest_attack}
    assert first.refuted == strongest[first.eps].adversarial_errors
    full = _scan(cnn_model.pt2, digits_npz, "crown", batch_size=64).certification
    assert full is not None and full.results[0].not_attempted == 0
    assert full.results[0].certified > first.certified
