"""Slack's mrkdwn from Markdown: the formatting people write, and nothing hostile text can do
with Slack's control characters (`<!channel>`, `<@U123>`, `<url|text>`). Pure: no app."""

from __future__ import annotations

import random
import re
import time

import pytest

from statuspage.core import mrkdwn
from statuspage.core.limits import MAX_BODY

LIMIT = 3000
#: A link we write: an http(s) URL with no `<`, `>`, `|` or space, then an optional label.
LINK = re.compile(r"<https?://[^<>|\s]+(?:\|[^<>]*)?>")


def convert(markdown: str, limit: int = LIMIT) -> str:
    return mrkdwn.from_markdown(markdown, limit)


def assert_safe(out: str, limit: int = LIMIT) -> None:
    """Slack can read nothing in `out` as a mention, a command or a link we did not write."""
    assert len(out) <= limit
    rest = LINK.sub("", out)
    rest = re.sub(r"(?m)^>", "", rest)  # our quote marks, at a line's start
    assert "<" not in rest and ">" not in rest, out
    assert not re.search(r"&(?!amp;|lt;|gt;)", out.replace("&amp;", "")), out
    for link in LINK.findall(out):
        assert link.count("<") == 1 and link.count(">") == 1


# -- formatting


@pytest.mark.parametrize(
    ("markdown", "expected"),
    [
        ("We shipped a **fix**.", "We shipped a *fix*."),
        ("A __fix__ and *care* and _more_.", "A *fix* and _care_ and _more_."),
        ("***both***", "*_both_*"),
        (
            "See [the runbook](https://example.com/run?a=1&b=2).",
            "See <https://example.com/run?a=1&amp;b=2|the runbook>.",
        ),
        ("<https://example.com/x>", "<https://example.com/x>"),
        ("Run `make demo` now", "Run `make demo` now"),
        ("- one\n- **two**\n    - nested", "• one\n• *two*\n    ◦ nested"),
        ("1. first\n2. second", "1. first\n2. second"),
        ("## Heading\n\nText", "*Heading*\n\nText"),
        ("> quoted **x**", "> quoted *x*"),
        ("line one  \nline two", "line one\nline two"),
        ("    code <b> & *x*", "```code &lt;b&gt; &amp; *x*```"),
        ("a\nsoft break", "a soft break"),
        ("AT&T &lt;3", "AT&amp;T &lt;3"),
        ("5 \\* 3 \\_ 2", "5 * 3 _ 2"),
    ],
)
def test_markdown_becomes_mrkdwn(markdown, expected):
    assert convert(markdown) == expected


def test_a_bold_run_across_a_line_break_is_closed_on_each_line():
    assert convert("**one  \ntwo**") == "*one*\n*two*"


def test_spaces_at_the_ends_of_a_mark_go_outside_it():
    assert mrkdwn.from_html("<p>a<strong> fix </strong>b</p>", LIMIT) == "a *fix* b"


def test_a_paragraph_follows_a_list_after_a_blank_line():
    assert convert("- a\n- b\n\nAfter") == "• a\n• b\n\nAfter"


def test_the_reminder_and_update_html_the_site_stores_converts():
    html = '<p>Starts 02:00 UTC.</p>\n<p>We are <em>moving</em> <a href="https://x.example/a">storage</a>.</p>'
    assert mrkdwn.from_html(html, LIMIT) == (
        "Starts 02:00 UTC.\n\nWe are _moving_ <https://x.example/a|storage>."
    )


# -- hostile text


def test_mentions_and_commands_stay_text():
    out = convert("Hi <!channel> <!here|here> <@U024BE7LH> <!subteam^S1> <#C123>")
    assert out == (
        "Hi &lt;!channel&gt; &lt;!here|here&gt; &lt;@U024BE7LH&gt; "
        "&lt;!subteam^S1&gt; &lt;#C123&gt;"
    )
    assert_safe(out)


def test_a_slack_link_written_in_the_text_is_not_a_link():
    out = convert("see <https://evil.example|the status page> now")
    assert out == "see https://evil.example|the status page now"
    assert_safe(out)
    assert not LINK.search(out)


def test_a_link_whose_text_or_url_holds_a_bar_or_angle_cannot_break_out():
    out = convert("[a|b>c<!channel>](https://x.example/p|q>r) and [ok](https://y.example/a>b)")
    assert out == (
        "<https://x.example/p%7Cq%3Er|a|b&gt;c&lt;!channel&gt;> and <https://y.example/a%3Eb|ok>"
    )
    assert_safe(out)


def test_raw_html_links_are_escaped_even_if_not_sanitised():
    html = (
        '<a href="https://x.example/a>b|c">t<!-- x --> &lt;!channel&gt;</a>'
        '<a href="javascript:alert(1)">js</a><a href=" https://ok.example ">ok</a>'
        "<script><!channel></script><a>none</a>"
    )
    out = mrkdwn.from_html(html, LIMIT)
    assert out == "<https://x.example/a%3Eb%7Cc|t &lt;!channel&gt;>js<https://ok.example|ok>none"
    assert_safe(out)


@pytest.mark.parametrize(
    "href",
    [
        "javascript:alert(1)",
        "mailto:ops@example.com",
        "data:text/html,x",
        "/relative",
        "//evil.example/x",
        "https:///nohost",
        "http://[::1",
        "ftp://example.com/",
    ],
)
def test_only_http_and_https_links_with_a_host_are_links(href):
    out = mrkdwn.from_html(f'<a href="{href}">text</a>', LIMIT)
    assert out == "text"


@pytest.mark.parametrize(
    "markdown",
    [
        "[[[nested]]](https://a.example)",
        "[a [b](https://b.example) c](https://c.example)",
        "[x](https://a.example/(b)(c)) [y]((https://b.example))",
        "![img](https://i.example/x.png) [](https://empty.example)",
        "[" * 5000 + "x" + "]" * 5000 + "(https://a.example)",
        "**" * 3000,
        "**unbalanced *and __open",
        "`unclosed code ** [x](https://a.example)",
        "<" * 3000 + ">" * 3000,
        "&" * 3000 + "&amp;" * 500,
    ],
)
def test_hostile_markdown_converts_safely(markdown):
    assert_safe(convert(markdown))


def test_unbalanced_stars_are_written_as_typed():
    assert convert("**unbalanced and *open") == "**unbalanced and *open"


def test_invisible_controls_go():
    assert convert("**A\u202eP\u200bI** down\u2066") == "*API* down"


# -- length


def test_long_text_is_cut_with_an_ellipsis_and_its_marks_closed():
    out = convert("**" + "word " * 2000 + "end**", limit=100)
    assert len(out) <= 100
    assert out.startswith("*word word") and out.endswith("…*")


def test_a_cut_never_splits_an_entity_or_a_link():
    text = " ".join(f"[l{i}](https://example.com/{i}) &" for i in range(500))
    for limit in range(20, 200, 7):
        out = convert(text, limit)
        assert_safe(out, limit)
        assert out.endswith("…")
        assert not re.search(r"&[a-z]*…", out) and not re.search(r"<[^>]*…", out)


def test_the_longest_body_converts_in_bounded_time():
    bodies = [
        "**bold** [link](https://a.example/x) " * (MAX_BODY // 36),
        "[" * MAX_BODY,
        "- " * (MAX_BODY // 2),
        "> " * (MAX_BODY // 2),
        "<b>" * (MAX_BODY // 3),
    ]
    for body in bodies:
        started = time.perf_counter()
        out = convert(body)
        assert time.perf_counter() - started < 2, body[:40]
        assert_safe(out)


def test_deeply_nested_html_and_more_html_than_is_read_convert_quickly():
    started = time.perf_counter()
    deep = mrkdwn.from_html("<b><i>" * 15_000 + "x" + "</i></b>" * 15_000, LIMIT)
    wide = mrkdwn.from_html("<p><b></b></p>" * 40_000 + "<p>end</p>", LIMIT)
    assert time.perf_counter() - started < 3
    assert_safe(deep) and assert_safe(wide)
    assert "x" in deep and wide == "…"


def test_random_hostile_fragments_stay_safe():
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    fragments = [
        "**", "*", "_", "__", "`", "[", "]", "(", ")", "<", ">", "|", "!", "@", "&", "&amp;",
        "<!channel>", "<@U1>", "https://e.example/", "](https://e.example/a|b>c)", "\n", "\n\n",
        "- ", "1. ", "> ", "    ", "#", "x", "word ",
    ]  # fmt: skip
    for _ in range(300):
        text = "".join(rng.choice(fragments) for _ in range(rng.randrange(1, 60)))
        limit = rng.choice([40, 200, LIMIT])
        try:
            assert_safe(convert(text, limit), limit)
        except AssertionError as exc:
            raise AssertionError(f"seed {seed}: {text!r}: {exc}") from None
