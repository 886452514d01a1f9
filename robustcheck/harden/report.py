"""The before/after comparison ``harden`` ends with, and its text rendering (pure)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from robustcheck.exit_codes import ExitCode
from robustcheck.harden.trainer import EpochRecord
from robustcheck.reports.model import Report

HARDEN_SCHEMA_VERSION = "1.0"


class _Strict(BaseModel):
    model_config = ConfigDict(
        extra="forbid", protected_namespaces=()
    )  # model_sha256: pydantic < 2.10


class Row(_Strict):
    """One attack at one ε, before and after."""

    attack: str
    eps: float
    error_before: float
    error_after: float
    mean_confidence_errors_before: float | None
    mean_confidence_errors_after: float | None
    high_confidence_rate_before: float
    high_confidence_rate_after: float


class WriteBack(_Strict):
    """The hardened file, reloaded on its deployed runtime, against the trained model."""

    max_abs_probability_difference: float
    tolerance: float
    samples: int


class Gate(_Strict):
    attack: str
    eps: float
    error_before: float
    error_after: float
    clean_error_before: float
    clean_error_after: float
    max_clean_drop: float
    problems: list[str]
    """Why the hardened model is not accepted; empty when it is."""


class HardenReport(_Strict):
    schema_version: str = HARDEN_SCHEMA_VERSION
    verdict: Literal["pass", "fail", "error"]
    exit_code: int
    model: str
    model_sha256: str
    output: str
    output_sha256: str
    format: str
    trained_tensors: int
    trained_values: int
    settings: dict[str, Any]
    history: list[EpochRecord]
    best_epoch: int
    stopped_early: bool
    resumed_from_epoch: int | None
    write_back: WriteBack
    gate: Gate
    rows: list[Row]
    before: Report
    after: Report


def rows(before: Report, after: Report) -> list[Row]:
    after_by = {(r.attack, r.eps): r for r in after.results}
    out = []
    for b in before.results:
        a = after_by.get((b.attack, b.eps))
        if a is None:
            continue
        out.append(
            Row(
                attack=b.attack,
                eps=b.eps,
                error_before=b.adversarial_error_rate,
                error_after=a.adversarial_error_rate,
                mean_confidence_errors_before=b.mean_confidence_adversarial_errors,
                mean_confidence_errors_after=a.mean_confidence_adversarial_errors,
                high_confidence_rate_before=b.high_confidence_misclassification_rate,
                high_confidence_rate_after=a.high_confidence_misclassification_rate,
            )
        )
    return out


def flagged(report: Report) -> list[str]:
    if report.validity is None:
        return []
    return [c.reason for c in report.validity.checks if c.status == "flagged"]


def judge(
    before: Report, after: Report, attack: str, eps: float, max_clean_drop: float
) -> tuple[Gate, ExitCode]:
    """Accept the hardened model when it is better on the gate and costs little clean accuracy."""
    b = next(r for r in before.results if r.attack == attack and r.eps == eps)
    a = next(r for r in after.results if r.attack == attack and r.eps == eps)
    problems = []
    if not a.adversarial_error_rate < b.adversarial_error_rate:
        problems.append(
            f"{attack} error at ε={eps:g} did not fall ({b.adversarial_error_rate:.1%} → "
            f"{a.adversarial_error_rate:.1%})"
        )
    drop = a.clean_error_rate - b.clean_error_rate
    if drop > max_clean_drop:
        problems.append(
            f"clean accuracy dropped {drop * 100:.1f} points (limit {max_clean_drop * 100:g})"
        )
    new_flags = sorted(set(flagged(after)) - set(flagged(before)))
    problems += [f"validity check flagged on the hardened model only: {r}" for r in new_flags]
    if before.verdict == "pass" and after.verdict == "fail":
        problems.append("the policy passed the original model and fails the hardened one")
    gate = Gate(
        attack=attack,
        eps=eps,
        error_before=b.adversarial_error_rate,
        error_after=a.adversarial_error_rate,
        clean_error_before=b.clean_error_rate,
        clean_error_after=a.clean_error_rate,
        max_clean_drop=max_clean_drop,
        problems=problems,
    )
    if after.verdict == "error":
        return gate, ExitCode.INPUT_ERROR
    return gate, ExitCode.POLICY_FAILED if problems else ExitCode.OK


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def render(report: HardenReport) -> str:
    """The terminal summary: training history, the before/after table, the gate."""
    s = report.settings
    lines = [
        f"hardened {report.model} -> {report.output} ({report.format}; {report.trained_values} "
        f"float values in {report.trained_tensors} tensors)",
        f"training: {s['attack']} at ε={s['eps']:g}, α={s['alpha']:g}, {s['optimizer']} "
        f"lr={s['lr']:g} ({s['schedule']}), batch {s['batch_size']}, seed {s['seed']}; "
        f"best epoch {report.best_epoch} of {len(report.history)}"
        + (" (stopped early)" if report.stopped_early else ""),
        "",
        "epoch  loss     val clean error  val FGSM error",
    ]
    lines += [
        f"{h.epoch:>5}  {h.train_loss:<7.4f}  {_pct(h.val_clean_error):>15}  {_pct(h.val_fgsm_error):>14}"
        for h in report.history
    ]
    wb = report.write_back
    lines += [
        "",
        f"write-back: the hardened file on its runtime vs the trained model: max |Δp| "
        f"{wb.max_abs_probability_difference:.2g} on {wb.samples} samples (tolerance {wb.tolerance:g})",
        "",
        f"{'':<22}{'before':>10}{'after':>10}   mean confidence of errors",
        f"{'clean error':<22}{_pct(report.gate.clean_error_before):>10}"
        f"{_pct(report.gate.clean_error_after):>10}",
    ]
    for row in report.rows:
        conf = (
            f"{_pct(row.mean_confidence_errors_before)} → {_pct(row.mean_confidence_errors_after)}"
        )
        lines.append(
            f"{f'{row.attack} @ {row.eps:g}':<22}{_pct(row.error_before):>10}"
            f"{_pct(row.error_after):>10}   {conf}"
        )
    lines.append(
        f"{'validity':<22}{_validity(report.before):>10}{_validity(report.after):>10}"
        f"{'':3}policy verdict {report.before.verdict} → {report.after.verdict}"
    )
    lines += [f"  flagged (after): {reason}" for reason in flagged(report.after)]
    g = report.gate
    if report.verdict == "pass":
        lines.append(
            f"PASS: {g.attack} error at ε={g.eps:g} fell from {_pct(g.error_before)} to "
            f"{_pct(g.error_after)}; clean error {_pct(g.clean_error_before)} → "
            f"{_pct(g.clean_error_after)}"
        )
    else:
        lines.append(f"{report.verdict.upper()}: " + ("; ".join(g.problems) or "see the scans"))
    return "\n".join(lines)


def _validity(report: Report) -> str:
    if report.validity is None:
        return "–"
    return "reliable" if report.validity.reliable else "flagged"
