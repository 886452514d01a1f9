"""Process exit codes: the contract between robustcheck and a CI job.

An error always outranks a verdict: a run that did not finish never exits 0 or 1.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    """The scan finished and every gating rule passed."""
    POLICY_FAILED = 1
    """The scan finished and at least one gating rule failed."""
    USAGE_ERROR = 2
    """Bad command-line arguments or missing configuration."""
    INPUT_ERROR = 3
    """The model, data or policy is unreadable, invalid or unsupported."""
    SECURITY_REFUSAL = 4
    """An input was refused because loading it would be unsafe."""
    ENVIRONMENT_ERROR = 5
    """I/O failure, out of memory, missing device or dependency."""
    INTERNAL_ERROR = 6
    """A bug in robustcheck: please report it with the --debug traceback."""
