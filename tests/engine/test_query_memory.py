"""Gradient-free attacks send the runtime a batch's probes in calls sized by a memory budget: the
model's peak memory per input row is measured once per scan (robustcheck.engine.memory), and
calls are chunked so that half the memory left under --max-memory holds one. Peak resident memory
is measured in a child process (its whole lifetime), scanning real models that allocate much
per row: a "binning" layer that expands each 64-feature row to 64 × 8192 floats inside the model
(2 MiB per row, as a byte-level model's one-hot layer does) and a 3×224×224 convolution."""

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

from robustcheck.attacks import SPSA
from robustcheck.backends.loader import load_backend

MIB = 2**20


class Binning(torch.nn.Module):
    """Each row of 64 features becomes [64, 8192] soft bins inside the model (2 MiB a row)."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("edges", torch.linspace(0, 1, 8192))
        self.fc = torch.nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bins = torch.relu(x.flatten(1)[:, :, None] - self.edges[None, None, :])
        return self.fc(bins.mean(-1))


class Wide224(torch.nn.Module):
    """A 3×224×224 input and 16 full-size feature maps (3 MiB a row)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 16, 3, padding=1)
        self.fc = torch.nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.conv(x)).mean((2, 3)))


def _export(
    module: torch.nn.Module, x: np.ndarray, directory: Path, name: str
) -> tuple[Path, Path]:
    torch.manual_seed(0)
    module = module.eval()
    path = directory / f"{name}.onnx"
    torch.onnx.export(
        module, (torch.from_numpy(x[:2]),), str(path), input_names=["x"], output_names=["y"],
        dynamic_axes={"x": {0: "n"}, "y": {0: "n"}}, dynamo=False,
    )  # fmt: skip
    with torch.no_grad():  # labelled by the model itself: every sample starts correct
        y = module(torch.from_numpy(x)).argmax(1).numpy()
    data = directory / f"{name}.npz"
    np.savez(data, x=x, y=y)
    return path, data


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, tuple[Path, Path]]:
    directory = tmp_path_factory.mktemp("query-memory")
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    return {
        "binning": _export(Binning(), rng.random((8, 64), dtype=np.float32), directory, "binning"),
        "wide224": _export(
            Wide224(), rng.random((4, 3, 224, 224), dtype=np.float32), directory, "wide224"
        ),
    }


_CHILD = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    import onnxruntime, torch  # imported before the baseline: the budget is above them
    from robustcheck.engine.config import ScanConfig
    from robustcheck.engine.memory import resident_bytes
    from robustcheck.engine.runner import run

    model, data, extra_mib, attacks = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
    budget = resident_bytes() // 2**20 + extra_mib
    config = ScanConfig(
        model=Path(model), data=Path(data), eps=[0.05], attacks=attacks, batch_size=8,
        max_memory_mb=budget, threads=1, noise_baseline=False,
    )
    report = run(config)
    # VmHWM: this process's own peak. ru_maxrss would also count the parent's resident memory
    # at the fork (Linux keeps the larger of the old and new mm's peak across exec), which a
    # test worker grown to over 1 GiB made the child's "peak".
    peak = next(
        int(line.split()[1]) // 1024
        for line in Path("/proc/self/status").read_text().splitlines()
        if line.startswith("VmHWM:")
    )
    errors = {r.attack: r.adversarial_errors for r in report.results}
    print(json.dumps({"budget": budget, "peak": peak, "errors": errors}))
    """
)


def _scan_in_child(model: Path, data: Path, extra_mib: int, attacks: list[str]) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(model), str(data), str(extra_mib), *attacks],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    ("name", "attacks"),
    [
        # Unbounded, one call of SPSA's 200 probes × 8 samples takes 1600 rows: 3.2 GiB here.
        ("binning", ["spsa:queries=200", "square:queries=100"]),
        ("wide224", ["spsa:queries=100", "square:queries=50"]),
    ],
)
def test_gradient_free_scans_stay_under_the_memory_budget(models, name, attacks):
    model, data = models[name]
    result = _scan_in_child(model, data, 400, attacks)
    assert result["peak"] < result["budget"], result
    assert set(result["errors"]) == {a.split(":")[0] for a in attacks}


def _measure_in_child(body: str, model: Path, data: Path) -> dict:
    """Run ``body`` in a fresh interpreter (``backend``, ``x``, ``model``, ``dataset`` and
    ``MIB`` defined; it prints one JSON line): what memory a call takes depends on what the
    process freed before, so each measurement starts from a process of its own, as a scan's
    isolated child does."""
    prelude = textwrap.dedent(
        """
        import json, sys
        from pathlib import Path
        import numpy as np, torch
        from robustcheck.attacks import SPSA
        from robustcheck.backends.loader import load_backend
        from robustcheck.data import load_dataset
        from robustcheck.engine.memory import query_rows, resident_bytes, row_cost, rows_per_call
        from robustcheck.errors import RuntimeEnvironmentError
        MIB = 2**20
        model, data = Path(sys.argv[1]), Path(sys.argv[2])
        backend = load_backend(model, need_gradient=False, threads=1)
        dataset = load_dataset(data)
        x = torch.from_numpy(np.load(data)["x"])
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(body), str(model), str(data)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_memory_a_row_costs_is_measured_inside_the_model(models):
    result = _measure_in_child(
        'print(json.dumps({"per_row": row_cost(lambda k: backend.scores(x[:k]), 64)}))',
        *models["binning"],
    )
    per_row = result["per_row"]
    assert per_row is not None
    assert 1.8 * MIB < per_row < 4 * MIB, per_row / MIB  # 64 × 8192 float32 = 2 MiB


def test_runtime_calls_are_chunked_to_the_row_budget(models):
    """The probes of one SPSA estimate go to the runtime in calls of at most ``max_rows``, and
    score exactly as in one call."""
    model, data = models["binning"]
    backend = load_backend(model, need_gradient=False, threads=1)
    arrays = np.load(data)
    calls: list[int] = []

    class Counted:
        def __init__(self, inner):
            self.inner = inner

        def __getattr__(self, name):
            return getattr(self.inner, name)

        def scores(self, x, side=None):
            calls.append(int(x.shape[0]))
            return self.inner.scores(x, side)

    outputs = []
    for max_rows in (None, 7):
        ctx = batch_context(Counted(backend), arrays["x"], arrays["y"], seed=1)
        ctx.max_rows = max_rows
        calls.clear()
        out = SPSA.from_options({"queries": "20"})(ctx, [0.05])
        outputs.append(out.adversarial[0.05])
        assert ctx.runtime_evaluations == 1
        if max_rows is None:
            assert calls == [160]  # 10 pairs × 2 × 8 samples, in one call
        else:
            assert calls == [7] * 22 + [6]
    assert torch.equal(outputs[0], outputs[1])


def test_the_scan_plans_calls_from_the_measured_cost(models):
    result = _measure_in_child(
        """
        in_use = (resident_bytes() or 0) // MIB
        budget = {"max_memory_mb": in_use + 400, "batch_size": 8, "n_eps": 1}
        rows = query_rows(backend, dataset, [SPSA()], **budget)
        print(json.dumps({"rows": rows, "none": query_rows(backend, dataset, [], **budget)}))
        """,
        *models["binning"],
    )
    # Half of the ~400 MiB left, less one 64 MiB block of probes, at 2 MiB a row.
    assert result["rows"] is not None and 50 <= result["rows"] <= 100, result
    assert result["none"] is None


def test_a_sample_that_cannot_fit_fails_with_exit_5_naming_max_memory(models):
    """In a process of its own: what a long-lived process freed before would hide the cost."""
    model, data = models["binning"]
    argv = [
        "scan", str(model), "--data", str(data), "--eps", "0.05", "--attack", "square",
        "--max-memory", "64", "--no-isolation",
    ]  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "robustcheck", *argv],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 5, done.stderr
    assert "takes about 2." in done.stderr and "raise --max-memory" in done.stderr, done.stderr
    assert "not even one sample fits" in done.stderr


def test_an_arena_grown_before_cannot_hide_what_a_row_costs(models):
    """A runtime whose arena an earlier, larger call grew serves the measured call from memory it
    already holds (the measurement then sees ~0 growth); the graph's shapes floor the cost."""
    result = _measure_in_child(
        """
        backend.scores(x[:8].repeat(8, 1)); backend.scores(x[:8])
        hidden = row_cost(lambda k: backend.scores(x[:k]), 64)
        in_use = (resident_bytes() or 0) // MIB
        budget = {"max_memory_mb": in_use + 400, "batch_size": 8, "n_eps": 1}
        rows = query_rows(backend, dataset, [SPSA()], **budget)
        print(json.dumps({"hidden": hidden, "rows": rows}))
        """,
        *models["binning"],
    )
    assert result["hidden"] < MIB, result  # what the measurement alone would have planned on
    assert result["rows"] is not None and 50 <= result["rows"] <= 100, result


def test_a_batch_that_cannot_fit_names_the_batch_size_that_does(models):
    result = _measure_in_child(
        """
        backend.scores(x[:8])  # the arena holds what 8 rows need: the budget below is above it
        in_use = (resident_bytes() or 0) // MIB
        try:
            rows_per_call(
                lambda k: backend.scores(x[:k]), 64,
                max_memory_mb=in_use + 60, batch_size=64, model=model,
            )
            print(json.dumps({"raised": False}))
        except RuntimeEnvironmentError as e:
            print(json.dumps({"raised": True, "message": e.message, "hint": e.hint or ""}))
        """,
        *models["binning"],
    )
    assert result["raised"], result
    assert "a batch of 64 does not fit" in result["message"]
    hint = result["hint"]
    assert hint.startswith("--batch-size ") and "--max-memory" in hint
    suggested = int(hint.split()[1])
    assert 15 <= suggested <= 30, hint  # ~60 MiB at 2 MiB a row
