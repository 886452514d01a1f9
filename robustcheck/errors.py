"""The domain error tree. Each class knows its exit code; the CLI maps them in one place."""

from __future__ import annotations

from collections.abc import Iterable

from robustcheck.exit_codes import ExitCode


def quoted(names: Iterable[object]) -> str:
    """Names from a model, a data file or the user, listed as messages show them: each quoted
    (``'image', 'meta'``), so a name with spaces or commas reads unambiguously."""
    return ", ".join(repr(str(name)) for name in names)


class RobustcheckError(Exception):
    """Base of every expected error. ``str(err)`` is the one line shown to the user."""

    exit_code: ExitCode = ExitCode.INTERNAL_ERROR

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        text = self.message if not self.hint else f"{self.message} ({self.hint})"
        return " ".join(text.split())


class UsageError(RobustcheckError):
    """A flag or argument is wrong or missing."""

    exit_code = ExitCode.USAGE_ERROR


class InputError(RobustcheckError):
    """The model, data or policy cannot be used."""

    exit_code = ExitCode.INPUT_ERROR


class ModelError(InputError):
    """The model file is missing, unreadable, malformed or its outputs are unusable."""


class ModelRejectedBatch(ModelError):
    """The model raised on a batch: most often data of a shape or layout it does not take."""

    def __init__(self, model: str, shape: list[int], reason: str) -> None:
        super().__init__(
            f"{model}: the model failed on a batch of shape {shape} ({reason})",
            hint="check that the data has the shape and layout the model expects",
        )
        self.reason = reason


class UnsupportedModelError(ModelError):
    """The model is valid but robustcheck cannot differentiate or run it."""


class DataError(InputError):
    """The data file is missing, unreadable or inconsistent with the model."""


class PolicyError(InputError):
    """The policy file is invalid."""


class MeasurementError(InputError):
    """The scan ran but measured nothing trustworthy (fail closed)."""


class SecurityRefusal(RobustcheckError):
    """Loading an input would be unsafe."""

    exit_code = ExitCode.SECURITY_REFUSAL


class RuntimeEnvironmentError(RobustcheckError):
    """The environment cannot run the scan: I/O, memory, device or dependency."""

    exit_code = ExitCode.ENVIRONMENT_ERROR


class InternalError(RobustcheckError):
    """An invariant inside robustcheck was violated."""

    exit_code = ExitCode.INTERNAL_ERROR
