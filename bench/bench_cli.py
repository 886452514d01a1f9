"""What the command line costs before and around a scan, against the targets of issue 17.

- `robustcheck --help` (< 0.3 s): no torch, no numpy;
- the fixed cost of a scan (< 3 s): the demo's digits CNN on 10 samples, one ε, isolated (start-up,
  the isolation child importing torch, loading, hashing, the report);
- `robustcheck demo` with its model cached (< 5 s).

Each is a fresh process; the median of `--rounds` runs is printed. Run by hand (`python
bench/bench_cli.py`) on an otherwise idle machine: on a loaded one the figures only say how loaded.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from robustcheck.cli import demo_model as demo

TARGETS = {
    "robustcheck --help": 0.3,
    "tiny scan (10 samples, CLI)": 3.0,
    "robustcheck demo (cached)": 5.0,
}


def _seconds(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run(
        cmd, cwd=cwd, capture_output=True, text=True, check=False, env={**os.environ, "CI": "1"}
    )
    elapsed = time.perf_counter() - start
    if done.returncode not in (0, 1):
        raise RuntimeError(
            f"{' '.join(cmd)} exited {done.returncode}: {done.stderr.strip()[-400:]}"
        )
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    exe = str(Path(sys.executable).with_name("robustcheck"))
    files = demo.prepare()  # the cache the demo uses, made once here
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data = np.load(files.data)
        np.savez(work / "tiny.npz", x=data["x"][:10], y=data["y"][:10])
        commands = {
            "robustcheck --help": [exe, "--help"],
            "tiny scan (10 samples, CLI)": [
                exe, "scan", str(files.model), "--data", str(work / "tiny.npz"), "--eps", "0.1",
                "--no-config", "--exit-zero", "--json", str(work / "r.json"),
            ],
            "robustcheck demo (cached)": [exe, "demo", "--out", str(work / "demo")],
        }  # fmt: skip
        print(
            f"median of {args.rounds} runs, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}\n"
        )
        print("| command | seconds | target | met |")
        print("|---|---|---|---|")
        for name, cmd in commands.items():
            median = statistics.median(_seconds(cmd, work) for _ in range(args.rounds))
            target = TARGETS[name]
            print(
                f"| {name} | {median:.2f} | < {target:g} | {'yes' if median < target else 'no'} |"
            )


if __name__ == "__main__":
    main()
