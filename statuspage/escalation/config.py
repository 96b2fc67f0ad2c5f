"""Parse and check the escalation config ([channels.*], [windows.*], [paths.*])."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def parse_escalation(
    raw: Mapping[str, Mapping[str, Any]], *, source: str, environ: Mapping[str, str]
) -> Any:
    """Check the named sections and return the parsed config (being written: issue 4)."""
    return dict(raw)
