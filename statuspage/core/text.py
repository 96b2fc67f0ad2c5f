"""Text normalisation, written once: what every title, line and body goes through on the way in."""

from __future__ import annotations

import re
import unicodedata

# XML 1.0 allows tab, LF, CR and these ranges; everything else (NUL, \x0b, lone surrogates,
# U+FFFE/U+FFFF) would make a feed ill-formed, so it is removed when text comes in.
_XML_ILLEGAL = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

# Invisible controls: the bidi embeddings, overrides and isolates (U+202A-E, U+2066-9) reorder
# what follows them, so a title can read otherwise than it is written ("Trojan Source"); the bidi
# marks (U+200E/F, U+061C) and zero-width characters (U+200B-D, U+FEFF, U+180E) make two names
# that look the same differ, or hide text in a subject.
_INVISIBLE = re.compile("[\u061c\u180e\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
# Except ZWNJ and ZWJ between two letters, marks or symbols: there they shape a word (Persian,
# the Indic scripts) or join an emoji, and bodies keep them.
_JOINERS = "\u200c\u200d"
_JOINED = ("L", "M", "So", "Sk")
_LINE_SEPARATORS = {"\u2028": "\n", "\u2029": "\n\n"}


def _joins(char: str) -> bool:
    return unicodedata.category(char).startswith(_JOINED)


def strip_invisible(text: str, *, keep_joiners: bool = True) -> str:
    """Remove invisible controls; with `keep_joiners`, ZWNJ and ZWJ inside words stay."""
    if _INVISIBLE.search(text) is None:
        return text

    def replace(match: re.Match[str]) -> str:
        start, end = match.span()
        inside = start > 0 and end < len(text) and _joins(text[start - 1]) and _joins(text[end])
        return match.group() if keep_joiners and match.group() in _JOINERS and inside else ""

    return _INVISIBLE.sub(replace, text)


def clean_text(text: str) -> str:
    """Remove characters XML 1.0 forbids and invisible controls (not joiners inside words) and
    normalise line endings (U+2028 and U+2029 included)."""
    text = _XML_ILLEGAL.sub("", text).replace("\r\n", "\n").replace("\r", "\n")
    for separator, replacement in _LINE_SEPARATORS.items():
        text = text.replace(separator, replacement)
    return strip_invisible(text)


def clean_line(text: str) -> str:
    """Clean a one-line field such as a title: no control characters at all, no line breaks."""
    return " ".join(strip_invisible(clean_text(text), keep_joiners=False).split())


def comparable(text: str) -> str:
    """A body as compared for "did the PM edit it": line endings and trailing blanks ignored."""
    return "\n".join(line.rstrip() for line in clean_text(text).strip().splitlines())


def same_text(a: str, b: str) -> bool:
    """Whether two bodies say the same thing (see `comparable`)."""
    return comparable(a) == comparable(b)
