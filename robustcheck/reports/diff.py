"""Comparing two reports (a baseline and a candidate): what moved, and what got worse."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from robustcheck.reports import _format as fmt
from robustcheck.reports.model import AttackResult, Check, CheckStatus, Report, Verdict

_VERDICT_RANK: dict[str, int] = {"pass": 0, "fail": 1, "error": 2}
_STATUS_RANK: dict[str, int] = {"pass": 0, "warn": 1, "fail": 2, "error": 3}


class _Frozen(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, protected_namespaces=()
    )  # pydantic < 2.10


class RateChange(_Frozen):
    before: float | None
    after: float | None
    delta: float | None
    """``after - before``; None when either side is missing."""


class CountChange(_Frozen):
    before: int | None
    after: int | None
    delta: int | None


class ResultChange(_Frozen):
    """One attack × ε present in either report."""

    attack: str
    eps: float
    presence: Literal["both", "added", "removed"]
    adversarial_error_rate: RateChange
    attack_success_rate: RateChange
    high_confidence_misclassifications: CountChange
    significant_increase: bool
    """The adversarial error rate rose and the two 95 % intervals do not overlap."""


class CheckChange(_Frozen):
    """A check whose status differs, matched on rule, attack, ε, class and severity."""

    rule: str
    attack: str | None
    eps: float | None
    label: int | None
    class_name: str | None
    severity: Literal["fail", "warn"]
    before: CheckStatus | None
    """None: the baseline had no such check."""
    after: CheckStatus | None
    message: str
    worse: bool


class ReportDiff(_Frozen):
    verdict_before: Verdict
    verdict_after: Verdict
    complete_before: bool
    complete_after: bool
    model_sha256_before: str
    model_sha256_after: str
    data_sha256_before: str
    data_sha256_after: str
    policy_sha256_before: str | None
    policy_sha256_after: str | None
    results: list[ResultChange]
    checks: list[CheckChange]
    regressions: list[str]
    """One line per way the candidate is worse than the baseline; empty when none."""

    @property
    def verdict_changed(self) -> bool:
        return self.verdict_before != self.verdict_after

    @property
    def model_changed(self) -> bool:
        return self.model_sha256_before != self.model_sha256_after

    @property
    def data_changed(self) -> bool:
        return self.data_sha256_before != self.data_sha256_after

    @property
    def regressed(self) -> bool:
        return bool(self.regressions)


def diff(a: Report, b: Report) -> ReportDiff:
    """How ``b`` (the candidate) differs from ``a`` (the baseline)."""
    results = _result_changes(a.results, b.results)
    checks = _check_changes(a.checks, b.checks)
    regressions = []
    if not b.complete and a.complete:
        regressions.append("the scan did not complete")
    if _VERDICT_RANK[b.verdict] > _VERDICT_RANK[a.verdict]:
        regressions.append(f"verdict {a.verdict} -> {b.verdict}")
    regressions += [
        f"check {_check_name(c)}: {c.before or 'absent'} -> {c.after}" for c in checks if c.worse
    ]
    regressions += [
        f"{r.attack} eps={fmt.eps(r.eps)}: adversarial error rate {_rate_change(r.adversarial_error_rate)}"
        for r in results
        if r.significant_increase
    ]
    return ReportDiff(
        verdict_before=a.verdict,
        verdict_after=b.verdict,
        complete_before=a.complete,
        complete_after=b.complete,
        model_sha256_before=a.model.sha256,
        model_sha256_after=b.model.sha256,
        data_sha256_before=a.data.sha256,
        data_sha256_after=b.data.sha256,
        policy_sha256_before=None if a.policy is None else a.policy.sha256,
        policy_sha256_after=None if b.policy is None else b.policy.sha256,
        results=results,
        checks=checks,
        regressions=regressions,
    )


def _rate(before: float | None, after: float | None) -> RateChange:
    delta = None if before is None or after is None else after - before
    return RateChange(before=before, after=after, delta=delta)


def _count(before: int | None, after: int | None) -> CountChange:
    delta = None if before is None or after is None else after - before
    return CountChange(before=before, after=after, delta=delta)


def _result_key(r: AttackResult) -> tuple[str, str]:
    return r.attack, f"{r.eps:.10g}"


def _result_changes(a: list[AttackResult], b: list[AttackResult]) -> list[ResultChange]:
    before = {_result_key(r): r for r in a}
    after = {_result_key(r): r for r in b}
    return [
        _result_change(before.get(key), after.get(key)) for key in dict.fromkeys([*before, *after])
    ]


def _result_change(x: AttackResult | None, y: AttackResult | None) -> ResultChange:
    some = y if y is not None else x
    if some is None:
        raise ValueError("a result change needs a result on at least one side")
    xi = None if x is None else x.adversarial_error_rate_interval
    yi = None if y is None else y.adversarial_error_rate_interval
    return ResultChange(
        attack=some.attack,
        eps=some.eps,
        presence="both"
        if x is not None and y is not None
        else ("removed" if x is not None else "added"),
        adversarial_error_rate=_rate(
            None if x is None else x.adversarial_error_rate,
            None if y is None else y.adversarial_error_rate,
        ),
        attack_success_rate=_rate(
            None if x is None else x.attack_success_rate,
            None if y is None else y.attack_success_rate,
        ),
        high_confidence_misclassifications=_count(
            None if x is None else x.high_confidence_misclassifications,
            None if y is None else y.high_confidence_misclassifications,
        ),
        significant_increase=xi is not None and yi is not None and yi.lo > xi.hi,
    )


def _check_key(c: Check) -> tuple[object, ...]:
    return (c.rule, c.attack, None if c.eps is None else f"{c.eps:.10g}", c.label, c.severity)


def _check_changes(a: list[Check], b: list[Check]) -> list[CheckChange]:
    before = {_check_key(c): c for c in a}
    after = {_check_key(c): c for c in b}
    changes = []
    for key in dict.fromkeys([*before, *after]):
        x, y = before.get(key), after.get(key)
        x_status = None if x is None else x.status
        y_status = None if y is None else y.status
        if x_status == y_status:
            continue
        some = y if y is not None else x
        if some is None:
            continue
        worse = y_status is not None and _STATUS_RANK[y_status] > _STATUS_RANK[x_status or "pass"]
        changes.append(
            CheckChange(
                rule=some.rule,
                attack=some.attack,
                eps=some.eps,
                label=some.label,
                class_name=some.class_name,
                severity=some.severity,
                before=x_status,
                after=y_status,
                message=some.message,
                worse=worse,
            )
        )
    return changes


def _check_name(c: CheckChange) -> str:
    name = c.rule
    if c.attack is not None:
        name += f" @ {c.attack}"
    if c.eps is not None:
        name += f" eps={fmt.eps(c.eps)}"
    if c.label is not None:
        name += f" class {c.label}" + ("" if c.class_name is None else f" ({c.class_name})")
    return name + (" [warn]" if c.severity == "warn" else "")


def _rate_change(change: RateChange) -> str:
    text = f"{fmt.pct(change.before)} -> {fmt.pct(change.after)}"
    return text if change.delta is None else f"{text} ({100 * change.delta:+.1f} pp)"


def _count_change(change: CountChange) -> str:
    before = "-" if change.before is None else str(change.before)
    after = "-" if change.after is None else str(change.after)
    return f"{before} -> {after}" + ("" if change.delta is None else f" ({change.delta:+d})")


def _sha_line(what: str, before: str | None, after: str | None) -> str:
    if before == after:
        return f"{what}: {'-' if before is None else fmt.short_sha(before)} (unchanged)"
    short = [("-" if s is None else fmt.short_sha(s)) for s in (before, after)]
    return f"{what}: {short[0]} -> {short[1]} (changed)"


def render_diff(d: ReportDiff) -> str:
    """The diff as plain text for a terminal or a CI log."""
    verdict = f"verdict: {d.verdict_before}"
    if d.verdict_changed:
        rank = _VERDICT_RANK[d.verdict_after] - _VERDICT_RANK[d.verdict_before]
        verdict += f" -> {d.verdict_after} ({'worse' if rank > 0 else 'better'})"
    else:
        verdict += " (unchanged)"
    lines = [
        verdict,
        _sha_line("model sha256", d.model_sha256_before, d.model_sha256_after),
        _sha_line("data sha256", d.data_sha256_before, d.data_sha256_after),
        _sha_line("policy sha256", d.policy_sha256_before, d.policy_sha256_after),
    ]
    if not d.complete_after:
        lines.append("the candidate scan did not complete")
    if d.results:
        header = ["attack", "eps", "adv err", "success", "high-conf errors"]
        rows = [
            [
                r.attack + ("" if r.presence == "both" else f" ({r.presence})"),
                fmt.eps(r.eps),
                _rate_change(r.adversarial_error_rate) + (" *" if r.significant_increase else ""),
                _rate_change(r.attack_success_rate),
                _count_change(r.high_confidence_misclassifications),
            ]
            for r in d.results
        ]
        lines += ["", *fmt.table(header, rows)]
        if any(r.significant_increase for r in d.results):
            lines.append("* higher, and the 95 % intervals do not overlap")
    if d.checks:
        lines += ["", "checks whose status changed:"]
        lines += [
            f"  {_check_name(c)}: {c.before or 'absent'} -> {c.after or 'absent'}" for c in d.checks
        ]
    lines.append("")
    if d.regressions:
        lines.append(f"regressions ({len(d.regressions)}):")
        lines += [f"  - {line}" for line in d.regressions]
    else:
        lines.append("no regressions")
    return "\n".join(lines) + "\n"
