"""Resumable scans: an interrupted scan resumes to the same numbers; a different scan is refused."""

from __future__ import annotations

import json

from robustcheck.cli import main


def _scan(capsys, model, data, tmp_path, checkpoint, *extra, name="r.json"):
    report = tmp_path / name
    code = main(
        [
            "scan",
            str(model),
            "--data",
            str(data),
            "--eps",
            "0.1",
            "--eps",
            "0.2",
            "--batch-size",
            "100",
            "--checkpoint",
            str(checkpoint),
            "--json",
            str(report),
            "--report-only",  # these tests are about resuming, not the gate
            *extra,
        ]
    )
    err = capsys.readouterr().err
    return code, err, json.loads(report.read_text())


def _numbers(report):
    return report["results"], report["gradient"], report["stability"]


def test_interrupted_scan_resumes_to_identical_numbers(capsys, cnn_model, digits_npz, tmp_path):
    reference = _scan(
        capsys, cnn_model.torchscript, digits_npz, tmp_path, tmp_path / "full.ckpt", name="a.json"
    )[2]
    lines = (tmp_path / "full.ckpt").read_text().splitlines(keepends=True)
    assert len(lines) == 1 + 8  # header + ceil(719 / 100) batches
    partial = tmp_path / "partial.ckpt"
    # as if killed after three batches, in the middle of writing the fourth record
    partial.write_text("".join(lines[:4]) + lines[4][:20])
    code, err, resumed = _scan(
        capsys, cnn_model.torchscript, digits_npz, tmp_path, partial, name="b.json"
    )
    assert code == 0, err
    assert _numbers(resumed) == _numbers(reference)
    assert resumed["gradient"]["evaluations"] == 8
    assert len(partial.read_text().splitlines()) == 9


def test_a_different_scan_is_refused(capsys, cnn_model, linear_model, digits_npz, tmp_path):
    checkpoint = tmp_path / "c.ckpt"
    assert _scan(capsys, cnn_model.torchscript, digits_npz, tmp_path, checkpoint)[0] == 0
    code, err, stub = _scan(
        capsys, linear_model.torchscript, digits_npz, tmp_path, checkpoint, name="b.json"
    )
    assert code == 3 and "different scan" in err and stub["complete"] is False
    code, err, _ = _scan(
        capsys,
        cnn_model.torchscript,
        digits_npz,
        tmp_path,
        checkpoint,
        "--seed",
        "9",
        name="c.json",
    )
    assert code == 3 and "different scan" in err


def test_a_batch_recorded_twice_is_refused(capsys, cnn_model, digits_npz, tmp_path):
    checkpoint = tmp_path / "c.ckpt"
    assert _scan(capsys, cnn_model.torchscript, digits_npz, tmp_path, checkpoint)[0] == 0
    lines = checkpoint.read_text().splitlines(keepends=True)
    checkpoint.write_text("".join([*lines, lines[2]]))
    code, err, _ = _scan(
        capsys, cnn_model.torchscript, digits_npz, tmp_path, checkpoint, name="b.json"
    )
    assert code == 3 and "recorded twice" in err


def test_a_file_that_is_not_a_checkpoint_is_left_untouched(capsys, cnn_model, digits_npz, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_bytes(b"a\nno newline at the end")
    code = main(
        ["scan", str(cnn_model.torchscript), "--data", str(digits_npz), "--eps", "0.1",
         "--limit", "20", "--no-isolation", "--checkpoint", str(notes)]
    )  # fmt: skip
    assert code == 3
    assert "not a robustcheck checkpoint" in capsys.readouterr().err
    assert notes.read_bytes() == b"a\nno newline at the end"


def test_the_checkpoint_may_not_be_an_input(capsys, cnn_model, digits_npz, tmp_path):
    before = digits_npz.read_bytes()
    code = main(
        ["scan", str(cnn_model.torchscript), "--data", str(digits_npz), "--eps", "0.1",
         "--checkpoint", str(digits_npz)]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert f"--checkpoint {digits_npz}: is also an input of the scan" in err
    assert digits_npz.read_bytes() == before
