"""Reference scans whose JSON reports must not change across a refactor.

Writes nine reports — TorchScript, ONNX, --mean/--std, uint8 deployment, an fp16 ONNX model,
builtin:strict (FGSM + PGD-10), a text model with HotFlip, a transfer scan (--surrogate) and a
sharded scan merged by `report merge` — into OUT, each normalised (the tool's version, times and
durations, absolute paths), so that

    python bench/reference_reports.py before/   # on the old commit
    python bench/reference_reports.py after/    # on the new one
    diff -r before after

shows every change a refactor made to what users see. Everything runs through the CLI entry point
(``robustcheck.cli.main``), so the script survives any internal reorganisation. Models are
trained here from the bundled digits (and the tests' tiny BERT for the text scan), seeded.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from robustcheck.cli import demo_model, main  # noqa: E402

VOLATILE = {
    "started_at",
    "duration_s",
    "version",
    "robustcheck",
    "hostname",
    "python",
    "platform",
    "digest",
}


def _normalise(value: Any, work: str) -> Any:
    if isinstance(value, dict):
        return {
            k: ("<volatile>" if k in VOLATILE else _normalise(v, work)) for k, v in value.items()
        }
    if isinstance(value, list):
        return [_normalise(v, work) for v in value]
    if isinstance(value, str):
        return value.replace(work, "<work>")
    return value


def _models(work: Path) -> dict[str, Path]:
    torch.manual_seed(0)
    x_train, y_train, x_test, y_test = demo_model.digits_split()
    cnn = demo_model.train(demo_model.build_cnn(), x_train, y_train, epochs=40)
    other = demo_model.build_cnn()
    torch.manual_seed(1)
    for p in other.parameters():  # a second, differently initialised CNN: the surrogate
        p.data.normal_(0, 0.1)
    other = demo_model.train(other, x_train, y_train, epochs=40)
    example = torch.from_numpy(x_test[:2])
    files = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, module in (("cnn", cnn), ("surrogate", other)):
            torch.jit.save(torch.jit.trace(module, example), str(work / f"{name}.pt"))
            files[name] = work / f"{name}.pt"
        axes = {"input": {0: "batch"}, "scores": {0: "batch"}}
        torch.onnx.export(
            cnn, (example,), str(work / "cnn.onnx"), dynamo=False, opset_version=17,
            input_names=["input"], output_names=["scores"], dynamic_axes=axes,
        )  # fmt: skip
        torch.onnx.export(
            cnn.half(), (example.half(),), str(work / "cnn16.onnx"), dynamo=False,
            opset_version=17, input_names=["input"], output_names=["scores"], dynamic_axes=axes,
        )  # fmt: skip
    files["onnx"], files["onnx16"] = work / "cnn.onnx", work / "cnn16.onnx"
    np.savez(work / "test.npz", x=x_test[:300], y=y_test[:300])
    np.savez(work / "test16.npz", x=x_test[:300].astype(np.float16), y=y_test[:300])
    np.savez(work / "pixels.npz", x=np.round(x_test[:300] * 255).astype(np.float32), y=y_test[:300])
    return files


def _text(work: Path) -> tuple[Path, Path, Path]:
    import _textmodels as tm

    train, test = tm.make_task(600, seed=0), tm.make_task(48, seed=1)
    module = tm.train("bert", train)
    model = tm.export_onnx(module, train, work / "bert.onnx", dynamo=False)
    tokens = work / "tokens.npz"
    np.savez(
        tokens, input_ids=test.input_ids, attention_mask=test.attention_mask, y=test.y,
        special_ids=np.arange(len(tm.SPECIALS)),
    )  # fmt: skip
    return model, tokens, tm.save_tokenizer(train.vocab, work / "tokenizer.json")


def _scans(work: Path, files: dict[str, Path]) -> dict[str, list[list[str]]]:
    test, eps = str(work / "test.npz"), ["--eps", "0.05", "--eps", "0.1", "--eps", "0.25"]
    bert, tokens, tokenizer = _text(work)
    return {
        "torchscript": [["scan", str(files["cnn"]), "--data", test, *eps]],
        "onnx": [["scan", str(files["onnx"]), "--data", test, *eps, "--find-min-eps"]],
        "mean_std": [["scan", str(files["cnn"]), "--data", test, *eps,
                      "--mean", "0.1", "--std", "0.9"]],
        "uint8": [["scan", str(files["cnn"]), "--data", str(work / "pixels.npz"),
                   "--eps", "4", "--eps", "16", "--input-range", "0", "255", "--mean", "0",
                   "--std", "255", "--deployed-dtype", "uint8"]],
        "fp16": [["scan", str(files["onnx16"]), "--data", str(work / "test16.npz"), *eps]],
        "strict": [["scan", str(files["onnx"]), "--data", test, *eps,
                    "--policy", "builtin:strict"]],
        "text": [["scan", str(bert), "--data", str(tokens), "--tokenizer", str(tokenizer),
                  "--eps", "0.05", "--eps", "0.1", "--tokens", "1", "--tokens", "2"]],
        "transfer": [["scan", str(files["onnx"]), "--data", test, *eps,
                      "--surrogate", str(files["surrogate"])]],
        "sharded": [
            ["scan", str(files["onnx"]), "--data", test, *eps, "--batch-size", "64",
             "--shard", "1/2", "--json", str(work / "part1.json")],
            ["scan", str(files["onnx"]), "--data", test, *eps, "--batch-size", "64",
             "--shard", "2/2", "--json", str(work / "part2.json")],
            ["report", "merge", str(work / "part1.json"), str(work / "part2.json")],
        ],
    }  # fmt: skip


def main_(out: Path) -> int:
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    # A fixed folder: TorchScript files record where they were traced, and the reports hash them.
    work = Path(tempfile.gettempdir()) / "robustcheck-reference-work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    files = _models(work)
    for name, commands in _scans(work, files).items():
        target = work / f"{name}.json"
        for i, argv in enumerate(commands):
            if argv[0] == "scan":
                # In this process: a child would import robustcheck from wherever it is
                # installed, not from the tree on PYTHONPATH that is being compared.
                argv = [*argv, "--threads", "1", "--no-step-summary", "--no-isolation"]
            if i == len(commands) - 1:
                argv = [*argv, "--json" if argv[0] == "scan" else "-o", str(target)]
            code = main(argv)
            assert code in (0, 1), (name, argv, code)
        report = json.loads(target.read_text())
        (out / f"{name}.json").write_text(
            json.dumps(_normalise(report, str(work)), indent=2, sort_keys=True) + "\n"
        )
        print(f"{name}: exit {code}, verdict {report.get('verdict')}")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    raise SystemExit(main_(parser.parse_args().out))
