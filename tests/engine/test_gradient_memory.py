"""Gradient attacks stay within a memory budget: a forward+backward pass keeps every activation
for the backward pass (80 MB a row for a MobileNet-sized model at 224×224: a pass over a batch
of 200 peaked at 16 GB), so the scan measures what a pass costs per row once
(robustcheck.engine.passes) and :meth:`BatchContext.gradient` runs passes of at
most that many rows. The iterates are float64 and stepped block by block, with the ε-ball's
bounds made per block. None of it changes a result: chunked gradients equal the one-pass
gradient bit for bit, and so do the attacks' outputs. Peak memory is measured in a child
process (``VmHWM``: its own peak over its whole lifetime)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from attacks.conftest import batch_context

from robustcheck.attacks import CrossEntropy, TargetedCrossEntropy
from robustcheck.attacks.spec import parse_attack_spec
from robustcheck.backends.loader import load_backend
from robustcheck.data import load_dataset
from robustcheck.engine import memory, passes
from robustcheck.engine.passes import ChunkedBackend
from robustcheck.plugins import attack_registry

MIB = 2**20


class Deep(torch.nn.Module):
    """64 feature maps of 32×32 through 12 tanh layers: each keeps its 256 KiB output for the
    backward pass (3 MiB a row), while a forward alone holds two at a time. Every kernel computes
    a row the same at any batch size (a 3×3 convolution as the head: a 1×1 one, or an
    ``nn.Linear``, is a matrix product, which rounds a row differently at another batch size), so
    any difference a chunk made would be robustcheck's."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 64, 3, padding=1)
        self.norm = torch.nn.BatchNorm2d(64)
        self.head = torch.nn.Conv2d(64, 10, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm(self.conv(x))
        for _ in range(12):
            h = torch.tanh(1.5 * h)
        return self.head(h).mean((2, 3))


@pytest.fixture(scope="module")
def deep(tmp_path_factory) -> tuple[Path, Path]:
    """The Deep model (TorchScript, BatchNorm with non-trivial statistics, in eval mode) and 256
    random images labelled with its own predictions."""
    directory = tmp_path_factory.mktemp("gradient-memory")
    torch.manual_seed(0)
    module = Deep()
    module.norm.running_mean.uniform_(-0.2, 0.2)
    module.norm.running_var.uniform_(0.5, 2.0)
    module = module.eval()
    x = np.random.default_rng(0).random((256, 3, 32, 32), dtype=np.float32)
    model = directory / "deep.pt"
    torch.jit.save(torch.jit.trace(module, torch.from_numpy(x[:2])), str(model))
    with torch.no_grad():
        y = module(torch.from_numpy(x)).argmax(1).numpy()
    data = directory / "deep.npz"
    np.savez(data, x=x, y=y)
    return model, data


def _context(model: Path, data: Path, n: int, gradient_rows: int | None):
    backend = load_backend(model, threads=1)
    arrays = np.load(data)
    ctx = batch_context(backend, arrays["x"][:n], arrays["y"][:n], seed=3)
    ctx.gradient_rows = gradient_rows
    return ctx


def test_a_gradient_in_chunks_equals_one_pass(deep):
    whole, chunked = (_context(*deep, 11, rows) for rows in (None, 4))
    rows = torch.tensor([0, 2, 3, 5, 6, 7, 10])
    target = torch.arange(7) % 10
    for loss, kwargs in (
        (CrossEntropy(), {}),
        (CrossEntropy(), {"rows": rows}),
        (TargetedCrossEntropy(), {"rows": rows, "target": target}),
    ):
        x = whole.x64 if "rows" not in kwargs else whole.x64[rows]
        a = whole.gradient(x, loss, **kwargs)
        b = chunked.gradient(x, loss, **kwargs)
        assert torch.equal(a.gradient, b.gradient)
        assert torch.equal(a.scores, b.scores)
    assert whole.gradient_evaluations == chunked.gradient_evaluations == 3


@pytest.mark.parametrize(
    "spec",
    [
        "fgsm",
        "bim:steps=4",
        "pgd:steps=5",
        "pgd:steps=3,restarts=2",
        "pgd:steps=3,target=least-likely",
        "pgd:steps=3,early_stop=false",
        "apgd:steps=6",
        "apgd:steps=4,targets=2,restarts=2",
    ],
)
def test_attacks_do_not_depend_on_the_gradient_chunks(deep, spec):
    parsed = parse_attack_spec(spec, where="test")
    attack = attack_registry()[0].get(parsed.name).from_options(parsed.options)
    outputs = []
    for rows in (None, 3):
        ctx = _context(*deep, 20, rows)
        outputs.append(attack(ctx, [0.01, 0.03]))
    for eps in (0.01, 0.03):
        assert torch.equal(outputs[0].adversarial[eps], outputs[1].adversarial[eps]), eps


def test_passes_are_sized_from_the_cost_per_row(deep, monkeypatch):
    """The cap (or half the memory left under --max-memory) over the cost a row, rounded down to
    a power of two; no chunks when the batch fits."""
    model, data = deep
    backend = load_backend(model, threads=1)
    dataset = load_dataset(data)
    monkeypatch.setattr(passes, "row_cost", lambda *args, **kwargs: 3 * MIB)
    budget = {"max_memory_mb": None, "batch_size": 256, "n_eps": 1}
    monkeypatch.setattr(passes, "CALL_BYTES", 64 * MIB)
    assert passes.gradient_rows(backend, dataset, **budget) == 16  # 21 rows fit
    monkeypatch.setattr(passes, "CALL_BYTES", 2**40)
    assert passes.gradient_rows(backend, dataset, **budget) is None  # the batch fits
    in_use = (memory.resident_bytes() or 0) // MIB
    # Half of what is left after the batch's float64 tensors (256 × 3072 × 8 × 6 = 36 MiB).
    tight = {**budget, "max_memory_mb": in_use + 36 + 120}
    assert passes.gradient_rows(backend, dataset, **tight) == 16


class _Recorded:
    """A backend scoring each row by its sum and its side input, recording every call's rows."""

    def __init__(self) -> None:
        self.calls: list[int] = []
        self.info, self.device = None, torch.device("cpu")

    def scores(self, x: torch.Tensor, side=None) -> torch.Tensor:
        self.calls.append(int(x.shape[0]))
        total = x.flatten(1).sum(1, dtype=torch.float64)
        return torch.stack([total, side["mask"].to(torch.float64)], dim=1)


def test_runtime_calls_are_chunked_padded_and_score_the_same(deep):
    inner = _Recorded()
    chunked = ChunkedBackend(inner, 8)  # type: ignore[arg-type]
    x = torch.rand(21, 3, 4, 4)
    side = {"mask": torch.arange(21)}
    assert torch.equal(chunked.scores(x, side), inner.scores(x, side))
    assert inner.calls == [8, 8, 8, 21]  # the last chunk repeats its last row up to 8
    backend = load_backend(deep[0], threads=1)
    images = torch.from_numpy(np.load(deep[1])["x"][:21])
    assert torch.equal(ChunkedBackend(backend, 8).scores(images), backend.scores(images))


_CHILD = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    import torch  # imported before the baseline: the budget is above it
    import robustcheck.engine.runner as runner
    from robustcheck.engine.config import ScanConfig
    from robustcheck.engine.memory import resident_bytes

    model, data, extra_mib, chunked = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    if chunked == "no":
        runner.call_sizes = lambda *args, **kwargs: (None, None)
    budget = resident_bytes() // 2**20 + extra_mib
    config = ScanConfig(
        model=Path(model), data=Path(data), eps=[0.03], attacks=["fgsm", "pgd:steps=3"],
        batch_size=256, max_memory_mb=budget, threads=1,
    )
    report = runner.run(config)
    # VmHWM: this process's own peak (ru_maxrss would carry pytest's across fork+exec)
    with open("/proc/self/status") as status:
        peak = next(int(l.split()[1]) for l in status if l.startswith("VmHWM:")) // 1024
    errors = {f"{r.attack}@{r.eps}": r.adversarial_errors for r in report.results}
    print(json.dumps({"budget": budget, "peak": peak, "errors": errors}))
    """
)


def _scan_in_child(model: Path, data: Path, extra_mib: int, chunked: bool) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(model), str(data), str(extra_mib), "yes" if chunked else "no"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_gradient_scan_stays_under_the_memory_budget(deep):
    """One pass over the batch of 256 takes ~850 MiB; in passes sized to the budget the scan
    stays under it, and counts the same."""
    chunked = _scan_in_child(*deep, 400, chunked=True)
    assert chunked["peak"] < chunked["budget"], chunked
    whole = _scan_in_child(*deep, 400, chunked=False)
    assert whole["peak"] > whole["budget"], whole  # what the budget guards against
    assert chunked["errors"] == whole["errors"]
