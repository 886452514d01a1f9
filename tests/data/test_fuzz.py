"""Whatever bytes a data file holds, loading it ends in success or a one-line data error.

Arbitrary bytes, and valid files with bytes flipped, cut or inserted, go through the whole
loader and every batch; any exception other than DataError/SecurityRefusal is a bug.

CI runs a fixed (derandomized) 200 examples per test; for a longer, random campaign:
``ROBUSTCHECK_FUZZ_EXAMPLES=5000 pytest tests/data/test_fuzz.py``.
"""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from robustcheck.data import load_dataset
from robustcheck.errors import DataError, SecurityRefusal

_CAMPAIGN = int(os.environ.get("ROBUSTCHECK_FUZZ_EXAMPLES", "0"))
FUZZ = settings(
    max_examples=_CAMPAIGN or 200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=not _CAMPAIGN,
)


def _valid_npy() -> bytes:
    buffer = io.BytesIO()
    x = np.linspace(-1, 1, 3 * 4, dtype=np.float32).reshape(3, 1, 2, 2)
    np.save(buffer, x)
    return buffer.getvalue()


def _valid_npz(method: int) -> bytes:
    buffer = io.BytesIO()
    x = np.linspace(0, 1, 4 * 3, dtype=np.float32).reshape(4, 3)
    with zipfile.ZipFile(buffer, "w", compression=method) as archive:
        for name, array in (("x.npy", x), ("y.npy", np.array([0, 1, 2, 1]))):
            member = io.BytesIO()
            np.save(member, array)
            archive.writestr(name, member.getvalue())
    return buffer.getvalue()


SEEDS = {
    "npy": _valid_npy(),
    "npz": _valid_npz(zipfile.ZIP_STORED),
    "deflated.npz": _valid_npz(zipfile.ZIP_DEFLATED),
}


@st.composite
def mutated(draw, seed: bytes) -> bytes:
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "set", "cut", "insert", "delete"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set" and data:
            data[at] = draw(st.sampled_from([0x00, 0xFF, 0x7F, 0x80, ord("9"), ord("O")]))
        elif kind == "cut":
            del data[at:]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 8))]
    return bytes(data)


def _load_everything(path: Path, **kwargs) -> None:
    try:
        dataset = load_dataset(path, **kwargs)
        for _ in dataset.batches(2):
            pass
        dataset.value_range()
    except (DataError, SecurityRefusal) as err:
        assert "\n" not in err.one_line()


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@FUZZ
@given(data=st.binary(max_size=600))
def test_arbitrary_bytes_as_npy(scratch, data):
    path = scratch / "any.npy"
    path.write_bytes(data)
    _load_everything(path)


@FUZZ
@given(data=st.binary(max_size=600))
def test_arbitrary_bytes_as_npz(scratch, data):
    path = scratch / "any.npz"
    path.write_bytes(data)
    _load_everything(path)


@FUZZ
@given(data=st.binary(max_size=300))
def test_arbitrary_bytes_as_npy_labels(scratch, data):
    np.save(scratch / "inputs.npy", np.zeros((4, 2), np.float32))
    labels = scratch / "labels.npy"
    labels.write_bytes(data)
    _load_everything(scratch / "inputs.npy", labels_file=labels)


@FUZZ
@given(data=mutated(SEEDS["npy"]))
def test_mutated_npy(scratch, data):
    path = scratch / "mut.npy"
    path.write_bytes(data)
    _load_everything(path)


@FUZZ
@given(data=mutated(SEEDS["npz"]))
def test_mutated_stored_npz(scratch, data):
    path = scratch / "mut.npz"
    path.write_bytes(data)
    _load_everything(path)


@FUZZ
@given(data=mutated(SEEDS["deflated.npz"]))
def test_mutated_deflated_npz(scratch, data):
    path = scratch / "mutd.npz"
    path.write_bytes(data)
    _load_everything(path)


@settings(FUZZ, max_examples=_CAMPAIGN or 100)
@given(text=st.text(alphabet=st.sampled_from(list('0123456789.,-e\n"abnifl_ \t\r')), max_size=120))
def test_arbitrary_csv_text(scratch, text):
    path = scratch / "any.csv"
    path.write_text("a,label\n" + text)
    _load_everything(path)


def _valid_png() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.arange(48, dtype=np.uint8).reshape(4, 4, 3)).save(buffer, "PNG")
    return buffer.getvalue()


@settings(FUZZ, max_examples=_CAMPAIGN or 100)
@given(data=mutated(_valid_png()))
def test_mutated_png_in_an_image_folder(scratch, data):
    root = scratch / "images"
    (root / "a").mkdir(parents=True, exist_ok=True)
    (root / "a" / "0.png").write_bytes(data)
    _load_everything(root)
