"""Text in, safe text out: Markdown to sanitised HTML, and stripping what XML 1.0 forbids."""

from __future__ import annotations

import html as html_lib

import markdown
import nh3

from statuspage.core.bounded_markdown import BoundedMarkdown, BoundedTables
from statuspage.core.text import clean_text

ALLOWED_TAGS = {
    "a",
    "abbr",
    "b",
    "blockquote",
    "br",
    "code",
    "del",
    "em",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "li",
    "ol",
    "p",
    "pre",
    "strong",
    "sub",
    "sup",
    "table",
    "tbody",
    "td",
    "th",
    "thead",
    "tr",
    "ul",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "abbr": {"title"}, "td": {"align"}, "th": {"align"}}
ALLOWED_SCHEMES = {"http", "https", "mailto"}


def _markdown(*, bounded: bool = True) -> markdown.Markdown:
    # Bounded: stock Python-Markdown takes minutes on some texts (core/bounded_markdown.py); the
    # stock one is kept for the tests that compare the two.
    if bounded:
        md: markdown.Markdown = BoundedMarkdown(
            extensions=["sane_lists", BoundedTables()], output_format="html"
        )
    else:
        md = markdown.Markdown(extensions=["sane_lists", "tables"], output_format="html")
    # Raw HTML in the source is shown as text, never passed through: editors write Markdown.
    md.preprocessors.deregister("html_block")
    md.inlinePatterns.deregister("html")
    return md


def render_markdown(text: str) -> str:
    """Render Markdown and sanitise the HTML with an allow-list (no raw HTML survives)."""
    html = _markdown().convert(clean_text(text))
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=ALLOWED_SCHEMES,
        link_rel="nofollow noopener noreferrer",
        strip_comments=True,
    )


def plain_text(html: str) -> str:
    """Return the text of sanitised HTML, for summaries and `<meta>` descriptions."""
    return " ".join(html_lib.unescape(nh3.clean(html, tags=set())).split())
