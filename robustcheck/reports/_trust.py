"""One wording, shared by every renderer, for the validity checks, the FGSM-gap probe, the
ensembles' member breakdown, the certified bracket and the minimal-ε search."""

from __future__ import annotations

from robustcheck.reports.model import MinEpsSection, Report

UNRELIABLE = "UNRELIABLE"


def validity_headline(report: Report) -> str | None:
    """``None`` when the report has no validity section."""
    v = report.validity
    if v is None:
        return None
    flagged = [c for c in v.checks if c.status == "flagged"]
    if not flagged:
        ran = sum(c.status == "ok" for c in v.checks)
        return f"validity: reliable ({ran} checks passed, {len(v.checks) - ran} not applicable)"
    return (
        f"validity: {UNRELIABLE}: {len(flagged)} check(s) flagged; the numbers may measure the "
        "attack's weakness, not the model's robustness"
    )


def validity_lines(report: Report) -> list[str]:
    """The headline and one line per flagged check."""
    headline = validity_headline(report)
    if headline is None or report.validity is None:
        return []
    flagged = [c for c in report.validity.checks if c.status == "flagged"]
    return [headline, *(f"  {c.name}: {c.reason}" for c in flagged)]


def _value(section: MinEpsSection, value: float | None) -> str:
    return f"> {section.eps_max:g}" if value is None else f"{value:.4g}"


def min_eps_line(report: Report) -> str | None:
    m = report.min_eps
    if m is None:
        return None
    parts = ", ".join(f"{k} {_value(m, v)}" for k, v in m.percentiles.items())
    return (
        f"minimal ε (FGSM direction, resolution {m.resolution:.3g}): median "
        f"{_value(m, m.median)}; {parts}; {m.clean_errors} wrong when clean, {m.not_found} not "
        f"fooled at {m.eps_max:g}"
    )


def ensemble_lines(report: Report) -> list[str]:
    """Per ensemble and ε, what each member broke first (in chain order)."""
    return [
        f"{e.attack} ε={e.eps:g}: "
        + ", ".join(f"{m.attack} broke {m.broke}" for m in e.members)
        + f" (total {sum(m.broke for m in e.members)})"
        for e in report.ensembles or []
    ]


def probe_line(report: Report) -> str | None:
    """The FGSM-gap probe's counts, when it ran."""
    p = None if report.validity is None else report.validity.probe
    if p is None or not p.results:
        return None
    parts = ", ".join(
        f"ε={r.eps:g} {r.probe_errors}/{r.samples} vs {r.one_step_errors}/{r.samples}"
        for r in p.results
    )
    return f"gap probe ({p.attack} against {p.against}, errors on the same samples): {parts}"


def certification_lines(report: Report) -> list[str]:
    """``--certify``: per ε, robust accuracy bracketed between the proof and the attacks."""
    c = report.certification
    if c is None:
        return []
    lines = []
    for r in c.results:
        proven = f"{100 * r.certified_accuracy:.1f}% certified ({r.certified}/{r.n})"
        if r.attacked_robust_accuracy is None:
            late = f"; {r.not_attempted} not attempted (time limit)" if r.not_attempted else ""
            lines.append(f"certified ({c.method}) ε={r.eps:g}: {proven}{late}")
            continue
        late = f"; {r.not_attempted} not attempted (time limit)" if r.not_attempted else ""
        lines.append(
            f"certified ({c.method}) ε={r.eps:g}: robust accuracy between {proven} and "
            f"{100 * r.attacked_robust_accuracy:.1f}% ({r.strongest_attack}); gap "
            f"{100 * (r.gap or 0.0):.1f} points{late}"
        )
    return lines


def trust_lines(report: Report) -> list[str]:
    """The validity lines, the probe's, the ensembles' and the certificates' (the order every
    renderer uses)."""
    probe = probe_line(report)
    return [
        *validity_lines(report),
        *([probe] if probe else []),
        *ensemble_lines(report),
        *certification_lines(report),
    ]
