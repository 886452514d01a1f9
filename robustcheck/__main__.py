"""``python -m robustcheck`` and the ``robustcheck`` console script."""

from __future__ import annotations

import sys


def run() -> None:
    """Import the CLI and run it; Ctrl-C while the CLI is still importing exits 130 quietly
    (no report exists yet, so there is nothing to mark incomplete)."""
    try:
        from robustcheck.cli import main  # here, so Ctrl-C while importing exits quietly
    except KeyboardInterrupt:
        sys.stderr.write("robustcheck: interrupted\n")
        raise SystemExit(130) from None
    raise SystemExit(main())


if __name__ == "__main__":
    run()
