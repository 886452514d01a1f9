"""Big-endian arrays are converted to native order, so the runtime sees the right values."""

from __future__ import annotations

import numpy as np
import pytest

from robustcheck.data import load_dataset

BIG = np.dtype(">f4") if np.little_endian else np.dtype("<f4")


def _foreign_order_x() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(9, 1, 2, 2)).astype(BIG)


@pytest.mark.parametrize("suffix", ["npy", "npz"])
def test_foreign_byte_order_becomes_native_with_equal_values(tmp_path, suffix):
    x = _foreign_order_x()
    path = tmp_path / f"x.{suffix}"
    np.save(path, x) if suffix == "npy" else np.savez(path, x=x, y=np.arange(9).astype(">i8"))
    dataset = load_dataset(path)
    assert dataset.source.dtype == np.dtype(np.float32) and dataset.source.dtype.isnative
    (batch,) = dataset.batches(16)
    assert batch.x.dtype.isnative and batch.x.dtype == np.float32
    np.testing.assert_array_equal(batch.x, x.astype(np.float32))
    assert dataset.value_range() == (float(x.min()), float(x.max()))
    if dataset.y is not None:
        assert dataset.y.dtype.isnative and dataset.y.tolist() == list(range(9))


def test_onnxruntime_scores_the_converted_batch_correctly(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Mul", ["x", "x"], ["y"])],
        "square",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 1, 2, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 1, 2, 2])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    x = _foreign_order_x()
    np.save(tmp_path / "x.npy", x)
    (batch,) = load_dataset(tmp_path / "x.npy").batches(16)
    expected = x.astype(np.float32) ** 2
    # Fed the file's own big-endian array, onnxruntime 1.x returns garbage (zeros or NaN).
    np.testing.assert_allclose(session.run(None, {"x": batch.x})[0], expected, rtol=1e-6)


def test_a_big_endian_npy_scans_exactly_like_native_data(tmp_path, digits, linear_model):
    from robustcheck.engine.config import ScanConfig
    from robustcheck.engine.runner import run

    x = digits.x_test[:200]
    np.save(tmp_path / "foreign.npy", x.astype(BIG))
    np.savez(tmp_path / "native.npz", x=x)  # no labels either: both scan predicted labels
    assert load_dataset(tmp_path / "foreign.npy").source.array.dtype == BIG
    reports = [
        run(ScanConfig(model=linear_model.torchscript, data=tmp_path / name, eps=[0.05, 0.2]))
        for name in ("native.npz", "foreign.npy")
    ]
    native, foreign = ([r.model_dump() for r in report.results] for report in reports)
    assert foreign == native
    assert reports[1].data.format == "npy" and reports[1].fidelity.trusted
