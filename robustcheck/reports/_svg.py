"""The geometry of the HTML report's error-rate-versus-ε line chart: where each tick, line and
marker goes (the template ``macros.html.j2`` draws it as inline SVG: no script, no URL)."""

from __future__ import annotations

from dataclasses import dataclass

from robustcheck.reports import _format as fmt
from robustcheck.reports.model import AttackResult

WIDTH, HEIGHT = 640, 300
LEFT, RIGHT, TOP, BOTTOM = 56, 132, 16, 48
PALETTE = ("#c0392b", "#2471a3", "#7d3c98", "#d35400", "#1e8449", "#566573")
_MAX_EPS_TICKS = 8


@dataclass(frozen=True)
class Tick:
    at: str
    """The coordinate along its axis."""
    label: str


@dataclass(frozen=True)
class Marker:
    """One measured point: its coordinates, its 95 % interval (when there is one) and a tooltip."""

    x: str
    y: str
    lo: str | None
    hi: str | None
    label: str


@dataclass(frozen=True)
class Series:
    attack: str
    color: str
    points: str
    """The polyline's ``points``."""
    markers: list[Marker]
    legend_x: int
    legend_y: int


@dataclass(frozen=True)
class Chart:
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    series: list[Series]
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = WIDTH - RIGHT
    top: int = TOP
    bottom: int = HEIGHT - BOTTOM
    x_mid: str = ""
    y_mid: str = ""


@dataclass(frozen=True)
class _Point:
    eps: float
    rate: float
    lo: float | None
    hi: float | None
    label: str


def error_curve(results: list[AttackResult]) -> Chart:
    """Adversarial error rate against ε, one line per attack, starting at the clean error (ε = 0)."""
    by_attack: dict[str, list[AttackResult]] = {}
    for r in results:
        by_attack.setdefault(r.attack, []).append(r)
    max_eps = max((r.eps for r in results), default=0.0) or 1.0
    series = []
    for i, (attack, members) in enumerate(by_attack.items()):
        points = [_clean_point(attack, members[0])]
        points += [_point(r) for r in sorted(members, key=lambda r: r.eps)]
        series.append(_series(attack, points, PALETTE[i % len(PALETTE)], max_eps, i))
    eps_values = sorted({r.eps for r in results})
    if len(eps_values) > _MAX_EPS_TICKS:
        eps_values = [max_eps * k / 4 for k in range(1, 5)]
    return Chart(
        y_ticks=[Tick(_n(_y(t)), fmt.pct(t, 0)) for t in (0.0, 0.25, 0.5, 0.75, 1.0)],
        x_ticks=[Tick(_n(_x(t, max_eps)), fmt.eps(t)) for t in [0.0, *eps_values]],
        series=series,
        x_mid=_n((LEFT + WIDTH - RIGHT) / 2),
        y_mid=_n(_y(0.5)),
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


def _series(attack: str, points: list[_Point], color: str, max_eps: float, index: int) -> Series:
    markers = [
        Marker(
            x=_n(_x(p.eps, max_eps)),
            y=_n(_y(p.rate)),
            lo=None if p.lo is None or p.hi is None else _n(_y(p.lo)),
            hi=None if p.lo is None or p.hi is None else _n(_y(p.hi)),
            label=p.label,
        )
        for p in points
    ]
    return Series(
        attack=attack,
        color=color,
        points=" ".join(f"{m.x},{m.y}" for m in markers),
        markers=markers,
        legend_x=WIDTH - RIGHT + 16,
        legend_y=TOP + 8 + 20 * index,
    )
