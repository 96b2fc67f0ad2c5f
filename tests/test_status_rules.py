"""The overall-status rules of docs/status-rules.md, without an app."""

from __future__ import annotations

import pytest

from statuspage.core.enums import ComponentStatus as C
from statuspage.core.enums import Impact, Indicator
from statuspage.core.status import overall_status

OP, DEG, PART, MAJ, MAINT = (
    C.OPERATIONAL,
    C.DEGRADED_PERFORMANCE,
    C.PARTIAL_OUTAGE,
    C.MAJOR_OUTAGE,
    C.UNDER_MAINTENANCE,
)


@pytest.mark.parametrize(
    ("components", "indicator", "description"),
    [
        ([], Indicator.NONE, "All Systems Operational"),
        ([OP, OP], Indicator.NONE, "All Systems Operational"),
        ([OP, MAINT], Indicator.MAINTENANCE, "Service Under Maintenance"),
        ([DEG, DEG], Indicator.MINOR, "Degraded System Service"),
        ([DEG, MAINT], Indicator.MINOR, "Degraded System Service"),
        ([OP, DEG], Indicator.MINOR, "Partially Degraded Service"),
        ([OP, PART], Indicator.MAJOR, "Partial System Outage"),
        ([OP, MAJ], Indicator.MAJOR, "Partial System Outage"),
        ([MAJ, MAJ], Indicator.CRITICAL, "Major System Outage"),
    ],
)
def test_components_alone_give_the_documented_status(components, indicator, description):
    status = overall_status(components)
    assert (status.indicator, status.description) == (indicator, description)


@pytest.mark.parametrize(
    ("impact", "indicator", "description"),
    [
        (Impact.NONE, Indicator.NONE, "All Systems Operational"),
        (Impact.MINOR, Indicator.MINOR, "Minor Service Outage"),
        (Impact.MAJOR, Indicator.MAJOR, "Partial System Outage"),
        (Impact.CRITICAL, Indicator.CRITICAL, "Major System Outage"),
    ],
)
def test_open_incident_raises_status_to_its_impact(impact, indicator, description):
    status = overall_status([OP, OP], [impact])
    assert (status.indicator, status.description) == (indicator, description)


def test_worse_components_win_over_a_milder_incident():
    status = overall_status([MAJ, MAJ], [Impact.MINOR])
    assert status.indicator is Indicator.CRITICAL


def test_components_wording_wins_a_tie_with_an_incident():
    status = overall_status([OP, DEG], [Impact.MINOR])
    assert status.description == "Partially Degraded Service"


def test_maintenance_in_progress_shows_when_nothing_is_broken():
    assert overall_status([OP], maintenance_in_progress=True).indicator is Indicator.MAINTENANCE
    assert overall_status([PART], maintenance_in_progress=True).indicator is Indicator.MAJOR


def test_statuses_given_as_strings_are_accepted():
    assert overall_status(["major_outage"], ["minor"]).indicator is Indicator.CRITICAL
