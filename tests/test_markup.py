"""Markdown rendering is sanitised, and text is cleaned of what XML 1.0 forbids."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest

from statuspage.core.markup import plain_text, render_markdown
from statuspage.core.text import clean_line, clean_text


@pytest.mark.parametrize(
    "source",
    [
        "<script>alert(1)</script>",
        '<img src=x onerror="alert(1)">',
        "[x](javascript:alert(1))",
        "[x](JaVaScRiPt:alert(1))",
        "[x](data:text/html;base64,PHNjcmlwdD4=)",
        '<a href="javascript:alert(1)">x</a>',
        "<iframe src=//evil></iframe>",
        '<div style="background:url(javascript:x)">x</div>',
        "![x](javascript:alert(1))",
        '<svg onload="alert(1)">',
    ],
)
def test_hostile_markdown_renders_inert(source):
    tags = _tags(render_markdown(source))
    for tag, attrs in tags:
        assert tag in {"p", "a", "em", "strong"}, tag
        for name, value in attrs:
            assert name in {"href", "rel", "title"}, name
            if name == "href":
                assert value.startswith(("http://", "https://", "mailto:")), value


def _tags(html: str) -> list[tuple[str, list[tuple[str, str]]]]:
    """Every start tag in `html` with its attributes, as a browser's parser would see them."""
    found = []

    class Collector(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.append((tag, attrs))

    Collector().feed(html)
    return found


def test_raw_html_is_shown_as_text():
    assert render_markdown("<b>bold?</b>") == "<p>&lt;b&gt;bold?&lt;/b&gt;</p>"


def test_markdown_formatting_survives():
    html = render_markdown("**We** are *on it*:\n\n- one\n- [status](https://example.com)")
    assert "<strong>We</strong>" in html and "<em>on it</em>" in html and "<li>one</li>" in html
    assert 'href="https://example.com"' in html and 'rel="nofollow noopener noreferrer"' in html


def test_xml_forbidden_characters_are_removed():
    assert clean_text("a\x00b\x0bc\x1fd\ufffee\r\nf") == "abcde\nf"
    assert clean_line("  Title\x00 with\nnewline ]]> ") == "Title with newline ]]>"


def test_rendered_html_is_well_formed_xml_fragment():
    html = render_markdown("Title\x00 ]]> & <tag> \x0b done")
    ET.fromstring(f"<root>{html}</root>")


def test_plain_text_strips_tags_and_unescapes():
    assert plain_text(render_markdown("**a** & <b>")) == "a & <b>"
