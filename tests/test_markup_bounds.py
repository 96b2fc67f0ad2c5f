"""Rendering is bounded: no text of the longest allowed length takes long, and what people write
renders exactly as stock Python-Markdown renders it."""

from __future__ import annotations

import random
import time

import markdown
import pytest

from statuspage import demo
from statuspage.core import bounded_markdown, library, limits
from statuspage.core.markup import _markdown, render_markdown
from statuspage.resources import resource_dir


def _fill(motif: str, length: int = limits.MAX_BODY) -> str:
    """`motif` repeated to exactly `length` characters."""
    return (motif * (length // len(motif) + 1))[:length]


N = limits.MAX_BODY

#: Texts that took stock Python-Markdown from seconds to minutes (or overflowed its stack), found
#: in its issue tracker (#798 `[[[`, #799 `>>>`, #1617 code spans, #1619 links, #1545 tables)
#: and by fuzzing it with repeated Markdown fragments. Each is as long as a body may be.
PATHOLOGICAL = {
    "open brackets": "[" * N,
    "brackets opened then closed": "[" * (N // 2) + "]" * (N // 2),
    "nested link text": "[a" * (N // 2 - 2) + "](x)",
    "bracket lines": _fill("[" * 99 + "\n"),
    "images opened": _fill("!["),
    "links opened": _fill("[a]("),
    "images opened with text": _fill("![a]("),
    "references opened": _fill("[a]["),
    "brackets and parentheses": _fill("[("),
    "text then bracket": _fill("x=["),
    "parentheses": "(" * N,
    "link titles opened": _fill('[a](b "'),
    "many links": _fill("[link](x)"),
    "many empty links": _fill("[]()"),
    "emphasis openers": _fill("*a"),
    "asterisks": "*" * N,
    "asterisks and underscores": _fill("*_"),
    "strong openers": _fill("**a"),
    "underscores": "_" * N,
    "underscore openers": _fill("_a"),
    "backticks": "`" * N,
    "unclosed code spans": _fill("`a``"),
    "escaped code spans": _fill("\\``x("),
    "code spans of three": _fill("\\```x"),
    "code spans after escapes": _fill('``_"1\\'),
    "angle brackets": "<" * N,
    "tags opened": _fill("<a"),
    "autolinks opened": _fill("<http://"),
    "entities opened": _fill("&#"),
    "hex entities opened": _fill("&#x"),
    "ampersands": "&" * N,
    "backslashes": "\\" * N,
    "escaped brackets": _fill("\\["),
    "quote markers": ">" * (N // 4) + " x",
    "nested quotes": _fill("> ", N - 1) + "x",
    "nested lists on one line": _fill("- ", N - 1) + "x",
    "nested ordered lists on one line": _fill("1. ", N - 1) + "x",
    "nested lists by indent": "".join("  " * i + "- a\n" for i in range(135)),
    "table pipes": "|" * N,
    "table of pipes": "a|b\n-|-\n" + ("|" * 1000 + "\n") * 19,
    "long table row": "| a | b |\n|---|---|\n" + _fill("| x ", N - 30) + "|",
    "hash lines": _fill("\n#"),
    "hash lines after text": _fill("a\n#\n"),
    "pipes and hashes": _fill("|\n#<.&"),
    "setext headers": _fill("a\n-\n"),
    "setext underlines": _fill("=\n"),
    "dash lines": _fill("-\n"),
    "rules": _fill("***\n"),
    "rules after text": _fill("a\n***\n"),
    "link definitions between underlines": _fill("===\n[a]: b\n"),
    "definitions quotes and headers": _fill("[a]: b\n=\n> #\n#a#\n"),
    "code lines between headers": _fill("    a\n#\n"),
    "one-column table rows": _fill("|-|\n"),
    "reference definition padding": "[]:0" + " " * (N - 5) + "0",
}


@pytest.mark.parametrize("name", PATHOLOGICAL)
def test_pathological_text_renders_in_well_under_two_seconds(name):
    text = PATHOLOGICAL[name]
    assert len(text) <= limits.MAX_BODY
    # CPU time of this process: other work on the machine does not count against it.
    started = time.process_time()
    html = render_markdown(text)
    took = time.process_time() - started
    print(f"{name}: {took:.3f}s")
    # Stock Python-Markdown: from 0.5 s to over a minute for these; measured here, under 0.5 s.
    assert took < 2.0, f"{name} took {took:.1f}s"
    assert html


def test_text_past_the_bounds_is_shown_as_written():
    deep = "[" * 9 + "a" + "]" * 9 + "(https://example.com)"
    assert "<a " not in render_markdown(deep) and "[[[[[[[[[a]]]]]]]]]" in render_markdown(deep)
    nested = "[" * 8 + "a" + "]" * 8 + "(https://example.com)"
    assert _markdown().convert(nested) == _markdown(bounded=False).convert(nested)
    assert "<a " in render_markdown(nested)
    assert "- - - x" in render_markdown("- " * 10_000 + "x")  # stock: RecursionError


@pytest.mark.parametrize(
    "text",
    [
        "".join("    " * i + f"- level {i}\n" for i in range(16)),
        "".join("> " * i + f"quote {i}\n\n" for i in range(1, 17)),
        "> - " * 8 + "lists in quotes, 16 levels",
    ],
)
def test_lists_and_quotes_nest_as_stock_16_levels_deep(text):
    assert _markdown().convert(text) == _markdown(bounded=False).convert(text)


# -- what people write renders as before ----------------------------------------------------

NORMAL = [
    "We are investigating **elevated error rates** on the *API*.",
    "See [our status page](https://status.example.com) and [the docs](https://docs.example.com "
    '"Docs") for more.',
    "The page [about Foo](https://en.wikipedia.org/wiki/Foo_(bar)) explains [it [in short]](x).",
    "Read [the postmortem][pm].\n\n[pm]: https://example.com/pm 'Postmortem'",
    "Write to <support@example.com> or see <https://example.com/help>.",
    "- one\n- two\n    - two and a half\n- three",
    "1. first\n2. second\n\n    more about the second\n\n3. third",
    "> A customer wrote:\n>\n> - it is slow\n> - it times out\n\nWe agree.",
    "| Region | Status |\n|:-------|-------:|\n| EU | **down** |\n| US | ok |",
    "| Only |\n|------|\n| one |\n| column |",
    "Use `retry --now` or ``a `tick` inside``, then:\n\n    statuspage worker\n    exit 0",
    "# Summary\n\nText.\n\nTimeline\n--------\n\n* 10:00 alert\n* 10:05 paged\n\n***\n\nEnd.",
    "Escapes: \\*not emphasis\\*, 1\\. not a list, \\[not a link\\], a\\_b.",
    "Line one  \nline two, _under_ and __strong__ and ***both***.",
    "Heading after text\n# Heading\nmore text\n---\nrule or setext above",
    "Nested *emphasis with **strong** inside* and `code with [brackets](x)`.",
    "![alt text](https://example.com/i.png) and ![ref][img]\n\n[img]: https://example.com/j.png",
    "A list\n\n- with a [link](https://example.com)\n- and `code`\n\n  continued paragraph",
    "Mixed & entities &amp; &#169; &copy; < > \"quotes\" 'single'",
    "Tabs\tinside\tlines and trailing spaces   \n\n\tindented code by tab",
]


def _demo_texts() -> list[str]:
    texts = [step.body for story in demo.HISTORY for step in story.steps]
    texts += [story.postmortem for story in demo.HISTORY if story.postmortem]
    return texts


def _message_texts() -> list[str]:
    messages, problems = library.check_directory(resource_dir("messages"))
    assert messages and not problems
    return [message.body for message in messages]


@pytest.mark.parametrize("text", NORMAL)
def test_normal_markdown_renders_as_stock_python_markdown(text):
    assert _markdown().convert(text) == _markdown(bounded=False).convert(text)


def test_the_demo_and_the_starter_messages_render_as_before():
    texts = _demo_texts() + _message_texts()
    assert len(texts) > 40
    for text in texts:
        assert _markdown().convert(text) == _markdown(bounded=False).convert(text), text


FRAGMENTS = [
    *"`\\ax \n*_[]()!<>#-|",
    *("``", "```", "\\`", "\n\n", "    ", "> ", "- ", "1. ", "# ", "***\n", "=\n"),
    *("a|b\n-|-\n", "[a]: b\n", "[a](b)", "](", "&#1;", "**a**", "_a_", "<http://x>"),
]
LINES = [
    *("a", "#", "# a", "    a", "> a", ">", "- a", "* a", "1. a", "***", "---", "===", "-"),
    *("=", "a|b", "|-|", "-|-", "|a|", "", "[a]: b", "  - a", "\ta", "  a", "> - a", "- > a"),
    *("* * *", "- - -", "   ", "a  ", "[a]", "    - a", "> #", "#a#", "## a ##", "- #", "1)"),
    *("+ a", "| a | b |", "|---|---|", "[x]: http://e 'T'", "`a`", "    `a`", "> > a", "> ***"),
    *("- ***", "  > a", "        a", "    > a", "a `", "```", "[a] b", "[b]: <c>"),
]


@pytest.mark.parametrize("seed", range(4))
def test_random_documents_render_as_stock_python_markdown(seed):
    # The bounded processors skip work they have proved useless; any shortcut that changes the
    # output shows up as a difference on these.
    rng = random.Random(seed)
    for _ in range(400):
        inline = "".join(rng.choice(FRAGMENTS) for _ in range(rng.randint(1, 80)))
        lines = "\n".join(rng.choice(LINES) for _ in range(rng.randint(1, 40)))
        for text in (inline, lines):
            assert _markdown().convert(text) == _markdown(bounded=False).convert(text), text


def test_the_bounded_processors_take_the_stock_ones_places():
    bounded, stock = _markdown(), _markdown(bounded=False)
    assert _names(bounded.parser.blockprocessors) == _names(stock.parser.blockprocessors)
    assert _names(bounded.inlinePatterns) == _names(stock.inlinePatterns)
    ours = bounded_markdown.__name__
    replaced = [p for p in bounded.parser.blockprocessors if type(p).__module__ == ours]
    assert len(replaced) == 7  # code, two kinds of header, rules, quotes, definitions, tables
    assert type(bounded.inlinePatterns["backtick"]).__module__ == ours
    assert type(bounded.inlinePatterns["link"]).__module__ == ours


def _names(registry: markdown.util.Registry) -> list[tuple[float, str]]:
    """Every name in `registry` with its priority (the order processors run in)."""
    return sorted((item.priority, item.name) for item in registry._priority)
