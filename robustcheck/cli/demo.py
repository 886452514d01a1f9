"""``robustcheck demo``: train a tiny digits CNN (cached, saved as ``.pt2``), scan it, show where the reports are."""

from __future__ import annotations

from pathlib import Path

import click

from robustcheck.cli._options import debug_option
from robustcheck.cli._terminal import out

DEMO_EPS = (0.05, 0.1, 0.25)


@click.command()
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("robustcheck-demo"),
    show_default=True,
    help="Where to write the reports.",
)
@debug_option
def demo(out_dir: Path) -> int:
    """Scan a small CNN trained on the digits shipped with robustcheck (no download, seconds on a CPU).

    Exits 0 when the scan finished, whatever its verdict (the demo shows the gate; it is not
    one); an error exits with its code as a scan would.
    """
    from robustcheck.cli import demo_model as demo_lib
    from robustcheck.cli.scan import run_and_report
    from robustcheck.engine.config import ScanConfig
    from robustcheck.settings.reports import ReportTarget

    files = demo_lib.prepare()
    out(f"demo model {files.model}\ndemo data  {files.data}\n")
    from robustcheck.policy.load import load_builtin

    config = ScanConfig(
        model=files.model,
        data=files.data,
        eps=list(DEMO_EPS),
        policy=load_builtin("default"),
        policy_source="default",
    )
    names = {"json": "report.json", "junit": "junit.xml", "markdown": "report.md"}
    names["html"] = "report.html"
    reports = [ReportTarget(fmt, out_dir / name) for fmt, name in names.items()]
    code = run_and_report(config, reports=reports, progress=None)
    out(
        f"\nA scan with this verdict exits {code}. Gate a CI job on it:\n"
        f"  robustcheck scan {files.model} --data {files.data} --eps 0.1\n"
    )
    return 0
