"""One-step SPSA on the deployed runtime: probes per onnxruntime call and samples per second.

Run by hand (`python bench/bench_spsa.py`); never in CI. Two models: the digits CNN exported to
ONNX (64 inputs, a twin exists, but SPSA uses onnxruntime only) and a 500-tree random forest on
breast_cancer (30 inputs, no gradient at all). The probes of every sample of a batch go to
onnxruntime together, so the calls per batch stay at one (or a few, for large inputs) whatever the
batch size. Prints a Markdown table; timings are meaningless on a loaded machine.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from robustcheck.attacks import SPSA, BatchContext, InputDomain
from robustcheck.attacks.estimated import DEFAULT_QUERIES
from robustcheck.backends.base import Backend, SideInputs
from robustcheck.backends.loader import load_backend
from robustcheck.backends.output import detect_output_kind
from robustcheck.cli import demo_model as demo


@dataclass
class Counting:
    """A backend that records the rows of every runtime call."""

    inner: Backend
    rows: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.info = self.inner.info
        self.device = self.inner.device

    def scores(self, x: torch.Tensor, side: SideInputs | None = None) -> torch.Tensor:
        self.rows.append(int(x.shape[0]))
        return self.inner.scores(x, side)

    def differentiable_scores(
        self, x: torch.Tensor, side: SideInputs | None = None
    ) -> torch.Tensor:
        return self.inner.differentiable_scores(x, side)

    def forward(self, x: torch.Tensor, side: SideInputs | None = None) -> torch.Tensor:
        return self.inner.forward(x, side)


def _digits_cnn(directory: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    x_train, y_train, x_test, y_test = demo.digits_split()
    module = demo.train(demo.build_cnn(), x_train, y_train)
    assert isinstance(module, torch.nn.Module)
    path = directory / "digits_cnn.onnx"
    torch.onnx.export(
        module, (torch.from_numpy(x_test[:2]),), str(path), input_names=["x"],
        output_names=["y"], dynamic_axes={"x": {0: "n"}, "y": {0: "n"}}, dynamo=False,
    )  # fmt: skip
    return path, x_test, y_test


def _forest(directory: Path, trees: int) -> tuple[Path, np.ndarray, np.ndarray]:
    from skl2onnx import to_onnx
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import RandomForestClassifier

    data = load_breast_cancer()
    lo, hi = data.data.min(0), data.data.max(0)
    x = ((data.data - lo) / (hi - lo)).astype(np.float32)
    order = np.random.default_rng(0).permutation(len(x))
    test, train = order[:200], order[200:]
    forest = RandomForestClassifier(n_estimators=trees, max_depth=8, random_state=0)
    forest.fit(x[train], data.target[train])
    onx = to_onnx(
        forest, x[:1], options={id(forest): {"zipmap": False}},
        target_opset={"": 17, "ai.onnx.ml": 3},
    )  # fmt: skip
    path = directory / "forest.onnx"
    path.write_bytes(onx.SerializeToString())
    return path, x[test], data.target[test]


def _measure(
    path: Path, x: np.ndarray, y: np.ndarray, queries: int, batch: int
) -> tuple[float, float, float]:
    """(samples/s, mean probes per runtime call, runtime calls per batch)."""
    backend = Counting(load_backend(path, need_gradient=False))
    attack = SPSA.from_options({"queries": str(queries)})
    start = time.perf_counter()
    for first in range(0, len(x), batch):
        xb = torch.from_numpy(np.ascontiguousarray(x[first : first + batch]))
        clean = backend.scores(xb)
        ctx = BatchContext(
            model=backend, x=xb, y=torch.from_numpy(y[first : first + batch].astype(np.int64)),
            kind=detect_output_kind(clean.numpy()),
            domain=InputDomain(0.0, 1.0), clean_scores=clean, batch_start=first,
        )  # fmt: skip
        backend.rows.clear()
        attack(ctx, [0.1])
    seconds = time.perf_counter() - start
    probes = backend.rows
    return len(x) / seconds, float(np.mean(probes)), float(len(probes))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--queries", type=int, default=DEFAULT_QUERIES)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--trees", type=int, default=500)
    args = parser.parse_args()
    print(
        f"python {platform.python_version()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, one-step SPSA, {args.queries} queries per sample, "
        f"batch {args.batch_size}\n"
    )
    print("| model | samples/s | probes per onnxruntime call | calls per batch (last) |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        models = {
            "digits CNN (ONNX)": _digits_cnn(Path(tmp)),
            f"{args.trees}-tree random forest": _forest(Path(tmp), args.trees),
        }
        for name, (path, x, y) in models.items():
            rate, probes, calls = _measure(
                path, x[: args.samples], y[: args.samples], args.queries, args.batch_size
            )
            print(f"| {name} | {rate:.1f} | {probes:.0f} | {calls:.0f} |")


if __name__ == "__main__":
    main()
