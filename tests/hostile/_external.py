"""ONNX external data: side files that are missing, linked, escaping or out of range."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from hostile import _onnx
from hostile._case import INPUT, SECURITY, Case, Shared, scan
from onnx import TensorProto, helper, numpy_helper

ALLOW = "--allow-external-data"


def _model(tmp: Path, fx: Shared) -> Path:
    return _onnx.save_external(fx.linear_weights, tmp / "model.onnx")


def _not_allowed(tmp: Path, fx: Shared) -> list[str]:
    return scan(tmp, _model(tmp, fx), fx.npz)


def _not_allowed_bad_offset(tmp: Path, fx: Shared) -> list[str]:
    """Even the refusal must not trip over a hostile entry it has not been allowed to read."""
    model = _onnx.set_external(_model(tmp, fx), offset="0x10")
    return scan(tmp, model, fx.npz)


def _missing(tmp: Path, fx: Shared) -> list[str]:
    model = _model(tmp, fx)
    (tmp / "weights.bin").unlink()
    return scan(tmp, model, fx.npz, ALLOW)


def _symlink(tmp: Path, fx: Shared) -> list[str]:
    model = _model(tmp, fx)
    (tmp / "weights.bin").rename(tmp / "real.bin")
    (tmp / "weights.bin").symlink_to("real.bin")
    return scan(tmp, model, fx.npz, ALLOW)


def _symlink_dev_zero(tmp: Path, fx: Shared) -> list[str]:
    model = _model(tmp, fx)
    (tmp / "weights.bin").unlink()
    (tmp / "weights.bin").symlink_to("/dev/zero")
    return scan(tmp, model, fx.npz, ALLOW)


def _hard_link(tmp: Path, fx: Shared) -> list[str]:
    model = _model(tmp, fx)
    os.link(tmp / "weights.bin", tmp / "second-name.bin")
    return scan(tmp, model, fx.npz, ALLOW)


def _dotdot(tmp: Path, fx: Shared) -> list[str]:
    _model(tmp, fx)
    inner = tmp / "inner"
    inner.mkdir()
    (tmp / "model.onnx").rename(inner / "model.onnx")
    model = _onnx.set_external(inner / "model.onnx", location="../weights.bin")
    return scan(tmp, model, fx.npz, ALLOW)


def _entries(**entries: str):
    """The external-data entries rewritten; ``{tmp}`` in a value is the case's tmp_path."""

    def build(tmp: Path, fx: Shared) -> list[str]:
        model = _model(tmp, fx)
        size = (tmp / "weights.bin").stat().st_size
        values = {k: v.format(tmp=tmp, size=size) for k, v in entries.items()}
        return scan(tmp, _onnx.set_external(model, **values), fx.npz, ALLOW)

    return build


def _sparse_escaping(tmp: Path, fx: Shared) -> list[str]:
    """A sparse initializer whose values live in a file outside the model's folder."""
    model = _onnx.linear(fx.linear_weights)
    values = numpy_helper.from_array(np.ones(2, np.float32), "S")
    values.ClearField("raw_data")
    values.data_location = TensorProto.EXTERNAL
    values.external_data.add(key="location", value="../../outside.bin")
    indices = numpy_helper.from_array(np.array([0, 3], np.int64), "S_indices")
    model.graph.sparse_initializer.append(helper.make_sparse_tensor(values, indices, [4]))
    return scan(tmp, _onnx.save(model, tmp / "model.onnx"), fx.npz)


def _fifo(tmp: Path, fx: Shared) -> list[str]:
    model = _model(tmp, fx)
    (tmp / "weights.bin").unlink()
    os.mkfifo(tmp / "weights.bin")
    return scan(tmp, model, fx.npz, ALLOW)


MODEL = "{tmp}/model.onnx"

CASES = [
    Case("external-without-allow-flag", _not_allowed, SECURITY, ALLOW),
    Case(
        "external-without-allow-flag-bad-offset",
        _not_allowed_bad_offset,
        INPUT | SECURITY,
        MODEL,
    ),
    Case("external-missing-file", _missing, INPUT, "weights.bin"),
    Case("external-symlink", _symlink, SECURITY, "weights.bin"),
    Case("external-symlink-dev-zero", _symlink_dev_zero, SECURITY, "weights.bin"),
    Case("external-hard-link", _hard_link, SECURITY, "weights.bin"),
    Case("external-dotdot-escape", _dotdot, SECURITY, "../weights.bin"),
    Case("external-absolute-path", _entries(location="{tmp}/weights.bin"), SECURITY, MODEL),
    Case("external-backslash-path", _entries(location="..\\weights.bin"), SECURITY, MODEL),
    Case("external-offset-beyond-file", _entries(offset="{size}"), INPUT, MODEL),
    Case("external-length-beyond-file", _entries(length="999999999"), INPUT, MODEL),
    Case("external-negative-offset", _entries(offset="-64"), INPUT, MODEL),
    Case(
        "external-offset-not-a-number",
        _entries(offset="0x10"),
        INPUT,
        MODEL,
    ),
    Case("external-location-is-fifo", _fifo, SECURITY, "weights.bin"),
    Case(
        "external-sparse-initializer-escaping",
        _sparse_escaping,
        SECURITY,
        "tensor 'S' from '../../outside.bin'",
    ),
]
