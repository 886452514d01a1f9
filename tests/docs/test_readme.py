"""The README's first real scan runs as written and prints what the README shows."""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

from robustcheck.cli import demo_model, main

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def test_readme_scan_prints_the_documented_summary(tmp_path, monkeypatch, capsys):
    files = demo_model.prepare(tmp_path / "demo")  # the README's example output is the demo CNN
    shutil.copy(files.model, tmp_path / "model.pt2")
    shutil.copy(files.data, tmp_path / "sample.npz")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    (command,) = re.findall(r"^robustcheck scan model\.pt2 [^\n]*", README, flags=re.MULTILINE)
    argv = shlex.split(command)[1:]
    code = main(argv)
    out = capsys.readouterr().out
    shown = re.search(r"```text\n(model  model\.pt2.*?)```", README, flags=re.DOTALL)
    assert shown is not None
    expected = shown.group(1)
    assert code == int(re.search(r"verdict: \w+ \(exit (\d)\)", expected).group(1))

    # Numbers depend on the CPU's float rounding; the shape of the summary must not drift.
    def skeleton(text: str) -> list[str]:
        return [
            re.sub(r"\d+(\.\d+)?", "#", line).split()[0] if line else ""
            for line in text.splitlines()
        ]

    assert skeleton(out) == skeleton(expected)
    assert out.splitlines()[:3] == expected.splitlines()[:3]
    assert (tmp_path / "report.json").is_file()
