"""`statuspage escalation check|simulate`: their output line by line, and their refusals."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from statuspage.cli import main

CONFIG = """
[site]
time_zone = "Europe/Paris"

[channels.ops-email]
type = "smtp"
to = ["ops@example.com"]

[channels.ops-pager]
type = "pagerduty"
routing_key_env = "SP_TEST_PD_KEY"

[channels.leads]
type = "slack"
url_env = "SP_TEST_LEADS_URL"

[windows.office]
time_zone = "Europe/Paris"
weekdays = ["mon", "tue", "wed", "thu", "fri"]
start = "09:00"
end = "18:00"

[paths.major]
priority = 10
continue = true
match = { impact_at_least = "major", any_component = true }

[[paths.major.steps]]
after_minutes = 0
notify = ["ops-pager", "ops-email"]

[[paths.major.steps]]
after_minutes = 15
notify = ["leads"]
condition = "unresolved"
only_during = "office"

[paths.major.repeat]
times = 2
from_step = 0
after_minutes = 30

[paths.api]
match = { components = ["API"] }

[paths.api.update_reminders]
every_minutes = 30
remind = ["ops-email"]
escalate_after_missed = 2
escalate_to = ["leads"]
"""

SECRETS = {"SP_TEST_PD_KEY": "routing-key", "SP_TEST_LEADS_URL": "https://hooks.slack.invalid/x"}
UNSET = dict.fromkeys(SECRETS)


@pytest.fixture
def config_file(tmp_path) -> Path:
    path = tmp_path / "statuspage.toml"
    path.write_text(CONFIG)
    return path


def run(config_file: Path, *args: str, env=None):
    # No database anywhere: the commands read the config file only.
    environment = {"STATUSPAGE_DATABASE_URL": "postgresql://nowhere.invalid/none", **(env or {})}
    return CliRunner().invoke(
        main, ["escalation", *args, "--config", str(config_file)], env=environment
    )


def simulate(config_file: Path, *args: str):
    return run(config_file, "simulate", "--start", "2026-01-05T08:00+01:00", *args)


# -- check -------------------------------------------------------------------------------------


def test_check_reports_a_good_config_with_its_paths_in_match_order(config_file):
    result = run(config_file, "check", env=SECRETS)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"{config_file}: escalation config OK: 3 channels, 1 window, 2 paths",
        "  major (priority 10, continue)",
        "  api (priority 100)",
    ]


def test_check_reports_each_missing_secret_and_exits_1(config_file):
    result = run(config_file, "check", env=UNSET)
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"{config_file}: channels.ops-pager.routing_key_env: environment variable "
        "SP_TEST_PD_KEY is not set (this channel's messages will fail until it is)",
        f"{config_file}: channels.leads.url_env: environment variable SP_TEST_LEADS_URL is not "
        "set (this channel's messages will fail until it is)",
    ]
    assert result.stderr == "2 problems in the escalation config\n"


def test_check_reports_an_unknown_channel_in_one_line(config_file):
    config_file.write_text(CONFIG.replace('remind = ["ops-email"]', 'remind = ["ops-mail"]'))
    result = run(config_file, "check", env=SECRETS)
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"{config_file}: paths.api.update_reminders.remind[0]: unknown channel 'ops-mail' "
        "(known: ops-email, ops-pager, leads)"
    ]


def test_check_reports_unreachable_steps_and_windows_that_never_open(config_file):
    config_file.write_text(CONFIG.replace('start = "09:00"', 'start = "18:00"'))
    result = run(config_file, "check", env=SECRETS)
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"{config_file}: windows.office: never opens: start and end are the same",
        f"{config_file}: paths.major.steps[1]: unreachable: its window 'office' never opens",
    ]


def test_check_refuses_a_secret_written_in_the_file(config_file):
    config_file.write_text(
        CONFIG.replace('url_env = "SP_TEST_LEADS_URL"', 'url = "https://hooks.slack.com/x"')
    )
    result = run(config_file, "check", env=SECRETS)
    assert result.exit_code == 1
    assert result.stdout.startswith(f"{config_file}: channels.leads.url: secrets do not belong")


def test_check_needs_no_escalation_sections(tmp_path):
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    result = run(empty, "check")
    assert result.exit_code == 0
    assert result.output == f"{empty}: escalation config OK: 0 channels, 0 windows, 0 paths\n"


# -- simulate ----------------------------------------------------------------------------------


def test_simulate_prints_the_exact_timeline(config_file):
    result = simulate(
        config_file,
        "--impact=major",
        "--component=api",
        "--ack-at=20m",
        "--resolve-at=2h30m",
        "--updates-at=10m,70m",
    )
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "incident: impact major, components API, opened 2026-01-05T08:00+01:00",
        "acknowledged: 2026-01-05T08:20+01:00",
        "resolved: 2026-01-05T10:30+01:00",
        "public updates: 2026-01-05T08:10+01:00, 2026-01-05T09:10+01:00",
        "matched paths: major (priority 10, continue), api (priority 100)",
        "TIME                    PATH   WHAT                   CHANNEL    KIND",
        "2026-01-05T08:00+01:00  major  step 0                 ops-pager  step",
        "2026-01-05T08:00+01:00  major  step 0                 ops-email  step",
        "2026-01-05T08:40+01:00  api    reminder 1             ops-email  reminder",
        "2026-01-05T09:00+01:00  major  step 1                 leads      step",
        "2026-01-05T09:40+01:00  api    reminder 2             ops-email  reminder",
        "2026-01-05T09:45+01:00  major  step 1 loop 2          leads      repeat",
        "2026-01-05T10:10+01:00  api    reminder 3             ops-email  reminder",
        "2026-01-05T10:10+01:00  api    reminder 3 (2 missed)  leads      missed_update_escalation",
        "2026-01-05T10:30+01:00  major  step 0                 ops-pager  resolved",
        "9 notifications up to 2026-01-05T14:00+01:00; nothing more would be sent",
    ]


def test_simulate_without_ack_repeats_and_says_what_comes_next(config_file):
    result = simulate(config_file, "--impact", "critical", "--until", "50m")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "incident: impact critical, no components, opened 2026-01-05T08:00+01:00",
        "matched paths: major (priority 10, continue)",
        "TIME                    PATH   WHAT           CHANNEL    KIND",
        "2026-01-05T08:00+01:00  major  step 0         ops-pager  step",
        "2026-01-05T08:00+01:00  major  step 0         ops-email  step",
        "2026-01-05T08:45+01:00  major  step 0 loop 1  ops-pager  repeat",
        "2026-01-05T08:45+01:00  major  step 0 loop 1  ops-email  repeat",
        "4 notifications up to 2026-01-05T08:50+01:00; the next would be at 2026-01-05T09:00+01:00",
    ]


def test_simulate_shows_times_in_the_offset_of_the_start(config_file):
    result = run(
        config_file, "simulate", "--impact=major", "--start=2026-01-05T07:00Z", "--until=1m"
    )
    assert "2026-01-05T07:00+00:00  major  step 0" in result.output


def test_simulate_with_no_matching_path_says_nothing_would_be_sent(config_file):
    result = simulate(config_file, "--impact", "minor")
    assert result.exit_code == 0
    assert result.output.splitlines()[-1] == "matched paths: none: nothing would be sent"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["--ack-at", "20"],
            "Invalid value for '--ack-at': expected a duration after the start such as 20m, "
            "1h30m, 2h or 1d, got '20'",
        ),
        (["--resolve-at", "-5m"], "Invalid value for '--resolve-at': expected a duration"),
        (["--updates-at", "10m,soon"], "Invalid value for '--updates-at': expected a duration"),
        (["--until", "45d"], "Invalid value for '--until': at most 30d"),
        (
            ["--start", "2026-01-05T03:00"],
            "Invalid value for '--start': give the offset too, such as 2026-01-05T03:00+01:00",
        ),
        (["--start", "monday"], "Invalid value for '--start': expected an ISO 8601 time"),
        (
            ["--component", "billing"],
            "Invalid value for '--component': unknown component 'billing' (known in the "
            "config: API)",
        ),
        (["--impact", "severe"], "Invalid value for '--impact'"),
    ],
)
def test_simulate_refuses_bad_input_with_a_clear_error(config_file, args, expected):
    base = ["simulate", "--impact", "major"] if "--impact" not in args else ["simulate"]
    result = run(config_file, *base, *args)
    assert result.exit_code == 2
    assert expected in result.stderr
    assert "Traceback" not in result.output


def test_simulate_refuses_a_broken_config_in_one_line(config_file):
    config_file.write_text(CONFIG.replace('only_during = "office"', 'only_during = "ofice"'))
    result = simulate(config_file, "--impact", "major")
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: {config_file}: paths.major.steps[1].only_during: unknown window 'ofice' "
        "(known: office)\n"
    )
