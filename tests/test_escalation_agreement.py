"""`escalation simulate` and the worker agree: same config, same clock, same notifications."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from click.testing import CliRunner

from statuspage.cli import main
from statuspage.core.enums import IncidentStatus
from statuspage.db import audit
from statuspage.db.database import write_transaction
from statuspage.db.extensions import db
from statuspage.db.models import OutboxMessage
from statuspage.delivery import escalation as runtime
from statuspage.publishing import components as cs
from statuspage.publishing import incidents as inc
from statuspage.publishing import library as lib
from statuspage.publishing import publish as publishing
from statuspage.publishing.publish import Draft, publish
from statuspage.resources import resource_dir

CONFIG = """
[site]
time_zone = "Europe/Paris"

[channels.ops-hook]
type = "webhook"
url = "https://hooks.example.com/ops"
secret_env = "AGREEMENT_HOOK_SECRET"

[channels.leads]
type = "smtp"
to = ["leads@example.com"]

[windows.office]
time_zone = "Europe/Paris"
weekdays = ["mon", "tue", "wed", "thu", "fri"]
start = "09:00"
end = "18:00"

[paths.major]
match = { impact_at_least = "major", any_component = true }
stop_on = ["acknowledged", "resolved"]

[[paths.major.steps]]
after_minutes = 0
notify = ["ops-hook"]

[[paths.major.steps]]
after_minutes = 10
notify = ["leads"]
condition = "unresolved"
only_during = "office"

[[paths.major.steps]]
after_minutes = 30
notify = ["leads"]

[paths.major.repeat]
times = 2
from_step = 1
after_minutes = 20

[paths.major.update_reminders]
every_minutes = 30
remind = ["ops-hook"]
escalate_after_missed = 2
escalate_to = ["leads"]
"""

START = datetime(2026, 1, 5, 7, 40, tzinfo=UTC)  # 08:40 in Paris, a Monday
ACK_AT = timedelta(minutes=25)
UPDATE_AT = timedelta(minutes=70)
UNTIL = timedelta(hours=3)


def simulated(config_path) -> list[tuple[str, str, str]]:
    """(time, path, channel) of every notification `escalation simulate` prints."""
    result = CliRunner().invoke(
        main,
        [
            "escalation",
            "simulate",
            "--config",
            str(config_path),
            "--impact",
            "major",
            "--start",
            START.isoformat(),
            "--ack-at",
            "25m",
            "--updates-at",
            "70m",
            "--until",
            "3h",
        ],
    )
    assert result.exit_code == 0, result.output
    rows = []
    for line in result.output.splitlines():
        if line[:4].isdigit() and "T" in line[:12]:
            parts = line.split()
            rows.append(
                (datetime.fromisoformat(parts[0]).astimezone(UTC).isoformat(), parts[1], parts[-2])
            )
    return sorted(rows)


def test_simulate_and_worker_send_the_same_notifications(make_app, tmp_path, monkeypatch):
    monkeypatch.setenv("AGREEMENT_HOOK_SECRET", "whsec_dGVzdA==")
    path = tmp_path / "escalation.toml"
    path.write_text(CONFIG)
    from statuspage.config import load_settings

    raw = load_settings(path).values
    app = make_app(
        site={"time_zone": "Europe/Paris"},
        channels=raw["channels"],
        windows=raw["windows"],
        paths=raw["paths"],
    )
    with app.app_context():
        with write_transaction():
            lib.sync_directory(resource_dir("messages"), now=START)
            api = cs.add_component("API", now=START - timedelta(days=1))
        with write_transaction():
            update, _ = publish(
                Draft(
                    message="outage-investigating",
                    variables={"component": "API"},
                    component_statuses={api.id: "major_outage"},
                ),
                now=START,
                actor=audit.CLI,
            )
        incident = update.incident
        # The worker's clock ticks every minute; the facts arrive when they happen.
        minute = timedelta(minutes=1)
        moment = START
        while moment <= START + UNTIL:
            if moment == START + ACK_AT:
                with write_transaction():
                    publishing.acknowledge(incident, by="ana", now=moment, actor=audit.CLI)
            if moment == START + UPDATE_AT:
                with write_transaction():
                    inc.post_update(
                        incident,
                        status=IncidentStatus.IDENTIFIED,
                        body="We found the cause.",
                        now=moment,
                    )
                    runtime.on_incident_changed(incident, now=moment)
            runtime.advance_due_runs(moment)
            moment += minute
        rows = db.session.scalars(sa.select(OutboxMessage)).all()
        sent = sorted(
            (
                datetime.fromisoformat(r.payload["occurred_at"].replace("Z", "+00:00"))
                .astimezone(UTC)
                .isoformat(),
                "major",
                r.channel,
            )
            for r in rows
        )
    expected = simulated(path)
    assert len(expected) >= 6  # the config exercises steps, a window, repeats and reminders
    assert sent == expected
