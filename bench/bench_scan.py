"""Scan time vs the floor: one forward+backward per sample plus one runtime forward per ε.

Run by hand (`make bench` or `python bench/bench_scan.py`); prints a Markdown table. The floor
is a hand-written loop in plain torch (and onnxruntime for the ONNX model), sharing no code with
robustcheck: one forward+backward of the network per batch, then one forward per ε (on
onnxruntime for ONNX) plus the clean forward. Scan
times include loading and hashing the model and data; every measurement is warmed up once.
The noise baseline doubles the ε forwards, so scans are timed with and without it.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from robustcheck.cli import demo_model as demo
from robustcheck.engine.config import ScanConfig
from robustcheck.engine.runner import run


def _best(fn, repeat: int) -> float:
    fn()  # warm-up: TorchScript's profiling executor optimises a graph on its first runs
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def _floor(
    model: Path, x: np.ndarray, y: np.ndarray, eps: list[float], batch: int
) -> Callable[[], None]:
    module = torch.jit.load(str(model.with_suffix(".pt")))
    session = None
    if model.suffix == ".onnx":
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])

    def forward(xb: torch.Tensor) -> None:
        if session is None:
            with torch.inference_mode():
                module(xb)
        else:
            session.run(None, {"input": xb.numpy()})

    def once() -> None:
        for start in range(0, len(x), batch):
            xb = torch.from_numpy(x[start : start + batch]).requires_grad_(True)
            yb = torch.from_numpy(y[start : start + batch])
            loss = torch.nn.functional.cross_entropy(module(xb), yb)
            (grad,) = torch.autograd.grad(loss, xb)
            forward(xb.detach())
            for e in eps:
                forward((xb.detach() + e * grad.sign()).clamp(0, 1))

    return once


def _models(directory: Path, x: np.ndarray) -> dict[str, Path]:
    files = demo.prepare(directory)
    module = torch.jit.load(str(files.model))
    onnx_path = files.model.with_suffix(".onnx")
    torch.onnx.export(
        module,
        (torch.from_numpy(x[:2]),),
        str(onnx_path),
        dynamo=False,
        opset_version=17,
        input_names=["input"],
        output_names=["scores"],
        dynamic_axes={"input": {0: "batch"}, "scores": {0: "batch"}},
    )
    return {"digits CNN (TorchScript)": files.model, "digits CNN (ONNX)": onnx_path}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--batch-size", type=int, default=256)
    args = parser.parse_args()
    eps = [0.05, 0.1, 0.25]
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        _, _, x, y = demo.digits_split()
        x = np.concatenate([x] * 4)  # 2876 samples
        y = np.concatenate([y] * 4)
        data = directory / "data.npz"
        np.savez(data, x=x, y=y)
        print(
            f"python {platform.python_version()}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
            f"{len(x)} samples, eps {eps}, batch {args.batch_size}, best of {args.repeat}\n"
        )
        print("| model | floor (s) | scan, FGSM only (s) | ratio | scan + noise (s) | ratio |")
        print("|---|---|---|---|---|---|")
        for name, model in _models(directory, x).items():
            floor = _best(_floor(model, x, y, eps, args.batch_size), args.repeat)
            fgsm_only = ScanConfig(
                model=model, data=data, eps=eps, batch_size=args.batch_size, noise_baseline=False
            )
            with_noise = fgsm_only.model_copy(update={"noise_baseline": True})
            fgsm = _best(lambda c=fgsm_only: run(c), args.repeat)
            both = _best(lambda c=with_noise: run(c), args.repeat)
            print(
                f"| {name} | {floor:.3f} | {fgsm:.3f} | {fgsm / floor:.2f} | {both:.3f} | {both / floor:.2f} |"
            )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
