"""robustcheck on a GPU: ResNet-50 (random weights, 224×224, fp32), images/s against a hand-written
GPU floor on the same device, with GPU utilisation and peak device memory.

Run on a machine with an NVIDIA GPU (`make bench-gpu`; about 6-8 minutes on an H200 with the
defaults). `--quick` runs a tiny model on 32×32 inputs on the CPU in under a minute: a smoke test
of the script itself, whose figures mean nothing.

Workloads (each method scans the same files, batch size and device):

- FGSM at one ε and a 5-ε sweep over `--samples` images, PGD-10 at one ε over `--pgd-samples`;
- floor (hand-written): batches copied from pinned memory; one forward+backward per batch, the
  clean forward, and per ε one forward of the adversarial batch plus one of the noise baseline
  (robustcheck runs one by default); PGD: ten forward+backward steps, then those two forwards;
  counts stay on the device until the end;
- robustcheck in-process (`robustcheck.engine.runner.run`, `--no-isolation`'s path) and as the
  command line (`robustcheck scan --device cuda`: start-up, isolation child, hashing, reports);
  the ONNX model in-process too when onnxruntime has the CUDA execution provider.

The data is uint8 (10k × 3 × 224 × 224 is 1.5 GB; float32 would be 6 GB) in a memory-mapped
.npy; the model divides by 255 itself, so ε is in pixel units (2 = 2/255). Labels are the model's
own predictions (random weights are right about nothing), so every sample counts.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from robustcheck.engine.config import ScanConfig
from robustcheck.engine.runner import run

SWEEP = [1.0, 2.0, 4.0, 8.0, 16.0]
"""ε in pixel units (of 255)."""
SINGLE = [4.0]
PGD_STEPS = 10


# --- the model: ResNet-50 written out (no torchvision) ---------------------------------------


class Bottleneck(torch.nn.Module):
    expansion = 4

    def __init__(self, cin: int, width: int, stride: int) -> None:
        super().__init__()
        cout = width * self.expansion
        self.conv1 = torch.nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(width)
        self.conv2 = torch.nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn2 = torch.nn.BatchNorm2d(width)
        self.conv3 = torch.nn.Conv2d(width, cout, 1, bias=False)
        self.bn3 = torch.nn.BatchNorm2d(cout)
        self.down = (
            torch.nn.Sequential(
                torch.nn.Conv2d(cin, cout, 1, stride, bias=False), torch.nn.BatchNorm2d(cout)
            )
            if stride != 1 or cin != cout
            else torch.nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = torch.relu(self.bn2(self.conv2(out)))
        return torch.relu(self.bn3(self.conv3(out)) + self.down(x))


class ResNet(torch.nn.Module):
    """He et al. 2016: a 7×7 stem, four stages of bottleneck blocks, global pooling, a linear
    classifier; ``blocks=(3, 4, 6, 3)``, ``base=64`` is ResNet-50. Takes 0..255 pixels."""

    def __init__(self, blocks: tuple[int, ...], base: int, classes: int) -> None:
        super().__init__()
        layers: list[torch.nn.Module] = [
            torch.nn.Conv2d(3, base, 7, 2, 3, bias=False),
            torch.nn.BatchNorm2d(base),
            torch.nn.ReLU(),
            torch.nn.MaxPool2d(3, 2, 1),
        ]
        cin = base
        for stage, count in enumerate(blocks):
            width = base * 2**stage
            for i in range(count):
                layers.append(Bottleneck(cin, width, 2 if i == 0 and stage > 0 else 1))
                cin = width * Bottleneck.expansion
        self.features = torch.nn.Sequential(*layers)
        self.head = torch.nn.Linear(cin, classes)
        for m in self.modules():  # He init; BatchNorm at its defaults (eval: identity-like)
            if isinstance(m, torch.nn.Conv2d):
                torch.nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.features(x / 255.0)
        return self.head(torch.flatten(torch.nn.functional.adaptive_avg_pool2d(features, 1), 1))


@dataclass(frozen=True)
class Setup:
    name: str
    blocks: tuple[int, ...]
    base: int
    classes: int
    size: int


RESNET50 = Setup("ResNet-50 224×224", (3, 4, 6, 3), 64, 1000, 224)
TINY = Setup("tiny ResNet 32×32 (--quick)", (1, 1, 1, 1), 8, 10, 32)


# --- files ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Files:
    torchscript: Path
    onnx: Path | None
    data: Path
    labels: Path


def build(setup: Setup, samples: int, directory: Path, device: torch.device, onnx: bool) -> Files:
    torch.manual_seed(0)
    module = ResNet(setup.blocks, setup.base, setup.classes).eval()
    example = torch.zeros(2, 3, setup.size, setup.size)
    ts = directory / "model.pt"
    torch.jit.save(torch.jit.trace(module, example), str(ts))
    onnx_path = None
    if onnx:
        onnx_path = directory / "model.onnx"
        torch.onnx.export(
            module, (example,), str(onnx_path), dynamo=False, opset_version=17,
            input_names=["input"], output_names=["scores"],
            dynamic_axes={"input": {0: "batch"}, "scores": {0: "batch"}},
        )  # fmt: skip
    data = directory / "images.npy"
    x = np.lib.format.open_memmap(
        data, mode="w+", dtype=np.uint8, shape=(samples, 3, setup.size, setup.size)
    )
    rng = np.random.default_rng(0)
    module = module.to(device)
    labels = np.empty(samples, dtype=np.int64)
    with torch.inference_mode():
        for start in range(0, samples, 256):
            chunk = rng.integers(
                0, 256, size=(min(256, samples - start), *x.shape[1:]), dtype=np.uint8
            )
            x[start : start + len(chunk)] = chunk
            scores = module(torch.from_numpy(chunk).to(device).float())
            labels[start : start + len(chunk)] = scores.argmax(1).cpu().numpy()
    x.flush()
    del x
    np.save(directory / "labels.npy", labels)
    return Files(ts, onnx_path, data, directory / "labels.npy")


# --- the floor -----------------------------------------------------------------------------


def _pinned_batches(
    data: Path, labels: Path, n: int, batch: int, device: torch.device
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    x = np.load(data, mmap_mode="r")
    y = torch.from_numpy(np.load(labels)[:n]).to(device)
    pin = device.type == "cuda"
    for start in range(0, n, batch):
        host = torch.from_numpy(np.array(x[start : start + batch]))
        if pin:
            host = host.pin_memory()
        yield host.to(device, non_blocking=pin).float(), y[start : start + batch]


def floor(
    files: Files, n: int, batch: int, device: torch.device, eps: list[float], steps: int
) -> Callable[[], None]:
    """One gradient per batch (FGSM) or ``steps`` (PGD), a forward per ε and per noise draw."""
    module = torch.jit.load(str(files.torchscript), map_location=device).eval()
    ce = torch.nn.functional.cross_entropy

    def grad_sign(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        leaf = x.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(ce(module(leaf), y), leaf)
        return grad.sign()

    def once() -> None:
        wrong = torch.zeros((), dtype=torch.int64, device=device)
        for x, y in _pinned_batches(files.data, files.labels, n, batch, device):
            with torch.inference_mode():
                wrong += (module(x).argmax(1) != y).sum()
            if steps == 0:
                sign = grad_sign(x, y)
                for e in eps:
                    with torch.inference_mode():
                        adv = (x + e * sign).clamp(0, 255)
                        wrong += (module(adv).argmax(1) != y).sum()
                        noise = torch.randint_like(x, 0, 2).mul_(2).sub_(1)
                        wrong += (module((x + e * noise).clamp(0, 255)).argmax(1) != y).sum()
            else:
                for e in eps:
                    adv = x.clone()
                    for _ in range(steps):
                        step = adv + 2.5 * e / steps * grad_sign(adv, y)
                        adv = torch.minimum(torch.maximum(step, x - e), x + e).clamp(0, 255)
                    with torch.inference_mode():
                        wrong += (module(adv).argmax(1) != y).sum()
                        noise = torch.randint_like(x, 0, 2).mul_(2).sub_(1)
                        wrong += (module((x + e * noise).clamp(0, 255)).argmax(1) != y).sum()
        wrong.item()  # the only host round trip

    return once


# --- robustcheck ---------------------------------------------------------------------------


def in_process(
    model: Path, files: Files, batch: int, device: str, eps: list[float], attack: str
) -> Callable[[], None]:
    config = ScanConfig(
        model=model, data=files.data, labels_file=files.labels, eps=eps, batch_size=batch,
        device=device, attacks=[attack], input_range=(0.0, 255.0), isolate=False, exit_zero=True,
    )  # fmt: skip

    def once() -> None:
        run(config)

    return once


def cli(
    model: Path, files: Files, batch: int, device: str, eps: list[float], attack: str, out: Path
) -> Callable[[], None]:
    cmd = [
        str(Path(sys.executable).with_name("robustcheck")), "scan", str(model),
        "--data", str(files.data), "--labels-file", str(files.labels),
        *[a for e in eps for a in ("--eps", str(e))], "--batch-size", str(batch),
        "--device", device, "--attack", attack, "--input-range", "0", "255",
        "--no-config", "--exit-zero", "--policy", "builtin:default", "--json", str(out),
    ]  # fmt: skip

    def once() -> None:
        done = subprocess.run(
            cmd, check=False, capture_output=True, text=True, env={**os.environ, "CI": "1"}
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"robustcheck scan exited {done.returncode}: {done.stderr.strip()[-500:]}"
            )

    return once


# --- measuring -----------------------------------------------------------------------------


@dataclass
class Utilisation:
    """``nvidia-smi`` sampled every 200 ms in the background: (time, utilisation %, MiB used)."""

    samples: list[tuple[float, float, float]] = field(default_factory=list)
    process: subprocess.Popen[str] | None = None

    def start(self) -> None:
        if shutil.which("nvidia-smi") is None:
            return
        self.process = subprocess.Popen(
            ["nvidia-smi", "--query-gpu=utilization.gpu,memory.used", "--format=csv,noheader,nounits",
             "-lms", "200"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            parts = [p.strip() for p in line.split(",")]
            try:
                self.samples.append((time.monotonic(), float(parts[0]), float(parts[1])))
            except (ValueError, IndexError):
                continue

    def between(self, t0: float, t1: float) -> tuple[float | None, float | None]:
        window = [s for s in self.samples if t0 <= s[0] <= t1]
        if not window:
            return None, None
        return statistics.mean(s[1] for s in window), max(s[2] for s in window)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait()


@dataclass(frozen=True)
class Row:
    workload: str
    method: str
    images_per_s: float
    seconds: float
    utilisation: float | None
    peak_mib: float | None
    """torch's peak allocation in this process; the GPU's whole used memory for the CLI."""


def timed(
    name: str,
    workload: str,
    fn: Callable[[], None],
    n: int,
    device: torch.device,
    util: Utilisation,
) -> Row:
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t0 = time.monotonic()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    t1 = time.monotonic()
    mean_util, used = util.between(t0, t1)
    peak = None
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated() / 2**20
        if "CLI" in name:
            peak = used
    return Row(workload, name, n / (t1 - t0), t1 - t0, mean_util, peak)


def _fmt(value: float | None, spec: str) -> str:
    return "–" if value is None else format(value, spec)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a tiny model on the CPU (smoke test)")
    parser.add_argument(
        "--samples", type=int, default=None, help="images for FGSM [10000; quick 64]"
    )
    parser.add_argument(
        "--pgd-samples", type=int, default=None, help="images for PGD-10 [2000; quick 32]"
    )
    parser.add_argument("--batch-size", type=int, default=None, help="[256; quick 32]")
    parser.add_argument("--no-cli", action="store_true", help="skip the command-line runs")
    args = parser.parse_args()
    setup = TINY if args.quick else RESNET50
    samples = args.samples or (64 if args.quick else 10_000)
    pgd_samples = min(samples, args.pgd_samples or (32 if args.quick else 2_000))
    batch = args.batch_size or (32 if args.quick else 256)
    if args.quick:
        device = torch.device("cpu")
    elif torch.cuda.is_available():
        device = torch.device("cuda")
    else:
        sys.exit(
            "bench/gpu.py: no CUDA GPU (torch.cuda.is_available() is False); --quick runs on the CPU"
        )
    import onnxruntime as ort

    onnx_cuda = "CUDAExecutionProvider" in ort.get_available_providers() and device.type == "cuda"
    rc_device = "cuda" if device.type == "cuda" else "cpu"
    gpu = torch.cuda.get_device_name() if device.type == "cuda" else platform.processor() or "CPU"
    print(
        f"{setup.name}, {gpu}, torch {torch.__version__}, onnxruntime {ort.__version__} "
        f"(CUDA EP: {'yes' if onnx_cuda else 'no'}), batch {batch}, fp32 "
        f"(cuDNN TF32 convolutions: {torch.backends.cudnn.allow_tf32}), one timed run per method "
        "after a warm-up\n",
        flush=True,
    )
    util = Utilisation()
    util.start()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        t = time.monotonic()
        files = build(setup, samples, directory, device, onnx=onnx_cuda or args.quick)
        print(
            f"built the model, {samples} images and labels in {time.monotonic() - t:.0f} s\n",
            flush=True,
        )
        workloads = [
            ("FGSM 1 ε", SINGLE, "fgsm", 0, samples),
            ("FGSM 5 ε", SWEEP, "fgsm", 0, samples),
            (f"PGD-{PGD_STEPS} 1 ε", SINGLE, f"pgd:steps={PGD_STEPS},random_start=false,early_stop=false", PGD_STEPS, pgd_samples),
        ]  # fmt: skip
        print("| workload | method | images/s | × floor | seconds | GPU util % | peak MiB |")
        print("|---|---|---|---|---|---|---|")
        for wname, eps, attack, steps, n in workloads:
            limited = files if n == samples else _first(files, n, directory)
            methods: dict[str, Callable[[], None]] = {
                "floor (hand-written)": floor(limited, n, batch, device, eps, steps),
                "robustcheck in-process": in_process(files.torchscript, limited, batch, rc_device, eps, attack),
            }  # fmt: skip
            if not args.no_cli and (wname == "FGSM 1 ε" or not args.quick):
                methods["robustcheck CLI"] = cli(
                    files.torchscript, limited, batch, rc_device, eps, attack, directory / "r.json"
                )
            if files.onnx is not None and steps == 0:
                methods["robustcheck in-process, ONNX"] = in_process(
                    files.onnx, limited, batch, rc_device, eps, attack
                )
            warm = _first(limited, min(n, 2 * batch), directory, suffix="warm")
            floor(warm, min(n, 2 * batch), batch, device, eps, steps)()
            in_process(files.torchscript, warm, batch, rc_device, eps, attack)()
            base = None
            for name, fn in methods.items():
                row = timed(name, wname, fn, n, device, util)
                base = base or row.images_per_s
                rows.append(row)
                print(
                    f"| {wname} | {name} | {row.images_per_s:.1f} | {row.images_per_s / base:.2f} | "
                    f"{row.seconds:.1f} | {_fmt(row.utilisation, '.0f')} | {_fmt(row.peak_mib, '.0f')} |",
                    flush=True,
                )
    util.stop()


def _first(files: Files, n: int, directory: Path, suffix: str = "") -> Files:
    """The first ``n`` images and labels as files of their own."""
    tag = f"{n}{suffix}"
    data, labels = directory / f"images-{tag}.npy", directory / f"labels-{tag}.npy"
    if not data.exists():
        np.save(data, np.load(files.data, mmap_mode="r")[:n])
        np.save(labels, np.load(files.labels)[:n])
    return Files(files.torchscript, files.onnx, data, labels)


if __name__ == "__main__":
    main()
