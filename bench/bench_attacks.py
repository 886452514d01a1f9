"""PGD-k against its floor: k forward+backward passes per batch plus one runtime forward per ε.

Run by hand (`make bench`). The floor is a hand-written plain-torch PGD loop (no early stop, no
random start, nothing shared with robustcheck). robustcheck's PGD runs with early stop off (the
same work as the floor, so the ratio is the attack core's overhead) and on (the default, which
stops each sample once it is fooled). Prints a Markdown table of seconds and ratios.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from robustcheck.attacks import PGD, BatchContext, InputDomain
from robustcheck.backends.loader import load_backend
from robustcheck.backends.output import OutputKind
from robustcheck.cli import demo_model as demo


def _best(fn: Callable[[], None], repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def _floor(
    module: torch.nn.Module, x: np.ndarray, y: np.ndarray, eps: list[float], k: int, batch: int
) -> Callable[[], None]:
    def once() -> None:
        for start in range(0, len(x), batch):
            x0 = torch.from_numpy(x[start : start + batch])
            yb = torch.from_numpy(y[start : start + batch])
            for e in eps:
                adv = x0.clone()
                for _ in range(k):
                    adv.requires_grad_(True)
                    loss = torch.nn.functional.cross_entropy(module(adv), yb)
                    (grad,) = torch.autograd.grad(loss, adv)
                    adv = torch.min(
                        torch.max(adv.detach() + 2.5 * e / k * grad.sign(), x0 - e), x0 + e
                    ).clamp(0, 1)
                with torch.inference_mode():
                    module(adv)

    return once


def _ours(
    model: Path,
    x: np.ndarray,
    y: np.ndarray,
    eps: list[float],
    k: int,
    batch: int,
    early_stop: bool,
) -> Callable[[], None]:
    backend = load_backend(model)
    attack = PGD.from_options(
        {"steps": str(k), "random_start": "false", "early_stop": str(early_stop)}
    )

    def once() -> None:
        for start in range(0, len(x), batch):
            xb = torch.from_numpy(x[start : start + batch])
            ctx = BatchContext(
                model=backend, x=xb, y=torch.from_numpy(y[start : start + batch]),
                kind=OutputKind.LOGITS, domain=InputDomain(0.0, 1.0),
                clean_scores=backend.scores(xb),
            )  # fmt: skip
            out = attack(ctx, eps)
            for e in eps:
                backend.scores(out.adversarial[e])

    return once


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    workloads = {"small ε (few samples fooled)": [0.02, 0.05], "large ε (most fooled)": [0.25]}
    with tempfile.TemporaryDirectory() as tmp:
        files = demo.prepare(Path(tmp))
        _, _, x, y = demo.digits_split()
        module = torch.jit.load(str(files.model))
        k = args.steps
        print(
            f"python {platform.python_version()}, torch {torch.__version__}, "
            f"{torch.get_num_threads()} threads, {len(x)} samples, PGD-{k} without random start, "
            f"batch {args.batch_size}, best of {args.repeat}\n"
        )
        print(
            "| workload | floor (s) | robustcheck, no early stop (s) | ratio | early stop (s) | ratio |"
        )
        print("|---|---|---|---|---|---|")
        for name, eps in workloads.items():
            floor = _best(_floor(module, x, y, eps, k, args.batch_size), args.repeat)
            full = _best(_ours(files.model, x, y, eps, k, args.batch_size, False), args.repeat)
            early = _best(_ours(files.model, x, y, eps, k, args.batch_size, True), args.repeat)
            print(
                f"| digits CNN, {name}, ε {eps} | {floor:.3f} | {full:.3f} | {full / floor:.2f} "
                f"| {early:.3f} | {early / floor:.2f} |"
            )


if __name__ == "__main__":
    main()
