"""One self-contained HTML page: inline CSS and SVG, images as data: URIs, no script, no URL.

Every element is built with :mod:`robustcheck.reports._markup`, which escapes any string that is
not already markup, and a Content-Security-Policy forbids scripts and remote loads even so.
"""

from __future__ import annotations

import re
from string import Template

from robustcheck.reports import _format as fmt
from robustcheck.reports import _html_trust
from robustcheck.reports._markup import Markup, concat, el, fill, lines, void
from robustcheck.reports._svg import error_curve
from robustcheck.reports._text_examples import swaps
from robustcheck.reports.model import AttackResult, Check, ExampleImage, Report

_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")

_PAGE = Template(
    """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>$title</title>
<style>$css</style>
</head>
<body>
$body
</body>
</html>
"""
)

_CSS = """
body { font: 14px/1.45 system-ui, sans-serif; color: #1c2833; margin: 0 auto; max-width: 1100px; padding: 0 16px 32px; }
h1 { margin: 0; font-size: 22px; }
h2 { font-size: 17px; margin-top: 28px; border-bottom: 1px solid #d5d8dc; padding-bottom: 4px; }
.banner { padding: 14px 18px; margin: 16px 0; border-radius: 6px; color: #fff; }
.banner p { margin: 4px 0 0; }
.verdict-pass { background: #1e8449; }
.verdict-fail { background: #b03a2e; }
.verdict-error { background: #6c3483; }
table { border-collapse: collapse; margin: 8px 0; }
th, td { border: 1px solid #d5d8dc; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f4f6f7; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.status { font-weight: 600; padding: 1px 6px; border-radius: 3px; color: #fff; }
.status-pass { background: #1e8449; }
.status-warn { background: #b9770e; }
.status-fail { background: #b03a2e; }
.status-error { background: #6c3483; }
dl { display: grid; grid-template-columns: max-content auto; gap: 2px 16px; }
dt { font-weight: 600; }
dd { margin: 0; overflow-wrap: anywhere; }
.warnings li { color: #7e5109; }
.note { color: #566573; font-size: 12px; }
.chart .grid { stroke: #e5e8e8; }
.chart .axis { stroke: #566573; }
.chart text { font-size: 11px; fill: #1c2833; dominant-baseline: middle; }
.chart .ytick { text-anchor: end; }
.chart .xtick, .chart .xlabel, .chart .ylabel { text-anchor: middle; }
.bar { background: #5b7db1; height: 0.8em; min-width: 1px; }
.examples { display: grid; grid-template-columns: repeat(auto-fill, minmax(420px, 1fr)); gap: 12px; }
.example { margin: 0; border: 1px solid #d5d8dc; border-radius: 6px; padding: 8px; }
.example .images { display: flex; gap: 6px; }
.example .images div { text-align: center; font-size: 12px; }
.example img { width: 128px; min-width: 128px; height: auto; image-rendering: pixelated; border: 1px solid #d5d8dc; }
.stub p { font-size: 15px; }
.example figcaption { font-size: 12px; margin-top: 6px; }
"""


def render_error_page(message: str, exit_code: int | None) -> str:
    """The page a scan that did not finish leaves: the report's own styles and banner."""
    code = "" if exit_code is None else f"exit {exit_code} · "
    body = lines(
        [
            el(
                "header",
                el("h1", "robustcheck: ERROR (incomplete)"),
                el("p", f"{code}the scan did not complete; there are no measurements"),
                class_="banner verdict-error",
            ),
            el("section", el("p", message), class_="stub"),
        ]
    )
    return fill(_PAGE, title="robustcheck: incomplete", css=Markup(_CSS), body=body)


def render(report: Report) -> str:
    word = report.verdict.upper() if report.complete else "ERROR"
    body = lines(
        [
            _banner(report, word),
            _curve(report.results),
            _results(report),
            _checks(report.checks),
            _per_class(report),
            _diagnostics(report),
            _html_trust.validity(report),
            _html_trust.min_eps(report),
            _warnings(report.warnings),
            _examples(report),
            _text_examples(report),
            _provenance(report),
            el("footer", f"robustcheck {report.versions.robustcheck}", class_="note"),
        ]
    )
    title = f"robustcheck: {word} - {report.model.path}"
    return fill(_PAGE, title=title, css=Markup(_CSS), body=body)


def _section(title: str, *content: object) -> Markup:
    return el("section", lines([el("h2", title), *content]))


def _table(header: list[str], rows: list[list[object]], numeric: set[int]) -> Markup:
    head = el("thead", el("tr", *(el("th", h) for h in header)))
    body = el(
        "tbody",
        *(
            el(
                "tr",
                *(el("td", c, class_="num" if i in numeric else None) for i, c in enumerate(row)),
            )
            for row in rows
        ),
    )
    return el("table", head, body)


def _banner(report: Report, word: str) -> Markup:
    if not report.complete:
        summary = "the scan did not complete; measurements are partial"
    elif report.checks:
        summary = f"{len(report.checks)} checks: {fmt.status_counts(report.checks)}"
    else:
        summary = "no policy checks; measurements only"
    m, d = report.model, report.data
    return el(
        "header",
        el("h1", f"robustcheck: {word}"),
        el("p", f"exit {report.exit_code} · {summary}"),
        *(
            [el("p", "robustness claim UNRELIABLE: see Validity")]
            if report.validity is not None and not report.validity.reliable
            else []
        ),
        el("p", f"model {m.path} · data {d.path} ({d.n_samples} samples)"),
        *([el("p", f"policy {fmt.policy_judge(report.policy.source)}")] if report.policy else []),
        class_=f"banner verdict-{report.verdict if report.complete else 'error'}",
    )


def _curve(results: list[AttackResult]) -> Markup:
    if not results:
        return _section("Error rate against ε", el("p", "No results were measured."))
    note = "ε = 0 is the clean error rate; vertical bars are 95 % Wilson intervals."
    return _section("Error rate against ε", error_curve(results), el("p", note, class_="note"))


def _results(report: Report) -> Markup:
    if not report.results:
        return Markup("")
    tau = report.settings.high_confidence_threshold
    header = ["attack", "ε", "n", "clean err", "adv err [95 % CI]", "success [95 % CI]"]
    header += [f"conf ≥ {tau:g}", "conf ≥ 0.5", "mean conf"]
    rows: list[list[object]] = [
        [
            r.attack,
            fmt.eps(r.eps),
            r.n,
            fmt.pct(r.clean_error_rate),
            fmt.pct_ci(r.adversarial_error_rate, r.adversarial_error_rate_interval),
            fmt.pct_ci(r.attack_success_rate, r.attack_success_rate_interval),
            f"{r.high_confidence_misclassifications} ({fmt.pct(r.high_confidence_misclassification_rate)})",
            r.high_confidence_misclassifications_at_0_5,
            fmt.conf(r.mean_confidence_adversarial_errors),
        ]
        for r in report.results
    ]
    return _section("Results", _table(header, rows, numeric=set(range(1, 9))))


def _check_row(c: Check) -> list[object]:
    badge = el("span", c.status.upper(), class_=f"status status-{c.status}")
    gate = "95 % upper bound" if c.gate_on == "upper_bound" else "point"
    return [
        badge,
        c.rule,
        c.attack or "-",
        fmt.eps(c.eps),
        fmt.check_class(c) or "-",
        fmt.check_value(c, c.observed),
        fmt.check_value(c, c.limit),
        f"{gate}, {c.severity}",
        c.message,
    ]


def _checks(checks: list[Check]) -> Markup:
    if not checks:
        return _section("Checks", el("p", "No policy checks: this scan only measured."))
    header = ["status", "rule", "attack", "ε", "class", "observed", "limit", "gate", "message"]
    rows = [_check_row(c) for c in fmt.sorted_checks(checks)]
    return _section("Checks", _table(header, rows, numeric={3, 5, 6}))


def _class_label(label: int, name: str | None) -> str:
    """``3 · "cat"``: the index and the name kept visibly apart (names may hold digits or spaces)."""
    return str(label) if name is None else f"{label} · “{name}”"


def _per_class(report: Report) -> Markup:
    if not report.results or not report.results[0].per_class:
        return Markup("")
    first = report.results[0].per_class
    header = ["class", "n", "clean correct"]
    header += [f"{r.attack} ε={fmt.eps(r.eps)}" for r in report.results]
    rows: list[list[object]] = []
    for i, c in enumerate(first):
        row: list[object] = [_class_label(c.label, c.class_name), c.n, c.clean_correct]
        for r in report.results:
            cell = r.per_class[i] if i < len(r.per_class) else None
            row.append(
                "-"
                if cell is None
                else f"{fmt.pct(cell.adversarial_error_rate)} ({cell.adversarial_errors}/{cell.n})"
            )
        rows.append(row)
    note = el("p", "Adversarial error rate per true class.", class_="note")
    numeric = set(range(1, len(header)))
    return _section("Per class", note, _table(header, rows, numeric=numeric))


def _dl(items: list[tuple[str, object]]) -> Markup:
    return el("dl", lines(concat([el("dt", k), el("dd", v)]) for k, v in items))


def _diagnostics(report: Report) -> Markup:
    f, g = report.fidelity, report.gradient
    adv = f.adversarial_max_abs_probability_difference
    if f.paths == "surrogate-vs-target":
        agreement = _dl(
            [
                ("paths", f.paths),
                ("meaning", fmt.transfer_agreement(f)),
                ("clean top-1 agreement", fmt.pct(f.clean_top1_agreement)),
                ("adversarial top-1 agreement", fmt.pct(f.adversarial_top1_agreement)),
            ]
        )
        gradients = _dl([("evaluations (on the surrogate)", g.evaluations)])
        return lines([_section("Agreement", agreement), _section("Gradients", gradients)])
    fidelity = _dl(
        [
            ("paths", f.paths),
            ("trusted", "yes" if f.trusted else "NO: gradients may not be the deployed model's"),
            ("clean max |Δp|", fmt.diff(f.clean_max_abs_probability_difference)),
            ("clean top-1 agreement", fmt.pct(f.clean_top1_agreement)),
            ("adversarial max |Δp|", "-" if adv is None else f"{adv:.3g}"),
            ("adversarial top-1 agreement", fmt.pct(f.adversarial_top1_agreement)),
            ("tolerance", f"{f.tolerance:g}"),
        ]
    )
    gradient = _dl(
        [
            ("evaluations", g.evaluations),
            ("samples with zero gradient", f"{g.zero_gradient_samples} (FGSM cannot move them)"),
        ]
    )
    sections = [_section("Fidelity", fidelity), _section("Gradients", gradient)]
    methods = fmt.methods(report)
    if methods:
        sections.append(_section("Methods", _dl([("how each attack got its inputs", methods)])))
    return lines(sections)


def _warnings(warnings: list[str]) -> Markup:
    if not warnings:
        return Markup("")
    return _section("Warnings", el("ul", lines(el("li", w) for w in warnings), class_="warnings"))


def _image(title: str, png: str) -> Markup:
    if not _BASE64.fullmatch(png):
        return el("div", "(invalid image)", void("br"), title)
    img = void("img", src=f"data:image/png;base64,{png}", alt=title)
    return el("div", img, void("br"), title)


def _examples(report: Report) -> Markup:
    if not report.examples:
        return Markup("")
    names = report.data.class_names

    def name(label: int) -> str:
        return _class_label(label, names[label] if names and 0 <= label < len(names) else None)

    def figure(e: ExampleImage) -> Markup:
        images = el(
            "div",
            _image("clean", e.clean_png),
            _image("perturbation", e.perturbation_png),
            _image("adversarial", e.adversarial_png),
            class_="images",
        )
        caption = el(
            "figcaption",
            f"sample {e.index}, true class {name(e.label)}, ε = {fmt.eps(e.eps)}",
            void("br"),
            f"clean → {name(e.clean_prediction)} ({e.clean_confidence:.3f}); "
            f"adversarial → {name(e.adversarial_prediction)} ({e.adversarial_confidence:.3f})",
        )
        return el("figure", images, caption, class_="example")

    note = el("p", "The perturbation is shown with mid-gray as zero.", class_="note")
    grid = el("div", lines(figure(e) for e in report.examples), class_="examples")
    return _section("Examples", note, grid)


def _text_examples(report: Report) -> Markup:
    if not report.text_examples:
        return Markup("")
    header = el(
        "tr",
        *(
            el("th", h)
            for h in (
                "attack, tokens",
                "sample",
                "class → prediction",
                "original",
                "adversarial",
                "swaps",
            )
        ),
    )
    rows = [
        el(
            "tr",
            el("td", f"{e.attack} {e.tokens}"),
            el("td", str(e.index)),
            el("td", f"{e.label} → {e.adversarial_prediction} ({e.adversarial_confidence:.3f})"),
            el("td", e.original_text),
            el("td", e.adversarial_text),
            el("td", swaps(e)),
        )
        for e in report.text_examples
    ]
    return _section("Token substitutions", el("table", header, *rows))


def _provenance(report: Report) -> Markup:
    m, d, s, v, env = (
        report.model,
        report.data,
        report.settings,
        report.versions,
        report.environment,
    )
    domain = "none" if s.input_range is None else f"[{s.input_range.lo:g}, {s.input_range.hi:g}]"
    items: list[tuple[str, object]] = [
        ("model", f"{m.path} ({m.format}, {m.output_kind} {m.output_kind_source})"),
        ("model sha256", m.sha256),
        *(
            [
                (
                    "surrogate",
                    f"{m.surrogate.path} ({m.surrogate.format}, sha256 {m.surrogate.sha256})",
                )
            ]
            if m.surrogate
            else []
        ),
        ("input shape", "[" + ", ".join("N" if x is None else str(x) for x in m.input_shape) + "]"),
        ("classes", m.n_classes),
        ("data", f"{d.path} ({d.format}, {d.n_samples} samples, labels {d.labels})"),
        ("data sha256", d.sha256),
        ("arrays", f"x: {d.x_key}, y: {d.y_key or '-'}"),
        ("ε", ", ".join(fmt.eps(e) for e in s.eps)),
        *([("ε per feature", line)] if (line := fmt.eps_scale_line(report)) else []),
        ("attacks", ", ".join(s.attacks)),
        ("input range", f"{domain} ({s.input_range_source})"),
        ("batch size · seed · τ", f"{s.batch_size} · {s.seed} · {s.high_confidence_threshold:g}"),
    ]
    if report.policy is not None:
        items.append(("policy", f"{report.policy.source} (sha256 {report.policy.sha256})"))
    optional = [("torch", v.torch), ("onnx", v.onnx), ("onnxruntime", v.onnxruntime)]
    versions = [f"robustcheck {v.robustcheck}", f"Python {v.python}", f"numpy {v.numpy}"]
    versions += [f"{k} {x}" for k, x in optional if x is not None]
    items += [
        ("versions", ", ".join(versions)),
        ("environment", f"{env.device}, {env.threads} threads, deterministic {env.deterministic}"),
        ("started", f"{report.started_at} ({report.duration_s:.1f} s)"),
        ("report schema", report.schema_version),
    ]
    return _section("Provenance", _dl(items))
