"""`--certify`: how fast IBP and CROWN certify, and how close the proof comes to the attacks.

Run by hand (`python bench/bench_certify.py`); never in CI. Three models trained here on the
digits split the tests use (tests/conftest.py): an MLP (64-32-32-10), the tests' digits CNN and
the ResNet-style CNN of tests/_onnx_zoo.py, each saved as ONNX (the TorchScript exporter).

1. Throughput of the certifier alone (`robustcheck.certify.certify` on the bound graph, all test
   samples in one call, median of 3): samples/s for IBP and CROWN at one ε.
2. The bracket: a scan (`runner.run`, in-process, `--certify crown`, attacks FGSM and APGD) per
   ε, printing certified accuracy (a proof: the lower bound on robust accuracy), the strongest
   attack's robust accuracy (the upper bound) and the gap between them, and the time the
   certification took beside the attacks' (the scan's duration).

`torch.set_num_threads(T)` for all (default 1); timings are meaningless on a loaded machine.
Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

import _onnx_zoo as zoo  # noqa: E402
from bench_autoattack import _cnn  # noqa: E402  # the tests' digits CNN

from conftest import Digits, _split, _train  # noqa: E402
from robustcheck.backends.onnx.model_file import read_onnx  # noqa: E402
from robustcheck.certify import certify, from_onnx  # noqa: E402
from robustcheck.engine.config import ScanConfig  # noqa: E402
from robustcheck.engine.runner import run  # noqa: E402


def _mlp() -> torch.nn.Sequential:
    return torch.nn.Sequential(
        torch.nn.Flatten(),
        torch.nn.Linear(64, 32),
        torch.nn.ReLU(),
        torch.nn.Linear(32, 32),
        torch.nn.ReLU(),
        torch.nn.Linear(32, 10),
    )


def _models(data: Digits, directory: Path) -> dict[str, Path]:
    torch.manual_seed(0)
    mlp = _train(_mlp(), data, epochs=200, lr=0.01)
    torch.manual_seed(0)
    cnn = _train(_cnn(), data, epochs=120, lr=0.01)
    torch.manual_seed(0)
    x, y = torch.from_numpy(data.x_train), torch.from_numpy(data.y_train)
    resnet = zoo.train_briefly(zoo.Residual(), x, y, 200)
    example = torch.from_numpy(data.x_test[:4])
    paths = {}
    for name, module in (("MLP", mlp), ("digits CNN", cnn), ("ResNet-style CNN", resnet)):
        path = directory / f"{name.split()[0].lower()}.onnx"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            zoo.export_onnx(module.eval(), example, path, "torchscript-17")
        paths[name] = path
    return paths


def _throughput(
    path: Path, data: Digits, eps: float, method: str, samples: int
) -> tuple[float, int]:
    graph = from_onnx(read_onnx(path), tuple(data.x_test.shape[1:]))
    x = torch.from_numpy(data.x_test[:samples]).to(torch.float64)
    y = torch.from_numpy(data.y_test[:samples])
    times, count = [], 0
    for _ in range(3):
        start = time.perf_counter()
        count = certify(graph, x, y, eps, lo=0.0, hi=1.0, method=method).count  # type: ignore[arg-type]
        times.append(time.perf_counter() - start)
    return len(x) / statistics.median(times), count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--eps", type=float, nargs="+", default=[0.01, 0.02, 0.05])
    parser.add_argument("--samples", type=int, default=200, help="test samples per model (of 719)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = _split()
    n = min(args.samples, len(data.x_test))
    print(
        f"python {platform.python_version()}, torch {torch.__version__}, {args.threads} thread(s)"
    )
    with tempfile.TemporaryDirectory() as folder:
        models = _models(data, Path(folder))
        print(f"\n### Certifier throughput ({n} samples, ε = {args.eps[0]:g}, median of 3)\n")
        print("| model | IBP samples/s | CROWN samples/s | IBP certified | CROWN certified |")
        print("|---|---|---|---|---|")
        for name, path in models.items():
            ibp, ibp_count = _throughput(path, data, args.eps[0], "ibp", n)
            crown, crown_count = _throughput(path, data, args.eps[0], "crown", n)
            print(f"| {name} | {ibp:,.0f} | {crown:,.0f} | {ibp_count} | {crown_count} |")
        npz = Path(folder) / "test.npz"
        np.savez(npz, x=data.x_test[:n], y=data.y_test[:n])
        print(f"\n### Robust accuracy bracketed ({n} samples; crown; fgsm and apgd)\n")
        print(
            "| model | ε | certified | strongest attack | robust (attacked) | gap | certify s | scan s |"
        )
        print("|---|---|---|---|---|---|---|---|")
        for name, path in models.items():
            start = time.perf_counter()
            report = run(
                ScanConfig(
                    model=path, data=npz, eps=args.eps, attacks=["fgsm", "apgd"],
                    certify="crown", threads=args.threads, noise_baseline=False, gap_probe=False,
                )
            )  # fmt: skip
            total = time.perf_counter() - start
            section = report.certification
            assert section is not None
            for row in section.results:
                print(
                    f"| {name} | {row.eps:g} | {100 * row.certified_accuracy:.1f}% | "
                    f"{row.strongest_attack} | {100 * (row.attacked_robust_accuracy or 0):.1f}% | "
                    f"{100 * (row.gap or 0):.1f} pts | {section.duration_s:.1f} | {total:.1f} |"
                )


if __name__ == "__main__":
    main()
