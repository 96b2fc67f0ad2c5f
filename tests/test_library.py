"""The canned-message library: file format, refusals, filling in, versions and the starters."""

from __future__ import annotations

import dataclasses
from html.parser import HTMLParser
from pathlib import Path

import pytest

from statuspage.core.enums import IncidentKind, IncidentStatus, MaintenanceStatus
from statuspage.core.library import (
    LibraryError,
    Message,
    Problem,
    Variable,
    check_directory,
    content_hash,
    edit_message,
    fill,
    make_message,
    parse_message,
    render_source,
    validate_template,
)
from statuspage.core.markup import plain_text, render_markdown
from statuspage.core.text import clean_line
from statuspage.errors import NotFound, ValidationError

MESSAGES = Path(__file__).resolve().parent.parent / "messages"
STARTERS = sorted(MESSAGES.glob("*.md"))

# Line numbers count the `+++` lines: line 14 is the first line of the body.
BASE = """\
+++
id = "m"
title = "Slow {{ component }}"
status = "investigating"
impact = "minor"
tags = ["performance"]

[variables.component]
label = "Affected service"
required = true
default = "the API"
choices = ["the API", "the dashboard"]
+++
We are looking into {{ component }}.

More soon.
"""


def _problems(text: str, path: str = "m.md") -> list[str]:
    """Parse `text` expecting a refusal; return its problems as `file:line: message`."""
    with pytest.raises(LibraryError) as caught:
        parse_message(text, path)
    return [str(problem) for problem in caught.value.problems]


def _message(body: str, *names: str, title: str = "Update") -> Message:
    """Build a message whose optional free-text variables are `names`."""
    variables = [Variable(name, name.capitalize(), required=False) for name in names]
    return make_message(
        id="t",
        title=title,
        status="investigating",
        impact="minor",
        tags=[],
        variables=variables,
        body=body,
    )


def _tags(html: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    """Every start tag in `html` with its attributes, as a browser's parser would see them."""
    found = []

    class Collector(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.append((tag, attrs))

    Collector().feed(html)
    return found


# -- the starter library -------------------------------------------------------------------------


def test_every_starter_message_passes_check():
    messages, problems = check_directory(MESSAGES)
    assert [str(p) for p in problems] == []
    assert len(messages) == len(STARTERS) >= 22


def test_starter_library_covers_each_stage_of_each_kind_of_incident():
    ids = {message.id for message in check_directory(MESSAGES)[0]}
    families = ["outage", "degraded", "errors", "data-delay", "provider", "security"]
    stages = ["investigating", "identified", "monitoring", "resolved"]
    expected = {f"{family}-{stage}" for family in families for stage in stages}
    expected |= {f"maintenance-{s}" for s in ("scheduled", "started", "extended", "completed")}
    expected |= {"resolved-postmortem-to-follow", "resolved-no-postmortem", "postmortem-published"}
    assert expected <= ids


def test_starter_message_status_matches_its_stage():
    status = {m.id: m.status for m in check_directory(MESSAGES)[0]}
    for family in ("outage", "degraded", "errors", "data-delay", "provider", "security"):
        for stage in ("investigating", "identified", "monitoring", "resolved"):
            assert status[f"{family}-{stage}"] is IncidentStatus(stage)
    assert [
        status[f"maintenance-{s}"] for s in ("scheduled", "started", "extended", "completed")
    ] == [
        MaintenanceStatus.SCHEDULED,
        MaintenanceStatus.IN_PROGRESS,
        MaintenanceStatus.IN_PROGRESS,
        MaintenanceStatus.COMPLETED,
    ]
    assert status["resolved-postmortem-to-follow"] is IncidentStatus.RESOLVED
    assert status["resolved-no-postmortem"] is IncidentStatus.RESOLVED
    assert status["postmortem-published"] is IncidentStatus.POSTMORTEM


@pytest.mark.parametrize("path", STARTERS, ids=lambda p: p.stem)
def test_starter_message_round_trips_through_render_source(path):
    message = parse_message(path.read_text(encoding="utf-8"), path)
    again = parse_message(render_source(message), path)
    assert again == message
    assert again.content_hash == message.content_hash


@pytest.mark.parametrize("path", STARTERS, ids=lambda p: p.stem)
def test_starter_message_fills_into_clean_markdown(path):
    message = parse_message(path.read_text(encoding="utf-8"), path)
    values = {
        name: variable.choices[0] if variable.choices else f"Value of {name}"
        for name, variable in message.variables.items()
    }
    filled = fill(message, values)
    html = render_markdown(filled.body)
    assert "{" not in filled.title and "{" not in plain_text(html)
    assert {tag for tag, _ in _tags(html)} <= {"p", "strong"}
    assert "\n\n\n" not in filled.body


def test_example_in_the_format_reference_passes_check():
    docs = (MESSAGES.parent / "docs" / "messages.md").read_text(encoding="utf-8")
    example = docs.split("```\n", 2)[1]
    assert parse_message(example, "degraded-investigating.md").variables.keys() == {
        "component",
        "next_update",
    }


# -- the format ----------------------------------------------------------------------------------


def test_valid_message_is_parsed_into_its_parts():
    message = parse_message(BASE, "messages/m.md")
    assert (message.id, message.title) == ("m", "Slow {{ component }}")
    assert message.status is IncidentStatus.INVESTIGATING and message.impact == "minor"
    assert message.tags == ("performance",)
    assert message.body == "We are looking into {{ component }}.\n\nMore soon."
    assert message.variables["component"] == Variable(
        "component", "Affected service", True, "the API", ("the API", "the dashboard"), ""
    )


def test_maintenance_status_is_accepted_and_sets_the_kind():
    text = BASE.replace('"investigating"', '"in_progress"').replace('"minor"', '"maintenance"')
    message = parse_message(text, "m.md")
    assert message.status is MaintenanceStatus.IN_PROGRESS
    assert message.kind is IncidentKind.MAINTENANCE


def test_comments_and_optional_keys_may_be_left_out():
    text = BASE.replace('impact = "minor"\n', "# no suggestion\n").replace(
        'tags = ["performance"]\n', ""
    )
    message = parse_message(text, "m.md")
    assert message.impact is None and message.tags == ()


def test_placeholder_without_spaces_is_accepted():
    message = parse_message(BASE.replace("{{ component }}.", "{{component}}."), "m.md")
    assert fill(message, {}).body.startswith("We are looking into the API.")


def test_problem_reads_as_file_line_message():
    assert str(Problem("messages/a.md", 7, "bad")) == "messages/a.md:7: bad"


def test_library_error_is_a_validation_error_carrying_every_problem():
    with pytest.raises(ValidationError) as caught:
        parse_message(BASE.replace("More soon.", "{{ a }} {{ b }}"), "m.md")
    assert len(caught.value.problems) == 2


# -- refusals, each at its line --------------------------------------------------------------------

BODY = "More soon."
TITLE = 'title = "Slow {{ component }}"'


@pytest.mark.parametrize(
    ("old", "new", "where", "words"),
    [
        (BODY, "{% if x %}yes{% endif %}", "m.md:16:", "template tags"),
        (BODY, "{# a note #}", "m.md:16:", "template comments"),
        (BODY, "{{ component.name }}", "m.md:16:", "not a placeholder"),
        (BODY, "{{ component.__class__ }}", "m.md:16:", "not a placeholder"),
        (BODY, "{{7*7}}", "m.md:16:", "not a placeholder"),
        (BODY, "{{ component|upper }}", "m.md:16:", "not a placeholder"),
        (BODY, "{{ config['SECRET_KEY'] }}", "m.md:16:", "not a placeholder"),
        (BODY, "{{ Component }}", "m.md:16:", "not a placeholder"),
        (BODY, "{{ component", "m.md:16:", "not closed"),
        (BODY, "component }}", "m.md:16:", "without a matching"),
        (BODY, "{0} is down", "m.md:16:", "single-brace field '{0}'"),
        (BODY, "{component} is down", "m.md:16:", "single-brace field '{component}'"),
        (BODY, "${component}", "m.md:16:", "'${...}'"),
        (BODY, "a { b", "m.md:16:", "stray '{'"),
        (BODY, "{{ eta }}", "m.md:16:", "{{ eta }} is not declared"),
        (TITLE, 'title = "Slow {{ 7*7 }}"', "m.md:3:", "not a placeholder"),
        (TITLE, 'title = "Slow {{ eta }}"', "m.md:3:", "{{ eta }} is not declared"),
        (TITLE, 'title = "Slow {component}"', "m.md:3:", "single-brace field"),
        (TITLE, 'title = "Slow\\n{{ component }}"', "m.md:3:", "one line"),
        (TITLE, 'title = "  "', "m.md:3:", "'title' is empty"),
        (TITLE, "title = 3", "m.md:3:", "'title' must be a string"),
        (TITLE, "", "m.md:1:", "missing 'title'"),
        ('id = "m"\n', "", "m.md:1:", "missing 'id'"),
        ('status = "investigating"\n', "", "m.md:1:", "missing 'status'"),
        ('status = "investigating"', 'status = "broken"', "m.md:4:", "unknown status 'broken'"),
        ('impact = "minor"', 'impact = "huge"', "m.md:5:", "unknown impact 'huge'"),
        ('impact = "minor"', 'impact = "maintenance"', "m.md:5:", "only for maintenance"),
        ('id = "m"', 'id = "other"', "m.md:2:", "does not match the file name"),
        ('id = "m"', 'id = "M_1"', "m.md:2:", "lower-case letters, digits and '-'"),
        ('tags = ["performance"]', 'tags = "performance"', "m.md:6:", "list of strings"),
        ('tags = ["performance"]', 'colour = "red"', "m.md:6:", "unknown key 'colour'"),
        ("required = true", 'required = "yes"', "m.md:10:", "true or false"),
        ("required = true", "requried = true", "m.md:10:", "unknown key 'requried'"),
        ('default = "the API"', 'default = "the site"', "m.md:11:", "not one of its choices"),
        ('default = "the API"', "default = 5", "m.md:11:", "'default' must be a string"),
        ('choices = ["the API", "the dashboard"]', 'choices = "the API"', "m.md:12:", "list"),
        ('label = "Affected service"\n', "", "m.md:8:", "missing 'label'"),
        ("[variables.component]", "[variables.Component]", "m.md:8:", "variable name"),
        ("+++\nWe", '[variables.eta]\nlabel = "ETA"\n+++\nWe', "m.md:13:", "'eta' is declared but"),
        (
            "We are looking into {{ component }}.\n\nMore soon.\n",
            "\n\n",
            "m.md:13:",
            "body is empty",
        ),
        ('impact = "minor"', 'impact = "minor"\nimpact = "major"', "m.md:6:", "set twice"),
        ('impact = "minor"', 'impact = "minor', "m.md:5:", "invalid TOML"),
        (BODY, "nul \x00 here", "m.md:16:", "control characters"),
    ],
)
def test_refused_source_is_reported_at_its_line(old, new, where, words):
    assert old in BASE
    problems = _problems(BASE.replace(old, new, 1))
    assert any(p.startswith(where) and words in p for p in problems), problems


def test_file_without_front_matter_is_refused_at_line_one():
    assert _problems("We are looking into it.\n") == [
        "m.md:1: a message starts with a '+++' line, TOML front matter, then '+++'"
    ]


def test_unclosed_front_matter_is_refused_at_line_one():
    problems = _problems('+++\nid = "m"\n')
    assert problems == ["m.md:1: the front matter opened here is not closed by a '+++' line"]


def test_maintenance_message_cannot_suggest_an_incident_impact():
    text = BASE.replace('"investigating"', '"scheduled"')
    assert any(p.startswith("m.md:5:") and "maintenance" in p for p in _problems(text))


def test_variable_refused_for_a_setting_is_not_also_reported_as_undeclared():
    problems = _problems(BASE.replace('label = "Affected service"\n', ""))
    assert problems == ["m.md:8: missing 'label'"]


def test_leading_blank_line_is_refused_as_missing_front_matter():
    assert _problems("\n" + BASE)[0].startswith("m.md:1: a message starts with a '+++' line")


def test_every_problem_in_a_file_is_reported_at_once():
    text = BASE.replace('"minor"', '"huge"').replace(BODY, "{{ nope }}")
    assert [p.split(": ")[0] for p in _problems(text)] == ["m.md:5", "m.md:16"]


# -- directories ---------------------------------------------------------------------------------


def test_check_directory_reports_duplicate_ids_across_files(tmp_path):
    (tmp_path / "m.md").write_text(BASE)
    (tmp_path / "other.md").write_text(BASE)
    messages, problems = check_directory(tmp_path)
    assert [m.id for m in messages] == ["m"]
    assert [str(p) for p in problems] == [
        f"{tmp_path / 'other.md'}:2: id 'm' does not match the file name 'other.md'",
        f"{tmp_path / 'other.md'}:2: duplicate id 'm' (also in m.md)",
    ]


def test_check_directory_reads_only_markdown_files_directly_inside(tmp_path):
    (tmp_path / "m.md").write_text(BASE)
    (tmp_path / "notes.txt").write_text("{% not a message %}")
    (tmp_path / ".#m.md").write_text("editor lock file")
    (tmp_path / "internal").mkdir()
    (tmp_path / "internal" / "broken.md").write_text("{{ 7*7 }}")
    messages, problems = check_directory(tmp_path)
    assert ([m.id for m in messages], problems) == (["m"], [])


def test_check_directory_accepts_a_subdirectory_of_its_own(tmp_path):
    internal = tmp_path / "internal"
    internal.mkdir()
    (internal / "m.md").write_text(BASE)
    assert [m.id for m in check_directory(internal)[0]] == ["m"]


def test_check_directory_reports_a_file_that_is_not_utf8(tmp_path):
    (tmp_path / "m.md").write_bytes(b"+++\n\xff\xfe\n")
    assert [str(p) for p in check_directory(tmp_path)[1]] == [
        f"{tmp_path / 'm.md'}:1: the file is not UTF-8 text"
    ]


def test_check_directory_refuses_a_missing_directory(tmp_path):
    with pytest.raises(NotFound):
        check_directory(tmp_path / "nope")


# -- filling in ----------------------------------------------------------------------------------

HOSTILE = [
    "{{ config }}",
    "{{7*7}}",
    "${7*7}",
    "{0} {component}",
    "<script>alert(1)</script>",
    "[x](javascript:alert(1))",
    "![x](https://evil.example/x.png)",
    "<https://evil.example>",
    "<b>bold</b> &lt;i&gt;",
    "**bold** _em_ `code` ~~del~~",
    "# Heading",
    "- item",
    "+ item",
    "1. item",
    "> quote",
    "===",
    "---",
    "| a | b |",
    "a\\",
    "a\r\nBcc: x",
    "a < b & c &amp; &#60;",
    "=x",
    "1.",
    "#tag",
    ">quote",
    "\\[x](y)",
]


@pytest.mark.parametrize(
    "value", ["api.example.com (eu-west-1)", "1.5 GB", "Tom & Jerry", "50% - 3 = 47", "x!"]
)
def test_ordinary_values_stay_readable_in_the_editable_text(value):
    message = _message("Hello {{ who }} there.", "who")
    assert fill(message, {"who": value}).body == f"Hello {value} there."


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_value_is_shown_literally_in_the_published_body(value):
    # The value lands mid-line, at a line start, and under a line (where "===" makes a heading).
    message = _message("Hello {{ who }} there.\n\n{{ who }}\n\nIntro\n{{ who }}", "who")
    html = render_markdown(fill(message, {"who": value}).body)
    shown = clean_line(value)
    assert [tag for tag, _ in _tags(html)] == ["p", "p", "p"]
    assert plain_text(html) == f"Hello {shown} there. {shown} Intro {shown}"


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_value_is_inserted_as_plain_text_in_the_title(value):
    message = _message("{{ who }}", "who", title="About {{ who }}")
    assert fill(message, {"who": value}).title == f"About {clean_line(value)}"


def test_value_is_not_expanded_a_second_time():
    message = _message("{{ a }} / {{ b }}", "a", "b", title="{{ a }}")
    filled = fill(message, {"a": "{{ b }}", "b": "secret"})
    assert filled.title == "{{ b }}"
    assert plain_text(render_markdown(filled.body)) == "{{ b }} / secret"


def test_line_breaks_in_a_value_become_one_space():
    message = _message("To: {{ who }}", "who", title="To {{ who }}")
    filled = fill(message, {"who": "a\r\nBcc: x\n\rz"})
    assert (filled.title, filled.variables_used["who"]) == ("To a Bcc: x z", "a Bcc: x z")
    assert "\n" not in filled.body


def test_missing_required_value_names_the_field():
    message = _message("{{ who }}", "who")
    message = dataclasses.replace(
        message, variables={"who": Variable("who", "Affected service", required=True)}
    )
    with pytest.raises(ValidationError) as caught:
        fill(message, {"who": "  "})
    assert caught.value.field == "var_who"
    assert "Affected service" in caught.value.message and "required" in caught.value.message


def test_blank_value_falls_back_to_the_default():
    message = parse_message(BASE, "m.md")
    filled = fill(message, {"component": ""})
    assert filled.variables_used == {"component": "the API"}
    assert filled.title == "Slow the API"


def test_value_outside_the_choices_is_refused():
    message = parse_message(BASE, "m.md")
    with pytest.raises(ValidationError) as caught:
        fill(message, {"component": "the website"})
    assert caught.value.field == "var_component" and "the dashboard" in caught.value.message


def test_value_among_the_choices_is_used():
    message = parse_message(BASE, "m.md")
    assert fill(message, {"component": "the dashboard"}).title == "Slow the dashboard"


def test_value_of_500_characters_is_accepted_and_501_refused():
    message = _message("{{ who }}", "who")
    assert len(fill(message, {"who": "a" * 500}).variables_used["who"]) == 500
    with pytest.raises(ValidationError) as caught:
        fill(message, {"who": "a" * 501})
    assert caught.value.field == "var_who" and "500" in caught.value.message


def test_value_for_an_unknown_variable_is_refused():
    with pytest.raises(ValidationError) as caught:
        fill(_message("{{ who }}", "who"), {"whom": "x"})
    assert caught.value.field == "var_whom"


def test_value_that_is_not_text_is_refused():
    with pytest.raises(ValidationError) as caught:
        fill(_message("{{ who }}", "who"), {"who": 7})
    assert caught.value.field == "var_who"


def test_empty_optional_paragraph_leaves_no_gap():
    message = _message("First.\n\n{{ extra }}\n\nLast.", "extra")
    assert fill(message, {}).body == "First.\n\nLast."


def test_markdown_in_the_template_itself_is_kept():
    message = _message("**Status:** {{ who }}", "who")
    assert (
        render_markdown(fill(message, {"who": "*x*"}).body) == "<p><strong>Status:</strong> *x*</p>"
    )


def test_fill_refuses_a_message_whose_template_was_tampered_with():
    message = dataclasses.replace(_message("{{ who }}", "who"), body="{{ who.__class__ }}")
    with pytest.raises(LibraryError):
        fill(message, {"who": "x"})


# -- versions: the content hash -------------------------------------------------------------------


def test_content_hash_ignores_crlf_and_trailing_whitespace():
    messy = (
        "\ufeff" + BASE.replace("\n", "  \r\n").replace("More soon.", "More soon.\t") + "\r\n\r\n"
    )
    assert parse_message(messy, "m.md").content_hash == parse_message(BASE, "m.md").content_hash
    assert content_hash(messy) == content_hash(BASE)


def test_content_hash_is_the_sha256_of_the_normalised_source():
    message = parse_message(BASE.replace("\n", "\r\n"), "m.md")
    assert message.source == BASE
    assert len(message.content_hash) == 64 and message.content_hash == content_hash(BASE)


def test_content_hash_changes_with_a_real_edit():
    edited = BASE.replace("More soon.", "More soon!")
    assert parse_message(edited, "m.md").content_hash != parse_message(BASE, "m.md").content_hash


def test_crlf_copy_parses_to_an_equal_message():
    assert parse_message(BASE.replace("\n", "\r\n"), "m.md") == parse_message(BASE, "m.md")


# -- writing back and editing ----------------------------------------------------------------------


def test_render_source_keeps_every_field_of_a_hand_written_file():
    text = BASE.replace("tags =", "# a comment\ntags =").replace("required = true\n", "")
    message = parse_message(text, "m.md")
    again = parse_message(render_source(message), "m.md")
    fields = ("id", "title", "status", "impact", "tags", "variables", "body")
    assert all(getattr(again, name) == getattr(message, name) for name in fields)


def test_render_source_quotes_awkward_strings():
    message = _message("{{ who }}", "who", title='Say "hi" \\ wave')
    message = dataclasses.replace(
        message, variables={"who": Variable("who", 'Tab\there "q"', False, "a\\b", (), "h\u00e9")}
    )
    assert parse_message(render_source(message), "t.md").variables == message.variables


def test_make_message_refuses_what_a_file_would_be_refused_for():
    with pytest.raises(LibraryError) as caught:
        _message("{{ nope }}")
    assert "not declared" in str(caught.value)


def test_edit_message_makes_a_new_version_with_the_new_text():
    message = parse_message(BASE, "m.md")
    edited = edit_message(
        message, title="Slow {{ component }} today", body="Still on {{ component }}."
    )
    assert edited.body == "Still on {{ component }}." and edited.title.endswith("today")
    assert edited.variables == message.variables
    assert edited.content_hash != message.content_hash


def test_edit_message_reports_problems_relative_to_the_body():
    message = parse_message(BASE, "m.md")
    with pytest.raises(LibraryError) as caught:
        edit_message(message, title="Slow {{ component }}", body="Fine.\r\n{{ component.name }}")
    assert [str(p).split(": ")[0] for p in caught.value.problems] == ["body:2"]


def test_validate_template_accepts_a_good_edit():
    variables = parse_message(BASE, "m.md").variables
    assert validate_template("About {{ component }}", "Hi {{component}}.", variables) == []


def test_validate_template_locates_problems_in_title_and_body():
    variables = parse_message(BASE, "m.md").variables
    problems = validate_template("{{ x|e }}", "ok\n\n{% raw %}\n{{ component }}", variables)
    assert [str(p).split(": ")[0] for p in problems] == ["title:1", "body:3"]


def test_validate_template_reports_a_variable_no_longer_used():
    variables = parse_message(BASE, "m.md").variables
    problems = validate_template("About", "Nothing to fill in.", variables)
    assert [str(p) for p in problems] == [
        "body:1: variable 'component' is declared but not used in the title or the body"
    ]


def test_validate_template_refuses_an_empty_body_and_a_two_line_title():
    problems = validate_template("a\nb", "  \n", {})
    assert [str(p) for p in problems] == [
        "title:1: the title must be one line",
        "body:1: the body is empty",
    ]


def test_a_message_over_the_size_limits_is_refused_when_loaded_and_when_edited(tmp_path):
    from statuspage.core import limits
    from statuspage.core.library import check_directory, validate_template

    body = "x" * (limits.MAX_MESSAGE_BODY + 1)
    (tmp_path / "big.md").write_text(
        f'+++\nid = "big"\ntitle = "Big"\nstatus = "investigating"\n+++\n{body}\n'
    )
    messages, problems = check_directory(tmp_path)
    assert messages == [] and any("at most 20,000 characters" in str(p) for p in problems)
    edited = validate_template("T" * (limits.MAX_TITLE + 1), body, {})
    assert {p.path for p in edited} == {"title", "body"}
