"""Signed, expiring acknowledge links, and acknowledging an incident."""

from __future__ import annotations

from datetime import datetime

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from statuspage.db import audit
from statuspage.db.models import Incident
from statuspage.errors import ValidationError

SALT = "statuspage.acknowledge"


def _serializer(secret_key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt=SALT)


def make_token(secret_key: str, incident_id: int, channel: str) -> str:
    """A token that acknowledges one incident, naming the channel it was sent through."""
    return _serializer(secret_key).dumps({"i": incident_id, "c": channel})


def read_token(secret_key: str, token: str, *, max_age_seconds: int) -> tuple[int, str]:
    """Return (incident id, channel) of a valid token, or raise ValidationError saying why."""
    try:
        data = _serializer(secret_key).loads(token, max_age=max_age_seconds)
    except SignatureExpired:
        raise ValidationError("This acknowledge link has expired.") from None
    except BadSignature:
        raise ValidationError("This acknowledge link is not valid.") from None
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("i"), int)
        or not isinstance(data.get("c"), str)
    ):
        raise ValidationError("This acknowledge link is not valid.")
    return data["i"], data["c"]


def acknowledge(incident: Incident, *, by: str, now: datetime, actor: audit.Actor) -> bool:
    """Record who took the incident and when; return False when it was already acknowledged."""
    if incident.acknowledged_at is not None:
        return False
    incident.acknowledged_at = now
    incident.acknowledged_by = by[:300]
    audit.record(
        actor,
        "incident.acknowledged",
        now=now,
        target_type="incident",
        target_id=incident.id,
        summary=f"{incident.name}: acknowledged by {by}",
        after={"acknowledged_by": by},
    )
    return True
