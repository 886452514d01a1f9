"""``make fuzz``: a long fuzzing campaign; prints the cases tried, the exit-code histogram, the
time taken and every failing seed (rerun one with ROBUSTCHECK_FUZZ_SEED=N ROBUSTCHECK_FUZZ_CASES=1
pytest tests/fuzz)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fuzz._run import campaign


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verbose", action="store_true", help="print every case's error line")
    args = parser.parse_args()
    os.environ.pop("GITHUB_STEP_SUMMARY", None)
    histogram, failures, seconds = campaign(args.seed, args.cases, verbose=args.verbose)
    print(f"cases: {args.cases} (seeds {args.seed}..{args.seed + args.cases - 1})")
    print(f"time: {seconds:.0f} s ({seconds / args.cases:.2f} s per case)")
    print("exit codes: " + ", ".join(f"{c}: {n}" for c, n in sorted(histogram.items())))
    for outcome in failures:
        print(f"FAIL seed {outcome.seed}: {outcome.problems} {outcome.case.tags}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
