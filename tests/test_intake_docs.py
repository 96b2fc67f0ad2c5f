"""docs/integrations.md keeps in step with the code: every key an `[intake.NAME]` rule may hold
is in its table (and nothing else), with the default the code uses; the limits it quotes are
the ones the endpoint applies."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from statuspage.core import limits
from statuspage.core.escalation.config import Table
from statuspage.core.intake import rules

DOC = Path(__file__).resolve().parent.parent / "docs" / "integrations.md"
#: A valid rule of each action, so that parsing reaches every key it reads.
RULES = {
    "draft": {"components": ["API"], "message": "m", "resolve_message": "r"},
    "publish": {"action": "publish", "components": ["API"], "message": "m", "resolve_message": "r"},
    "component_status": {"action": "component_status", "component_label": "component"},
}


def keys_parse_rule_reads(monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """Every key `parse_rule` looks up, whatever the action (the table records each read)."""
    seen: set[str] = set()
    done = Table.done

    def recording_done(table: Table) -> None:
        seen.update(table.read)
        done(table)

    monkeypatch.setattr(Table, "done", recording_done)
    for data in RULES.values():
        rules.parse_rule("test.toml", "intake.x", "x", data, paths=[])
    return seen


def documented_keys() -> dict[str, tuple[str, str]]:
    """The rule keys table of the doc: key -> (meaning, default)."""
    text = DOC.read_text()
    section = text.split("## Rule keys", 1)[1].split("\n## ", 1)[0]
    table = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        match = re.fullmatch(r"`([a-z_]+)`", cells[0]) if len(cells) == 3 else None
        if match:
            table[match.group(1)] = (cells[1], cells[2])
    return table


def test_every_rule_key_the_code_reads_is_in_the_doc_and_no_other(monkeypatch):
    read = keys_parse_rule_reads(monkeypatch)
    assert len(read) > 10  # guards the guard
    assert set(documented_keys()) == read


@pytest.mark.parametrize(
    "key, default",
    [
        ("action", f"`{rules.Rule.action}`"),
        ("priority", f"`{rules.Rule.priority}`"),
        ("min_alerts", f"`{rules.Rule.min_alerts}`"),
        ("min_state_seconds", f"`{rules.Rule.min_state_seconds}`"),
    ],
)
def test_the_doc_gives_the_defaults_the_code_uses(key, default):
    assert default in documented_keys()[key][1]


def test_the_doc_names_the_actions_severities_and_limits_the_code_has():
    text = DOC.read_text()
    for action in rules.ACTIONS:
        assert f"`{action}`" in text
    for severity, status in rules.STATUS_BY_SEVERITY.items():
        assert f"{severity} → `{status.value}`" in text
    for size in (limits.MAX_INTAKE_BYTES, limits.MAX_ALERTS_PER_PAYLOAD):
        assert f"{size:,}" in text
