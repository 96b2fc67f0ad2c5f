"""Invisible bidi and zero-width controls: gone from titles, names, email subjects and Slack
text; in bodies, ZWNJ and ZWJ stay only inside words and emoji, where scripts need them."""

from __future__ import annotations

import json

import pytest

from statuspage.core import limits, notifications
from statuspage.core.text import clean_line, clean_text, same_text, strip_invisible
from statuspage.delivery.channels import ChannelSpec, Delivery, slack, smtp

CONTROLS = [
    *(chr(code) for code in range(0x202A, 0x202F)),  # LRE RLE PDF LRO RLO
    *(chr(code) for code in range(0x2066, 0x206A)),  # LRI RLI FSI PDI
    *(chr(code) for code in range(0x200B, 0x2010)),  # ZWSP ZWNJ ZWJ LRM RLM
    "\ufeff",  # zero-width no-break space (BOM)
    "\u061c",  # Arabic letter mark
    "\u180e",  # Mongolian vowel separator
]

PERSIAN = "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"  # "I want": ZWNJ after the prefix
DEVANAGARI = "\u0915\u094d\u200d\u0937"  # ka, virama, ZWJ, ssa: a half form
EMOJI = "\U0001f469\u200d\U0001f4bb"  # woman, ZWJ, laptop: one "woman technologist"
FLAG = "\U0001f3f3\ufe0f\u200d\U0001f308"  # white flag, VS16, ZWJ, rainbow


@pytest.mark.parametrize("control", CONTROLS, ids=lambda c: f"U+{ord(c):04X}")
def test_a_title_loses_every_invisible_control(control):
    assert clean_line(f"API{control} down{control}") == "API down"
    assert limits.title(f"{control}Refund{control}") == "Refund"
    assert limits.name(f"A{control}PI") == "API"  # two names that look alike are alike


@pytest.mark.parametrize("control", CONTROLS, ids=lambda c: f"U+{ord(c):04X}")
def test_a_body_loses_them_outside_words(control):
    assert clean_text(f"{control}Fixed {control} now.{control}\n") == "Fixed  now.\n"


def test_reordering_controls_go_even_between_letters_of_a_body():
    # "Trojan Source": RLO makes the rest of the line display backwards.
    assert clean_text("Status: \u202edevlos\u202c, really") == "Status: devlos, really"
    assert clean_text("a\u2066b\u2069c\u200bd\u200ee") == "abcde"


@pytest.mark.parametrize("word", [PERSIAN, DEVANAGARI, EMOJI, FLAG])
def test_a_body_keeps_joiners_inside_words_and_emoji(word):
    body = f"Update: {word}, {word}."
    assert clean_text(body) == body
    assert strip_invisible(body) == body


@pytest.mark.parametrize("word", [PERSIAN, DEVANAGARI, EMOJI, FLAG])
def test_a_title_drops_even_those(word):
    assert "\u200c" not in clean_line(word) and "\u200d" not in clean_line(word)
    assert clean_line(word) == word.replace("\u200c", "").replace("\u200d", "")


def test_line_and_paragraph_separators_break_lines():
    assert clean_text("one\u2028two\u2029three") == "one\ntwo\n\nthree"
    assert clean_line("one\u2028two\u2029three") == "one two three"
    assert same_text("a\u200bb", "ab")


def test_email_subjects_have_no_invisible_controls():
    assert notifications.subject("Acme\u202e", "API\u200b down") == "[Acme] API down"
    spec = ChannelSpec(name="ops", type="smtp", to=("ops@example.com",))
    delivery = Delivery(
        key="k",
        channel="ops",
        kind="smtp",
        payload={"subject": "API \u202edown\u200d", "text": "x"},
    )
    mail = smtp.build(delivery, spec, from_address="status@example.com")
    assert mail["Subject"] == "API down"


def test_slack_text_has_no_invisible_controls_but_keeps_words():
    payload = {
        "subject": "API \u202eanwod\u202c",
        "text": f"\u200bSee\u2066 {PERSIAN} {EMOJI}",
        "fields": {"Impact": "Ma\u200bjor"},
    }
    message = slack.message(Delivery(key="k", channel="ops", kind="slack", payload=payload))
    text = json.dumps(message, ensure_ascii=False)
    for control in CONTROLS:
        assert control not in message["text"]
    assert "API anwod" in message["text"]
    assert f"See {PERSIAN} {EMOJI}" in text and "Major" in text
    assert "\u200b" not in text and "\u202e" not in text and "\u2066" not in text
