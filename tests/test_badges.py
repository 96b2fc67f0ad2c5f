"""The status badge: a well-formed SVG that escapes its text and sizes itself to it."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from statuspage.core.badges import COLOURS, FALLBACK_COLOUR, badge_svg, text_width

SVG = "{http://www.w3.org/2000/svg}"


def texts(svg: str) -> list[str]:
    return [t.text or "" for t in ET.fromstring(svg).iter(f"{SVG}text")]


def test_badge_is_well_formed_svg_with_label_and_message():
    root = ET.fromstring(badge_svg("status", "All Systems Operational", COLOURS["ok"]))
    assert root.tag == f"{SVG}svg"
    assert root.get("role") == "img"
    assert root.get("aria-label") == "status: All Systems Operational"
    assert texts(ET.tostring(root, encoding="unicode")) == [
        "status",
        "status",
        "All Systems Operational",
        "All Systems Operational",
    ]


def test_badge_escapes_markup_in_its_text():
    svg = badge_svg('<b>"R&D"</b>', "</text><script>alert(1)</script>", COLOURS["major"])
    root = ET.fromstring(svg)
    assert root.find(f".//{SVG}script") is None
    assert "<script" not in svg
    assert "&lt;" in svg and "&amp;" in svg
    assert texts(svg)[0] == '<b>"R&D"</b>'
    assert root.get("aria-label") == '<b>"R&D"</b>: </text><script>alert(1)</script>'


def test_badge_drops_characters_xml_forbids():
    svg = badge_svg("a\x00b\x0bc", "ok\ufffe", COLOURS["ok"])
    assert texts(svg)[0] == "abc"
    assert texts(svg)[2] == "ok"


def test_badge_refuses_a_colour_that_is_not_hex():
    svg = badge_svg("x", "y", 'red" onload="alert(1)')
    assert "onload" not in svg
    assert f'fill="{FALLBACK_COLOUR}"' in svg


def test_badge_width_grows_with_its_text():
    short = ET.fromstring(badge_svg("status", "ok", COLOURS["ok"]))
    long = ET.fromstring(badge_svg("status", "Partial System Outage", COLOURS["major"]))
    assert int(long.get("width")) > int(short.get("width"))


def test_text_width_counts_wide_letters_wider_than_narrow_ones():
    assert text_width("WWWW") > text_width("iiii") * 2
    assert 55 < text_width("Operational") < 75
    assert text_width("障害") > text_width("ab")


def test_every_tone_has_a_badge_colour():
    assert set(COLOURS) == {"ok", "minor", "major", "critical", "maint", "none"}
