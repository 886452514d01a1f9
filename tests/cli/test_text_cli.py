"""Text classifiers on the command line: flags, exit codes, one-line refusals; HotFlip runs
through --tokens."""

from __future__ import annotations

import json

import pytest
from onnx import TensorProto, helper, save

from robustcheck.cli import main
from robustcheck.engine.attack_plan import build_attacks
from robustcheck.engine.config import ScanConfig
from robustcheck.policy.schema import Policy


def _scan(capsys, *args):
    code = main(["scan", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_text_scan_with_a_tokenizer_and_token_budgets(capsys, text_zoo, tmp_path):
    report = tmp_path / "report.json"
    code, out, err = _scan(
        capsys, text_zoo.models["distilbert"].onnx, "--data", text_zoo.tokens_npz,
        "--tokenizer", text_zoo.tokenizer, "--eps", "0.05", "--tokens", "1", "--tokens", "2",
        "--json", report, "--exit-zero",
    )  # fmt: skip
    assert code == 0, err
    data = json.loads(report.read_text())
    assert [(r["attack"], r["eps"]) for r in data["results"]] == [
        ("fgsm", 0.05), ("hotflip", 1.0), ("hotflip", 2.0), ("noise", 0.05)
    ]  # fmt: skip
    for example in data["text_examples"]:
        assert example["original_text"].startswith("[CLS] ")
        assert 1 <= len(example["swaps"]) <= example["tokens"]
    assert "hotflip" in out


def test_a_model_without_an_embedding_lookup_is_refused_in_one_line(capsys, text_zoo, tmp_path):
    ids = helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["N", 4])
    mask = helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["N", 4])
    out = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 4])
    graph = helper.make_graph(
        [helper.make_node("Cast", ["input_ids"], ["logits"], to=TensorProto.FLOAT)],
        "counts", [ids, mask], [out],
    )  # fmt: skip
    path = tmp_path / "counts.onnx"
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    code, out, err = _scan(capsys, path, "--data", text_zoo.tokens_npz, "--eps", "0.1")
    assert code == 3
    (line,) = err.strip().splitlines()
    assert "integer inputs 'input_ids', 'attention_mask' but" in line, line
    assert "Gather" in line and "Traceback" not in err
    assert "PASS" not in out


def test_text_data_without_a_tokenizer_is_a_usage_error(capsys, text_zoo, tmp_path):
    data = tmp_path / "texts.jsonl"
    data.write_text('{"text": "good", "label": 1}\n')
    code, _, err = _scan(capsys, text_zoo.models["bert"].onnx, "--data", data, "--eps", "0.1")
    assert code == 2
    assert "--tokenizer" in err and len(err.strip().splitlines()) == 1


def test_the_report_states_eps_relative_to_the_embedding_table_s_spread(
    capsys, text_zoo, digits_npz, cnn_model, tmp_path
):
    """Structured, not only in a note: the table, its spread (median per-dimension std, computed
    here from the trained module) and every ε of the sweep divided by it."""
    import numpy as np

    model = text_zoo.models["distilbert"]
    report = tmp_path / "report.json"
    code, _, err = _scan(
        capsys, model.onnx, "--data", text_zoo.tokens_npz, "--eps", "0.05", "--eps", "0.2",
        "--json", report, "--exit-zero",
    )  # fmt: skip
    assert code == 0, err
    written = json.loads(report.read_text())
    assert written["schema_version"] == "1.8"
    embedding = written["input"]["embedding"]
    table = model.module.net.get_input_embeddings().weight.detach().double().numpy()
    spread = float(np.median(np.std(table, axis=0)))
    assert (embedding["vocab_size"], embedding["hidden"]) == table.shape
    assert embedding["table"] and abs(embedding["spread"] - spread) <= 1e-6 * spread
    assert embedding["eps_relative"] == [
        pytest.approx(0.05 / spread, rel=1e-6), pytest.approx(0.2 / spread, rel=1e-6)
    ]  # fmt: skip
    # An image model's report has no embedding section at all.
    code, _, err = _scan(
        capsys, cnn_model.torchscript, "--data", digits_npz, "--eps", "0.1", "--json", report,
        "--exit-zero",
    )  # fmt: skip
    assert code == 0, err
    assert "embedding" not in json.loads(report.read_text())["input"]


def test_hotflip_is_asked_for_with_tokens_not_attack(capsys, text_zoo):
    code, out, err = _scan(
        capsys, text_zoo.models["bert"].onnx, "--data", text_zoo.tokens_npz, "--eps", "0.1",
        "--attack", "hotflip",
    )  # fmt: skip
    assert code == 2
    (line,) = err.strip().splitlines()
    assert "--attack hotflip" in line and "not ε" in line and "--tokens K" in line, line
    assert "Traceback" not in err and "PASS" not in out


def test_plugins_lists_each_attack_with_its_budget_unit(capsys):
    assert main(["plugins"]) == 0
    rows = {line.split()[0]: line.split()[1:3] for line in capsys.readouterr().out.splitlines()}
    assert rows["hotflip"] == ["built-in", "tokens"]
    assert rows["fgsm"] == ["built-in", "eps"] and rows["overshoot"] == ["plugin", "eps"]


def test_a_policy_token_budget_runs_hotflip_once(text_zoo, tmp_path):
    """A token budget names hotflip; it runs through the token budgets, not a second time as an
    attack the policy names."""
    policy = Policy.model_validate(
        {"version": 1, "budgets": [{"tokens": 1, "max_attack_success_rate": 0.9}]}
    )
    config = ScanConfig(
        model=text_zoo.models["bert"].onnx, data=text_zoo.tokens_npz, eps=[0.1], tokens=[1],
        policy=policy, policy_source="test",
    )  # fmt: skip
    attacks, _ = build_attacks(config)
    assert [a.label for a in attacks] == ["fgsm", "hotflip", "noise"]
