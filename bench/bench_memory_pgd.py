"""Peak resident memory of gradient scans of a MobileNet-sized model at 3×224×224 (CPU).

Run by hand: ``python bench/bench_memory_pgd.py``; prints a Markdown table. A MobileNetV2-like
network (inverted residual blocks, 2.2 M parameters, 10 classes, BatchNorm in eval mode with
statistics taken from the data, a head fitted on its features) is built here, saved as TorchScript
and as ONNX (``dynamo=False``), with 200 images labelled by its own predictions. Each scan is
``robustcheck scan MODEL --data data.npz --eps 0.03 --attack A --no-isolation`` at default
settings (batch size 256: one batch of 200), run in a fresh interpreter whose peak resident
memory (``VmHWM`` of the scanning process itself, its whole life: imports, model, data, scan)
is the figure; ``ru_maxrss`` is not used, as Linux carries the parent's peak across fork+exec.

Columns: *this tree*; *unchunked* (this tree calling the model on the whole batch at once, for
the gradient and for scores, as before calls were sized to a memory cap); and, with
``--baseline DIR`` (a copy of an earlier robustcheck, e.g. ``git archive <commit> robustcheck |
tar -x -C DIR``), that tree. Every cell also gives the scan's wall time and its
adversarial error count, which must not depend on the column.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = 200
CLASSES = 10

_CHILD = """
import json, sys
import robustcheck
import robustcheck.engine.runner as runner
from robustcheck.cli import main

if sys.argv[1] == "unchunked":
    runner.call_sizes = lambda *args, **kwargs: (None, None)
code = main(sys.argv[2:])
# VmHWM: this process's own peak (ru_maxrss would carry the parent's across fork+exec).
with open("/proc/self/status") as status:
    hwm = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
print(json.dumps({"code": code, "peak_mib": hwm / 1024, "tree": robustcheck.__file__}))
"""


def _mobilenet(classes: int) -> Any:
    import torch  # heavy: imported by the parent only, to build the model
    from torch import nn

    def conv_bn(i: int, o: int, k: int = 3, s: int = 1, groups: int = 1, act: bool = True):
        layers: list[nn.Module] = [
            nn.Conv2d(i, o, k, s, k // 2, groups=groups, bias=False),
            nn.BatchNorm2d(o),
        ]
        return [*layers, nn.ReLU6()] if act else layers

    class InvertedResidual(nn.Module):
        def __init__(self, i: int, o: int, s: int, t: int) -> None:
            super().__init__()
            hidden = i * t
            layers = [] if t == 1 else conv_bn(i, hidden, 1)
            layers += conv_bn(hidden, hidden, 3, s, groups=hidden)
            layers += conv_bn(hidden, o, 1, act=False)
            self.block = nn.Sequential(*layers)
            self.residual = s == 1 and i == o

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.block(x)
            return x + y if self.residual else y

    stages = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
              (6, 160, 3, 2), (6, 320, 1, 1)]  # fmt: skip
    layers: list[nn.Module] = conv_bn(3, 32, 3, 2)
    channels = 32
    for t, o, n, s in stages:
        for k in range(n):
            layers.append(InvertedResidual(channels, o, s if k == 0 else 1, t))
            channels = o
    layers += conv_bn(channels, 1280, 1)
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(1280, classes)]
    return nn.Sequential(*layers)


def build(directory: Path, samples: int) -> dict[str, Path]:
    """The model as TorchScript and ONNX, and ``samples`` images it classifies with a margin."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    model = _mobilenet(CLASSES)
    g = torch.Generator().manual_seed(1)
    labels = torch.arange(samples) % CLASSES
    patterns = torch.rand(CLASSES, 3, 7, 7, generator=g)[labels]
    smooth = nn.functional.interpolate(patterns, size=224, mode="bilinear", align_corners=False)
    x = (0.7 * smooth + 0.3 * torch.rand(samples, 3, 224, 224, generator=g)).clamp(0, 1)
    # BatchNorm statistics of the data itself, so activations stay normalised through the depth.
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.momentum = None
    model.train()
    with torch.no_grad():
        for start in range(0, samples, 25):
            model(x[start : start + 25])
        model.eval()
        features = torch.cat([model[:-1](x[s : s + 25]) for s in range(0, samples, 25)])
    mean, std = features.mean(0), features.std(0) + 1e-6
    z = (features - mean) / std
    weights = torch.zeros(CLASSES, features.shape[1], requires_grad=True)
    optimizer = torch.optim.Adam([weights], lr=0.01)
    for _ in range(300):
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(z @ weights.T, labels) + 1e-3 * weights.square().sum()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        model[-1].weight.copy_(weights / std)
        model[-1].bias.copy_(-(weights / std) @ mean)
        y = torch.cat([model(x[s : s + 25]) for s in range(0, samples, 25)]).argmax(1)
    paths = {"pt": directory / "mobilenet.pt", "onnx": directory / "mobilenet.onnx"}
    torch.jit.save(torch.jit.script(model), str(paths["pt"]))
    torch.onnx.export(
        model, (x[:1],), str(paths["onnx"]), input_names=["input"], output_names=["output"],
        dynamic_axes={"input": {0: "n"}, "output": {0: "n"}}, dynamo=False,
    )  # fmt: skip
    paths["data"] = directory / "data.npz"
    np.savez(paths["data"], x=x.numpy(), y=y.numpy().astype(np.int64))
    return paths


def scan(
    tree: Path, mode: str, model: Path, data: Path, attack: str, eps: str, report: Path
) -> dict:
    argv = [
        "scan", str(model), "--data", str(data), "--eps", eps, "--attack", attack,
        "--no-isolation", "--json", str(report),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(tree)}
    t0 = time.perf_counter()
    # Run from the report's folder: ``-c`` puts the working directory first on sys.path, which
    # would import the robustcheck of wherever the bench was started instead of ``tree``'s.
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, mode, *argv],
        env=env, cwd=report.parent, capture_output=True, text=True,
    )  # fmt: skip
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{mode} {model.name} {attack}: {done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    rows = json.loads(report.read_text())["results"]
    errors = next(r["adversarial_errors"] for r in rows if r["attack"] == attack.split(":")[0])
    return {**result, "seconds": seconds, "errors": errors}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=SAMPLES)
    parser.add_argument("--formats", nargs="+", default=["pt", "onnx"], choices=["pt", "onnx"])
    parser.add_argument("--attacks", nargs="+", default=["pgd:steps=10", "fgsm", "apgd:steps=10"])
    parser.add_argument("--eps", default="0.03")
    parser.add_argument("--no-unchunked", action="store_true", help="skip the unchunked column")
    parser.add_argument("--baseline", type=Path, help="an earlier robustcheck tree to compare")
    args = parser.parse_args()
    columns = [("this tree", ROOT, "chunked")]
    if not args.no_unchunked:
        columns.append(("unchunked", ROOT, "unchunked"))
    if args.baseline is not None:
        columns.append(("baseline", args.baseline.resolve(), "chunked"))
    with tempfile.TemporaryDirectory() as tmp:
        paths = build(Path(tmp), args.samples)
        print(
            f"MobileNet-sized model, {args.samples} images of 3×224×224, --eps {args.eps}, defaults\n"
        )
        head = " | ".join(f"{name}: peak MiB / s / errors" for name, _, _ in columns)
        print(f"| model | attack | {head} |")
        print("|---|---|" + "---:|" * len(columns))
        for fmt in args.formats:
            for attack in args.attacks:
                cells = []
                for _, tree, mode in columns:
                    report = Path(tmp) / f"{fmt}-{len(cells)}.json"
                    r = scan(tree, mode, paths[fmt], paths["data"], attack, args.eps, report)
                    cells.append(f"{r['peak_mib']:,.0f} / {r['seconds']:.0f} / {r['errors']}")
                print(f"| .{fmt} | `{attack}` | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
