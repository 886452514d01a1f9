"""A model that hangs or eats memory is stopped with a one-line error, never a dead job."""

from __future__ import annotations

import json
import time

import torch

from robustcheck.cli import main


class Spin(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        acc = x.reshape(x.shape[0], -1)[:, :10]
        for _ in range(1_000_000_000):
            acc = acc + 0.0
        return acc


class Hog(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        grown = torch.zeros(1)
        for _ in range(200):
            grown = torch.cat([grown, torch.ones(33554432)])  # +128 MiB a step, all kept
        return x.reshape(x.shape[0], -1)[:, :10] + grown.sum()


def _scan(capsys, model, data, report, *extra):
    start = time.monotonic()
    code = main(
        ["scan", str(model), "--data", str(data), "--eps", "0.1", "--json", str(report), *extra]
    )
    elapsed = time.monotonic() - start
    return code, capsys.readouterr().err, elapsed


def test_hung_model_is_stopped_by_the_timeout(capsys, tmp_path, digits_npz):
    model = tmp_path / "spin.pt"
    torch.jit.save(torch.jit.script(Spin()), str(model))
    code, err, elapsed = _scan(capsys, model, digits_npz, tmp_path / "r.json", "--timeout", "3")
    assert code == 5
    assert len(err.strip().splitlines()) == 1 and "--timeout" in err and "Traceback" not in err
    assert elapsed < 30
    assert json.loads((tmp_path / "r.json").read_text())["complete"] is False


def test_memory_hog_is_stopped_by_the_cap(capsys, tmp_path, digits_npz):
    model = tmp_path / "hog.pt"
    torch.jit.save(torch.jit.script(Hog()), str(model))
    code, err, elapsed = _scan(
        capsys, model, digits_npz, tmp_path / "r.json", "--max-memory", "1500"
    )
    assert code == 5
    assert len(err.strip().splitlines()) == 1 and "--max-memory" in err
    assert elapsed < 60


def test_errors_inside_the_child_keep_their_exit_code(capsys, tmp_path, digits_npz):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"garbage")
    code, err, _ = _scan(capsys, bad, digits_npz, tmp_path / "r.json")
    assert code == 3 and str(bad) in err and len(err.strip().splitlines()) == 1
