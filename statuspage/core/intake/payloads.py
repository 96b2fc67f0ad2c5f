"""Alert webhook payloads read strictly into one shape: Alertmanager, Grafana and our own format.

Alertmanager's webhook (version 4) and Grafana's webhook contact point send the same envelope
(`status`, `alerts[]` with `labels`, `annotations`, `startsAt`, `endsAt`, `fingerprint`); the
generic format (docs/integrations.md) is one alert or `{"alerts": [...]}` with plain fields for
everything else (Uptime Kuma, Datadog, scripts). Every size is bounded by `core.limits`; anything
else is a ValidationError naming the field, which the endpoint answers with 400.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NoReturn

from statuspage.core import limits
from statuspage.core.text import clean_line, clean_text
from statuspage.core.times import as_utc
from statuspage.errors import ValidationError

FORMATS = ("alertmanager", "grafana", "generic")
FIRING = "firing"
RESOLVED = "resolved"
SEVERITIES = ("critical", "error", "warning", "info")
DEFAULT_SEVERITY = "warning"
#: Words monitoring tools use for severities, read as ours.
_SEVERITY_WORDS = {
    "critical": "critical",
    "crit": "critical",
    "fatal": "critical",
    "page": "critical",
    "p1": "critical",
    "high": "error",
    "error": "error",
    "err": "error",
    "major": "error",
    "p2": "error",
    "warning": "warning",
    "warn": "warning",
    "medium": "warning",
    "minor": "warning",
    "p3": "warning",
    "info": "info",
    "low": "info",
    "none": "info",
    "p4": "info",
    "p5": "info",
}
#: Alertmanager's and Grafana's "no end yet".
_ZERO_TIME = "0001-01-01T00:00:00Z"
_GENERIC_KEYS = frozenset(
    {
        "title",
        "severity",
        "component",
        "status",
        "fingerprint",
        "url",
        "description",
        "labels",
        "started_at",
        "ended_at",
    }
)


@dataclass(frozen=True)
class AlertIn:
    """One alert as received, whatever sent it."""

    fingerprint: str
    status: str  # firing or resolved
    title: str
    severity: str
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    url: str = ""
    #: The alert's own JSON object as it arrived (the admin shows it).
    raw: Mapping[str, Any] = field(default_factory=dict)

    def fields(self) -> dict[str, str]:
        """What a rule's match and values can name: labels, annotations, then the alert's own."""
        values = {
            "title": self.title,
            "severity": self.severity,
            "status": self.status,
            "url": self.url,
            "fingerprint": self.fingerprint,
            # As the resolve messages ask for them: "14:20 UTC".
            "started_at": f"{self.starts_at:%H:%M} UTC" if self.starts_at else "",
            "resolved_at": f"{self.ends_at:%H:%M} UTC" if self.ends_at else "",
        }
        for source in (self.annotations, self.labels):
            values.update({key.lower(): value for key, value in source.items()})
        return values


def parse(kind: str, body: bytes) -> list[AlertIn]:
    """Read a payload of format `kind`; ValidationError (with the field) if it is not one."""
    if len(body) > limits.MAX_INTAKE_BYTES:
        raise ValidationError(
            f"the payload has {len(body):,} bytes; at most {limits.MAX_INTAKE_BYTES:,}",
            field="body",
        )
    try:
        data = json.loads(body, parse_constant=_no_constant, parse_float=_finite)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValidationError(f"the payload is not JSON: {exc}", field="body") from None
    except RecursionError:
        raise ValidationError("the payload is nested too deeply", field="body") from None
    except ValueError:  # an integer of more than 4,300 digits (Python's conversion limit)
        raise ValidationError("the payload holds a number that is too long", field="body") from None
    if kind in ("alertmanager", "grafana"):
        return _envelope(data, kind)
    if kind == "generic":
        return _generic(data)
    raise ValidationError(f"unknown format {kind!r} (known: {', '.join(FORMATS)})", field="format")


def _no_constant(name: str) -> NoReturn:
    # NaN and Infinity are not JSON, and a JSON column (PostgreSQL's) refuses them.
    raise ValidationError(f"the payload is not JSON: {name} is not a JSON number", field="body")


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):  # 1e999
        _no_constant(text)
    return number


def _envelope(data: Any, kind: str) -> list[AlertIn]:
    top = _object(data, "payload")
    items = top.get("alerts")
    if not isinstance(items, list):
        raise ValidationError("`alerts` must be a list of alerts", field="alerts")
    _count(items)
    common = top.get("commonLabels") or {}
    _object(common, "commonLabels")
    alerts = []
    for i, item in enumerate(items):
        where = f"alerts[{i}]"
        raw = _object(item, where)
        status = _status(raw.get("status"), f"{where}.status")
        labels = _labels(raw.get("labels"), f"{where}.labels")
        annotations = _labels(raw.get("annotations") or {}, f"{where}.annotations")
        fingerprint = raw.get("fingerprint")
        if fingerprint is None:
            fingerprint = _derived_fingerprint(labels)
        fingerprint = _fingerprint(fingerprint, f"{where}.fingerprint")
        title = annotations.get("summary") or labels.get("alertname") or fingerprint
        url = raw.get("generatorURL") or ""
        if kind == "grafana":
            url = raw.get("panelURL") or raw.get("dashboardURL") or url
        alerts.append(
            AlertIn(
                fingerprint=fingerprint,
                status=status,
                title=_title(title),
                severity=severity(labels.get("severity") or labels.get("priority")),
                labels=labels,
                annotations=annotations,
                starts_at=_time(raw.get("startsAt"), f"{where}.startsAt"),
                ends_at=_time(raw.get("endsAt"), f"{where}.endsAt"),
                # A sender's link is a convenience: an odd one is dropped, never the alert.
                url=url if isinstance(url, str) and _is_http(url) else "",
                raw=raw,
            )
        )
    return alerts


def _generic(data: Any) -> list[AlertIn]:
    if isinstance(data, dict) and set(data) == {"alerts"}:
        items = data["alerts"]
        if not isinstance(items, list):
            raise ValidationError("`alerts` must be a list of alerts", field="alerts")
        _count(items)
        return [_generic_one(item, f"alerts[{i}]") for i, item in enumerate(items)]
    return [_generic_one(data, "")]


def _generic_one(data: Any, where: str) -> AlertIn:
    raw = _object(data, where or "payload")
    prefix = f"{where}." if where else ""
    unknown = sorted(set(raw) - _GENERIC_KEYS)
    if "alerts" in unknown:
        raise ValidationError(
            'a generic payload is one alert, or {"alerts": [...]} with nothing beside it; '
            "this looks like an Alertmanager or Grafana payload: give that sender an integration "
            "of its own format",
            field=prefix + "alerts",
        )
    if unknown:
        raise ValidationError(
            f"unknown field {unknown[0]!r} (known: {', '.join(sorted(_GENERIC_KEYS))})",
            field=prefix + unknown[0],
        )
    title = raw.get("title")
    if not isinstance(title, str) or not clean_line(title):
        raise ValidationError("`title` is required: a string", field=prefix + "title")
    labels = _labels(raw.get("labels") or {}, prefix + "labels")
    component = raw.get("component")
    if component is not None:
        labels = {**labels, "component": _label_value(component, prefix + "component")}
    description = raw.get("description")
    annotations = {}
    if description is not None:
        annotations["description"] = _label_value(description, prefix + "description", text=True)
    fingerprint = raw.get("fingerprint")
    if fingerprint is None:
        fingerprint = _derived_fingerprint({"title": clean_line(title), **labels})
    return AlertIn(
        fingerprint=_fingerprint(fingerprint, prefix + "fingerprint"),
        status=_status(raw.get("status", FIRING), prefix + "status"),
        title=_title(title),
        severity=severity(_optional_str(raw.get("severity"), prefix + "severity")),
        labels=labels,
        annotations=annotations,
        starts_at=_time(raw.get("started_at"), prefix + "started_at"),
        ends_at=_time(raw.get("ended_at"), prefix + "ended_at"),
        url=_url(raw.get("url") or "", prefix + "url"),
        raw=raw,
    )


def severity(value: str | None) -> str:
    """One of SEVERITIES from what a tool calls it; unknown words count as a warning."""
    if not value:
        return DEFAULT_SEVERITY
    return _SEVERITY_WORDS.get(value.strip().lower(), DEFAULT_SEVERITY)


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValidationError(f"`{where}` must be a JSON object", field=where)
    return value


def _count(items: list[Any]) -> None:
    if len(items) > limits.MAX_ALERTS_PER_PAYLOAD:
        raise ValidationError(
            f"at most {limits.MAX_ALERTS_PER_PAYLOAD:,} alerts in one request "
            f"(this one has {len(items):,})",
            field="alerts",
        )


def _status(value: Any, where: str) -> str:
    if value not in (FIRING, RESOLVED):
        raise ValidationError('`status` must be "firing" or "resolved"', field=where)
    return str(value)


def _labels(value: Any, where: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ValidationError(f"`{where}` must be an object of strings", field=where)
    if len(value) > limits.MAX_ALERT_LABELS:
        raise ValidationError(f"at most {limits.MAX_ALERT_LABELS} entries", field=where)
    out = {}
    for name, item in value.items():
        if not name or len(name) > limits.MAX_LABEL_NAME or not name.isprintable():
            raise ValidationError(
                f"label names are printable, 1-{limits.MAX_LABEL_NAME} characters", field=where
            )
        out[name] = _label_value(item, f"{where}.{name}", text=where.endswith("annotations"))
    return out


def _label_value(value: Any, where: str, *, text: bool = False) -> str:
    if not isinstance(value, str):
        raise ValidationError(f"`{where}` must be a string", field=where)
    if len(value) > limits.MAX_LABEL_VALUE:
        raise ValidationError(
            f"`{where}` has at most {limits.MAX_LABEL_VALUE:,} characters", field=where
        )
    return clean_text(value) if text else clean_line(value)


def _optional_str(value: Any, where: str) -> str | None:
    if value is None:
        return None
    return _label_value(value, where)


def _fingerprint(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError("`fingerprint` must be a non-empty string", field=where)
    text = value.strip()
    if len(text) > limits.MAX_FINGERPRINT or not text.isprintable():
        raise ValidationError(
            f"`fingerprint` is printable, at most {limits.MAX_FINGERPRINT} characters",
            field=where,
        )
    return text


def _derived_fingerprint(labels: Mapping[str, str]) -> str:
    """A stable fingerprint for a sender that gives none: the hash of its labels."""
    text = json.dumps(dict(sorted(labels.items())), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:32]


def _title(value: str) -> str:
    text = clean_line(value)
    return text[: limits.MAX_TITLE]


def _time(value: Any, where: str) -> datetime | None:
    if value is None or value == "" or value == _ZERO_TIME:
        return None
    if not isinstance(value, str):
        raise ValidationError(f"`{where}` must be an RFC 3339 time", field=where)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValidationError(f"`{where}` must be an RFC 3339 time", field=where) from None
    if parsed.tzinfo is None:
        raise ValidationError(f"`{where}` needs a time zone (Z or +hh:mm)", field=where)
    if parsed.year < 1970:  # other "zero" times
        return None
    return as_utc(parsed)


def _is_http(value: str) -> bool:
    # Printable: a lone surrogate (valid JSON) cannot be stored, and a link has no controls.
    return (
        len(value) <= 2000
        and value.isprintable()
        and value.lower().startswith(("https://", "http://"))
    )


def _url(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise ValidationError(f"`{where}` must be a string", field=where)
    text = value.strip()
    if text and not _is_http(text):
        raise ValidationError(f"`{where}` must be an http(s) URL", field=where)
    return text
