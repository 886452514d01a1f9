"""CLI fuzzing: random small models, data, policies and report targets never reach an internal
error, a traceback, a multi-line error or a write outside the output paths.

``ROBUSTCHECK_FUZZ_CASES`` sets the number of cases (default 150: seconds);
``make fuzz`` runs a longer campaign and prints its figures (docs/fuzzing.md).
"""

from __future__ import annotations

import os

import pytest
from fuzz._run import run_case

CASES = int(os.environ.get("ROBUSTCHECK_FUZZ_CASES", "150"))
FIRST_SEED = int(os.environ.get("ROBUSTCHECK_FUZZ_SEED", "0"))


@pytest.mark.parametrize("seed", range(FIRST_SEED, FIRST_SEED + CASES))
def test_a_random_scan_fails_closed(seed, tmp_path, monkeypatch):
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    outcome = run_case(seed, tmp_path / "case")
    assert outcome.problems == [], (
        f"seed {seed}: {outcome.problems}\nargv: {outcome.case.argv}\ntags: {outcome.case.tags}\n"
        f"stderr: {outcome.err[-1500:]}"
    )
