"""The error-rate-versus-ε line chart of the HTML report, as inline SVG (no script, no URL)."""

from __future__ import annotations

from dataclasses import dataclass

from robustcheck.reports import _format as fmt
from robustcheck.reports._markup import Markup, el, lines
from robustcheck.reports.model import AttackResult

WIDTH, HEIGHT = 640, 300
LEFT, RIGHT, TOP, BOTTOM = 56, 132, 16, 48
PALETTE = ("#c0392b", "#2471a3", "#7d3c98", "#d35400", "#1e8449", "#566573")
_MAX_EPS_TICKS = 8


@dataclass(frozen=True)
class _Point:
    eps: float
    rate: float
    lo: float | None
    hi: float | None
    label: str


def error_curve(results: list[AttackResult]) -> Markup:
    """Adversarial error rate against ε, one line per attack, starting at the clean error (ε = 0)."""
    by_attack: dict[str, list[AttackResult]] = {}
    for r in results:
        by_attack.setdefault(r.attack, []).append(r)
    max_eps = max((r.eps for r in results), default=0.0) or 1.0
    parts = [_axes(sorted({r.eps for r in results}), max_eps)]
    for i, (attack, members) in enumerate(by_attack.items()):
        points = [_clean_point(attack, members[0])]
        points += [_point(r) for r in sorted(members, key=lambda r: r.eps)]
        parts.append(_series(attack, points, PALETTE[i % len(PALETTE)], max_eps, i))
    return el(
        "svg",
        lines(parts),
        viewBox=f"0 0 {WIDTH} {HEIGHT}",
        width=WIDTH,
        height=HEIGHT,
        role="img",
        aria_label="adversarial error rate against epsilon",
        class_="chart",
    )


def _clean_point(attack: str, r: AttackResult) -> _Point:
    return _Point(
        0.0, r.clean_error_rate, None, None, f"{attack} clean: {fmt.pct(r.clean_error_rate)}"
    )


def _point(r: AttackResult) -> _Point:
    ci = r.adversarial_error_rate_interval
    label = f"{r.attack} ε={fmt.eps(r.eps)}: {fmt.pct_ci(r.adversarial_error_rate, ci)}"
    lo, hi = (None, None) if ci is None else (ci.lo, ci.hi)
    return _Point(r.eps, r.adversarial_error_rate, lo, hi, label)


def _x(eps: float, max_eps: float) -> float:
    return LEFT + (WIDTH - LEFT - RIGHT) * eps / max_eps


def _y(rate: float) -> float:
    return TOP + (HEIGHT - TOP - BOTTOM) * (1 - min(max(rate, 0.0), 1.0))


def _n(value: float) -> str:
    return f"{value:.1f}"


def _axes(eps_values: list[float], max_eps: float) -> Markup:
    bottom, right = HEIGHT - BOTTOM, WIDTH - RIGHT
    parts = []
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        y = _n(_y(tick))
        parts.append(el("line", x1=LEFT, y1=y, x2=right, y2=y, class_="grid"))
        parts.append(el("text", fmt.pct(tick, 0), x=LEFT - 6, y=y, class_="ytick"))
    if len(eps_values) > _MAX_EPS_TICKS:
        eps_values = [max_eps * k / 4 for k in range(1, 5)]
    for tick in [0.0, *eps_values]:
        x = _n(_x(tick, max_eps))
        parts.append(el("line", x1=x, y1=bottom, x2=x, y2=bottom + 4, class_="axis"))
        parts.append(el("text", fmt.eps(tick), x=x, y=bottom + 16, class_="xtick"))
    parts.append(el("line", x1=LEFT, y1=bottom, x2=right, y2=bottom, class_="axis"))
    parts.append(el("line", x1=LEFT, y1=TOP, x2=LEFT, y2=bottom, class_="axis"))
    x_mid = _n((LEFT + right) / 2)
    parts.append(el("text", "ε (L∞ budget)", x=x_mid, y=HEIGHT - 10, class_="xlabel"))
    y_mid = _n(_y(0.5))
    parts.append(
        el(
            "text",
            "error rate",
            x=14,
            y=y_mid,
            transform=f"rotate(-90 14 {y_mid})",
            class_="ylabel",
        )
    )
    return lines(parts)


def _series(attack: str, points: list[_Point], color: str, max_eps: float, index: int) -> Markup:
    coords = " ".join(f"{_n(_x(p.eps, max_eps))},{_n(_y(p.rate))}" for p in points)
    parts = [el("polyline", points=coords, fill="none", stroke=color, stroke_width=2)]
    for p in points:
        x = _n(_x(p.eps, max_eps))
        if p.lo is not None and p.hi is not None:
            parts.append(el("line", x1=x, y1=_n(_y(p.lo)), x2=x, y2=_n(_y(p.hi)), stroke=color))
        dot = el("circle", el("title", p.label), cx=x, cy=_n(_y(p.rate)), r=3.5, fill=color)
        parts.append(dot)
    legend_y = TOP + 8 + 20 * index
    legend_x = WIDTH - RIGHT + 16
    parts.append(
        el(
            "line",
            x1=legend_x,
            y1=legend_y,
            x2=legend_x + 20,
            y2=legend_y,
            stroke=color,
            stroke_width=2,
        )
    )
    parts.append(el("text", attack, x=legend_x + 26, y=legend_y, class_="legend"))
    return el("g", lines(parts), class_="series")
