"""robustcheck: gate CI on the adversarial robustness of ONNX and PyTorch classifiers.

The Python API (docs/python-api.md)::

    import robustcheck

    report = robustcheck.scan(model, (x, y), eps=[0.03, 0.1])
    assert report.passed, report.failures

``scan``, ``load_report``, ``Policy``, ``Report`` and ``TrackingWarning`` are imported on first use, so that
``import robustcheck`` (and the command line's ``--help``) stays light: no torch until a scan.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from robustcheck._version import __version__
from robustcheck.errors import (
    DataError,
    InputError,
    ModelError,
    PolicyError,
    RobustcheckError,
    RuntimeEnvironmentError,
    UsageError,
)
from robustcheck.exit_codes import ExitCode

if TYPE_CHECKING:
    from robustcheck.api import Policy, Report, TrackingWarning, load_report, scan

__all__ = [
    "DataError",
    "ExitCode",
    "InputError",
    "ModelError",
    "Policy",
    "PolicyError",
    "Report",
    "RobustcheckError",
    "RuntimeEnvironmentError",
    "TrackingWarning",
    "UsageError",
    "__version__",
    "load_report",
    "scan",
]

_LAZY = {
    "scan": "robustcheck.api",
    "load_report": "robustcheck.api",
    "Policy": "robustcheck.api",
    "Report": "robustcheck.api",
    "TrackingWarning": "robustcheck.api",
}


def __getattr__(name: str) -> Any:
    """The API's names, imported when first used (they bring in torch)."""
    if name in _LAZY:
        import importlib  # delays the API (and torch) until a name of it is used

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'robustcheck' has no attribute {name!r}")
