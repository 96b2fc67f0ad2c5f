"""Signed, expiring acknowledge links: sent in escalation notifications, read by /ack."""

from __future__ import annotations

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

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
