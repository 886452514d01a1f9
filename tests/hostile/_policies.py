"""Hostile policy files: values that would loosen a gate, YAML tricks, broken ``extends``."""

from __future__ import annotations

import os
from pathlib import Path

from hostile._case import INPUT, Case, Shared, scan, write

PWNED = "pwned-by-yaml"
"""A python/object YAML tag would create this file if it were ever constructed."""

BUDGET = "version: 1\nbudgets:\n  - eps: 0.1\n    max_adversarial_error_rate: {limit}\n"


def _policy(text: str | bytes, name: str = "policy.yaml"):
    """``tmp/policy.yaml`` holding ``text`` (``{tmp}`` replaced), scanned with --policy."""

    def build(tmp: Path, fx: Shared) -> list[str]:
        content = text.replace("{tmp}", str(tmp)) if isinstance(text, str) else text
        policy = write(tmp / name, content)
        return scan(tmp, fx.cnn_pt, fx.npz, "--policy", str(policy))

    return build


def _circular(tmp: Path, fx: Shared) -> list[str]:
    write(tmp / "a.yaml", "version: 1\nextends: b.yaml\nmin_clean_accuracy: 0.5\n")
    write(tmp / "b.yaml", "version: 1\nextends: a.yaml\nmin_clean_accuracy: 0.5\n")
    return scan(tmp, fx.cnn_pt, fx.npz, "--policy", str(tmp / "a.yaml"))


def _deep_chain(tmp: Path, fx: Shared) -> list[str]:
    for level in range(12):
        write(tmp / f"p{level}.yaml", f"version: 1\nextends: p{level + 1}.yaml\n")
    write(tmp / "p12.yaml", "version: 1\nmin_clean_accuracy: 0.5\n")
    return scan(tmp, fx.cnn_pt, fx.npz, "--policy", str(tmp / "p0.yaml"))


def _special(kind: str):
    def build(tmp: Path, fx: Shared) -> list[str]:
        policy = tmp / "policy.yaml"
        if kind == "fifo":
            os.mkfifo(policy)
        elif kind == "directory":
            policy.mkdir()
        elif kind == "missing":
            pass
        else:
            policy.symlink_to(kind)
        return scan(tmp, fx.cnn_pt, fx.npz, "--policy", str(policy))

    return build


def _nested(depth: int) -> str:
    return "version: 1\ndescription: " + "[" * depth + "]" * depth + "\n"


POLICY = "{tmp}/policy.yaml"

SEXAGESIMAL = (
    "version: 1\nbudgets:\n  - eps: 0.1\n    max_high_confidence_misclassifications:\n"
    "      count: 1:30\n"
)
"""YAML 1.1 reads ``1:30`` as 90; under YAML 1.2 it is a string, which no count can be."""

CASES = [
    Case("policy-sexagesimal-count", _policy(SEXAGESIMAL), INPUT, POLICY),
    Case("policy-nan-limit", _policy(BUDGET.format(limit=".nan")), INPUT, POLICY),
    Case("policy-inf-limit", _policy(BUDGET.format(limit=".inf")), INPUT, POLICY),
    Case("policy-limit-above-one", _policy(BUDGET.format(limit="1.5")), INPUT, POLICY),
    Case("policy-wrong-type", _policy(BUDGET.format(limit="lenient")), INPUT, POLICY),
    Case(
        "policy-nan-eps",
        _policy("version: 1\nbudgets:\n  - eps: .nan\n    max_adversarial_error_rate: 0.3\n"),
        INPUT,
        POLICY,
    ),
    Case(
        "policy-negative-eps",
        _policy("version: 1\nbudgets:\n  - eps: -0.1\n    max_adversarial_error_rate: 0.3\n"),
        INPUT,
        POLICY,
    ),
    Case(
        "policy-zero-eps",
        _policy("version: 1\nbudgets:\n  - eps: 0\n    max_adversarial_error_rate: 0.3\n"),
        INPUT,
        POLICY,
    ),
    Case(
        "policy-duplicate-keys",
        _policy(
            "version: 1\nbudgets:\n  - eps: 0.1\n    max_adversarial_error_rate: 0.1\n"
            "    max_adversarial_error_rate: 1.0\n"
        ),
        INPUT,
        POLICY,
    ),
    Case(
        "policy-anchors-and-aliases",
        _policy(
            "version: 1\nall_eps: &loose\n  max_adversarial_error_rate: 1.0\n"
            "budgets:\n  - eps: 0.1\n    <<: *loose\n"
        ),
        INPUT,
        POLICY,
    ),
    Case(
        "policy-billion-laughs",
        _policy(
            "version: 1\na: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a]\n"
            "c: &c [*b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c]\n"
        ),
        INPUT,
        POLICY,
    ),
    Case(
        "policy-huge-file",
        _policy(BUDGET.format(limit="0.3") + "# " + "x" * (300 * 1024) + "\n"),
        INPUT,
        POLICY,
    ),
    Case(
        "policy-unknown-key",
        _policy(BUDGET.format(limit="0.3") + "max_adversarial_eror_rate: 0.1\n"),
        INPUT,
        POLICY,
    ),
    Case("policy-empty-budgets", _policy("version: 1\nbudgets: []\n"), INPUT, POLICY),
    Case("policy-no-rules", _policy("version: 1\n"), INPUT, POLICY),
    Case("policy-empty-file", _policy(""), INPUT, POLICY),
    Case(
        "policy-version-2", _policy(BUDGET.format(limit="0.3").replace("1", "2", 1)), INPUT, POLICY
    ),
    Case("policy-top-level-list", _policy("- version: 1\n"), INPUT, POLICY),
    Case(
        "policy-two-documents",
        _policy(BUDGET.format(limit="0.3") + "---\n" + BUDGET.format(limit="1.0")),
        INPUT,
        POLICY,
    ),
    Case("policy-circular-extends", _circular, INPUT, "{tmp}/a.yaml"),
    Case("policy-extends-chain-too-deep", _deep_chain, INPUT, "{tmp}/p8.yaml"),
    Case(
        "policy-extends-missing-file",
        _policy("version: 1\nextends: nowhere.yaml\nmin_clean_accuracy: 0.5\n"),
        INPUT,
        "nowhere.yaml",
    ),
    Case(
        "policy-extends-dev-zero",
        _policy("version: 1\nextends: /dev/zero\nmin_clean_accuracy: 0.5\n"),
        INPUT,
        "/dev/zero",
    ),
    Case(
        "policy-extends-unknown-builtin",
        _policy("version: 1\nextends: builtin:lenient\nmin_clean_accuracy: 0.5\n"),
        INPUT,
        POLICY,
    ),
    Case(
        "policy-python-object-tag",
        _policy(
            "version: 1\nmin_clean_accuracy: 0.5\n"
            "description: !!python/object/apply:builtins.open ['{tmp}/" + PWNED + "', 'w']\n"
        ),
        INPUT,
        POLICY,
    ),
    Case(
        "policy-non-string-key",
        _policy(BUDGET.format(limit="0.3") + "1: one\n"),
        INPUT,
        POLICY,
    ),
    Case("policy-nested-too-deep", _policy(_nested(200)), INPUT, POLICY),
    Case(
        "policy-non-utf8-bytes",
        _policy(b"version: 1\ndescription: caf\xe9\nmin_clean_accuracy: 0.5\n"),
        INPUT,
        POLICY,
    ),
    Case(
        "policy-nul-byte",
        _policy("version: 1\ndescription: a\x00b\nmin_clean_accuracy: 0.5\n"),
        INPUT,
        POLICY,
    ),
    Case("policy-missing-file", _special("missing"), INPUT, POLICY),
    Case("policy-is-directory", _special("directory"), INPUT, POLICY),
    Case("policy-is-fifo", _special("fifo"), INPUT, POLICY),
    Case("policy-symlink-dev-zero", _special("/dev/zero"), INPUT, POLICY),
    Case(
        "policy-unknown-builtin",
        lambda tmp, fx: scan(tmp, fx.cnn_pt, fx.npz, "--policy", "builtin:../../etc/passwd"),
        INPUT,
        "../../etc/passwd",
    ),
]
