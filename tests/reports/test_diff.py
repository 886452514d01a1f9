"""Report diffs: nothing changes against itself; an injected regression is found."""

from __future__ import annotations

import pytest

from robustcheck.reports.diff import ReportDiff, diff, render_diff
from robustcheck.reports.model import Interval, Report


@pytest.fixture
def baseline(report: Report) -> Report:
    passing = [c for c in report.checks if c.status == "pass"]
    return report.model_copy(update={"checks": passing, "verdict": "pass", "exit_code": 0})


@pytest.fixture
def regressed(baseline: Report) -> Report:
    """fgsm at ε=0.1 gets much worse, its check fails, and the model changed."""
    results = list(baseline.results)
    results[1] = results[1].model_copy(
        update={
            "adversarial_error_rate": 0.8,
            "adversarial_error_rate_interval": Interval(lo=0.72, hi=0.86),
            "attack_success_rate": 0.79,
            "high_confidence_misclassifications": 40,
        }
    )
    check = baseline.checks[0].model_copy(
        update={"status": "fail", "observed": 0.35, "message": "fgsm error 35% > 30%"}
    )
    model = baseline.model.model_copy(update={"sha256": "9" * 64})
    return baseline.model_copy(
        update={
            "results": results,
            "checks": [check],
            "verdict": "fail",
            "exit_code": 1,
            "model": model,
        }
    )


def test_a_report_does_not_differ_from_itself(report):
    d = diff(report, report)
    assert not d.regressed and not d.verdict_changed and not d.model_changed
    assert d.checks == []
    assert all(r.presence == "both" and r.adversarial_error_rate.delta == 0 for r in d.results)
    assert render_diff(d).endswith("no regressions\n")


def test_injected_regression_is_detected(baseline, regressed):
    d = diff(baseline, regressed)
    assert d.regressed
    assert d.verdict_changed and d.model_changed and not d.data_changed
    fgsm = next(r for r in d.results if r.attack == "fgsm" and r.eps == 0.1)
    assert fgsm.significant_increase
    assert fgsm.adversarial_error_rate.delta == pytest.approx(0.35)
    assert fgsm.high_confidence_misclassifications.delta == 28
    assert [(c.before, c.after, c.worse) for c in d.checks] == [("pass", "fail", True)]
    assert d.regressions == [
        "verdict pass -> fail",
        "check max_adversarial_error_rate @ fgsm eps=0.05: pass -> fail",
        "fgsm eps=0.1: adversarial error rate 45.0% -> 80.0% (+35.0 pp)",
    ]


def test_improvement_is_not_a_regression(baseline, regressed):
    d = diff(regressed, baseline)
    assert not d.regressed
    assert "verdict: fail -> pass (better)" in render_diff(d)


def test_small_changes_inside_the_intervals_are_not_regressions(baseline):
    results = list(baseline.results)
    results[0] = results[0].model_copy(update={"adversarial_error_rate": 0.27})
    d = diff(baseline, baseline.model_copy(update={"results": results}))
    assert not d.regressed
    assert d.results[0].adversarial_error_rate.delta == pytest.approx(0.02)


def test_added_and_removed_results_and_checks(report):
    fewer = report.model_copy(update={"results": report.results[:2], "checks": report.checks[1:]})
    d = diff(fewer, report)
    assert [r.presence for r in d.results] == ["both", "both", "added", "added"]
    assert [(c.before, c.after) for c in d.checks] == [(None, "pass")]
    assert not d.regressed
    back = diff(report, fewer)
    assert [r.presence for r in back.results][2:] == ["removed", "removed"]
    assert "noise (removed)" in render_diff(back)


def test_diff_round_trips_as_json(baseline, regressed):
    d = diff(baseline, regressed)
    assert ReportDiff.model_validate_json(d.model_dump_json()) == d


def test_matches_golden(baseline, regressed, golden):
    golden("diff.txt", render_diff(diff(baseline, regressed)))
