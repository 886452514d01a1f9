"""Model and data files a new user would scan, written by the development environment for the
install tests to scan from a fresh one: the digits CNN as ONNX, TorchScript and .pt2, the digits
as an .npz and as a folder of PNGs."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from robustcheck.cli import demo_model

SAMPLES = 40


def write_workspace(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    x_train, y_train, x_test, y_test = demo_model.digits_split()
    module = demo_model.train(demo_model.build_cnn(), x_train, y_train, epochs=30)
    assert isinstance(module, torch.nn.Module)
    example = torch.from_numpy(x_test[:2])
    demo_model.export(module, x_test[:2], directory / "model.pt2")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch 2.14 deprecates TorchScript; users still ship it
        torch.jit.save(torch.jit.trace(module, example), str(directory / "model.pt"))
        torch.onnx.export(
            module,
            (example,),
            str(directory / "model.onnx"),
            dynamo=False,
            opset_version=17,
            input_names=["input"],
            output_names=["scores"],
            dynamic_axes={"input": {0: "batch"}, "scores": {0: "batch"}},
        )
    np.savez(directory / "sample.npz", x=x_test[:SAMPLES], y=y_test[:SAMPLES])
    for i, (image, label) in enumerate(zip(x_test[:SAMPLES], y_test[:SAMPLES], strict=True)):
        folder = directory / "images" / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        pixels = np.round(image[0] * 255).astype(np.uint8)
        Image.fromarray(pixels, mode="L").save(folder / f"{i:03d}.png")
    return directory


def scan_commands(directory: Path, reports: Path) -> list[list[str]]:
    """``robustcheck`` argument lists covering every model format, an image folder, every report
    format and ``harden`` (each one a path that a plain install must handle)."""
    common = ["--eps", "0.1", "--eps", "0.25"]
    return [
        ["scan", str(directory / "model.onnx"), "--data", str(directory / "sample.npz"), *common,
         "--json", str(reports / "onnx.json"), "--junit", str(reports / "onnx.xml"),
         "--markdown", str(reports / "onnx.md"), "--html", str(reports / "onnx.html")],
        ["scan", str(directory / "model.pt2"), "--data", str(directory / "sample.npz"), *common,
         "--json", str(reports / "pt2.json"), "--html", str(reports / "pt2.html")],
        ["scan", str(directory / "model.pt"), "--data", str(directory / "sample.npz"), *common,
         "--json", str(reports / "pt.json")],
        ["scan", str(directory / "model.onnx"), "--data", str(directory / "images"), "--std", "255",
         *common, "--json", str(reports / "images.json"), "--html", str(reports / "images.html")],
        ["report", "render", str(reports / "onnx.json"), "--markdown", str(reports / "again.md")],
        ["harden", str(directory / "model.pt"), "--data", str(directory / "sample.npz"),
         "--eps", "0.1", "--epochs", "1", "-o", str(reports / "hardened.pt")],
    ]  # fmt: skip
