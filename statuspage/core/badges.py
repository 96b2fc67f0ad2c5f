"""Status badges: a flat, shields-style SVG with a label and a coloured message."""

from __future__ import annotations

import re
from html import escape

from statuspage.core.text import clean_line

FONT_SIZE = 11
HEIGHT = 20
PADDING = 6  # on each side of each half
FALLBACK_COLOUR = "#9f9f9f"
LABEL_COLOUR = "#555"

# Approximate Verdana advance widths in font units (2048 per em): close enough to size a
# badge without shipping font metrics; unknown characters count as a wide letter.
_UNITS_PER_EM = 2048
_DEFAULT_UNITS = 1400
_WIDE_UNITS = 2048  # CJK and other full-width characters
_UNITS = {
    **dict(zip("abcdefghijklmnopqrstuvwxyz", (
        1229, 1276, 1067, 1276, 1220, 720, 1276, 1296, 562, 614, 1198, 562, 1992,
        1296, 1243, 1276, 1276, 874, 1067, 807, 1296, 1198, 1659, 1198, 1198, 1051,
    ), strict=True)),
    **dict(zip("ABCDEFGHIJKLMNOPQRSTUVWXYZ", (
        1401, 1405, 1430, 1577, 1294, 1178, 1587, 1540, 862, 921, 1423, 1145, 1739,
        1532, 1612, 1235, 1612, 1440, 1399, 1262, 1503, 1401, 2040, 1405, 1260, 1403,
    ), strict=True)),
    **dict.fromkeys("0123456789", 1303),
    " ": 720, ".": 745, ",": 745, ":": 927, ";": 927, "!": 805, "'": 546, '"': 942,
    "-": 868, "_": 1303, "(": 931, ")": 931, "/": 1067, "&": 1530, "%": 2200,
    "?": 1116, "<": 1716, ">": 1716, "+": 1716, "=": 1716, "#": 1716, "|": 1067,
}  # fmt: skip

_HEX_COLOUR = re.compile(r"#(?:[0-9a-fA-F]{3}){1,2}")


def text_width(text: str) -> float:
    """Estimate the width in pixels of `text` in 11px Verdana."""
    units = 0
    for char in text:
        if char in _UNITS:
            units += _UNITS[char]
        elif ord(char) >= 0x1100:
            units += _WIDE_UNITS
        else:
            units += _DEFAULT_UNITS
    return units * FONT_SIZE / _UNITS_PER_EM


def _attr(text: str) -> str:
    return escape(text, quote=True)


def badge_svg(label: str, message: str, colour: str) -> str:
    """Return a flat badge: `label` on grey, `message` on `colour` (a #hex colour)."""
    label = clean_line(label)[:80]
    message = clean_line(message)[:80]
    if not _HEX_COLOUR.fullmatch(colour):
        colour = FALLBACK_COLOUR
    label_w = round(text_width(label)) + 2 * PADDING
    message_w = round(text_width(message)) + 2 * PADDING
    width = label_w + message_w
    title = _attr(f"{label}: {message}")
    label_x = label_w / 2
    message_x = label_w + message_w / 2

    def text(x: float, value: str) -> str:
        # A faint copy one pixel lower gives the text its shadow, as on shields.io badges.
        return (
            f'<text x="{x:g}" y="15" fill="#010101" fill-opacity=".3">{_attr(value)}</text>'
            f'<text x="{x:g}" y="14">{_attr(value)}</text>'
        )

    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{HEIGHT}" '
        f'role="img" aria-label="{title}">'
        f"<title>{title}</title>"
        '<linearGradient id="s" x2="0" y2="100%">'
        '<stop offset="0" stop-color="#bbb" stop-opacity=".1"/>'
        '<stop offset="1" stop-opacity=".1"/></linearGradient>'
        f'<clipPath id="r"><rect width="{width}" height="{HEIGHT}" rx="3" fill="#fff"/>'
        "</clipPath>"
        '<g clip-path="url(#r)">'
        f'<rect width="{label_w}" height="{HEIGHT}" fill="{LABEL_COLOUR}"/>'
        f'<rect x="{label_w}" width="{message_w}" height="{HEIGHT}" fill="{colour}"/>'
        f'<rect width="{width}" height="{HEIGHT}" fill="url(#s)"/></g>'
        '<g fill="#fff" text-anchor="middle" '
        'font-family="Verdana,Geneva,DejaVu Sans,sans-serif" '
        f'font-size="{FONT_SIZE}">'
        f"{text(label_x, label)}{text(message_x, message)}</g></svg>"
    )


#: Message colours by tone (see web.templating.tone), dark enough for white text.
COLOURS = {
    "ok": "#2e8540",
    "minor": "#b58a00",
    "major": "#d35f12",
    "critical": "#cf2f2f",
    "maint": "#1f6fd1",
    "none": FALLBACK_COLOUR,
}
