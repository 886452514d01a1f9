"""Transfer attacks: perturbations crafted on a surrogate, scored on the target's runtime."""

from __future__ import annotations

import json

import _onnx_zoo as zoo
import numpy as np
import pytest
import torch

from robustcheck.cli import main
from robustcheck.engine.config import ScanConfig
from robustcheck.engine.runner import run
from robustcheck.files import file_sha256
from robustcheck.reports import html, markdown, summary

EPS = [0.1, 0.2]


def _cnn() -> torch.nn.Module:
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 8, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(8 * 4 * 4, 32),
        torch.nn.ReLU(),
        torch.nn.Linear(32, 10),
    )


@pytest.fixture(scope="module")
def pair(digits, cnn_model, tmp_path_factory):
    """The digits CNN deployed as ONNX (the target) and a CNN trained from another seed (the
    surrogate, TorchScript)."""
    root = tmp_path_factory.mktemp("transfer")
    torch.manual_seed(7)
    module = _cnn()
    opt = torch.optim.Adam(module.parameters(), lr=0.01)
    x, y = torch.from_numpy(digits.x_train), torch.from_numpy(digits.y_train)
    for _ in range(120):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(module(x), y).backward()
        opt.step()
    module.eval()
    example = torch.from_numpy(digits.x_test[:4])
    surrogate = root / "surrogate.pt"
    torch.jit.save(torch.jit.trace(module, example), str(surrogate))
    target = zoo.export_onnx(cnn_model.module, example, root / "target.onnx", "torchscript-17")
    data = root / "digits.npz"
    np.savez(data, x=digits.x_test[:300], y=digits.y_test[:300])
    return target, surrogate, data, root


def _flipped(report, attack):
    return {
        r.eps: r.adversarial_errors - (r.n - r.clean_correct)
        for r in report.results
        if r.attack == attack
    }


def test_transfer_error_is_well_above_noise_and_below_white_box(pair):
    target, surrogate, data, _ = pair
    white = run(ScanConfig(model=target, data=data, eps=EPS))
    transfer = run(ScanConfig(model=target, data=data, eps=EPS, surrogate=surrogate))
    print("white-box", _flipped(white, "fgsm"), "transfer", _flipped(transfer, "fgsm"),
          "noise", _flipped(transfer, "noise"), transfer.fidelity)  # fmt: skip
    assert _flipped(transfer, "noise") == _flipped(white, "noise")  # the same target, same noise
    for eps in EPS:
        noise = _flipped(transfer, "noise")[eps]
        crafted = _flipped(transfer, "fgsm")[eps]
        assert crafted >= 3 * noise + 10, (eps, crafted, noise)
        assert crafted < _flipped(white, "fgsm")[eps], (eps, crafted, _flipped(white, "fgsm"))


def test_the_report_names_the_surrogate_and_calls_the_comparison_agreement(pair):
    target, surrogate, data, _ = pair
    report = run(ScanConfig(model=target, data=data, eps=[0.1], surrogate=surrogate))
    assert report.model.path == str(target) and report.model.format == "onnx"
    assert report.model.surrogate.path == str(surrogate)
    assert report.model.surrogate.sha256 == file_sha256(surrogate)
    assert report.model.surrogate.format == "torchscript"
    assert report.fidelity.paths == "surrogate-vs-target"
    assert report.fidelity.trusted and report.verdict != "error"
    assert 0.8 < report.fidelity.clean_top1_agreement < 1.0
    checks = {c.name: c for c in report.validity.checks}
    assert checks["transfer_upper_bound"].status == "ok"
    assert "upper bound valid for this surrogate only" in checks["transfer_upper_bound"].reason
    assert "twin_agrees_on_adversarial_inputs" not in checks
    assert any(w.startswith("transfer attack:") for w in report.warnings)
    white = run(ScanConfig(model=target, data=data, eps=[0.1]))
    assert "surrogate" not in white.model_dump(mode="json")["model"]
    for rendered in (summary.render(report), markdown.render(report), html.render(report)):
        assert "surrogate.pt" in rendered
        assert "transfer attack, not a fidelity" in rendered


def test_scores_are_compared_in_the_targets_kind(pair, cnn_model):
    """A probability-output target attacked through a logit surrogate: the surrogate's scores
    become probabilities, the loss is the one a white-box scan of that target follows, and the
    counts stay close to those of the logit version of the same target."""
    _, surrogate, data, root = pair
    probabilities = torch.nn.Sequential(cnn_model.module, torch.nn.Softmax(dim=1)).eval()
    softmax_target = root / "softmax.pt"
    example = torch.from_numpy(np.load(data)["x"][:4])
    torch.jit.save(torch.jit.trace(probabilities, example), str(softmax_target))
    logits = run(ScanConfig(model=cnn_model.torchscript, data=data, eps=EPS, surrogate=surrogate))
    probs = run(ScanConfig(model=softmax_target, data=data, eps=EPS, surrogate=surrogate))
    assert probs.model.output_kind == "probabilities" and logits.model.output_kind == "logits"
    assert probs.fidelity.clean_top1_agreement == logits.fidelity.clean_top1_agreement
    for p, lg in zip(probs.results, logits.results, strict=True):
        assert abs(p.adversarial_errors - lg.adversarial_errors) <= 0.03 * p.n, (p, lg)


def test_cli_transfer_scan_and_a_surrogate_with_other_classes(pair, tmp_path, capsys):
    target, surrogate, data, _ = pair
    report = tmp_path / "r.json"
    args = ["scan", str(target), "--data", str(data), "--eps", "0.1", "--no-isolation"]
    assert (
        main([*args, "--surrogate", str(surrogate), "--max-error-rate", "1", "--json", str(report)])
        == 0
    )
    assert json.loads(report.read_text())["model"]["surrogate"]["path"] == str(surrogate)
    assert "surrogate" in capsys.readouterr().out
    five = tmp_path / "five.pt"
    torch.jit.save(
        torch.jit.trace(
            torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 5)), torch.zeros(2, 1, 8, 8)
        ),
        str(five),
    )
    assert main([*args, "--surrogate", str(five)]) == 3
    assert "the surrogate scores 5 classes" in capsys.readouterr().err


def test_the_surrogate_can_be_set_in_the_project_configuration(pair, tmp_path, monkeypatch):
    target, surrogate, data, _ = pair
    project = tmp_path / "project"
    project.mkdir()
    (project / "robustcheck.yaml").write_text(
        f"model: {target}\ndata: {data}\neps: [0.1]\nsurrogate: {surrogate}\n"
        "max-error-rate: 1\njson: r.json\n"
    )
    monkeypatch.chdir(project)
    assert main(["scan", "--no-isolation"]) == 0
    assert json.loads((project / "r.json").read_text())["model"]["surrogate"]["sha256"] == (
        file_sha256(surrogate)
    )


def test_a_sharded_transfer_scan_with_per_feature_eps_merges_to_the_whole(pair):
    from robustcheck.execution.shards import Shard, merge_parts, run_shard

    target, surrogate, data, _ = pair
    config = ScanConfig(
        model=target,
        data=data,
        eps=[0.5],
        eps_units="std",
        surrogate=surrogate,
        attacks=["fgsm", "pgd:steps=2"],
        limit=60,
        batch_size=16,
        isolate=False,
    )
    whole = run(config)
    parts = [run_shard(config, Shard(i, 3)) for i in range(1, 4)]
    merged = merge_parts([(f"p{p.shard}", p) for p in parts])
    timings = {"started_at", "duration_s", "shards"}
    assert {k: v for k, v in json.loads(merged.model_dump_json()).items() if k not in timings} == {
        k: v for k, v in json.loads(whole.model_dump_json()).items() if k not in timings
    }
    assert merged.model.surrogate is not None and merged.input.eps_scale is not None


def _rounding_target(path, weights: np.ndarray, bias: np.ndarray):
    """The digits linear classifier reading its pixels rounded to quarters: onnxruntime scores it,
    but no gradient flows through the Round, so it loads query-only."""
    from onnx import TensorProto, helper, numpy_helper

    nodes = [
        helper.make_node("Mul", ["x", "four"], ["scaled"]),
        helper.make_node("Round", ["scaled"], ["steps"], name="quantise"),
        helper.make_node("Div", ["steps", "four"], ["rounded"]),
        helper.make_node("Flatten", ["rounded"], ["flat"]),
        helper.make_node("MatMul", ["flat", "W"], ["scores"]),
        helper.make_node("Add", ["scores", "B"], ["logits"]),
    ]
    graph = helper.make_graph(
        nodes,
        "rounding",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])],
        initializer=[
            numpy_helper.from_array(weights.astype(np.float32), "W"),
            numpy_helper.from_array(bias.astype(np.float32), "B"),
            numpy_helper.from_array(np.array(4.0, np.float32), "four"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    path.write_bytes(model.SerializeToString())
    return path


def _warnings(argv, report, capsys) -> list[str]:
    code = main([*argv, "--json", str(report), "--exit-zero"])
    assert code == 0, capsys.readouterr().err
    capsys.readouterr()
    return json.loads(report.read_text())["warnings"]


def test_what_ran_instead_of_a_gradient_is_said_truly_in_every_combination(
    pair, linear_model, tmp_path, capsys
):
    target, surrogate, data, _ = pair
    layer = linear_model.module[1]
    rounding = _rounding_target(
        tmp_path / "rounding.onnx", layer.weight.detach().numpy().T, layer.bias.detach().numpy()
    )
    report = tmp_path / "r.json"
    spsa = ["--attack", "spsa:queries=100"]
    no_path = f"{rounding} has no gradient path (no gradient flows from input 'x'"

    # Query-only: no gradient anywhere, so only runtime queries ran.
    argv = ["scan", str(rounding), "--data", str(data), "--eps", "0.1", *spsa]
    (note,) = [w for w in _warnings(argv, report, capsys) if "no gradient path" in w]
    assert note.startswith(no_path) and "'quantise' (Round)" in note
    assert "only attacks that query the deployed runtime ran" in note

    # Transfer onto the same target: FGSM followed the surrogate's gradient; nothing claims
    # that only runtime queries ran.
    argv = ["scan", str(rounding), "--data", str(data), "--eps", "0.1", "--surrogate"]
    argv += [str(surrogate), "--attack", "fgsm", *spsa]
    warnings = _warnings(argv, report, capsys)
    assert not any("only attacks that query" in w for w in warnings), warnings
    (note,) = [w for w in warnings if "no gradient path" in w]
    assert note.startswith(no_path)
    assert f"the gradient attacks followed the surrogate {surrogate}'s gradient" in note
    assert json.loads(report.read_text())["methods"][0]["method"] == "surrogate-gradient"

    # White-box, and a transfer scan of a target that has a twin: no such note at all.
    for extra in ([], ["--surrogate", str(surrogate)]):
        argv = ["scan", str(target), "--data", str(data), "--eps", "0.1", *extra]
        assert not any("gradient path" in w for w in _warnings(argv, report, capsys))
