"""Text normalisation, written once: what every title, line and body goes through on the way in."""

from __future__ import annotations

import re

# XML 1.0 allows tab, LF, CR and these ranges; everything else (NUL, \x0b, lone surrogates,
# U+FFFE/U+FFFF) would make a feed ill-formed, so it is removed when text comes in.
_XML_ILLEGAL = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def clean_text(text: str) -> str:
    """Remove characters XML 1.0 forbids and normalise line endings."""
    return _XML_ILLEGAL.sub("", text).replace("\r\n", "\n").replace("\r", "\n")


def clean_line(text: str) -> str:
    """Clean a one-line field such as a title: no control characters, no line breaks."""
    return " ".join(clean_text(text).split())


def comparable(text: str) -> str:
    """A body as compared for "did the PM edit it": line endings and trailing blanks ignored."""
    return "\n".join(line.rstrip() for line in clean_text(text).strip().splitlines())


def same_text(a: str, b: str) -> bool:
    """Whether two bodies say the same thing (see `comparable`)."""
    return comparable(a) == comparable(b)
