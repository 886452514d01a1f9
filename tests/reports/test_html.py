"""HTML: golden file, escaping, well-formedness, self-containment, embedded images."""

from __future__ import annotations

import base64
import io
import re
from html.parser import HTMLParser

from PIL import Image

from robustcheck.reports import html

# Elements without an end tag: the only ones the page may leave open.
_VOID = frozenset(["br", "hr", "img", "input", "link", "meta", "source", "wbr"])
_PNG_URI = re.compile(r"data:image/png;base64,([A-Za-z0-9+/=]+)")


class _Checker(HTMLParser):
    """Records every start tag and fails on an end tag that does not close the innermost one."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += attrs
        if tag not in _VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack[-1:]}"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(page: str) -> _Checker:
    checker = _Checker()
    checker.feed(page)
    checker.close()
    assert checker.stack == [], f"unclosed: {checker.stack}"
    return checker


def _masked(page: str) -> str:
    # zlib builds (zlib, zlib-ng) compress differently; the pixels are checked in test_examples.
    return _PNG_URI.sub("data:image/png;base64,PNG", page)


def test_matches_golden(report, golden):
    golden("report.html", _masked(html.render(report)))


def test_is_balanced_html(report, hostile_report):
    for r in (report, hostile_report):
        _parse(html.render(r))


def test_user_strings_are_escaped(hostile_report):
    page = html.render(hostile_report)
    checker = _parse(page)
    assert "script" not in checker.tags
    assert not any(name.startswith("on") for name, _ in checker.attrs)
    assert "<script>" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;/td&gt;&lt;script&gt;alert(2)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(3)&gt;" in page
    text = "".join(checker.text)
    assert "<script>alert(1)</script>" in text  # shown to the reader, literally
    assert "\x1b" not in page and "\x00" not in page and "\ud800" not in page


def test_self_contained(report):
    page = html.render(report)
    checker = _parse(page)
    assert not {"script", "link", "iframe", "object", "embed"} & set(checker.tags)
    for name, value in checker.attrs:
        if name in ("src", "href"):
            assert value is not None and value.startswith("data:image/png;base64,"), value
    assert "http://" not in page and "https://" not in page and "url(" not in page
    assert "default-src 'none'" in page


def test_sections_present(report):
    page = html.render(report)
    for heading in [
        "Error rate against ε",
        "Results",
        "Checks",
        "Per class",
        "Fidelity",
        "Gradients",
        "Warnings",
        "Examples",
        "Provenance",
    ]:
        assert f"<h2>{heading}</h2>" in page
    assert page.count("<polyline") == 2  # fgsm and noise
    assert "2 · “plane|ship”" in page and "verdict-error" in page


def test_examples_are_embedded_and_decode(report):
    payloads = _PNG_URI.findall(html.render(report))
    expected = [
        p for e in report.examples for p in (e.clean_png, e.perturbation_png, e.adversarial_png)
    ]
    assert payloads == expected
    for payload in payloads:
        with Image.open(io.BytesIO(base64.b64decode(payload))) as image:
            assert min(image.size) >= 64


def test_invalid_image_data_is_not_embedded(report):
    bad = report.examples[0].model_copy(update={"clean_png": 'x" onload="alert(1)'})
    page = html.render(report.model_copy(update={"examples": [bad]}))
    _parse(page)
    assert "(invalid image)" in page and "onload" not in page


def test_minimal_report_renders(report):
    bare = report.model_copy(
        update={"results": [], "checks": [], "examples": [], "warnings": [], "policy": None}
    )
    page = html.render(bare)
    _parse(page)
    assert "No results were measured." in page and "No policy checks" in page
