"""Flipped texts in every report format, escaped: token strings come from a tokenizer file a
pull request can change."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from robustcheck.reports import html, junit, markdown, summary
from robustcheck.reports.json_report import render as render_json
from robustcheck.reports.model import Report, TextExample, TokenSwap

HOSTILE = "<script>alert(1)</script> | ::error::x [link](http://a) `code` \x07"


def _with_examples(report: Report) -> Report:
    example = TextExample(
        index=3,
        label=1,
        attack="hotflip",
        tokens=2,
        clean_prediction=1,
        clean_confidence=0.99,
        adversarial_prediction=0,
        adversarial_confidence=0.97,
        original_text=f"[CLS] good {HOSTILE} [SEP]",
        adversarial_text=f"[CLS] bad {HOSTILE} [SEP]",
        swaps=[TokenSwap(position=1, original="good", substitute=HOSTILE)],
    )
    return report.model_copy(update={"text_examples": [example]})


def test_json_round_trips_and_omits_an_empty_list(report):
    assert "text_examples" not in json.loads(render_json(report))
    data = json.loads(render_json(_with_examples(report)))
    assert data["text_examples"][0]["swaps"][0]["substitute"] == HOSTILE
    assert Report.model_validate(data).text_examples == _with_examples(report).text_examples


def test_html_escapes_token_strings(report):
    page = html.render(_with_examples(report))
    assert "Token substitutions" in page
    assert "<script>" not in page and "&lt;script&gt;" in page


def test_markdown_keeps_one_row_per_example(report):
    page = markdown.render(_with_examples(report))
    (row,) = [line for line in page.splitlines() if line.startswith("| hotflip 2")]
    assert row.count("|") - row.count("\\|") == 7
    assert "<script>" not in page
    assert not any(line.lstrip().startswith("::") for line in page.splitlines())


@pytest.mark.parametrize("renderer", [summary.render, junit.render])
def test_plain_formats_show_the_swap_on_one_line(report, renderer):
    out = renderer(_with_examples(report))
    if renderer is junit.render:
        ET.fromstring(out)  # still well-formed XML
    lines = [line for line in out.splitlines() if "hotflip tokens=2" in line]
    assert len(lines) == 1 and "good → " in lines[0]
    assert "\x07" not in out
