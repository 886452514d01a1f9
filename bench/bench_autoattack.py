"""`--attack auto` (AutoAttack's protocol) against torchattacks' AutoAttack: robust accuracy and time.

Run by hand (`python bench/bench_autoattack.py`); never in CI. Three models trained here on the
digits split the tests use (tests/conftest.py): the tests' digits CNN, that CNN fine-tuned by
robustcheck's own harden API (PGD-7 training at ε = 0.1), and the ResNet-style CNN of
tests/_onnx_zoo.py. For each, at one ε where 20-80 % of the samples fall, on the same test samples
given as one batch, interleaved:

- robustcheck: `runner.run` with `attacks=["auto"]` (APGD-CE and APGD-T with 100 steps, Square
  with 1000 queries) on a TorchScript save of the model, in-process, no noise baseline; and the
  same scan with `attacks=["fgsm"]` (gap probe off), whose time is the scan's fixed cost (loading,
  hashing, sanity checks, report) plus one gradient, so `auto - fgsm` is the attack's own time.
- torchattacks 3.5.1: `AutoAttack(version="standard")` on the nn.Module, the whole tensor at once,
  then one forward to count. Its members run with torchattacks' defaults: APGD-CE, APGD-T and
  FAB-T with **10** steps (AutoAttack's published settings use 100) and Square with 5000 queries.
  For the same gradient work, `--published` also times those four with 100 steps.

The same `torch.set_num_threads(T)` for all. Then the black-box strength: the errors `square` and
`spsa` (default budgets) find on the model's ONNX export (their queries go to onnxruntime), as a
share of what white-box `apgd` (defaults) finds at the same ε. Prints Markdown tables; timings are
meaningless on a loaded machine (on a busy 2-core one, T = 2 can be 20x slower than T = 1).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import _onnx_zoo as zoo  # noqa: E402

from conftest import Digits, _split, _train  # noqa: E402
from robustcheck.engine.config import ScanConfig  # noqa: E402
from robustcheck.engine.runner import run  # noqa: E402
from robustcheck.harden import HardenConfig, harden  # noqa: E402
from robustcheck.reports.model import Report  # noqa: E402

PEER_MEMBERS = ("apgd-ce", "apgd-t", "fab-t", "square")
HARDENING = "pgd:steps=7,early_stop=false"
"""How `harden` makes its training examples (Madry et al.'s PGD; `fgsm` is faster and weaker)."""


@dataclass(frozen=True)
class Model:
    name: str
    module: torch.nn.Module
    torchscript: Path
    onnx: Path
    eps: float = 0.0


@dataclass
class Peer:
    robust: float
    seconds: float
    broke: dict[str, int]
    member_seconds: dict[str, float]


def _cnn() -> torch.nn.Sequential:
    """The `cnn_model` fixture's architecture (tests/conftest.py)."""
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 8, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(8 * 4 * 4, 32),
        torch.nn.ReLU(),
        torch.nn.Linear(32, 10),
    )


def _save(module: torch.nn.Module, example: np.ndarray, directory: Path, name: str) -> Model:
    ex = torch.from_numpy(example[:4])
    ts, onnx = directory / f"{name}.pt", directory / f"{name}.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.trace(module, ex), str(ts))
        zoo.export_onnx(module, ex, onnx, "torchscript-17")  # dynamo=False, opset 17
    return Model(name, module, ts, onnx)


def _hardened(cnn: Model, data: Digits, directory: Path, attack: str) -> Model:
    """The CNN fine-tuned by robustcheck.harden (as tests/attacks/test_apgd.py's `hardened`)."""
    train, val, out = directory / "train.npz", directory / "val.npz", directory / "hardened.pt"
    np.savez(train, x=data.x_train, y=data.y_train)
    np.savez(val, x=data.x_test, y=data.y_test)
    start = time.perf_counter()
    harden(
        HardenConfig(
            model=cnn.torchscript, data=train, val=val, output=out, eps=0.1, epochs=3, lr=0.01,
            attack=attack, report_attacks=["fgsm"],
        )
    )  # fmt: skip
    print(f"harden ({attack}, 3 epochs): {time.perf_counter() - start:.1f} s", file=sys.stderr)
    module = _cnn()  # the hardened weights in an nn.Module again, for torchattacks and ONNX
    module.load_state_dict(torch.jit.load(str(out)).state_dict())
    return _save(module.eval(), data.x_test, directory, "hardened")


def _models(
    data: Digits, directory: Path, hardening: str, eps_cnn: float, eps_resnet: float
) -> dict[str, Model]:
    torch.manual_seed(0)
    cnn = _save(_train(_cnn(), data, epochs=120, lr=0.01), data.x_test, directory, "cnn")
    hardened = _hardened(cnn, data, directory, hardening)
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as tests/attacks/test_square.py trains it: small full-batch steps
    try:
        x, y = torch.from_numpy(data.x_train), torch.from_numpy(data.y_train)
        residual = zoo.train_briefly(zoo.Residual(), x, y, 200)
    finally:
        torch.set_num_threads(threads)
    resnet = _save(residual, data.x_test, directory, "resnet")
    label = "PGD-7" if hardening == HARDENING else hardening
    return {
        "digits CNN": replace(cnn, eps=eps_cnn),
        f"CNN, harden {label}": replace(hardened, eps=eps_cnn),
        "ResNet-style CNN": replace(resnet, eps=eps_resnet),
    }


def _scan(
    path: Path, data: Path, eps: float, attacks: list[str], threads: int, batch: int
) -> tuple[Report, float]:
    config = ScanConfig(
        model=path, data=data, eps=[eps], attacks=attacks, threads=threads,
        noise_baseline=False, isolate=False, batch_size=batch, gap_probe=False,
    )  # fmt: skip
    start = time.perf_counter()
    report = run(config)
    return report, time.perf_counter() - start


def _timed(attack: Any, label: str, sizes: dict[str, int], seconds: dict[str, float]) -> None:
    """Record the inputs each member gets and its time (the chain is torchattacks' own)."""
    forward: Callable[..., torch.Tensor] = attack.forward

    def wrapper(images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        start = time.perf_counter()
        out = forward(images, labels)
        seconds[label], sizes[label] = time.perf_counter() - start, int(images.shape[0])
        return out

    attack.forward = wrapper


def _peer(model: Model, x: np.ndarray, y: np.ndarray, published: bool) -> Peer:
    import torchattacks

    module, eps = model.module, model.eps
    if published:  # AutoAttack's own settings: 100 steps for the gradient members
        common: dict[str, Any] = {"norm": "Linf", "eps": eps, "seed": 0, "n_restarts": 1}
        chain = torchattacks.MultiAttack(
            [
                torchattacks.APGD(module, loss="ce", steps=100, **common),
                torchattacks.APGDT(module, n_classes=10, steps=100, **common),
                torchattacks.FAB(module, multi_targeted=True, n_classes=10, steps=100, **common),
                torchattacks.Square(module, n_queries=5000, **common),
            ]
        )
    else:
        chain = torchattacks.AutoAttack(
            module, norm="Linf", eps=eps, version="standard", n_classes=10, seed=0
        )
    members = chain.attacks if published else chain._autoattack.attacks
    sizes: dict[str, int] = {}
    seconds: dict[str, float] = {}
    for label, attack in zip(PEER_MEMBERS, members, strict=True):
        _timed(attack, label, sizes, seconds)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    start = time.perf_counter()
    adv = chain(xt, yt)
    with torch.no_grad():
        robust = int((module(adv).argmax(1) == yt).sum())
    elapsed = time.perf_counter() - start
    with torch.no_grad():
        clean_errors = int((module(xt).argmax(1) != yt).sum())
    # Member i gets the samples no member before it fooled (the first also gets clean errors).
    given = [sizes.get(label, 0) for label in PEER_MEMBERS] + [robust]
    broke = {label: given[i] - given[i + 1] for i, label in enumerate(PEER_MEMBERS)}
    broke["apgd-ce"] -= clean_errors
    return Peer(robust / len(y), elapsed, broke, seconds)


def _errors(report: Report, attack: str) -> int:
    (result,) = [r for r in report.results if r.attack == attack]
    return result.adversarial_errors


def _compare(
    name: str, model: Model, npz: Path, x: np.ndarray, y: np.ndarray, args: argparse.Namespace
) -> tuple[str, str]:
    """One model's row of the main table and of the breakdown table."""
    n, threads = len(y), args.threads
    torch.set_num_threads(threads)
    theirs = _peer(model, x, y, published=False)
    report, ours_s = _scan(model.torchscript, npz, model.eps, ["auto"], threads, n)
    _, fixed_s = _scan(model.torchscript, npz, model.eps, ["fgsm"], threads, n)
    torch.set_num_threads(threads)  # the scan sets the process's threads; the peer gets the same
    published = _peer(model, x, y, published=True) if args.published else None
    ours = 1 - _errors(report, "auto") / n
    attack_s = ours_s - fixed_s
    row = (
        f"| {name} | {model.eps} | {100 * ours:.1f} | {100 * theirs.robust:.1f} | "
        f"{100 * (ours - theirs.robust):+.1f} | {ours_s:.2f} | {fixed_s:.2f} | {attack_s:.2f} | "
        f"{theirs.seconds:.2f} | {ours_s / theirs.seconds:.2f} | {attack_s / theirs.seconds:.2f} |"
    )
    if published is not None:
        row += (
            f" {100 * published.robust:.1f} | {published.seconds:.2f} | "
            f"{ours_s / published.seconds:.2f} |"
        )
    (ensemble,) = report.ensembles
    ours_broke = ", ".join(f"{m.attack} {m.broke}" for m in ensemble.members)
    peers = [theirs] if published is None else [theirs, published]
    their_broke = " / ".join(
        ", ".join(
            f"{label} {p.broke[label]} ({p.member_seconds.get(label, 0.0):.2f} s)"
            for label in PEER_MEMBERS
        )
        for p in peers
    )
    return row, f"| {name} | {ours_broke} | {their_broke} |"


def _black_box(name: str, model: Model, npz: Path, threads: int, n: int) -> str:
    report, _ = _scan(model.onnx, npz, model.eps, ["apgd", "square", "spsa"], threads, n)
    white, square, spsa = (_errors(report, a) for a in ("apgd", "square", "spsa"))
    return (
        f"| {name} | {model.eps} | {white} | {square} | {spsa} | "
        f"{100 * square / white:.0f} % | {100 * spsa / white:.0f} % |"
    )


def _machine() -> str:
    try:
        with Path("/proc/cpuinfo").open() as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if "model name" in line)
    except (OSError, StopIteration):
        cpu = platform.processor() or platform.machine()
    load = " ".join(f"{v:.1f}" for v in os.getloadavg())
    return f"{cpu}, load average {load}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--hardening", default=HARDENING)
    parser.add_argument("--eps-cnn", type=float, default=0.1, help="ε of both digits CNNs")
    parser.add_argument("--eps-resnet", type=float, default=0.05)
    parser.add_argument(
        "--published", action=argparse.BooleanOptionalAction, default=True,
        help="also time torchattacks with AutoAttack's published 100 steps",
    )  # fmt: skip
    parser.add_argument("--black-box", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args()
    n = args.samples
    data = _split()
    x, y = data.x_test[:n], data.y_test[:n]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        models = _models(data, directory, args.hardening, args.eps_cnn, args.eps_resnet)
        npz = directory / "sample.npz"
        np.savez(npz, x=x, y=y)
        compared = [_compare(name, m, npz, x, y, args) for name, m in models.items()]
        black_box = [
            _black_box(k, m, npz, args.threads, n) for k, m in models.items() if args.black_box
        ]
    print(
        f"python {platform.python_version()}, torch {torch.__version__}, {args.threads} threads, "
        f"{n} test digits as one batch, {_machine()}, "
        f"whole script {time.perf_counter() - started:.0f} s\n"
    )
    head = (
        "| model | ε | robust acc., auto (%) | torchattacks AA (%) | Δ (points) | auto scan (s) "
        "| fgsm scan (s) | auto − fgsm (s) | torchattacks (s) | ours/theirs | (auto − fgsm)/theirs |"
    )
    rule = "|---|---|---|---|---|---|---|---|---|---|---|"
    if args.published:
        head += " torchattacks, 100 steps (%) | its time (s) | ours/it |"
        rule += "---|---|---|"
    print("\n".join([head, rule, *(row for row, _ in compared)]))
    peers = "torchattacks AA" + (" / with 100 steps" if args.published else "")
    print(f"\nBroke first (the member's time):\n\n| model | auto | {peers} |\n|---|---|---|")
    print("\n".join(line for _, line in compared))
    if black_box:
        print(
            "\nBlack-box strength on the ONNX export:\n\n| model | ε | apgd errors | square "
            "errors | spsa errors | square/apgd | spsa/apgd |\n|---|---|---|---|---|---|---|"
        )
        print("\n".join(black_box))


if __name__ == "__main__":
    main()
