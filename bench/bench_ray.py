"""Ray scaling: one scan as 2 shards on 1 Ray worker vs 2 workers, against the plain scan.

Run by hand (`make bench` or `python bench/bench_ray.py`); prints a Markdown table. The model is a
CIFAR-sized CNN (random weights; 3×32×32 inputs) attacked with PGD without early stop, so every
sample takes every step: the scan is compute-bound. Ray's fixed overhead is the 1-shard Ray scan minus the plain isolated scan:
starting Ray, a worker, the task's isolated child (importing torch), and the merge.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import ray
import torch

from robustcheck.engine.config import ScanConfig
from robustcheck.execution.isolation import default_max_memory_mb, run_isolated
from robustcheck.execution.ray_executor import run_on_ray


def _model(directory: Path) -> Path:
    torch.manual_seed(0)
    module = torch.nn.Sequential(
        torch.nn.Conv2d(3, 32, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.Conv2d(32, 64, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(64, 64, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(64 * 8 * 8, 10),
    ).eval()
    path = directory / "cnn32.pt"
    torch.jit.save(torch.jit.trace(module, torch.zeros(2, 3, 32, 32)), str(path))
    return path


def _data(directory: Path, n: int) -> Path:
    rng = np.random.default_rng(0)
    path = directory / "data.npz"
    np.savez(path, x=rng.random((n, 3, 32, 32), dtype=np.float32), y=rng.integers(0, 10, n))
    return path


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=512)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--threads", type=int, default=None, help="intra-op threads per shard")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        config = ScanConfig(
            model=_model(d),
            data=_data(d, args.samples),
            eps=[8 / 255],
            attacks=[f"pgd:steps={args.steps},early_stop=false"],  # every sample, every step
            noise_baseline=False,
            batch_size=64,
            allow_low_accuracy=True,
            threads=args.threads,
        )
        memory = default_max_memory_mb()
        plain = _timed(lambda: run_isolated(config, timeout_s=3600, max_memory_mb=memory))
        rows = [("plain isolated scan (no Ray)", "-", "-", plain, "-")]
        for workers, shards in [(1, 1), (1, 2), (2, 2)]:
            start = time.perf_counter()
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
            report = run_on_ray(config, shards=shards)
            ray.shutdown()
            wall = time.perf_counter() - start
            assert report.shards is not None
            each = ", ".join(f"{p.duration_s:.1f}" for p in report.shards.parts)
            rows.append((f"Ray, {workers} worker(s)", str(workers), str(shards), wall, each))
    print(f"{args.samples} samples of 3×32×32, PGD-{args.steps}, batch 64, threads {args.threads}; "
          f"{platform.processor() or platform.machine()}, torch {torch.__version__}, ray {ray.__version__}\n")  # fmt: skip
    print("| run | workers | shards | wall (s) | vs plain | each shard in its child (s) |")
    print("|---|---|---|---|---|---|")
    for name, workers, shards, seconds, each in rows:
        print(f"| {name} | {workers} | {shards} | {seconds:.1f} | {seconds / plain:.2f} | {each} |")
    one, two = rows[2][3], rows[3][3]
    print(f"\nscaling 1 → 2 workers (2 shards): {one / two:.2f}×; "
          f"Ray fixed overhead (1 shard vs plain): {rows[1][3] - plain:.1f} s")  # fmt: skip


if __name__ == "__main__":
    main()
