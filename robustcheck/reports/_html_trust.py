"""HTML sections for the validity checks and the minimal-ε histogram (escaped by ``el``)."""

from __future__ import annotations

from robustcheck.reports._markup import Markup, el, lines
from robustcheck.reports._trust import min_eps_line, validity_headline
from robustcheck.reports.model import Report

_STATUS = {"ok": "pass", "flagged": "fail", "not_applicable": "warn"}


def validity(report: Report) -> Markup:
    v = report.validity
    headline = validity_headline(report)
    if v is None or headline is None:
        return Markup("")
    rows = [
        el(
            "tr",
            el("td", c.status.replace("_", " "), class_=f"status-{_STATUS[c.status]}"),
            el("td", c.name),
            el("td", "-" if c.eps is None else f"{c.eps:g}"),
            el("td", c.reason),
        )
        for c in v.checks
    ]
    table = el(
        "table",
        el("thead", el("tr", *(el("th", h) for h in ("status", "check", "eps", "reason")))),
        el("tbody", lines(rows)),
    )
    return el("section", lines([el("h2", "Validity"), el("p", headline), table]))


def min_eps(report: Report) -> Markup:
    m = report.min_eps
    line = min_eps_line(report)
    if m is None or line is None:
        return Markup("")
    top = max(m.histogram) or 1
    width = m.eps_max / len(m.histogram)
    rows = [
        el(
            "tr",
            el("td", f"{i * width:.3g}–{(i + 1) * width:.3g}", class_="num"),
            el("td", str(count), class_="num"),
            el("td", el("div", "", class_="bar", style=f"width:{100 * count / top:.1f}%")),
        )
        for i, count in enumerate(m.histogram)
    ]
    table = el(
        "table",
        el("thead", el("tr", el("th", "minimal ε"), el("th", "samples"), el("th", ""))),
        el("tbody", lines(rows)),
        class_="histogram",
    )
    return el("section", lines([el("h2", "Minimal ε per sample"), el("p", line), table]))
