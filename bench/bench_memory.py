"""Peak memory of streaming a memory-mapped ``.npy`` vs the dataset's size.

Run by hand: ``python bench/bench_memory.py``; prints a Markdown table. For each size a float32
``.npy`` of shape [N, 1, 8, 8] is written to a temporary folder, then a fresh process loads it
with :func:`robustcheck.data.load_dataset` (header checks, hash and NaN scan), computes
``value_range()`` and streams ``batches(256)`` — what a scan does. Each measurement runs in its own
process; after the imports the kernel's peak-RSS mark is reset (Linux ``/proc/self/clear_refs``),
so the growth (peak resident memory during the run minus resident memory before it) belongs to
that measurement alone, not to import-time transients. Columns:

- *robustcheck*: the loader as shipped (mapped pages released after every batch);
- *pages kept*: the same with page release disabled (mapped file pages accumulate in RSS,
  reclaimable but counted);
- *np.load*: reading the whole array into memory, for reference;
- *tracemalloc peak*: heap allocations of the robustcheck run (NumPy reports to tracemalloc);
- *whole scan*: ``robustcheck.engine.runner.run`` in-process (FGSM at ε 0.1 and the noise baseline, a
  linear TorchScript model built here, int64 labels from a ``--labels-file`` ``.npy``); the labels
  (8 bytes a sample) are the only part that grows with the dataset.
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import subprocess
import sys
import tempfile
import tracemalloc
from pathlib import Path

import numpy as np

SHAPE = (1, 8, 8)
BATCH = 256


def _status_kib(field: str) -> float | None:
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return None
    return next(
        (float(line.split()[1]) for line in status.splitlines() if line.startswith(field)), None
    )


def _peak_kib() -> float:
    """Peak RSS: Linux's resettable VmHWM, else ru_maxrss (which also carries the peak of the
    process that forked this one, so it overstates small runs)."""
    hwm = _status_kib("VmHWM:")
    if hwm is not None:
        return hwm
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 if sys.platform == "darwin" else float(peak)  # macOS reports bytes


def _reset_peak() -> float:
    """Reset the peak-RSS mark to the current RSS where the OS allows it; the baseline in KiB."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return _peak_kib()
    return _status_kib("VmRSS:") or _peak_kib()


def _scan(path: Path) -> None:
    from robustcheck.engine.config import ScanConfig
    from robustcheck.engine.runner import run

    config = ScanConfig(
        model=path.with_name("linear.pt"),
        data=path,
        labels_file=path.with_name(path.stem + "-labels.npy"),
        eps=[0.1],
        batch_size=BATCH,
        isolate=False,
    )
    report = run(config)
    assert report.data.n_samples > 0


def _child(mode: str, path: Path) -> dict[str, float]:
    from robustcheck.data import load_dataset, npy

    if mode == "scan":
        import torch  # noqa: F401  (imports are not the scan's memory)

        import robustcheck.engine.runner  # noqa: F401
    if mode == "pages-kept":
        npy._release = lambda array: None  # type: ignore[assignment]
    gc.collect()
    before = _reset_peak()
    tracemalloc.start()
    if mode == "np.load":
        total = float(np.load(path).sum(dtype=np.float64))
    elif mode == "scan":
        _scan(path)
    else:
        dataset = load_dataset(path)
        dataset.value_range()
        total = 0.0
        for batch in dataset.batches(BATCH):
            total += float(batch.x.sum(dtype=np.float64))
    _, traced = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"rss_growth_mib": (_peak_kib() - before) / 1024, "traced_mib": traced / 2**20}


def _measure(mode: str, path: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", mode, str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 100_000, 200_000])
    parser.add_argument("--child", nargs=2, metavar=("MODE", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(args.child[0], Path(args.child[1]))))
        return
    batch_mib = BATCH * int(np.prod(SHAPE)) * 4 / 2**20
    print(f"float32 [N, {', '.join(map(str, SHAPE))}], batches of {BATCH} ({batch_mib:.2f} MiB)\n")
    print(
        "| samples | file (MiB) | peak RSS growth: robustcheck (MiB) | pages kept (MiB) "
        "| np.load (MiB) | tracemalloc peak (MiB) | whole scan (MiB) |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        weights = _linear_model(Path(tmp) / "linear.pt")
        for n in args.sizes:
            path = Path(tmp) / f"x{n}.npy"
            x = rng.random((n, *SHAPE), dtype=np.float32)
            np.save(path, x)
            np.save(path.with_name(path.stem + "-labels.npy"), _labels(x, weights))
            del x
            ours = _measure("robustcheck", path)
            kept = _measure("pages-kept", path)
            whole = _measure("np.load", path)
            scan = _measure("scan", path)
            print(
                f"| {n:,} | {path.stat().st_size / 2**20:.1f} | {ours['rss_growth_mib']:.1f} "
                f"| {kept['rss_growth_mib']:.1f} | {whole['rss_growth_mib']:.1f} "
                f"| {ours['traced_mib']:.1f} | {scan['rss_growth_mib']:.1f} |"
            )
            path.unlink()


def _linear_model(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """A linear TorchScript classifier with fixed random weights; returns (W, b)."""
    import torch

    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(int(np.prod(SHAPE)), 10))
    torch.jit.save(torch.jit.script(module.eval()), str(path))
    linear = module[1]
    return linear.weight.detach().numpy(), linear.bias.detach().numpy()


def _labels(x: np.ndarray, weights: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """The model's own predictions, so clean accuracy is high and the scan's checks pass."""
    w, b = weights
    return np.argmax(x.reshape(len(x), -1) @ w.T + b, axis=1).astype(np.int64)


if __name__ == "__main__":
    main()
