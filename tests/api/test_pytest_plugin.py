"""The pytest plugin in a user's project (pytester): the fixture passes a robust model, fails a
fragile one with the failing rules and the report's path, and --robustcheck-report writes one
report per test."""

from __future__ import annotations

import numpy as np
import pytest

TEST_FILE = """
import numpy as np

MODEL, DATA = {model!r}, {data!r}


def test_robust_at_a_tiny_eps(robustcheck):
    report = robustcheck.scan(MODEL, DATA, eps=0.001, limit=60)
    robustcheck.assert_passed(report)


def test_fragile_at_a_large_eps(robustcheck):
    report = robustcheck.scan(MODEL, DATA, eps=0.3, limit=60)
    robustcheck.assert_passed(report)
"""


@pytest.fixture
def project(pytester, cnn_model, digits, tmp_path):
    data = tmp_path / "digits.npz"
    np.savez(data, x=digits.x_test[:60], y=digits.y_test[:60])
    pytester.makepyfile(test_gate=TEST_FILE.format(model=str(cnn_model.pt2), data=str(data)))
    return pytester


def test_the_fixture_passes_robust_and_fails_fragile_with_the_rules(project):
    reports = project.path / "reports"
    result = project.runpytest_subprocess(
        "-p", "no:cacheprovider", f"--robustcheck-report={reports}"
    )
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*RobustnessFailed: robustness gate failed: verdict FAIL*",
            "*FAIL   fgsm eps=0.3: *",
            f"*report: {reports}/test_gate.py_test_fragile_at_a_large_eps.json*",
        ]
    )
    written = sorted(p.name for p in reports.iterdir())
    assert written == [
        "test_gate.py_test_fragile_at_a_large_eps.html",
        "test_gate.py_test_fragile_at_a_large_eps.json",
        "test_gate.py_test_robust_at_a_tiny_eps.html",
        "test_gate.py_test_robust_at_a_tiny_eps.json",
    ]


def test_without_the_option_the_message_says_how_to_keep_reports(project):
    result = project.runpytest_subprocess("-p", "no:cacheprovider", "-k", "fragile")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*pass --robustcheck-report DIR to keep the reports*"])
