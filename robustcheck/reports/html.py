"""One self-contained HTML page: inline CSS and SVG, images as data: URIs, no script, no URL.

The markup is a jinja2 template (``templates/report.html.j2``) with autoescaping on, so a string
from the report reaches the page escaped whatever section shows it; a Content-Security-Policy
forbids scripts and remote loads even so. This module decides what each section says (text and
numbers); the template how it is marked up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import jinja2

from robustcheck.reports import _format as fmt
from robustcheck.reports import _html_trust
from robustcheck.reports._escape import xml_text
from robustcheck.reports._svg import error_curve
from robustcheck.reports._text_examples import swaps
from robustcheck.reports.model import Check, ExampleImage, Report
from robustcheck.reports.registry import REPORTERS, Reporter

_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")
# markupsafe spells an escaped ' and " as &#39; and &#34;, the standard library (which escaped
# robustcheck's HTML before jinja2 did) as &#x27; and &quot;: the same characters, kept in the
# older spelling so a report renders to the same bytes as before. Nothing else writes these.
_RESPELL = {"&#39;": "&#x27;", "&#34;": "&quot;"}
_ENTITY = re.compile("|".join(_RESPELL))


@REPORTERS.register()
class HtmlReporter(Reporter):
    name = "html"
    suffix = ".html"
    media_type = "text/html"
    description = "one self-contained page: charts, tables and example images, no script"

    def render(self, report: Report) -> str:
        return render(report)

    def render_error(self, message: str, exit_code: int | None) -> str:
        return render_error(message, exit_code)


@dataclass(frozen=True)
class Badge:
    """A check's status, shown as a coloured badge in a table cell."""

    status: str


@dataclass(frozen=True)
class Table:
    header: list[str]
    rows: list[list[object]]
    numeric: frozenset[int]
    """The columns holding numbers (right-aligned)."""


Definitions = list[tuple[str, object]]
"""Terms and what they are, shown as a definition list."""


def _legal(value: Any) -> Any:
    """Every value a template prints, before it is escaped: XML-illegal characters (a NUL, an
    escape sequence, a lone surrogate) become a visible ``#xNN``. Markup (a macro's output) is
    already made of escaped values."""
    return value if hasattr(value, "__html__") else xml_text(value)


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("robustcheck.reports", "templates"),
        autoescape=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        finalize=_legal,
    )
    env.tests["badge"] = lambda value: isinstance(value, Badge)
    return env


_ENV = _environment()


def _page(template: str, **context: object) -> str:
    page = _ENV.get_template(template).render(**context)
    return _ENTITY.sub(lambda m: _RESPELL[m.group()], page)


def render_error(message: str, exit_code: int | None = None) -> str:
    """The page a scan that did not finish leaves: the report's own styles and banner."""
    code = "" if exit_code is None else f"exit {exit_code} · "
    return _page("error.html.j2", title="robustcheck: incomplete", code=code, message=message)


def render(report: Report) -> str:
    word = report.verdict.upper() if report.complete else "ERROR"
    return _page(
        "report.html.j2",
        title=f"robustcheck: {word} - {report.model.path}",
        banner=_banner(report, word),
        curve=error_curve(report.results) if report.results else None,
        results=_results(report),
        checks=_checks(report.checks),
        per_class=_per_class(report),
        diagnostics=_diagnostics(report),
        validity=_html_trust.validity(report),
        min_eps=_html_trust.min_eps(report),
        warnings=report.warnings,
        examples=_examples(report),
        text_examples=_text_examples(report),
        provenance=_provenance(report),
        version=report.versions.robustcheck,
    )


def _banner(report: Report, word: str) -> dict[str, object]:
    if not report.complete:
        summary = "the scan did not complete; measurements are partial"
    elif report.checks:
        summary = f"{len(report.checks)} checks: {fmt.status_counts(report.checks)}"
    else:
        summary = "no policy checks; measurements only"
    return {
        "verdict": report.verdict if report.complete else "error",
        "word": word,
        "exit_code": report.exit_code,
        "summary": summary,
        "unreliable": report.validity is not None and not report.validity.reliable,
        "model": report.model.path,
        "data": report.data.path,
        "samples": report.data.n_samples,
        "policy": fmt.policy_judge(report.policy.source) if report.policy else None,
    }


def _results(report: Report) -> Table | None:
    if not report.results:
        return None
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
    return Table(header, rows, frozenset(range(1, 9)))


def _check_row(c: Check) -> list[object]:
    gate = "95 % upper bound" if c.gate_on == "upper_bound" else "point"
    return [
        Badge(c.status),
        c.rule,
        c.attack or "-",
        fmt.eps(c.eps),
        fmt.check_class(c) or "-",
        fmt.check_value(c, c.observed),
        fmt.check_value(c, c.limit),
        f"{gate}, {c.severity}",
        c.message,
    ]


def _checks(checks: list[Check]) -> Table | None:
    if not checks:
        return None
    header = ["status", "rule", "attack", "ε", "class", "observed", "limit", "gate", "message"]
    rows = [_check_row(c) for c in fmt.sorted_checks(checks)]
    return Table(header, rows, frozenset({3, 5, 6}))


def _class_label(label: int, name: str | None) -> str:
    """``3 · "cat"``: the index and the name kept visibly apart (names may hold digits or spaces)."""
    return str(label) if name is None else f"{label} · “{name}”"


def _per_class(report: Report) -> Table | None:
    if not report.results or not report.results[0].per_class:
        return None
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
    return Table(header, rows, frozenset(range(1, len(header))))


def _diagnostics(report: Report) -> list[tuple[str, Definitions]]:
    f, g = report.fidelity, report.gradient
    adv = f.adversarial_max_abs_probability_difference
    if f.paths == "surrogate-vs-target":
        agreement: Definitions = [
            ("paths", f.paths),
            ("meaning", fmt.transfer_agreement(f)),
            ("clean top-1 agreement", fmt.pct(f.clean_top1_agreement)),
            ("adversarial top-1 agreement", fmt.pct(f.adversarial_top1_agreement)),
        ]
        return [
            ("Agreement", agreement),
            ("Gradients", [("evaluations (on the surrogate)", g.evaluations)]),
        ]
    fidelity: Definitions = [
        ("paths", f.paths),
        ("trusted", "yes" if f.trusted else "NO: gradients may not be the deployed model's"),
        ("clean max |Δp|", fmt.diff(f.clean_max_abs_probability_difference)),
        ("clean top-1 agreement", fmt.pct(f.clean_top1_agreement)),
        ("adversarial max |Δp|", "-" if adv is None else f"{adv:.3g}"),
        ("adversarial top-1 agreement", fmt.pct(f.adversarial_top1_agreement)),
        ("tolerance", f"{f.tolerance:g}"),
    ]
    gradient: Definitions = [
        ("evaluations", g.evaluations),
        ("samples with zero gradient", f"{g.zero_gradient_samples} (FGSM cannot move them)"),
    ]
    sections = [("Fidelity", fidelity), ("Gradients", gradient)]
    methods = fmt.methods(report)
    if methods:
        sections.append(("Methods", [("how each attack got its inputs", methods)]))
    return sections


def _image(title: str, png: str) -> dict[str, str | None]:
    """``png`` is embedded only when it is base64: nothing else may reach the ``src``."""
    return {"title": title, "png": png if _BASE64.fullmatch(png) else None}


def _examples(report: Report) -> list[dict[str, object]]:
    names = report.data.class_names

    def name(label: int) -> str:
        return _class_label(label, names[label] if names and 0 <= label < len(names) else None)

    def figure(e: ExampleImage) -> dict[str, object]:
        return {
            "images": [
                _image("clean", e.clean_png),
                _image("perturbation", e.perturbation_png),
                _image("adversarial", e.adversarial_png),
            ],
            "caption": f"sample {e.index}, true class {name(e.label)}, ε = {fmt.eps(e.eps)}",
            "outcome": f"clean → {name(e.clean_prediction)} ({e.clean_confidence:.3f}); "
            f"adversarial → {name(e.adversarial_prediction)} ({e.adversarial_confidence:.3f})",
        }

    return [figure(e) for e in report.examples]


def _text_examples(report: Report) -> list[dict[str, str]]:
    return [
        {
            "attack": f"{e.attack} {e.tokens}",
            "sample": str(e.index),
            "outcome": f"{e.label} → {e.adversarial_prediction} ({e.adversarial_confidence:.3f})",
            "original": e.original_text,
            "adversarial": e.adversarial_text,
            "swaps": swaps(e),
        }
        for e in report.text_examples
    ]


def _provenance(report: Report) -> Definitions:
    m, d, s, v, env = (
        report.model,
        report.data,
        report.settings,
        report.versions,
        report.environment,
    )
    domain = "none" if s.input_range is None else f"[{s.input_range.lo:g}, {s.input_range.hi:g}]"
    items: Definitions = [
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
    return items
