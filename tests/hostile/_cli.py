"""Hostile command lines, environments and signals."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
from collections.abc import Callable
from pathlib import Path

import numpy as np
from hostile._case import (
    ENVIRONMENT,
    INPUT,
    INTERRUPTED,
    TERMINATED,
    USAGE,
    Case,
    Shared,
    scan,
    write,
)
from PIL import Image

READ_ONLY_MISSING = "/sys/robustcheck-hostile-missing"
"""Does not exist and cannot be created, even by root (sysfs refuses mkdir)."""
UNWRITABLE = "/sys/kernel"
"""Exists and refuses new files, even for root (permission bits alone do not stop root)."""


def _args(*extra: str, report: bool = True):
    """A scan of the CNN on the digits with ``extra`` flags (``{tmp}`` is the case's tmp_path)."""

    def build(tmp: Path, fx: Shared) -> list[str]:
        flags = [e.replace("{tmp}", str(tmp)) for e in extra]
        return scan(tmp, fx.cnn_pt, fx.npz, *flags, report=report)

    return build


def _bare(*argv: str) -> Callable[[Path, Shared], list[str]]:
    """``robustcheck scan`` with only ``argv`` after it ({model}, {data} filled in)."""

    def build(tmp: Path, fx: Shared) -> list[str]:
        return ["scan", *(a.format(model=fx.cnn_pt, data=fx.npz) for a in argv)]

    return build


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _report_is(name: str):
    """``--json`` names an input of the scan: refused, and the input left untouched."""

    def build(tmp: Path, fx: Shared) -> list[str]:
        model = tmp / "model.pt"
        shutil.copyfile(fx.cnn_pt, model)
        np.save(tmp / "data.npy", fx.x)
        write(tmp / "labels.txt", "".join(f"{int(v)}\n" for v in fx.y))
        write(tmp / "policy.yaml", "version: 1\nmin_clean_accuracy: 0.5\n")
        write(tmp / "baseline.json", '{"schema_version": "1.0"}\n')
        inputs = {
            "--labels-file": "labels.txt",
            "--policy": "policy.yaml",
            "--baseline": "baseline.json",
        }
        if name == "checkpoint.jsonl":  # resuming reads it, so it is an input too
            write(tmp / name, "")
            inputs["--checkpoint"] = name
        write(tmp / "digest", _digest(tmp / name))
        flags = [part for flag, file in inputs.items() for part in (flag, str(tmp / file))]
        argv = scan(tmp, model, tmp / "data.npy", *flags, report=False)
        return [*argv, "--json", str(tmp / name)]

    def verify(tmp: Path, fx: Shared) -> None:
        assert _digest(tmp / name) == (tmp / "digest").read_text(), f"{name} was overwritten"

    return build, verify


def _report_is_case(name: str) -> Case:
    build, verify = _report_is(name)
    return Case(f"arg-json-is-the-{name}", build, USAGE, "--json", verify=verify)


def _checkpoint(content: str | None):
    """``--checkpoint`` naming an existing file holding ``content`` (``None``: a FIFO)."""

    def build(tmp: Path, fx: Shared) -> list[str]:
        checkpoint = tmp / "checkpoint.jsonl"
        if content is None:
            os.mkfifo(checkpoint)
        else:
            write(checkpoint, content)
        argv = scan(tmp, fx.cnn_pt, fx.npz, "--checkpoint", str(checkpoint))
        argv[argv.index("--timeout") + 1] = "5"  # reading a checkpoint never takes seconds
        return argv

    return build


def _baseline(content: str):
    def build(tmp: Path, fx: Shared) -> list[str]:
        baseline = write(tmp / "baseline.json", content)
        return scan(
            tmp, fx.cnn_pt, fx.npz, "--policy", "builtin:strict", "--baseline", str(baseline)
        )

    return build


def _no_noise_with_noise_rule(tmp: Path, fx: Shared) -> list[str]:
    policy = write(
        tmp / "noise.yaml",
        "version: 1\nbudgets:\n  - eps: 0.1\n    attack: noise\n    max_adversarial_error_rate: 0.3\n",
    )
    return scan(tmp, fx.cnn_pt, fx.npz, "--no-noise", "--policy", str(policy))


def _image_folder(*extra: str):
    def build(tmp: Path, fx: Shared) -> list[str]:
        root = tmp / "images"
        for label in ("0", "1"):
            (root / label).mkdir(parents=True)
            Image.fromarray(np.zeros((8, 8), np.uint8)).save(root / label / "a.png")
        return scan(tmp, fx.cnn_pt, root, *extra)

    return build


def _same_file_via_symlink(tmp: Path, fx: Shared) -> list[str]:
    (tmp / "alias.md").symlink_to("report.md")
    return _args("--markdown", "{tmp}/report.md", "--html", "{tmp}/alias.md")(tmp, fx)


def _report_under_a_file(tmp: Path, fx: Shared) -> list[str]:
    write(tmp / "not-a-dir", "x")
    return _args("--junit", "{tmp}/not-a-dir/report.xml")(tmp, fx)


def _report_directory(tmp: Path, fx: Shared) -> list[str]:
    (tmp / "reports").mkdir()
    return scan(tmp, fx.cnn_pt, fx.npz, "--json", str(tmp / "reports"), report=False)


def _report_fifo(tmp: Path, fx: Shared) -> list[str]:
    """A FIFO where the report goes: renaming over it would replace it (as it did /dev/full)."""
    os.mkfifo(tmp / "report.pipe")
    return scan(tmp, fx.cnn_pt, fx.npz, "--json", str(tmp / "report.pipe"), report=False)


def _summary_directory(tmp: Path, fx: Shared) -> list[str]:
    (tmp / "summary").mkdir()
    return scan(tmp, fx.cnn_pt, fx.npz)


def _spin(tmp: Path, fx: Shared) -> list[str]:
    """A scan of a model that spins, with all four reports (stubs while it runs)."""
    reports = {"--junit": "report.xml", "--markdown": "report.md", "--html": "report.html"}
    flags = [part for flag, name in reports.items() for part in (flag, str(tmp / name))]
    return scan(tmp, fx.spin_pt, fx.npz, *flags)


ARG_CASES = [
    Case("arg-unknown-flag", _args("--bogus"), USAGE, "--bogus"),
    Case("arg-eps-not-a-number", _args("--eps", "abc"), USAGE, "--eps"),
    Case("arg-eps-zero", _bare("{model}", "--data", "{data}", "--eps", "0"), USAGE, "--eps"),
    Case("arg-eps-negative", _args("--eps", "-0.1"), USAGE, "--eps"),
    Case("arg-eps-nan", _args("--eps", "nan"), USAGE, "--eps"),
    Case("arg-eps-inf", _args("--eps", "inf"), USAGE, "--eps"),
    Case(
        "arg-eps-the-whole-declared-range",
        _args("--eps", "10", "--input-range", "0", "1"),
        USAGE,
        "--eps 10: not smaller than the whole valid input range [0, 1]",
    ),
    Case("arg-eps-the-whole-default-range", _args("--eps", "1"), USAGE, "[0, 1]"),
    Case("arg-no-eps", _bare("{model}", "--data", "{data}"), USAGE, "--eps"),
    Case("arg-no-data", _bare("{model}", "--eps", "0.1"), USAGE, "--data"),
    Case("arg-no-model", _bare("--data", "{data}", "--eps", "0.1"), USAGE, "MODEL"),
    Case("arg-batch-size-zero", _args("--batch-size", "0"), USAGE, "--batch-size"),
    Case("arg-batch-size-huge", _args("--batch-size", "1e12"), USAGE, "--batch-size"),
    Case(
        "arg-input-range-reversed",
        _args("--input-range", "1", "0"),
        USAGE,
        "--input-range",
    ),
    Case(
        "arg-input-range-nan",
        _args("--input-range", "nan", "nan"),
        USAGE,
        "--input-range",
    ),
    Case("arg-high-confidence-zero", _args("--high-confidence", "0"), USAGE, "--high-confidence"),
    Case("arg-timeout-zero", _args("--timeout", "0"), USAGE, "--timeout"),
    Case("arg-timeout-nan", _args("--timeout", "nan"), USAGE, "--timeout"),
    Case("arg-max-memory-zero", _args("--max-memory", "0"), USAGE, "--max-memory"),
    Case(
        "arg-fidelity-tolerance-nan",
        _args("--fidelity-tolerance", "nan"),
        USAGE,
        "--fidelity-tolerance",
    ),
    Case("arg-std-zero", _args("--std", "0"), USAGE, "--std"),
    Case("arg-mean-not-numbers", _args("--mean", "0.5,abc"), USAGE, "--mean"),
    Case(
        "arg-mean-std-wrong-channel-count",
        _args("--mean", "0.5,0.5,0.5", "--std", "1,1,1"),
        USAGE,
        "--mean",
    ),
    Case("arg-model-format-unknown", _args("--model-format", "pickle"), USAGE, "--model-format"),
    Case("arg-data-format-unknown", _args("--data-format", "pickle"), USAGE | INPUT, "pickle"),
    Case("arg-label-column-for-npz", _args("--label-column", "y"), USAGE, "--label-column"),
    Case("arg-image-size-zero", _image_folder("--image-size", "0", "0"), USAGE, "--image-size"),
    Case(
        "arg-policy-with-max-error-rate",
        _args("--policy", "builtin:strict", "--max-error-rate", "0.5"),
        USAGE,
        "--max-error-rate",
    ),
    Case(
        "arg-max-error-rate-above-one",
        _args("--max-error-rate", "1.5"),
        USAGE,
        "--max-error-rate",
    ),
    Case("arg-no-noise-with-noise-policy", _no_noise_with_noise_rule, USAGE, "--no-noise"),
    _report_is_case("data.npy"),
    _report_is_case("model.pt"),
    _report_is_case("checkpoint.jsonl"),
    _report_is_case("policy.yaml"),
    _report_is_case("baseline.json"),
    _report_is_case("labels.txt"),
    Case(
        "arg-json-in-missing-read-only-dir",
        lambda tmp, fx: scan(
            tmp, fx.cnn_pt, fx.npz, "--json", f"{READ_ONLY_MISSING}/r.json", report=False
        ),
        USAGE | ENVIRONMENT,
        READ_ONLY_MISSING,
    ),
    Case("arg-json-is-a-directory", _report_directory, ENVIRONMENT, "--json {tmp}/reports: is a"),
    Case("arg-json-is-a-fifo", _report_fifo, ENVIRONMENT, "--json {tmp}/report.pipe: is a FIFO"),
    Case(
        "arg-two-reports-same-path",
        _args("--junit", "{tmp}/out.txt", "--markdown", "{tmp}/out.txt"),
        USAGE,
        "same file",
    ),
    Case("arg-two-reports-same-file-via-symlink", _same_file_via_symlink, USAGE, "same file"),
    Case(
        "arg-baseline-not-a-report",
        _baseline("[1, 2, 3]\n"),
        INPUT,
        "{tmp}/baseline.json",
    ),
    Case(
        "arg-checkpoint-not-a-checkpoint",
        _checkpoint("this is not json\n"),
        INPUT,
        "--checkpoint",
    ),
    Case(
        "arg-checkpoint-of-another-scan",
        _checkpoint('{"fingerprint": "0000", "format": "robustcheck-checkpoint/2"}\n'),
        INPUT,
        "--checkpoint",
    ),
    Case(
        "arg-checkpoint-is-a-fifo",
        _checkpoint(None),
        INPUT,
        "--checkpoint",
    ),
]

ENV_CASES = [
    Case(
        "env-step-summary-is-a-directory",
        _summary_directory,
        ENVIRONMENT,
        "GITHUB_STEP_SUMMARY",
        env={"GITHUB_STEP_SUMMARY": "{tmp}/summary"},
    ),
    Case(
        "env-step-summary-disk-full",
        _args(),
        ENVIRONMENT,
        "GITHUB_STEP_SUMMARY",
        env={"GITHUB_STEP_SUMMARY": "/dev/full"},
    ),
    Case(
        "env-unwritable-report-dir",
        _args("--markdown", f"{UNWRITABLE}/report.md"),
        ENVIRONMENT,
        f"{UNWRITABLE}/report.md",
    ),
    Case(
        "env-report-dir-is-a-file",
        _report_under_a_file,
        ENVIRONMENT,
        "{tmp}/not-a-dir/report.xml",
    ),
    Case(
        "env-report-name-too-long",
        _args("--html", "{tmp}/" + "r" * 300 + ".html"),
        ENVIRONMENT,
        "rrrr.html",
    ),
]

SIGNAL_CASES = [
    Case("signal-sigterm-as-scan-starts", _spin, TERMINATED, "terminated", signal=signal.SIGTERM),
    Case("signal-sigint-as-scan-starts", _spin, INTERRUPTED, "interrupted", signal=signal.SIGINT),
    Case(
        "signal-sigterm-during-scan-leaves-nothing-running",
        _spin,
        TERMINATED,
        "terminated",
        signal=signal.SIGTERM,
        signal_when="scan",
        no_orphans=True,
    ),
    Case(
        "signal-ctrl-c-during-scan-leaves-nothing-running",
        _spin,
        INTERRUPTED,
        "interrupted",
        signal=signal.SIGINT,
        signal_group=True,
        signal_when="scan",
        no_orphans=True,
    ),
    Case(
        "signal-sigterm-as-scan-starts-leaves-nothing-running",
        _spin,
        TERMINATED,
        "terminated",
        signal=signal.SIGTERM,
        no_orphans=True,
    ),
]

CASES = [*ARG_CASES, *ENV_CASES, *SIGNAL_CASES]
