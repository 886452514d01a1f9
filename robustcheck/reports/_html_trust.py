"""What the HTML report's validity and minimal-ε sections say (``report.html.j2`` marks it up)."""

from __future__ import annotations

from robustcheck.reports._trust import (
    certification_lines,
    ensemble_lines,
    min_eps_line,
    probe_line,
    validity_headline,
)
from robustcheck.reports.model import Report

_STATUS = {"ok": "pass", "flagged": "fail", "not_applicable": "warn"}


def validity(report: Report) -> dict[str, object] | None:
    v = report.validity
    headline = validity_headline(report)
    if v is None or headline is None:
        return None
    checks = [
        {
            "badge": _STATUS[c.status],
            "status": c.status.replace("_", " "),
            "name": c.name,
            "eps": "-" if c.eps is None else f"{c.eps:g}",
            "reason": c.reason,
        }
        for c in v.checks
    ]
    probe = probe_line(report)
    notes = [*([probe] if probe else []), *ensemble_lines(report), *certification_lines(report)]
    return {"headline": headline, "checks": checks, "notes": notes}


def min_eps(report: Report) -> dict[str, object] | None:
    """The histogram of the minimal ε per sample, each bin's bar as wide as its share of the
    fullest bin."""
    m = report.min_eps
    line = min_eps_line(report)
    if m is None or line is None:
        return None
    top = max(m.histogram) or 1
    width = m.eps_max / len(m.histogram)
    bins = [
        {
            "range": f"{i * width:.3g}–{(i + 1) * width:.3g}",
            "count": str(count),
            "width": f"{100 * count / top:.1f}%",
        }
        for i, count in enumerate(m.histogram)
    ]
    return {"line": line, "bins": bins}
