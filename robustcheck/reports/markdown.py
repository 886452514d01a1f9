"""Markdown for a pull-request comment or ``$GITHUB_STEP_SUMMARY``.

Every user-controlled string (paths, class names, messages, warnings) goes through
:func:`~robustcheck.reports._escape.markdown_text`, and no line of the output starts with a CI
workflow-command prefix such as ``::``.
"""

from __future__ import annotations

from robustcheck.reports import _format as fmt
from robustcheck.reports._escape import guard_workflow_commands, markdown_text
from robustcheck.reports._text_examples import swaps
from robustcheck.reports._trust import (
    certification_lines,
    ensemble_lines,
    min_eps_line,
    probe_line,
    validity_lines,
)
from robustcheck.reports.model import AttackResult, Check, Report
from robustcheck.reports.registry import REPORTERS, Reporter

_RESULT_HEADER = [
    "attack",
    "ε",
    "clean err",
    "adv err [95 % CI]",
    "success",
    "conf ≥ τ",
    "mean conf",
]
_RESULT_ALIGN = ["---", "---:", "---:", "---:", "---:", "---:", "---:"]


@REPORTERS.register()
class MarkdownReporter(Reporter):
    name = "markdown"
    suffix = ".md"
    media_type = "text/markdown"
    description = "a pull-request comment or $GITHUB_STEP_SUMMARY"

    def render(self, report: Report) -> str:
        return render(report)

    def render_error(self, message: str, exit_code: int | None) -> str:
        return render_error(message, exit_code)


def render_error(message: str, exit_code: int | None = None) -> str:
    code = "" if exit_code is None else f" (exit {exit_code})"
    return f"## robustcheck: ERROR (incomplete)\n\n**ERROR**{code}: {markdown_text(message)}\n"


def render(report: Report) -> str:
    lines = [*_header(report), *_results(report), *_checks(report.checks)]
    lines += [*_diagnostics(report), *_text_examples(report), *_warnings(report.warnings)]
    lines += _footer(report)
    return guard_workflow_commands("\n".join(lines) + "\n")


def _status_word(report: Report) -> str:
    return report.verdict.upper() if report.complete else "ERROR"


def _header(report: Report) -> list[str]:
    word = _status_word(report)
    if not report.complete:
        outcome = "the scan did not complete; its measurements are partial."
    elif report.checks:
        outcome = f"{len(report.checks)} checks: {fmt.status_counts(report.checks)}."
    else:
        outcome = "no policy checks; measurements only."
    m, d, s = report.model, report.data, report.settings
    return [
        f"## robustcheck: {word}",
        "",
        f"**{word}** (exit {report.exit_code}): {outcome}",
        "",
        f"Model {markdown_text(m.path)} ({markdown_text(m.format)}, "
        f"{markdown_text(m.output_kind)}, {m.n_classes} classes) on "
        f"{markdown_text(d.path)} ({d.n_samples} samples, labels {d.labels}); "
        f"high-confidence threshold τ = {s.high_confidence_threshold:g}"
        + (f"; settings from {markdown_text(s.config_source)}." if s.config_source else "."),
        "",
        *(
            [
                f"Transfer attack: perturbations crafted on the surrogate "
                f"{markdown_text(m.surrogate.path)} ({markdown_text(m.surrogate.format)}), "
                "scored on the model above.",
                "",
            ]
            if m.surrogate
            else []
        ),
        *(
            [f"Judged by policy {markdown_text(fmt.policy_judge(report.policy.source))}.", ""]
            if report.policy
            else []
        ),
    ]


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _result_cells(r: AttackResult) -> list[str]:
    return [
        markdown_text(r.attack),
        fmt.eps(r.eps),
        fmt.pct(r.clean_error_rate),
        fmt.pct_ci(r.adversarial_error_rate, r.adversarial_error_rate_interval),
        fmt.pct(r.attack_success_rate),
        f"{r.high_confidence_misclassifications}/{r.n}",
        fmt.conf(r.mean_confidence_adversarial_errors),
    ]


def _results(report: Report) -> list[str]:
    if not report.results:
        return ["No results were measured.", ""]
    rows = [_row(_result_cells(r)) for r in report.results]
    return ["### Results", "", _row(_RESULT_HEADER), _row(_RESULT_ALIGN), *rows, ""]


def _check_name(check: Check) -> str:
    parts = [markdown_text(check.rule)]
    if check.attack is not None:
        parts.append(markdown_text(check.attack))
    if check.eps is not None:
        parts.append(f"ε = {fmt.eps(check.eps)}")
    if check.label is not None:
        parts.append(f"class {markdown_text(fmt.check_class(check))}")
    return ", ".join(parts)


def _checks(checks: list[Check]) -> list[str]:
    if not checks:
        return []
    header = ["status", "check", "observed", "limit", "message"]
    rows = [
        _row(
            [
                f"**{c.status.upper()}**" if c.status in ("fail", "error") else c.status.upper(),
                _check_name(c),
                fmt.check_value(c, c.observed)
                + (" (upper bound)" if c.gate_on == "upper_bound" else ""),
                fmt.check_value(c, c.limit),
                markdown_text(c.message),
            ]
        )
        for c in fmt.sorted_checks(checks)
    ]
    align = ["---", "---", "---:", "---:", "---"]
    return ["### Checks", "", _row(header), _row(align), *rows, ""]


def _diagnostics(report: Report) -> list[str]:
    f, g = report.fidelity, report.gradient
    adv = f.adversarial_max_abs_probability_difference
    trust = "trusted" if f.trusted else "**NOT trusted**"
    if f.paths == "surrogate-vs-target":
        fidelity = f"**Agreement**: {fmt.transfer_agreement(f)}."
    elif f.paths == "none":
        fidelity = "**Fidelity**: not claimed (no attack followed a gradient path)."
    else:
        fidelity = (
            f"**Fidelity** ({f.paths}): {trust}; clean max Δp "
            f"{fmt.diff(f.clean_max_abs_probability_difference)}, top-1 agreement "
            f"{fmt.pct(f.clean_top1_agreement)}; adversarial max Δp "
            f"{'-' if adv is None else f'{adv:.3g}'}, top-1 agreement "
            f"{fmt.pct(f.adversarial_top1_agreement)}; tolerance {f.tolerance:g}."
        )
    return [
        fidelity,
        "",
        f"**Gradients**: {g.evaluations} evaluations; all-zero input gradient (FGSM cannot "
        f"move them) on {g.zero_gradient_samples} of {report.data.n_samples} samples.",
        "",
        *([markdown_text(line), ""] if (line := fmt.eps_scale_line(report)) else []),
        *([f"**Methods**: {methods}.", ""] if (methods := fmt.methods(report)) else []),
        *_trust_lines(report),
    ]


def _trust_lines(report: Report) -> list[str]:
    out = []
    validity = validity_lines(report)
    if validity:
        out += [f"**Validity**: {markdown_text(validity[0].removeprefix('validity: '))}", ""]
        out += [f"- {markdown_text(line.strip())}" for line in validity[1:]]
        out += [""] if len(validity) > 1 else []
    probe = probe_line(report)
    if probe:
        out += [f"**FGSM-gap probe**: {markdown_text(probe.removeprefix('gap probe '))}", ""]
    ensembles = ensemble_lines(report)
    if ensembles:
        out += ["**Ensembles** (samples each member broke first):", ""]
        out += [f"- {markdown_text(line)}" for line in ensembles] + [""]
    certified = certification_lines(report)
    if certified:
        out += ["**Certified** (proven robust, beside the strongest attack):", ""]
        out += [f"- {markdown_text(line)}" for line in certified] + [""]
    min_eps = min_eps_line(report)
    if min_eps:
        out += [f"**Minimal ε**: {markdown_text(min_eps.removeprefix('minimal ε '))}", ""]
    return out


def _text_examples(report: Report) -> list[str]:
    if not report.text_examples:
        return []
    rows = [
        _row(
            [
                f"{markdown_text(e.attack)} {e.tokens}",
                str(e.index),
                f"{e.label} → {e.adversarial_prediction} ({e.adversarial_confidence:.3f})",
                markdown_text(e.original_text),
                markdown_text(e.adversarial_text),
                markdown_text(swaps(e)),
            ]
        )
        for e in report.text_examples
    ]
    header = ["attack, tokens", "sample", "class → prediction", "original", "adversarial", "swaps"]
    return ["### Token substitutions", "", _row(header), _row(["---"] * 6), *rows, ""]


def _warnings(warnings: list[str]) -> list[str]:
    if not warnings:
        return []
    return ["### Warnings", "", *(f"- {markdown_text(w)}" for w in warnings), ""]


def _footer(report: Report) -> list[str]:
    v = report.versions
    parts = [
        f"robustcheck {markdown_text(v.robustcheck)}",
        f"report schema {markdown_text(report.schema_version)}",
        f"model sha256 {markdown_text(fmt.short_sha(report.model.sha256))}",
        f"data sha256 {markdown_text(fmt.short_sha(report.data.sha256))}",
    ]
    if report.policy is not None:
        policy = report.policy
        parts.append(
            f"policy {markdown_text(policy.source)} "
            f"(sha256 {markdown_text(fmt.short_sha(policy.sha256))})"
        )
    parts.append(f"Python {markdown_text(v.python)}")
    parts.append(f"numpy {markdown_text(v.numpy)}")
    for name, version in (("torch", v.torch), ("onnx", v.onnx), ("onnxruntime", v.onnxruntime)):
        if version is not None:
            parts.append(f"{name} {markdown_text(version)}")
    parts.append(f"started {markdown_text(report.started_at)} ({report.duration_s:.1f} s)")
    return ["<sub>" + " · ".join(parts) + "</sub>"]
