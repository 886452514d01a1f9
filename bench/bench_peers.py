"""robustcheck beside its peers, interleaved in one process, against a hand-written floor.

Run by hand (`make bench-peers`; the peers come with the optional extra `bench`: torchattacks,
adversarial-robustness-toolbox, foolbox). Every method scans the same model, data, batch size and
thread count; rounds are interleaved (method order rotates) and the median is reported, as a
ratio to the floor:

- floor: a hand-written torch loop: one forward+backward per batch, then one forward per ε (on
  onnxruntime for the ONNX model) plus the clean forward, plus one forward per ε for the noise
  baseline when robustcheck runs one (it does by default);
- torchattacks / ART / foolbox: their FGSM (one gradient per ε: none of them reuses the sign
  across a sweep) and PGD-10, then one forward per ε to count errors;
- robustcheck in-process (`robustcheck.engine.runner.run`) and as the command line (`robustcheck
  scan`, a new process each time: start-up, isolation child, loading, reports).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
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

Method = Callable[[], None]


def resnet_style(seed: int = 0) -> torch.nn.Module:
    """A small ResNet for 3×32×32 inputs (random weights: speed does not depend on them)."""
    torch.manual_seed(seed)

    class Block(torch.nn.Module):
        def __init__(self, cin: int, cout: int, stride: int) -> None:
            super().__init__()
            self.c1 = torch.nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.b1 = torch.nn.BatchNorm2d(cout)
            self.c2 = torch.nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.b2 = torch.nn.BatchNorm2d(cout)
            self.skip = (
                torch.nn.Sequential(
                    torch.nn.Conv2d(cin, cout, 1, stride, bias=False), torch.nn.BatchNorm2d(cout)
                )
                if stride != 1 or cin != cout
                else torch.nn.Identity()
            )

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out = torch.relu(self.b1(self.c1(x)))
            return torch.relu(self.b2(self.c2(out)) + self.skip(x))

    layers = [
        torch.nn.Conv2d(3, 16, 3, 1, 1, bias=False),
        torch.nn.BatchNorm2d(16),
        torch.nn.ReLU(),
    ]
    for cin, cout, stride in ((16, 16, 1), (16, 32, 2), (32, 64, 2)):
        layers += [Block(cin, cout, stride), Block(cout, cout, 1)]
    layers += [torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(64, 10)]
    return torch.nn.Sequential(*layers).eval()


def _save(module: torch.nn.Module, x: np.ndarray, directory: Path, name: str) -> dict[str, Path]:
    example = torch.from_numpy(x[:2])
    ts = directory / f"{name}.pt"
    torch.jit.save(torch.jit.trace(module, example), str(ts))
    onnx_path = directory / f"{name}.onnx"
    torch.onnx.export(
        module, (example,), str(onnx_path), dynamo=False, opset_version=17,
        input_names=["input"], output_names=["scores"],
        dynamic_axes={"input": {0: "batch"}, "scores": {0: "batch"}},
    )  # fmt: skip
    return {"torchscript": ts, "onnx": onnx_path}


def _batches(x: np.ndarray, y: np.ndarray, batch: int):
    for start in range(0, len(x), batch):
        yield torch.from_numpy(x[start : start + batch]), torch.from_numpy(y[start : start + batch])


def floor(module, session, x, y, eps, batch, noise) -> Method:
    def forward(xb: torch.Tensor) -> torch.Tensor:
        if session is None:
            with torch.inference_mode():
                return module(xb)
        return torch.from_numpy(session.run(None, {"input": xb.numpy()})[0])

    def once() -> None:
        for xb, yb in _batches(x, y, batch):
            leaf = xb.clone().requires_grad_(True)
            (grad,) = torch.autograd.grad(torch.nn.functional.cross_entropy(module(leaf), yb), leaf)
            forward(xb)
            for e in eps:
                forward((xb + e * grad.sign()).clamp(0, 1))
                if noise:
                    forward((xb + e * torch.randint_like(xb, 0, 2).mul_(2).sub_(1)).clamp(0, 1))

    return once


def peers(module, x, y, eps, batch, steps) -> dict[str, Method]:
    import foolbox
    import torchattacks
    from art.attacks.evasion import FastGradientMethod, ProjectedGradientDescent
    from art.estimators.classification import PyTorchClassifier

    def counted(
        make: Callable[[float], Callable[[torch.Tensor, torch.Tensor], torch.Tensor]],
    ) -> Method:
        def once() -> None:
            for xb, yb in _batches(x, y, batch):
                for e in eps:
                    adv = make(e)(xb, yb)
                    with torch.inference_mode():
                        module(adv)

        return once

    art = PyTorchClassifier(
        module, torch.nn.CrossEntropyLoss(), x.shape[1:], 10, clip_values=(0.0, 1.0)
    )
    fmodel = foolbox.PyTorchModel(module, bounds=(0, 1))

    def art_attack(kind: str, e: float):
        attack = (
            FastGradientMethod(art, eps=e, batch_size=batch)
            if kind == "fgsm"
            else ProjectedGradientDescent(
                art,
                eps=e,
                eps_step=2.5 * e / steps,
                max_iter=steps,
                batch_size=batch,
                verbose=False,
            )
        )
        return lambda xb, yb: torch.from_numpy(attack.generate(xb.numpy(), yb.numpy()))

    def fb(kind: str, e: float):
        attack = (
            foolbox.attacks.FGSM()
            if kind == "fgsm"
            else foolbox.attacks.LinfPGD(steps=steps, rel_stepsize=2.5 / steps, random_start=False)
        )
        return lambda xb, yb: attack(fmodel, xb, yb, epsilons=e)[1]

    out = {}
    for kind in ("fgsm", "pgd"):
        out[f"torchattacks {kind}"] = counted(
            lambda e, k=kind: (
                torchattacks.FGSM(module, eps=e)
                if k == "fgsm"
                else torchattacks.PGD(
                    module, eps=e, alpha=2.5 * e / steps, steps=steps, random_start=False
                )
            )
        )
        out[f"ART {kind}"] = counted(lambda e, k=kind: art_attack(k, e))
        out[f"foolbox {kind}"] = counted(lambda e, k=kind: fb(k, e))
    return out


def ours(
    model: Path, data: Path, eps: list[float], batch: int, threads: int, steps: int
) -> dict[str, Method]:
    def in_process(attack: str) -> Method:
        config = ScanConfig(
            model=model, data=data, eps=eps, batch_size=batch, threads=threads, attacks=[attack]
        )
        return lambda: run(config)  # type: ignore[return-value]

    def cli(attack: str) -> Method:
        cmd = [
            str(Path(sys.executable).with_name("robustcheck")), "scan", str(model), "--data", str(data),
            *[a for e in eps for a in ("--eps", str(e))], "--batch-size", str(batch), "--threads",
            str(threads), "--attack", attack, "--no-config", "--exit-zero", "--policy", "builtin:default",
        ]  # fmt: skip
        return lambda: subprocess.run(
            cmd, check=False, capture_output=True, env={**os.environ, "CI": "1"}
        )  # type: ignore[return-value]

    pgd = f"pgd:steps={steps},random_start=false,early_stop=false"
    return {
        "robustcheck fgsm": in_process("fgsm"),
        "robustcheck fgsm (CLI)": cli("fgsm"),
        "robustcheck pgd": in_process(pgd),
    }


def measure(methods: dict[str, Method], rounds: int) -> dict[str, float]:
    for fn in methods.values():
        fn()  # warm-up
    times: dict[str, list[float]] = {name: [] for name in methods}
    names = list(methods)
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            start = time.perf_counter()
            methods[name]()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--resnet-samples", type=int, default=10_000)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="digits only, one ε setting")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        files = demo.prepare(directory)
        _, _, dx, dy = demo.digits_split()
        rng = np.random.default_rng(0)
        rx = rng.uniform(0, 1, (args.resnet_samples, 3, 32, 32)).astype(np.float32)
        resnet = resnet_style()
        with torch.no_grad():
            ry = np.concatenate(
                [
                    resnet(torch.from_numpy(rx[i : i + 512])).argmax(1).numpy()
                    for i in range(0, len(rx), 512)
                ]
            )
        workloads = {"digits CNN": (torch.jit.load(str(files.model)), dx, dy)}
        if not args.quick:
            workloads["ResNet-style CNN 32×32"] = (resnet, rx, ry)
        sweeps = (
            {"1 ε": [0.03]} if args.quick else {"1 ε": [0.03], "5 ε": [0.01, 0.02, 0.03, 0.05, 0.1]}
        )
        print(
            f"python {platform.python_version()}, torch {torch.__version__}, onnxruntime {ort.__version__}, "
            f"{args.threads} thread(s), batch {args.batch_size}, PGD-{args.steps}, median of {args.rounds} interleaved rounds\n"
        )
        print("| workload | format | ε | method | seconds | × floor |")
        print("|---|---|---|---|---|---|")
        for wname, (module, x, y) in workloads.items():
            paths = _save(module, x, directory, wname.split()[0].lower())
            data = directory / f"{wname.split()[0].lower()}.npz"
            np.savez(data, x=x, y=y)
            for fmt, path in paths.items():
                options = ort.SessionOptions()
                options.intra_op_num_threads = args.threads
                options.add_session_config_entry("session.intra_op.allow_spinning", "0")
                session = (
                    ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
                    if fmt == "onnx"
                    else None
                )
                for sname, eps in sweeps.items():
                    methods = {
                        "floor (hand-written)": floor(
                            module, session, x, y, eps, args.batch_size, noise=True
                        )
                    }
                    if fmt == "torchscript":
                        methods |= peers(module, x, y, eps, args.batch_size, args.steps)
                    methods |= ours(path, data, eps, args.batch_size, args.threads, args.steps)
                    medians = measure(methods, args.rounds)
                    base = medians["floor (hand-written)"]
                    for name, seconds in medians.items():
                        print(
                            f"| {wname} | {fmt} | {sname} | {name} | {seconds:.3f} | {seconds / base:.2f} |",
                            flush=True,
                        )


if __name__ == "__main__":
    main()
