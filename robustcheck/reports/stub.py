"""What a report target holds while a scan runs, or after one that did not finish.

Each target is replaced by its format's error stub (:meth:`Reporter.render_error
<robustcheck.reports.registry.Reporter.render_error>`) before the scan starts, so a crash, a kill
or an error can never leave an earlier report saying pass. The JSON stub is read back by
``report render`` as an :class:`IncompleteReport`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from robustcheck.reports._escape import one_line


class IncompleteReport(BaseModel):
    """The JSON stub: what ``report render`` reads back from a scan that did not finish."""

    model_config = ConfigDict(extra="forbid")

    schema_version: str
    complete: Literal[False]
    verdict: Literal["error"]
    exit_code: int | None
    message: str

    def text(self) -> str:
        code = "" if self.exit_code is None else f", exit {self.exit_code}"
        return f"robustcheck: ERROR (incomplete{code}): {one_line(self.message)}\n"


def parse_stub(raw: dict[str, Any]) -> IncompleteReport | None:
    """The stub ``raw`` is, or ``None`` when it is something else (a full report, or junk)."""
    try:
        return IncompleteReport.model_validate(raw)
    except ValidationError:
        return None
