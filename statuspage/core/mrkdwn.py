"""Slack's mrkdwn from the sanitised HTML of a Markdown body: bold, italics, links, lists, code.

The Markdown is read once, by core.markup (Python-Markdown in bounded time, then nh3), so Slack
shows what the public page shows; this module walks that HTML with html.parser, in one pass that
stops once the output is full. Slack reads `&`, `<` and `>` as control characters (`<!channel>`,
`<@U123>`, `<url|text>`), so all text is escaped, and the only links are the HTML's own `<a href>`
with an http(s) URL, percent-encoded so that it cannot end the `<url|text>` it stands in.
"""

from __future__ import annotations

import re
from html import unescape
from html.parser import HTMLParser
from urllib.parse import quote, urlsplit

from statuspage.core.markup import render_markdown
from statuspage.core.text import strip_invisible

__all__ = ["ELLIPSIS", "escape", "from_html", "from_markdown"]

ELLIPSIS = "…"
#: More HTML than this is not read (the sanitised HTML of the longest body is far shorter).
MAX_HTML = 256 * 1024
#: A longer link is shown as its text only; a longer link text is cut.
URL_CHARS = 2000
LINK_TEXT_CHARS = 300
#: Inline elements nested deeper than this, and lists deeper than MAX_INDENT, are read flat.
MAX_FRAMES = 16
MAX_INDENT = 8
#: How much HTML is read at a time before looking whether the output is full.
_CHUNK = 32 * 1024

_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_SPACES = re.compile(r"\s+")
# What a URL keeps as written; the rest (`|`, `<`, `>`, `"`, spaces, controls, non-ASCII) is
# percent-encoded. `&` is then written `&amp;`, as Slack reads it inside `<...>`.
_URL_SAFE = "!#$%&'()*+,-./:;=?@[]_~"
_MARKS = {"strong": "*", "b": "*", "em": "_", "i": "_", "del": "~", "s": "~", "strike": "~"}
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_PARAGRAPHS = frozenset({"p", "div", "table", "dl", "figure"})
_LINES = frozenset({"thead", "tbody", "tfoot", "tr", "dt", "dd"})
_BLOCKS = _PARAGRAPHS | _LINES | _HEADINGS | {"ul", "ol", "li", "blockquote", "hr", "pre"}
_SKIPPED = frozenset({"script", "style", "template", "title", "head", "noscript"})
_BULLETS = ("•", "◦", "▪")

# ("text", raw text): escaped when written, may be cut anywhere. ("open", mark), ("close", mark):
# formatting. ("whole", "<url|text>") and ("break", "\n> • "): written whole or not at all.
Token = tuple[str, str]


def escape(text: str, limit: int | None = None) -> str:
    """Escape Slack's control characters, cutting at `limit` without splitting an entity.

    Invisible bidi and zero-width controls go too (not joiners inside words): all Slack text,
    ours and subscribers', passes here, whatever was stored before they were cleaned on input.
    """
    pieces = [_ESCAPES.get(char, char) for char in strip_invisible(text)]
    if limit is None or sum(map(len, pieces)) <= limit:
        return "".join(pieces)
    kept, size = [], 0
    for piece in pieces:
        if size + len(piece) > limit - len(ELLIPSIS):
            break
        kept.append(piece)
        size += len(piece)
    return "".join(kept) + ELLIPSIS


def from_markdown(text: str, limit: int) -> str:
    """Render Markdown as the public page does, then as mrkdwn of at most `limit` characters."""
    return from_html(render_markdown(text), limit)


def from_html(html: str, limit: int) -> str:
    """Mrkdwn of at most `limit` characters for HTML; any HTML is safe here, sanitised or not."""
    reader = _Reader()
    end = min(len(html), MAX_HTML)
    for start in range(0, end, _CHUNK):
        reader.feed(html[start : min(start + _CHUNK, end)])
        if reader.size > limit:
            break
    cut = reader.size > limit or len(html) > MAX_HTML
    return _write(reader.finish(cut=cut), limit)


def _safe_url(href: str | None) -> str | None:
    """The href as it may stand in `<url|text>` (http or https, with a host), else None."""
    href = strip_invisible((href or "").strip(), keep_joiners=False)
    try:
        parts = urlsplit(href)
        host = parts.hostname
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not host:
        return None
    url = quote(href, safe=_URL_SAFE).replace("&", "&amp;")
    return url if len(url) <= URL_CHARS else None


def _escaped(text: str) -> list[str]:
    return [_ESCAPES.get(char, char) for char in text]


def _write(tokens: list[Token], limit: int) -> str:
    """Join the tokens; past `limit`, cut at a character or before a link or break, close the
    marks still open and end with an ellipsis."""
    full = "".join(
        "".join(_escaped(value)) if kind == "text" else value for kind, value in tokens
    ).rstrip()
    if len(full) <= limit:
        return full
    out: list[str] = []
    marks: list[str] = []
    size, reserved = 0, len(ELLIPSIS)  # room kept for the ellipsis and the marks to close
    for kind, value in tokens:
        if kind == "close":  # its room was kept when it opened
            out.append(value)
            marks.pop()
            size += len(value)
            reserved -= len(value)
            continue
        for piece in _escaped(value) if kind == "text" else [value]:
            opening = len(piece) if kind == "open" else 0
            if size + len(piece) + opening + reserved > limit:
                return "".join(out).rstrip() + ELLIPSIS + "".join(reversed(marks))
            out.append(piece)
            size += len(piece)
            if kind == "open":
                marks.append(piece)
                reserved += len(piece)
    return "".join(out).rstrip() + ELLIPSIS + "".join(reversed(marks))


def _wrap(tokens: list[Token], mark: str, *, split_lines: bool) -> list[Token]:
    """Put a mark around tokens. With `split_lines` (all but code blocks): around each line, as
    Slack's marks end at a line break, with the spaces at either end outside (Slack ignores
    `* bold*`)."""
    wrapped: list[Token] = []
    lines: list[list[Token]] = [[]]
    for token in tokens:
        if token[0] == "break" and (split_lines or not any(lines)):
            lines.append([token])
            lines.append([])
        else:
            lines[-1].append(token)
    for line in lines:
        if line and line[0][0] == "break":
            wrapped.extend(line)
            continue
        before = after = ""
        if split_lines and line and line[0][0] == "text":
            value = line[0][1]
            before = value[: len(value) - len(value.lstrip())]
            line[0] = ("text", value.lstrip())
        if split_lines and line and line[-1][0] == "text":
            value = line[-1][1]
            after = value[len(value.rstrip()) :]
            line[-1] = ("text", value.rstrip())
        if before:
            wrapped.append(("text", before))
        if any(kind != "text" or value for kind, value in line):
            wrapped.extend([("open", mark), *line, ("close", mark)])
        if after:
            wrapped.append(("text", after))
    return wrapped


class _Frame:
    """An inline element being read: its tag, mark or link target, and what it holds."""

    def __init__(self, tag: str, mark: str = "", href: str | None = None) -> None:
        self.tag = tag
        self.mark = mark
        self.href = href
        self.tokens: list[Token] = []
        self.plain: list[str] = []


class _Reader(HTMLParser):
    """HTML events to tokens: blocks become line breaks and bullets, inline elements marks."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root: list[Token] = []
        self.frames: list[_Frame] = []
        self.flat = 0  # inline elements not read as such (past MAX_FRAMES)
        #: Line breaks owed before the next content (2: a new paragraph) and the next line's start.
        self.pending = 0
        self.lead = ""
        self.started = False
        self.space = False
        self.quote = 0
        self.lists: list[list[int]] = []  # [ordered (0 or 1), items so far] per open list
        self.literal = ""  # "pre" or "code" while inside one: text as written, no marks
        self.literal_depth = 0
        self.skipped = 0
        self.cells = 0
        #: The output's length so far, about (to stop reading once it is full).
        self.size = 0

    # -- writing

    def _out(self) -> list[Token]:
        return self.frames[-1].tokens if self.frames else self.root

    def _break(self, lines: int) -> None:
        if self.started:
            self.pending = max(self.pending, lines)

    def _start_line(self) -> None:
        """Write the line breaks owed and the start of the line (quote mark, bullet), or the
        space owed before more text on the same line."""
        prefix = "> " if self.quote else ""
        if self.started and self.pending:
            start = "\n" * self.pending + prefix + self.lead
        elif not self.started:
            start = prefix + self.lead
        else:
            start = ""
        if start:
            self._out().append(("break", start))
            self.size += len(start)
        elif self.space:
            self._append_text(" ")
        self.pending = 0
        self.lead = ""
        self.space = False
        self.started = True

    def _text(self, text: str) -> None:
        if self.skipped or not text:
            return
        trailing = False
        if self.literal == "code":
            text = text.replace("\n", " ")
        elif not self.literal:
            # Spaces are owed, not written: none is left at the end of a line or inside a mark.
            text = _SPACES.sub(" ", text)
            trailing = text.endswith(" ")
            if text.startswith(" ") and self.started and not self.pending:
                self.space = True
            text = text.strip(" ")
            if not text:
                return
        self._start_line()
        self._append_text(text)
        if not self.literal and trailing:
            self.space = True

    def _append_text(self, text: str) -> None:
        self._out().append(("text", text))
        for frame in self.frames:
            frame.plain.append(text)
        self.size += len(text)

    def _link_or_mark(self, frame: _Frame) -> None:
        out = self._out()
        if frame.tag != "a":
            out.extend(_wrap(frame.tokens, frame.mark, split_lines=frame.tag != "pre"))
            return
        url = _safe_url(frame.href)
        if url is None:
            out.extend(frame.tokens)
            return
        # What the link's first text wrote before it (a line's start, a space) goes before it.
        while frame.tokens and (frame.tokens[0][0] == "break" or frame.tokens[0] == ("text", " ")):
            out.append(frame.tokens.pop(0))
        text = " ".join("".join(frame.plain).split())
        if len(text) > LINK_TEXT_CHARS:
            text = text[: LINK_TEXT_CHARS - 1] + ELLIPSIS
        label = escape(text)
        link = f"<{url}>" if not label or text == (frame.href or "").strip() else f"<{url}|{label}>"
        if self.pending or self.space or not self.started:
            self._start_line()
        out.append(("whole", link))
        self.size += len(link)

    # -- HTML events

    def handle_data(self, data: str) -> None:
        """Text between tags."""
        self._text(strip_invisible(data))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """An opening tag: start a block, a list item, a mark or a link."""
        if tag in _SKIPPED:
            self.skipped += 1
        elif tag == "br":
            self._break(1)
        elif self.literal:
            if tag == self.literal:
                self.literal_depth += 1
        elif tag in ("a", "code") or tag in _MARKS or (tag in _HEADINGS and not self.frames):
            self._open(tag, attrs)
        elif tag == "pre" and not self.frames:
            self._break(2)
            self._open(tag, attrs)
        elif tag in _BLOCKS and self.frames:
            # Blocks inside an inline element are not what Markdown writes: keep words apart.
            self._text(" ")
        elif tag in ("ul", "ol"):
            self._break(1 if self.lists else 2)
            self.lists.append([int(tag == "ol"), 0])
        elif tag == "li":
            self._break(1)
            depth = min(max(len(self.lists), 1), MAX_INDENT)
            if self.lists and self.lists[-1][0]:
                self.lists[-1][1] += 1
                mark = f"{self.lists[-1][1]}."
            else:
                mark = _BULLETS[(depth - 1) % len(_BULLETS)]
            self.lead = "    " * (depth - 1) + mark + " "
        elif tag == "blockquote":
            self._break(2)
            self.quote += 1
        elif tag == "hr":
            self._break(2)
            self._start_line()
            self._out().append(("break", "———"))
            self._break(2)
        elif tag in ("td", "th"):
            if self.cells:
                self._text(" | ")
            self.cells += 1
        elif tag in _LINES:
            self._break(1)
            self.cells = 0
        elif tag in _PARAGRAPHS:
            self._break(1 if self.lists else 2)

    def _open(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if len(self.frames) >= MAX_FRAMES:
            self.flat += 1
            return
        if tag in ("pre", "code"):
            self.literal, self.literal_depth = tag, 1
            mark = "```" if tag == "pre" else "`"
        else:
            mark = "*" if tag in _HEADINGS else _MARKS.get(tag, "")
        self.frames.append(_Frame(tag, mark, dict(attrs).get("href") if tag == "a" else None))

    def handle_endtag(self, tag: str) -> None:
        """A closing tag: end the block, the mark or the link it opened."""
        if tag in _SKIPPED:
            self.skipped = max(0, self.skipped - 1)
        elif self.literal:
            if tag == self.literal:
                self.literal_depth -= 1
                if self.literal_depth == 0:
                    self._close(tag)
        elif self.frames and self.frames[-1].tag == tag:
            self._close(tag)
        elif self.flat and (tag in ("a", "code") or tag in _MARKS or tag in _HEADINGS):
            self.flat -= 1
        elif self.frames:
            return
        elif tag in ("ul", "ol"):
            if self.lists:
                self.lists.pop()
            self._break(1 if self.lists else 2)
        elif tag == "blockquote":
            self.quote = max(0, self.quote - 1)
            self._break(2)
        elif tag in _PARAGRAPHS or tag in _LINES:
            self._break(1 if self.lists or tag in _LINES else 2)

    def _close(self, tag: str) -> None:
        frame = self.frames.pop()
        if tag in ("pre", "code"):
            self.literal, self.literal_depth = "", 0
            if tag == "pre":
                while frame.tokens and frame.tokens[-1][0] == "text":
                    trimmed = frame.tokens[-1][1].rstrip("\n")
                    if trimmed:
                        frame.tokens[-1] = ("text", trimmed)
                        break
                    frame.tokens.pop()
            elif any(kind == "text" and "`" in value for kind, value in frame.tokens):
                frame.mark = ""  # mrkdwn has no way to write a backtick inside code
        if frame.mark or tag == "a":
            self._link_or_mark(frame)
        else:
            self._out().extend(frame.tokens)
        if tag in _HEADINGS or tag == "pre":
            self._break(2)

    def finish(self, *, cut: bool) -> list[Token]:
        """Close what is still open; end with an ellipsis if some of the input was not read."""
        # What the parser still holds is text: the tail of a text that might end in an entity,
        # or markup that never ended. (HTMLParser.close() would parse it, in quadratic time on
        # some malformed input in the Pythons we support.)
        rest, self.rawdata = self.rawdata, ""
        if cut:  # then markup it holds was cut short: not text
            rest = rest.partition("<")[0]
        self.handle_data(unescape(rest))
        while self.frames:
            self._close(self.frames[-1].tag)
        if cut:
            self.root.append(("whole", ELLIPSIS))
        return self.root
