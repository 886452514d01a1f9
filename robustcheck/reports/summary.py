"""The terminal summary of a report: the short human summary a scan prints (plain text)."""

from __future__ import annotations

from robustcheck.reports import _format as fmt
from robustcheck.reports._escape import one_line
from robustcheck.reports._format import eps_scale_line, policy_judge, transfer_agreement
from robustcheck.reports._text_examples import text_example_lines
from robustcheck.reports._trust import min_eps_line, trust_lines
from robustcheck.reports.model import AttackResult, Report


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _row(r: AttackResult) -> list[str]:
    ci = r.adversarial_error_rate_interval
    interval = "" if ci is None else f" [{100 * ci.lo:.1f}, {100 * ci.hi:.1f}]"
    conf = r.mean_confidence_adversarial_errors
    return [
        r.attack,
        f"{r.eps:g}",
        _pct(r.clean_error_rate),
        _pct(r.adversarial_error_rate) + interval,
        _pct(r.attack_success_rate),
        f"{r.high_confidence_misclassifications}/{r.n}"
        + ("" if r.target_hits is None else f" (hits {r.target_hits})"),
        "-" if conf is None else f"{conf:.3f}",
    ]


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


_PATHS = {
    "onnx-twin-vs-onnxruntime": "twin vs onnxruntime",
    "float32-copy-vs-module": "float32 copy vs module",
}


def _fidelity(report: Report) -> list[str]:
    """When gradients do not come from the judge itself: how closely the two agree."""
    f = report.fidelity
    if f.paths == "surrogate-vs-target":
        return [transfer_agreement(f)]
    if f.paths == "none":
        return ["fidelity: not claimed (no attack followed a gradient path)"]
    if f.paths not in _PATHS:
        return []
    adversarial = f.adversarial_max_abs_probability_difference
    adv = "" if adversarial is None else f", {adversarial:.2g} adversarial"
    trust = "trusted" if f.trusted else "NOT trusted"
    return [
        f"fidelity: {_PATHS[f.paths]} max |Δp| {f.clean_max_abs_probability_difference or 0:.2g} "
        f"clean{adv}, top-1 agreement {100 * (f.clean_top1_agreement or 0):.1f}% "
        f"(tolerance {f.tolerance:g}): {trust}"
    ]


def render(report: Report) -> str:
    m, d, s = report.model, report.data, report.settings
    domain = "none" if s.input_range is None else f"[{s.input_range.lo:g}, {s.input_range.hi:g}]"
    lines = [
        f"model  {m.path} ({m.format}, {m.output_kind}, {m.n_classes} classes)",
        *(
            [f"surrogate {m.surrogate.path} ({m.surrogate.format}): transfer attack"]
            if m.surrogate
            else []
        ),
        f"data   {d.path} ({d.n_samples} samples, labels {d.labels}); clip domain {domain}",
        *([f"config {s.config_source}"] if s.config_source else []),
        *([f"eps    {line}"] if (line := eps_scale_line(report)) else []),
        *([f"policy {policy_judge(report.policy.source)}"] if report.policy else []),
        "",
    ]
    tau = s.high_confidence_threshold
    header = [
        "attack",
        "eps",
        "clean err",
        "adv err [95% CI]",
        "success",
        f"conf>={tau:g}",
        "mean conf",
    ]
    lines += _table(header, [_row(r) for r in report.results])
    g = report.gradient
    gradients = (
        f"gradients: {_count(g.evaluations, 'evaluation')}, "
        f"{_count(g.zero_gradient_samples, 'sample')} with zero gradient"
    )
    if g.evaluations == 0 and report.fidelity.paths == "none":
        gradients = (
            f"gradients: none taken; {_count(g.zero_gradient_samples, 'sample')} with a zero "
            "estimated gradient"
        )
    lines += [
        "",
        gradients,
        *_fidelity(report),
    ]
    methods = fmt.methods(report)
    lines += [f"methods: {methods}"] if methods else []
    lines += trust_lines(report)
    min_eps = min_eps_line(report)
    lines += [min_eps] if min_eps else []
    lines += [f"example: {one_line(e)}" for e in text_example_lines(report)]
    lines += [f"warning: {w}" for w in report.warnings]
    for check in report.checks:
        lines.append(f"{check.status.upper():5}  {check.message}")
    lines.append(f"verdict: {report.verdict.upper()} (exit {report.exit_code})")
    return "\n".join(lines) + "\n"
