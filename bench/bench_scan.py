"""Scan time vs the floor: one forward+backward per sample plus one runtime forward per ε.

Run by hand (`make bench` or `python bench/bench_scan.py`); prints a Markdown table. The floor
is measured with the same backend calls the scan makes, without the scan's bookkeeping:
``loss_gradient`` once per batch and ``scores`` once for the clean batch and once per ε. Scan
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

from robustcheck.backends.loader import load_backend
from robustcheck.backends.output import OutputKind
from robustcheck.cli import demo_model as demo
from robustcheck.scan.config import ScanConfig
from robustcheck.scan.runner import run


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
    backend = load_backend(model)

    def once() -> None:
        for start in range(0, len(x), batch):
            xb, yb = x[start : start + batch], y[start : start + batch]
            backend.loss_gradient(xb, yb, OutputKind.LOGITS)
            for _ in range(1 + len(eps)):
                backend.scores(xb)

    return once


def _models(directory: Path, x: np.ndarray) -> dict[str, Path]:
    files = demo.prepare(directory)
    module = torch.jit.load(str(files.model))
    onnx_path = directory / "digits_cnn.onnx"
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
