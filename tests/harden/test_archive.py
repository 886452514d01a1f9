"""Model archives written twice with the same weights are byte-identical, whatever time it is."""

from __future__ import annotations

import io
import zipfile

import torch

from robustcheck.harden._archive import fixed_zip_times


def _archive(when: tuple[int, int, int, int, int, int]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in ("model/data.pkl", "model/data/0"):
            archive.writestr(zipfile.ZipInfo(name, date_time=when), name.encode() * 100)
    return buffer.getvalue()


def test_times_are_fixed_and_nothing_else_moves():
    early, late = _archive((2024, 1, 2, 3, 4, 6)), _archive((2026, 12, 6, 23, 59, 58))
    assert early != late
    fixed = fixed_zip_times(early)
    assert fixed == fixed_zip_times(late) and len(fixed) == len(early)
    with zipfile.ZipFile(io.BytesIO(fixed)) as archive:
        assert archive.testzip() is None
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        assert archive.read("model/data/0") == b"model/data/0" * 100


def test_torch_reads_the_fixed_archives(tmp_path):
    module = torch.nn.Linear(3, 2).eval()
    x = torch.ones(2, 3)
    program = torch.export.export(module, (x,))
    buffer = io.BytesIO()
    torch.export.save(program, buffer)
    path = tmp_path / "m.pt2"
    path.write_bytes(fixed_zip_times(buffer.getvalue()))
    torch.testing.assert_close(torch.export.load(str(path)).module()(x), module(x))
    scripted = io.BytesIO()
    torch.jit.save(torch.jit.trace(module, x), scripted)
    path = tmp_path / "m.pt"
    path.write_bytes(fixed_zip_times(scripted.getvalue()))
    torch.testing.assert_close(torch.jit.load(str(path))(x), module(x))
