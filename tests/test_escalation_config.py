"""The escalation config: what parses, every refusal naming its key, checks, path matching."""

from __future__ import annotations

import base64
import re
import tomllib
from pathlib import Path

import pytest

from statuspage.config import load_settings
from statuspage.core.enums import Impact
from statuspage.core.escalation.config import (
    DEFAULT_SEVERITY,
    EscalationConfig,
    check_escalation,
    matching_paths,
    parse_escalation,
)
from statuspage.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "config.example.toml"

CHANNELS = """
[channels.ops-email]
type = "smtp"
to = ["ops@example.com"]

[channels.hook]
type = "webhook"
url = "https://hooks.example.com/statuspage"
secret_env = "HOOK_SECRET"

[channels.ops-slack]
type = "slack"
url_env = "OPS_SLACK_URL"

[channels.leads-teams]
type = "teams"
url_env = "LEADS_TEAMS_URL"

[channels.pager]
type = "pagerduty"
routing_key_env = "PD_ROUTING_KEY"

[windows.office]
time_zone = "Europe/Paris"
weekdays = ["mon", "tue", "wed", "thu", "fri"]
start = "09:00"
end = "18:00"
"""

PATH = """
[paths.major]
match = { impact_at_least = "major", any_component = true }

[[paths.major.steps]]
after_minutes = 0
notify = ["ops-slack", "pager"]
"""

ENV = {
    "HOOK_SECRET": "whsec_" + "A" * 32,  # 24 bytes
    "OPS_SLACK_URL": "https://hooks.slack.invalid/x",
    "LEADS_TEAMS_URL": "https://teams.invalid/x",
    "PD_ROUTING_KEY": "k",
}


def parse(text: str) -> EscalationConfig:
    raw = tomllib.loads(text)
    sections = {name: raw.get(name, {}) for name in ("channels", "windows", "paths")}
    return parse_escalation(sections, source="esc.toml", environ={})


def refused(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        parse(text)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("esc.toml: ")
    return message


# -- what parses -------------------------------------------------------------------------------


def test_full_config_parses_into_channels_windows_and_paths():
    config = parse(
        CHANNELS
        + """
[paths.major]
priority = 10
continue = true
stop_on = ["acknowledged", "resolved"]
match = { impact_in = ["major", "critical"], components = ["API", "Web"] }

[[paths.major.steps]]
after_minutes = 0
notify = ["ops-slack", "pager"]

[[paths.major.steps]]
after_minutes = 20
notify = ["leads-teams"]
condition = "unresolved"
only_during = "office"
outside_window = "skip"

[paths.major.repeat]
times = 3
from_step = 1
after_minutes = 30

[paths.major.update_reminders]
every_minutes = 45
remind = ["ops-email"]
escalate_after_missed = 2
escalate_to = ["leads-teams"]
"""
    )
    path = config.paths["major"]
    assert (path.priority, path.continue_, path.stop_on) == (
        10,
        True,
        frozenset({"acknowledged", "resolved"}),
    )
    assert path.match.impacts == {Impact.MAJOR, Impact.CRITICAL}
    assert path.match.components == ("API", "Web")
    assert [s.after_minutes for s in path.steps] == [0, 20]
    assert path.steps[1].only_during == "office"
    assert path.steps[1].outside_window == "skip"
    assert path.steps[0].condition == "unacknowledged"
    assert (path.repeat.times, path.repeat.from_step, path.repeat.after_minutes) == (3, 1, 30)
    assert path.update_reminders.escalate_to == ("leads-teams",)
    assert config.windows["office"].weekdays == frozenset(range(5))
    assert config.channels["ops-email"].to == ("ops@example.com",)


def test_pagerduty_severity_defaults_per_impact_and_can_be_overridden():
    config = parse(
        CHANNELS
        + '[channels.pager2]\ntype = "pagerduty"\nrouting_key_env = "K"\n'
        + 'severity = { major = "critical" }\n'
    )
    assert dict(config.channels["pager"].severity) == dict(DEFAULT_SEVERITY)
    assert config.channels["pager2"].severity["major"] == "critical"
    assert config.channels["pager2"].severity["minor"] == "warning"


def test_only_channels_and_paths_is_a_valid_config_with_smtp_defaults(tmp_path):
    file = tmp_path / "c.toml"
    file.write_text(
        '[channels.ops]\ntype = "smtp"\nto = ["ops@example.com"]\n\n'
        "[paths.all]\nmatch = { any_component = true }\n\n"
        '[[paths.all.steps]]\nafter_minutes = 0\nnotify = ["ops"]\n'
    )
    settings = load_settings(file, environ={})
    assert settings.smtp["host"] == "localhost"
    assert settings.smtp["port"] == 25
    assert list(settings.escalation.paths) == ["all"]


def test_missing_secret_does_not_stop_start_up_but_check_reports_it(tmp_path):
    file = tmp_path / "c.toml"
    file.write_text(CHANNELS + PATH)
    settings = load_settings(file, environ={})
    problems = check_escalation(settings.escalation, {})
    assert (
        f"{file}: channels.ops-slack.url_env: environment variable OPS_SLACK_URL is not set "
        "(this channel's messages will fail until it is)"
    ) in problems
    assert any(
        "channels.pager.routing_key_env: environment variable PD_ROUTING_KEY" in p for p in problems
    )
    assert check_escalation(settings.escalation, ENV) == []


def test_empty_secret_counts_as_missing():
    config = parse(CHANNELS + PATH)
    problems = check_escalation(config, {**ENV, "HOOK_SECRET": ""})
    assert problems == [
        "esc.toml: channels.hook.secret_env: environment variable HOOK_SECRET is not set "
        "(this channel's messages will fail until it is)"
    ]


@pytest.mark.parametrize(
    ("secret", "why"),
    [
        ("s3cret-from-a-password-manager", "it does not start with whsec_"),
        ("whsec_not base64!", "what follows whsec_ is not base64"),
        ("whsec_", "it is empty after whsec_"),
        ("whsec_" + base64.b64encode(b"short").decode(), "it decodes to 5 bytes, not 24 to 64"),
        ("whsec_" + base64.b64encode(bytes(65)).decode(), "it decodes to 65 bytes, not 24 to 64"),
    ],
)
def test_a_webhook_secret_standard_webhooks_libraries_cannot_use_is_a_problem(secret, why):
    problems = check_escalation(parse(CHANNELS + PATH), {**ENV, "HOOK_SECRET": secret})
    assert problems == [
        "esc.toml: channels.hook.secret_env: environment variable HOOK_SECRET is not a Standard "
        f"Webhooks secret ({why}): expected whsec_ and the base64 of 24 to 64 random bytes, "
        'e.g. "whsec_$(openssl rand -base64 32)"'
    ]


@pytest.mark.parametrize("size", [24, 32, 64])
def test_a_standard_webhooks_secret_is_fine_padded_or_not(size):
    encoded = base64.b64encode(bytes(range(size))).decode()
    for secret in (f"whsec_{encoded}", f"whsec_{encoded.rstrip('=')}"):
        assert check_escalation(parse(CHANNELS + PATH), {**ENV, "HOOK_SECRET": secret}) == []


def test_unknown_channel_in_a_path_stops_start_up_with_one_line(tmp_path):
    file = tmp_path / "c.toml"
    file.write_text(CHANNELS + PATH.replace('"pager"]', '"pagr"]'))
    with pytest.raises(ConfigError) as caught:
        load_settings(file, environ={})
    assert str(caught.value) == (
        f"{file}: paths.major.steps[0].notify[1]: unknown channel 'pagr' "
        "(known: ops-email, hook, ops-slack, leads-teams, pager)"
    )


def test_unknown_window_stops_start_up_with_one_line():
    message = refused(CHANNELS + PATH + 'only_during = "weekend"\n')
    assert message == (
        "esc.toml: paths.major.steps[0].only_during: unknown window 'weekend' (known: office)"
    )


def test_test_overrides_reach_the_escalation_parser():
    with pytest.raises(ConfigError, match=r"^defaults: paths\.p\.match: missing \(required\)$"):
        load_settings(environ={}, overrides={"paths": {"p": {"steps": []}}})


# -- refusals, each naming its key ---------------------------------------------------------------

REFUSALS = [
    # channels
    ('[channels.x]\nto = ["a@b.c"]\n', "channels.x.type: missing (required)"),
    ('[channels.x]\ntype = "sms"\n', "channels.x.type: expected one of smtp, webhook, slack"),
    (
        '[channels.x]\ntype = "slack"\nurl = "https://hooks.slack.com/services/T/B/X"\n',
        "channels.x.url: secrets do not belong in the config file: a Slack webhook URL is a "
        "secret: put it in an environment variable and give that variable's name as url_env",
    ),
    (
        '[channels.x]\ntype = "teams"\nurl = "https://x.invalid/"\n',
        "channels.x.url: secrets do not belong in the config file: a Teams workflow URL",
    ),
    (
        '[channels.x]\ntype = "webhook"\nurl = "https://h.invalid/"\nsecret = "s"\n',
        "channels.x.secret: secrets do not belong in the config file: put it in an environment "
        "variable and give that variable's name as secret_env",
    ),
    (
        '[channels.x]\ntype = "pagerduty"\nrouting_key = "R0123"\n',
        "channels.x.routing_key: secrets do not belong in the config file",
    ),
    (
        '[channels.x]\ntype = "smtp"\nto = ["a@b.c"]\npassword = "p"\n',
        "channels.x.password: secrets do not belong in the config file: the SMTP password",
    ),
    (
        '[channels.x]\ntype = "webhook"\nsecret_env = "S"\n',
        "channels.x.url: give the receiver's address as url or as url_env (one of them)",
    ),
    (
        '[channels.x]\ntype = "webhook"\nurl = "ftp://h/"\nsecret_env = "S"\n',
        "channels.x.url: expected an http:// or https:// URL, got 'ftp://h/'",
    ),
    (
        '[channels.x]\ntype = "webhook"\nurl = "https://h.invalid/"\n',
        "channels.x.secret_env: missing (required)",
    ),
    (
        '[channels.x]\ntype = "slack"\nurl_env = "has space"\n',
        "channels.x.url_env: expected the name of an environment variable",
    ),
    (
        '[channels.x]\ntype = "slack"\nurl_env = "U"\nchannel = "#ops"\n',
        "channels.x.channel: unknown key for a slack channel (known: type, url_env)",
    ),
    ('[channels.x]\ntype = "smtp"\nto = []\n', "channels.x.to: expected at least one entry"),
    (
        '[channels.x]\ntype = "smtp"\nto = ["ops@example.com\\r\\nBcc: a@b.c"]\n',
        "channels.x.to[0]: expected an email address",
    ),
    (
        '[channels.x]\ntype = "pagerduty"\nrouting_key_env = "K"\nseverity = { major = "high" }\n',
        "channels.x.severity.major: expected one of critical, error, warning, info, got 'high'",
    ),
    (
        '[channels.x]\ntype = "pagerduty"\nrouting_key_env = "K"\n'
        'severity = { maintenance = "info" }\n',
        "channels.x.severity.maintenance: unknown key",
    ),
    ('[channels."a:b"]\ntype = "smtp"\nto = ["a@b.c"]\n', "channels.'a:b': a name is letters"),
    # windows
    (
        '[windows.w]\nweekdays = ["mon"]\nstart = "09:00"\nend = "17:00"\n',
        "windows.w.time_zone: missing (required)",
    ),
    (
        '[windows.w]\ntime_zone = "Mars/Olympus"\nstart = "09:00"\nend = "17:00"\n',
        "windows.w.time_zone: expected an IANA time zone",
    ),
    (
        '[windows.w]\ntime_zone = "UTC"\nweekdays = ["monday"]\nstart = "09:00"\nend = "17:00"\n',
        "windows.w.weekdays: expected weekdays among mon, tue, wed, thu, fri, sat, sun",
    ),
    (
        '[windows.w]\ntime_zone = "UTC"\nstart = "9:00"\nend = "17:00"\n',
        "windows.w.start: expected a time \"HH:MM\" (00:00-23:59), got '9:00'",
    ),
    (
        '[windows.w]\ntime_zone = "UTC"\nstart = "24:00"\nend = "17:00"\n',
        "windows.w.start: expected a time",
    ),
    (
        '[windows.w]\ntime_zone = "UTC"\nstart = "09:00"\nend = "25:00"\n',
        'windows.w.end: expected a time "HH:MM" (00:00-23:59 or 24:00)',
    ),
    (
        '[windows.w]\ntime_zone = "UTC"\nstart = "09:00"\nend = "17:00"\ndays = ["mon"]\n',
        "windows.w.days: unknown key (known: end, start, time_zone, weekdays)",
    ),
]

PATH_REFUSALS = [
    (
        '[paths.p]\n[[paths.p.steps]]\nafter_minutes = 0\nnotify = ["ops-email"]\n',
        "paths.p.match: missing (required)",
    ),
    ('match = { impact_at_least = "major" }', "paths.p.match: say which components"),
    (
        'match = { impact_at_least = "major", impact_in = ["major"], any_component = true }',
        "paths.p.match: give impact_at_least or impact_in, not both",
    ),
    (
        'match = { impact_at_least = "maintenance", any_component = true }',
        "paths.p.match.impact_at_least: expected one of none, minor, major, critical",
    ),
    (
        'match = { impact_in = ["severe"], any_component = true }',
        "paths.p.match.impact_in[0]: expected one of none, minor, major, critical",
    ),
    (
        'match = { components = ["API"], any_component = true }',
        "paths.p.match: say which components",
    ),
    ("match = { any_component = false }", "paths.p.match: write any_component = true"),
    ('match = { components = ["API", "api"] }', "paths.p.match.components: 'api' is listed twice"),
    ('match = { any_component = true, impact = "major" }', "paths.p.match.impact: unknown key"),
    (
        'match = { any_component = true }\npriority = "high"',
        "paths.p.priority: expected an integer, got a string",
    ),
    ("match = { any_component = true }\ncontinue = 1", "paths.p.continue: expected true or false"),
    (
        'match = { any_component = true }\nstop_on = ["ack"]',
        "paths.p.stop_on[0]: expected one of acknowledged, resolved",
    ),
    (
        "match = { any_component = true }\nescalate = true",
        "paths.p.escalate: unknown key (known: continue, match, priority, repeat, steps, "
        "stop_on, update_reminders)",
    ),
]

STEP_REFUSALS = [
    ('notify = ["ops-email"]', "paths.p.steps[0].after_minutes: missing (required)"),
    (
        'after_minutes = -5\nnotify = ["ops-email"]',
        "paths.p.steps[0].after_minutes: expected at least 0, got -5",
    ),
    ("after_minutes = 0\nnotify = []", "paths.p.steps[0].notify: expected at least one entry"),
    (
        'after_minutes = 0\nnotify = "ops-email"',
        "paths.p.steps[0].notify: expected an array, got a string",
    ),
    (
        'after_minutes = 0\nnotify = ["ops-email", "ops-email"]',
        "paths.p.steps[0].notify: 'ops-email' is listed twice",
    ),
    (
        'after_minutes = 0\nnotify = ["ops-email"]\ncondition = "unseen"',
        "paths.p.steps[0].condition: expected one of unacknowledged, unresolved",
    ),
    (
        'after_minutes = 0\nnotify = ["ops-email"]\noutside_window = "skip"',
        "paths.p.steps[0].outside_window: outside_window needs only_during",
    ),
    (
        'after_minutes = 0\nnotify = ["ops-email"]\nonly_during = "office"\n'
        'outside_window = "wait"',
        "paths.p.steps[0].outside_window: expected one of defer, skip",
    ),
    ('after_minutes = 0\nnotify = ["ops-email"]\ndelay = 5', "paths.p.steps[0].delay: unknown key"),
    (
        'after_minutes = 0.5\nnotify = ["ops-email"]',
        "paths.p.steps[0].after_minutes: expected an integer, got a number",
    ),
    (
        'after_minutes = true\nnotify = ["ops-email"]',
        "paths.p.steps[0].after_minutes: expected an integer, got a boolean",
    ),
]


@pytest.mark.parametrize(("text", "expected"), REFUSALS)
def test_bad_channel_or_window_is_refused_naming_the_key(text, expected):
    assert f"esc.toml: {expected}" in refused(text)


@pytest.mark.parametrize(("text", "expected"), PATH_REFUSALS)
def test_bad_path_is_refused_naming_the_key(text, expected):
    if not text.startswith("[paths"):
        text = f'[paths.p]\n{text}\n[[paths.p.steps]]\nafter_minutes = 0\nnotify = ["ops-email"]\n'
    assert f"esc.toml: {expected}" in refused(CHANNELS + text)


@pytest.mark.parametrize(("text", "expected"), STEP_REFUSALS)
def test_bad_step_is_refused_naming_the_key(text, expected):
    path = f"[paths.p]\nmatch = {{ any_component = true }}\n\n[[paths.p.steps]]\n{text}\n"
    assert f"esc.toml: {expected}" in refused(CHANNELS + path)


def test_steps_out_of_time_order_are_refused():
    message = refused(
        CHANNELS
        + PATH
        + '\n[[paths.major.steps]]\nafter_minutes = 30\nnotify = ["ops-email"]\n'
        + '\n[[paths.major.steps]]\nafter_minutes = 10\nnotify = ["ops-email"]\n'
    )
    assert message == (
        "esc.toml: paths.major.steps[2].after_minutes: steps are in time order: expected at "
        "least 30 (the step before), got 10"
    )


@pytest.mark.parametrize(
    ("repeat", "expected"),
    [
        (
            "times = 2\nfrom_step = 1\nafter_minutes = 30",
            "paths.major.repeat.from_step: expected a step index from 0 to 0, got 1",
        ),
        ("times = 0\nafter_minutes = 30", "paths.major.repeat.times: expected at least 1, got 0"),
        ("times = 2\nafter_minutes = 0", "paths.major.repeat.after_minutes: expected at least 1"),
        ("times = 2", "paths.major.repeat.after_minutes: missing (required)"),
        ("times = 2\nafter_minutes = 5\nuntil = 3", "paths.major.repeat.until: unknown key"),
    ],
)
def test_bad_repeat_is_refused_naming_the_key(repeat, expected):
    assert f"esc.toml: {expected}" in refused(CHANNELS + PATH + f"[paths.major.repeat]\n{repeat}\n")


def test_repeat_without_steps_is_refused():
    message = refused(
        CHANNELS
        + "[paths.p]\nmatch = { any_component = true }\n"
        + '[paths.p.update_reminders]\nevery_minutes = 30\nremind = ["ops-email"]\n'
        + "[paths.p.repeat]\ntimes = 2\nafter_minutes = 5\n"
    )
    assert message == "esc.toml: paths.p.repeat.from_step: repeat needs [[steps]] to repeat"


@pytest.mark.parametrize(
    ("reminders", "expected"),
    [
        ('remind = ["ops-email"]', "update_reminders.every_minutes: missing (required)"),
        (
            'every_minutes = 0\nremind = ["ops-email"]',
            "update_reminders.every_minutes: expected at least 1",
        ),
        ("every_minutes = 30", "update_reminders.remind: missing (required)"),
        (
            'every_minutes = 30\nremind = ["nobody"]',
            "update_reminders.remind[0]: unknown channel 'nobody'",
        ),
        (
            'every_minutes = 30\nremind = ["ops-email"]\nescalate_after_missed = 2',
            "update_reminders.escalate_to: escalate_after_missed and escalate_to go together",
        ),
        (
            'every_minutes = 30\nremind = ["ops-email"]\nescalate_to = ["pager"]',
            "update_reminders.escalate_after_missed: escalate_after_missed and escalate_to "
            "go together",
        ),
    ],
)
def test_bad_update_reminders_are_refused_naming_the_key(reminders, expected):
    text = CHANNELS + PATH + f"[paths.major.update_reminders]\n{reminders}\n"
    assert f"esc.toml: paths.major.{expected}" in refused(text)


def test_path_that_does_nothing_is_refused():
    message = refused(CHANNELS + "[paths.p]\nmatch = { any_component = true }\n")
    assert message == (
        "esc.toml: paths.p: a path needs [[steps]] or [update_reminders] "
        "(it does nothing otherwise)"
    )


def test_section_that_is_not_a_table_of_tables_is_refused():
    with pytest.raises(
        ConfigError, match=r"^esc\.toml: channels\.x: expected a table, got a string$"
    ):
        parse_escalation({"channels": {"x": "smtp"}}, source="esc.toml", environ={})


# -- check: well-formed but cannot work -----------------------------------------------------------


def test_check_reports_a_window_that_never_opens_and_the_steps_that_use_it():
    config = parse(
        CHANNELS
        + '[windows.never]\ntime_zone = "UTC"\nweekdays = []\nstart = "09:00"\nend = "17:00"\n'
        + '[windows.empty]\ntime_zone = "UTC"\nstart = "09:00"\nend = "09:00"\n'
        + PATH
        + 'only_during = "never"\n'
        + '[[paths.major.steps]]\nafter_minutes = 5\nnotify = ["ops-email"]\n'
        + 'only_during = "empty"\n'
        + "[paths.major.repeat]\ntimes = 1\nafter_minutes = 5\n"
    )
    assert check_escalation(config, ENV) == [
        "esc.toml: windows.never: never opens: it has no weekdays",
        "esc.toml: windows.empty: never opens: start and end are the same",
        "esc.toml: paths.major.steps[0]: unreachable: its window 'never' never opens",
        "esc.toml: paths.major.steps[1]: unreachable: its window 'empty' never opens",
        "esc.toml: paths.major.repeat: unreachable: none of the steps it repeats can fire",
    ]


def test_check_reports_a_path_shadowed_by_an_earlier_one_that_does_not_continue():
    config = parse(
        CHANNELS
        + PATH.replace("[paths.major]", "[paths.major]\npriority = 1")
        + '[paths.api]\nmatch = { impact_in = ["critical"], components = ["API"] }\n'
        + '[[paths.api.steps]]\nafter_minutes = 0\nnotify = ["ops-email"]\n'
    )
    assert check_escalation(config, ENV) == [
        "esc.toml: paths.api: unreachable: every incident it matches stops at path 'major' "
        "(priority 1, continue = false)"
    ]


def test_check_accepts_a_later_path_when_the_earlier_one_continues():
    config = parse(
        CHANNELS
        + PATH.replace("[paths.major]", "[paths.major]\npriority = 1\ncontinue = true")
        + '[paths.api]\nmatch = { components = ["API"] }\n'
        + '[[paths.api.steps]]\nafter_minutes = 0\nnotify = ["ops-email"]\n'
    )
    assert check_escalation(config, ENV) == []


# -- matching --------------------------------------------------------------------------------


MATCHING = (
    CHANNELS
    + """
[paths.critical-api]
priority = 1
continue = true
match = { impact_at_least = "critical", components = ["API"] }
[[paths.critical-api.steps]]
after_minutes = 0
notify = ["pager"]

[paths.api]
priority = 5
match = { impact_in = ["minor", "major", "critical"], components = ["API", "Auth"] }
[[paths.api.steps]]
after_minutes = 0
notify = ["ops-slack"]

[paths.everything]
priority = 9
match = { any_component = true }
[[paths.everything.steps]]
after_minutes = 0
notify = ["ops-email"]
"""
)


@pytest.mark.parametrize(
    ("impact", "components", "expected"),
    [
        ("critical", ["API"], ["critical-api", "api"]),
        ("critical", ["api"], ["critical-api", "api"]),
        ("major", ["Web", "auth"], ["api"]),
        ("major", ["Web"], ["everything"]),
        ("none", [], ["everything"]),
        ("critical", [], ["everything"]),
        ("maintenance", ["API"], []),
    ],
)
def test_matching_paths_follow_priority_and_continue(impact, components, expected):
    config = parse(MATCHING)
    assert [p.name for p in matching_paths(config, impact, components)] == expected


def test_paths_with_equal_priority_are_tried_by_name():
    config = parse(
        CHANNELS
        + "".join(
            f"[paths.{name}]\ncontinue = true\nmatch = {{ any_component = true }}\n"
            f'[[paths.{name}.steps]]\nafter_minutes = 0\nnotify = ["ops-email"]\n'
            for name in ("b", "a", "c")
        )
    )
    assert [p.name for p in matching_paths(config, Impact.MINOR, [])] == ["a", "b", "c"]


# -- the example file ----------------------------------------------------------------------------


def test_example_escalation_block_parses_once_uncommented():
    text = EXAMPLE.read_text()
    start = text.index("# [channels.")
    block = text[start:]
    uncommented = "\n".join(
        line[2:] if re.match(r"# (\[|[a-z_]+ = |  )", line) else "" for line in block.splitlines()
    )
    config = parse(uncommented)
    assert config.channels and config.windows and config.paths
    assert "update_reminders" in uncommented and "repeat" in uncommented
