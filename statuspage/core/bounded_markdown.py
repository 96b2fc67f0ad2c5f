"""Python-Markdown with its slow paths bounded: the same HTML for what people write, in linear time.

Python-Markdown is quadratic (or worse) on some shapes of text, and a 20,000-character update of
such text took close to a minute to render. Four kinds of cost, each bounded here:

- Link syntax: every `[` (and every `(` after `](`) is scanned to its closing bracket, so a run
  of unclosed ones is scanned to the end of the text once per bracket. Brackets nested deeper than
  MAX_LINK_NESTING before they close are left as written, which stops each scan early.
- Code spans: every opening run of backticks is looked for a closing run to the end of the text;
  the answers are kept (see _CodeSpans), so the text is searched about once.
- Block structure: after each header, rule, setext underline or code block, the rest of the block
  is handed back and searched again from its start by the processors that look for a header, a
  rule, a quote or a link definition anywhere in a block. What such a search did not find in a
  block is not in that block's tail, so those searches are remembered; the setext, code and table
  processors look at the lines they need instead of splitting the whole block.
- Nesting: each nested list or quote is a recursive call; past MAX_BLOCK_NESTING calls the rest
  is kept as one paragraph of text.

Within those bounds the output is the stock output (tests compare the two).
"""

from __future__ import annotations

import functools
import re
import xml.etree.ElementTree as etree

import markdown
from markdown import blockprocessors, inlinepatterns
from markdown.blockparser import BlockParser
from markdown.extensions import tables

# Far beyond what anyone writes: older Python-Markdown stopped at 6 nested brackets, and a nested
# list or quote takes one or two calls per level (16 levels of lists render as stock).
MAX_LINK_NESTING = 8
MAX_BLOCK_NESTING = 32


#: What `_closing` answers for a bracket that nests too deep before it closes.
_TOO_DEEP = -1


def _closing(data: str, index: int, opening: str, closing: str) -> int | None:
    """Where the bracket open before `index` closes: None if it never does, _TOO_DEEP if it
    nests deeper than MAX_LINK_NESTING first."""
    depth = 1
    for position in range(index, len(data)):
        char = data[position]
        if char == closing:
            depth -= 1
            if depth == 0:
                return position
        elif char == opening:
            depth += 1
            if depth > MAX_LINK_NESTING:
                return _TOO_DEEP
    return None


class _Links(inlinepatterns.LinkInlineProcessor):
    """Inline links that leave text whose `[` or `(` nest too deep as written."""

    def getText(self, data: str, index: int) -> tuple[str, int, bool]:
        """The link text between `[` and `]` as stock Python-Markdown finds it, unless its
        brackets nest too deep. Found here, not by the stock method: Python-Markdown 3.11.4's
        maps the closing bracket of every index of the text again after each link is replaced,
        which is quadratic in the number of links (2.8 s for 1,000 against 0.02 s before)."""
        end = _closing(data, index, "[", "]")
        if end == _TOO_DEEP:
            return "", index, False
        if end is None:
            return data[index:], len(data), False
        return data[index:end], end + 1, True

    def getLink(self, data: str, index: int) -> tuple[str, str | None, int, bool]:
        """The stock link target between `(` and `)`, unless its parentheses nest too deep."""
        if data.startswith("(", index) and _closing(data, index + 1, "(", ")") == _TOO_DEEP:
            return "", None, index, False
        return super().getLink(data, index)


class _Image(_Links, inlinepatterns.ImageInlineProcessor):
    """Inline images, bounded as links are."""


class _Reference(_Links, inlinepatterns.ReferenceInlineProcessor):
    """`[text][id]`, bounded as links are."""


class _ShortReference(_Links, inlinepatterns.ShortReferenceInlineProcessor):
    """`[id]`, bounded as links are."""


class _ImageReference(_Links, inlinepatterns.ImageReferenceInlineProcessor):
    """`![text][id]`, bounded as links are."""


class _ShortImageReference(_Links, inlinepatterns.ShortImageReferenceInlineProcessor):
    """`![id]`, bounded as links are."""


_TICKS = re.compile("`+")


@functools.lru_cache(maxsize=64)
def _run_of(ticks: int, *, longer: bool = False) -> re.Pattern[str]:
    """A whole run of exactly `ticks` backticks (or of more than `ticks`)."""
    count = f"{{{ticks + 1},}}" if longer else f"{{{ticks}}}"
    return re.compile(f"(?<!`)`{count}(?!`)")


def _length(match: re.Match[str]) -> int:
    return match.end() - match.start()


class _CodeSpans(inlinepatterns.BacktickInlineProcessor):
    """Code spans, found as the stock processor finds them, in time linear in the text.

    For each opening run of backticks the stock processor reads the rest of the text for a run
    as long, so a text of unclosed ones is read once per run. Here a search's answer is kept for
    the text it searched (which only changes when a span is found): what is not after one position
    is not after a later one either.
    """

    def __init__(self, pattern: str) -> None:
        super().__init__(pattern)
        self._text = ""
        # ticks -> (searched from, the first run found there or -1), for exact and longer runs.
        self._found: dict[tuple[int, bool], tuple[int, int]] = {}

    def _first(self, text: str, start: int, ticks: int, *, longer: bool = False) -> int:
        if text is not self._text:
            self._text, self._found = text, {}
        searched = self._found.get((ticks, longer))
        if (
            searched is not None
            and searched[0] <= start
            and (searched[1] < 0 or start <= searched[1])
        ):
            return searched[1]
        found = _run_of(ticks, longer=longer).search(text, start)
        position = -1 if found is None else found.start()
        self._found[(ticks, longer)] = (start, position)
        return position

    def find_code_spans(self, start: int, text: str) -> tuple[int, int | None]:  # type: ignore[override]
        """The stock answer: where the code starts and ends (None: no closing run)."""
        opening = _TICKS.match(text, start)
        ticks = 0 if opening is None else opening.end() - start
        start += ticks
        closing = self._first(text, start, ticks)
        if closing >= 0:
            return start, closing
        # No run as long: the stock processor falls back on the longest shorter one, if any.
        if ticks < 2 or self._first(text, start, ticks, longer=True) >= 0:
            return start + ticks, None  # the stock processor skips the opening run twice over
        longest = max(_TICKS.finditer(text, start), key=_length, default=None)
        if longest is None:
            return start + ticks, None
        return start - (ticks - _length(longest)), longest.start()


class _BlockParser(BlockParser):
    """The stock block parser, which keeps blocks nested past MAX_BLOCK_NESTING as a paragraph."""

    def __init__(self, md: markdown.Markdown) -> None:
        super().__init__(md)
        self.depth = 0

    def parseBlocks(self, parent: etree.Element, blocks: list[str]) -> None:
        """Parse `blocks` into `parent` as the stock parser does, within the nesting bound."""
        if self.depth >= MAX_BLOCK_NESTING:
            paragraph = etree.SubElement(parent, "p")
            paragraph.text = "\n\n".join(blocks).strip()
            blocks.clear()
            return
        self.depth += 1
        try:
            super().parseBlocks(parent, blocks)
        finally:
            self.depth -= 1


class _Misses:
    """The last few blocks a search found nothing in: nor will it in their tails."""

    KEEP = 8

    def __init__(self) -> None:
        self.blocks: list[str] = []

    def known(self, block: str) -> bool:
        """Whether `block` is a remembered block or one of its tails that starts a line."""
        for index, seen in enumerate(self.blocks):
            if block and seen.endswith(block):
                start = len(seen) - len(block)
                if start == 0 or seen[start - 1] == "\n":
                    # The tail of this block comes next, and again: keep it first.
                    self.blocks.insert(0, self.blocks.pop(index))
                    return True
        return False

    def add(self, block: str) -> None:
        """Remember that the search found nothing in `block`."""
        self.blocks.insert(0, block)
        del self.blocks[self.KEEP :]


class _Searching(blockprocessors.BlockProcessor):
    """A processor whose test searches the whole block for `pattern` (matched at line starts)."""

    pattern: re.Pattern[str]

    def __init__(self, parser: BlockParser) -> None:
        super().__init__(parser)
        self.misses = _Misses()

    def test(self, parent: etree.Element, block: str) -> bool:
        """The stock test, skipped for the tails of blocks the pattern is not in."""
        if self.misses.known(block):
            return False
        if self.pattern.search(block) is None:
            self.misses.add(block)
            return False
        return bool(super().test(parent, block))


class _HashHeader(_Searching, blockprocessors.HashHeaderProcessor):
    """`# Header` lines, searched for once per block."""

    pattern = blockprocessors.HashHeaderProcessor.RE


class _Rule(_Searching, blockprocessors.HRProcessor):
    """Horizontal rules, searched for once per block."""

    pattern = blockprocessors.HRProcessor.SEARCH_RE


class _Quote(_Searching, blockprocessors.BlockQuoteProcessor):
    """Quotes, searched for once per block."""

    pattern = blockprocessors.BlockQuoteProcessor.RE


class _Definitions(blockprocessors.ReferenceProcessor):
    """Link definitions (`[id]: url`), searched for once per block."""

    def __init__(self, parser: BlockParser) -> None:
        super().__init__(parser)
        self.misses = _Misses()

    def run(self, parent: etree.Element, blocks: list[str]) -> bool:
        """The stock processor, which puts back a block it finds no definition in."""
        if self.misses.known(blocks[0]):
            return False
        if super().run(parent, blocks) is False:
            self.misses.add(blocks[0])
            return False
        return True


class _Setext(blockprocessors.SetextHeaderProcessor):
    """Setext headers, without splitting and re-joining the rest of the block."""

    def run(self, parent: etree.Element, blocks: list[str]) -> None:
        """Take the header's two lines and put the rest of the block back, as the stock one does."""
        title, underline, *rest = blocks.pop(0).split("\n", 2)
        header = etree.SubElement(parent, "h1" if underline.startswith("=") else "h2")
        header.text = title.strip()
        blocks[:0] = rest


class _Code(blockprocessors.CodeBlockProcessor):
    """Indented code, without splitting the rest of the block into lines."""

    def detab(self, text: str, length: int | None = None) -> tuple[str, str]:
        """The stock `detab`: the indented lines (unindented) and the text from the first other."""
        indent = " " * (self.tab_length if length is None else length)
        kept: list[str] = []
        start = 0
        while True:
            end = text.find("\n", start)
            line = text[start:] if end < 0 else text[start:end]
            if line.startswith(indent):
                kept.append(line[len(indent) :])
            elif not line.strip():
                kept.append("")
            else:
                return "\n".join(kept), text[start:]
            if end < 0:
                return "\n".join(kept), ""
            start = end + 1


class _Table(tables.TableProcessor):
    """Tables, tested on their first two lines instead of on every line of the block."""

    def test(self, parent: etree.Element, block: str) -> bool:
        """The stock test; it reads every line only for a one-column table (each needs a pipe)."""
        lines = block.split("\n", 2)
        if not super().test(parent, "\n".join(lines[:2])):
            return False
        return (
            len(self.separator) > 1 or len(lines) < 3 or all(map(self._piped, lines[2].split("\n")))
        )

    def _piped(self, line: str) -> bool:
        row = line.strip(" ")
        return row.startswith("|") or self.RE_END_BORDER.search(row) is not None


class BoundedTables(tables.TableExtension):
    """The `tables` extension with the table processor above."""

    def extendMarkdown(self, md: markdown.Markdown) -> None:
        """Register as the stock extension does, under the same name and priority."""
        super().extendMarkdown(md)
        md.parser.blockprocessors.register(_Table(md.parser, self.getConfigs()), "table", 75)


#: The stock block processors replaced, with their names and priorities in `build_block_parser`.
_BLOCK_PROCESSORS: tuple[tuple[str, float, type[blockprocessors.BlockProcessor]], ...] = (
    ("code", 80, _Code),
    ("hashheader", 70, _HashHeader),
    ("setextheader", 60, _Setext),
    ("hr", 50, _Rule),
    ("quote", 20, _Quote),
    ("reference", 15, _Definitions),
)

#: The stock link processors replaced, with their names, priorities and patterns.
_LINK_PROCESSORS: tuple[tuple[str, float, str, type[_Links]], ...] = (
    ("reference", 170, inlinepatterns.REFERENCE_RE, _Reference),
    ("link", 160, inlinepatterns.LINK_RE, _Links),
    ("image_link", 150, inlinepatterns.IMAGE_LINK_RE, _Image),
    ("image_reference", 140, inlinepatterns.IMAGE_REFERENCE_RE, _ImageReference),
    ("short_reference", 130, inlinepatterns.REFERENCE_RE, _ShortReference),
    ("short_image_ref", 125, inlinepatterns.IMAGE_REFERENCE_RE, _ShortImageReference),
)


class BoundedMarkdown(markdown.Markdown):
    """`markdown.Markdown` with the bounds above (use BoundedTables for tables)."""

    def build_parser(self) -> BoundedMarkdown:
        """The stock parser with the processors above in place of the stock ones."""
        super().build_parser()
        parser = _BlockParser(self)
        parser.blockprocessors = self.parser.blockprocessors
        for processor in parser.blockprocessors:
            processor.parser = parser
        self.parser = parser
        for name, priority, block_processor in _BLOCK_PROCESSORS:
            parser.blockprocessors.register(block_processor(parser), name, priority)
        self.inlinePatterns.register(_CodeSpans(inlinepatterns.BACKTICK_RE), "backtick", 190)
        for name, priority, pattern, link_processor in _LINK_PROCESSORS:
            self.inlinePatterns.register(link_processor(pattern, self), name, priority)
        return self
