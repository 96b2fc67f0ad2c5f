"""Settings: one table of every setting, loaded in layers and checked before the app starts.

Layers, later wins: built-in defaults, the TOML file (``--config`` or ``STATUSPAGE_CONFIG``),
``STATUSPAGE_<SECTION>_<KEY>`` environment variables, then a mapping given by tests.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from statuspage.errors import ConfigError, StatuspageError

ENV_PREFIX = "STATUSPAGE_"
ROOT = ""  # the section name of top-level keys such as `secret_key`


@dataclass(frozen=True)
class Setting:
    """One configuration key: where it lives, its type, default and documentation."""

    section: str
    key: str
    type: type
    default: Any
    help: str
    secret: bool = False

    @property
    def env_name(self) -> str:
        parts = [self.section, self.key] if self.section else [self.key]
        return ENV_PREFIX + "_".join(parts).upper()

    @property
    def dotted(self) -> str:
        return f"{self.section}.{self.key}" if self.section else self.key


SETTINGS: tuple[Setting, ...] = (
    Setting(
        ROOT,
        "secret_key",
        str,
        "",
        "Signs sessions and tokens. Empty: generated once into instance/secret_key.",
        secret=True,
    ),
    Setting("site", "name", str, "Status", "The name shown in the header, titles and feeds."),
    Setting(
        "site",
        "url",
        str,
        "http://127.0.0.1:8080",
        "Public base URL, used in feeds, emails and permalinks.",
    ),
    Setting("site", "time_zone", str, "UTC", "IANA time zone the page shows times in."),
    Setting("site", "logo_url", str, "", "Optional logo image URL shown in the header."),
    Setting("site", "support_url", str, "", "Optional link to your support or contact page."),
    Setting(
        "site",
        "footer_links",
        list,
        [],
        "Extra footer links: a list of tables with `label` and `url`.",
    ),
    Setting(
        "database",
        "url",
        str,
        "sqlite:///instance/statuspage.db",
        "SQLAlchemy database URL. Relative SQLite paths are relative to the working "
        "directory; postgresql:// URLs use psycopg 3.",
    ),
    Setting(
        "database",
        "listen",
        bool,
        True,
        "On PostgreSQL, each web process learns of publishes and each worker of new messages "
        "through LISTEN/NOTIFY (one more connection per process; on SQLite an idle worker "
        "checks the outbox every 50 ms); false: the web reads the generation on every "
        "request and idle workers look for work every `worker.poll_seconds`.",
    ),
    Setting("server", "host", str, "127.0.0.1", "Address `statuspage serve` listens on."),
    Setting("server", "port", int, 8080, "Port `statuspage serve` listens on."),
    Setting("server", "workers", int, 2, "Worker processes for `statuspage serve`."),
    Setting(
        "server",
        "trusted_proxies",
        list,
        [],
        "Networks (CIDR) of the reverse proxies in front of the app, whose X-Forwarded-For, "
        '-Proto and -Host are believed, e.g. ["127.0.0.1/32"]; empty: trust nobody.',
    ),
    Setting(
        "cadence",
        "critical_minutes",
        int,
        30,
        "Longest wait for the next public update of a critical incident.",
    ),
    Setting(
        "cadence",
        "major_minutes",
        int,
        60,
        "Longest wait for the next public update of a major incident.",
    ),
    Setting(
        "cadence",
        "minor_minutes",
        int,
        120,
        "Longest wait for the next public update of a minor incident.",
    ),
    Setting(
        "cadence",
        "none_minutes",
        int,
        240,
        "Longest wait for the next public update of an incident without impact.",
    ),
    Setting(
        "cache",
        "max_age_seconds",
        int,
        10,
        "How long browsers, CDNs and proxies may reuse a public response (Cache-Control max-age).",
    ),
    Setting(
        "cache",
        "stale_while_revalidate_seconds",
        int,
        30,
        "How long a proxy may serve a stale response while it fetches a fresh one.",
    ),
    Setting(
        "cache",
        "stale_if_error_seconds",
        int,
        86400,
        "How long a proxy may serve a stale response when this service fails, and how long "
        "the app serves its last rendered pages (marked stale) while the database cannot be "
        "reached; 0: neither.",
    ),
    Setting(
        "cache",
        "max_staleness_seconds",
        int,
        0,
        "Seconds a web process may trust its cached pages without asking the database; "
        "0: the first request after a publish shows it.",
    ),
    Setting("subscribers", "enabled", bool, True, "Offer email and webhook subscriptions."),
    Setting(
        "subscribers",
        "email_domains",
        list,
        [],
        "Only addresses at these domains may subscribe by email; empty: any domain.",
    ),
    Setting(
        "subscribers",
        "signups_per_address_per_hour",
        int,
        10,
        "Sign-up attempts allowed per client address per hour.",
    ),
    Setting(
        "subscribers",
        "signups_per_email_per_day",
        int,
        3,
        "Confirmation emails sent to one address per day.",
    ),
    Setting("subscribers", "confirm_link_hours", int, 48, "How long a confirmation link works."),
    Setting(
        "subscribers",
        "webhook_allow_http",
        bool,
        False,
        "Accept http:// webhook URLs (tests and closed networks only); https:// otherwise.",
    ),
    Setting(
        "subscribers",
        "webhook_allow_networks",
        list,
        [],
        "Networks (CIDR) webhook subscriptions may reach although they are not public, "
        'for on-premise receivers, e.g. ["10.20.0.0/16"].',
    ),
    Setting(
        "subscribers",
        "webhook_allow_ports",
        list,
        [],
        "Ports webhook subscriptions may use besides 443 and 80: numbers and ranges, "
        'e.g. [8443, "9000-9099"].',
    ),
    Setting(
        "subscribers",
        "disable_after_failures",
        int,
        5,
        "Permanent delivery failures in a row after which a webhook subscription is disabled.",
    ),
    Setting("smtp", "host", str, "localhost", "SMTP server for email notifications."),
    Setting("smtp", "port", int, 25, "SMTP port (25, 587 for STARTTLS, 465 for TLS)."),
    Setting("smtp", "security", str, "none", "Connection security: none, starttls or tls."),
    Setting("smtp", "username", str, "", "SMTP user name; empty for no authentication."),
    Setting(
        "smtp",
        "password",
        str,
        "",
        "SMTP password. Set it in the environment: STATUSPAGE_SMTP_PASSWORD.",
        secret=True,
    ),
    Setting("smtp", "from_address", str, "status@localhost", "The From address of emails."),
    Setting("smtp", "timeout_seconds", int, 10, "Give up on an SMTP connection after this."),
    Setting("smtp", "connections", int, 4, "SMTP connections a worker keeps open at once."),
    Setting(
        "smtp",
        "max_messages_per_connection",
        int,
        100,
        "Messages sent over one SMTP connection before it is closed and a new one opened.",
    ),
    Setting(
        "smtp",
        "rate_per_second",
        int,
        0,
        "Most messages a worker sends to the SMTP server per second; 0 for no limit.",
    ),
    Setting("worker", "poll_seconds", int, 2, "How often an idle worker looks for work."),
    Setting("worker", "batch_size", int, 100, "Messages a worker claims at once."),
    Setting(
        "worker",
        "http_concurrency",
        int,
        8,
        "Webhook, Slack, Teams and PagerDuty requests a worker has in flight at once.",
    ),
    Setting(
        "worker",
        "per_host_concurrency",
        int,
        4,
        "Requests a worker has in flight at once to any one host.",
    ),
    Setting(
        "worker",
        "lease_seconds",
        int,
        120,
        "A claimed message a worker has not finished after this is taken over by another.",
    ),
    Setting("worker", "max_attempts", int, 12, "Attempts before a message is dead."),
    Setting(
        "worker",
        "retry_base_seconds",
        int,
        10,
        "First retry within this many seconds; the window doubles per attempt, up to an hour.",
    ),
    Setting("worker", "max_age_hours", int, 24, "Age after which an undelivered message is dead."),
    Setting("worker", "ack_link_hours", int, 24, "How long an acknowledge link stays valid."),
    Setting(
        "server",
        "max_request_bytes",
        int,
        1_048_576,
        "Request bodies larger than this are refused with 413.",
    ),
    # Metrics and logs (docs/deploy.md, "Metrics and logs").
    Setting("metrics", "enabled", bool, True, "Serve /metrics (Prometheus text format)."),
    Setting(
        "metrics",
        "token",
        str,
        "",
        "A bearer token that opens /metrics from any address; empty: none.",
        secret=True,
    ),
    Setting(
        "metrics",
        "allow_networks",
        list,
        ["127.0.0.1/32", "::1/128"],
        "Networks (CIDR) whose clients may read /metrics without the token.",
    ),
    Setting(
        "metrics",
        "worker_listen",
        str,
        "",
        'host:port where `statuspage worker` serves its /metrics, e.g. "127.0.0.1:9465"; '
        "empty: no listener.",
    ),
    Setting("logging", "format", str, "text", "Log lines as text or json (one object a line)."),
    Setting("logging", "access_log", bool, True, "`statuspage serve` logs every request."),
    # Reliability reports (docs/reports.md); the SLA targets are the named [sla.NAME] tables.
    Setting(
        "reports",
        "public",
        bool,
        False,
        "Publish a monthly uptime report per component at /uptime (no SLA targets).",
    ),
    Setting(
        "reports",
        "action_items_path",
        str,
        "",
        "Escalation path told once a day of each overdue postmortem action item; empty: off.",
    ),
    Setting(
        "api",
        "statuspage_requests_per_minute",
        int,
        300,
        "Requests per minute one API token may make to the Statuspage-compatible /v1/ API, in "
        "each serving process (429 with Retry-After beyond it); 0: no limit.",
    ),
)

SETTINGS_BY_NAME = {(s.section, s.key): s for s in SETTINGS}
#: Sections whose tables are named by the operator ([channels.NAME], [paths.NAME], ...):
#: kept raw here and checked as a whole by statuspage.core.escalation.config.
NAMED_SECTIONS = ("channels", "paths", "windows", "intake")
#: Named tables checked on their own: `[sla.NAME]` by statuspage.core.reliability.parse_sla.
REPORT_SECTIONS = ("sla",)
SECTIONS = sorted(
    {s.section for s in SETTINGS if s.section} | set(NAMED_SECTIONS) | set(REPORT_SECTIONS)
)


@dataclass
class Settings:
    """The merged, validated settings; `settings.get("site", "name")` or `settings.site["name"]`."""

    values: dict[str, dict[str, Any]]
    source: str = "defaults"
    #: The checked escalation config (channels, windows, paths); see escalation/config.py.
    escalation: Any = None
    #: Why the escalation config was set aside (`load_settings(..., escalation_optional=True)`):
    #: the `file: key: problem` line. None when it was fine.
    escalation_error: str | None = None
    #: The checked `[intake.NAME]` rules (statuspage.core.intake.rules.IntakeConfig).
    intake: Any = None
    #: Why the intake rules were set aside (as `escalation_error`); None when they were fine.
    intake_error: str | None = None
    #: The checked `[sla.NAME]` targets by name (statuspage.core.reliability.SlaTarget).
    sla: dict[str, Any] = field(default_factory=dict)

    def get(self, section: str, key: str) -> Any:
        return self.values[section][key]

    def __getattr__(self, name: str) -> dict[str, Any]:
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def secret_key(self) -> str:
        return self.values[ROOT]["secret_key"]


def defaults() -> dict[str, dict[str, Any]]:
    """Return a fresh nested dict of every setting at its default."""
    values: dict[str, dict[str, Any]] = {}
    for s in SETTINGS:
        default = list(s.default) if isinstance(s.default, list) else s.default
        values.setdefault(s.section, {})[s.key] = default
    for name in (*NAMED_SECTIONS, *REPORT_SECTIONS):
        values[name] = {}
    return values


def load_settings(
    path: str | os.PathLike[str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    escalation_optional: bool = False,
) -> Settings:
    """Build settings from defaults, file, environment and overrides, or raise ConfigError.

    With `escalation_optional` (the web app), a bad escalation config is set aside instead:
    `escalation` is None (escalation off) and `escalation_error` says why. A typo in a channel
    must not keep the public page down; the worker and `escalation check` still refuse it. The
    `[intake.NAME]` rules are set aside the same way, on their own (`intake_error`): alerts are
    then recorded and nothing acts on them.
    """
    environ = os.environ if environ is None else environ
    values = defaults()
    path = path or environ.get(ENV_PREFIX + "CONFIG") or None
    source = "defaults"
    if path:
        source = str(path)
        _merge(values, _read_file(Path(path)), source)
    for s in SETTINGS:
        raw = environ.get(s.env_name)
        if raw is not None:
            values[s.section][s.key] = _coerce_env(s, raw)
    if overrides:
        _merge(values, overrides, "test config")
    _check_values(values, source)
    from statuspage.core.escalation.config import parse_escalation
    from statuspage.core.intake.rules import parse_intake
    from statuspage.core.reliability import parse_sla

    # Reports alone read the SLAs, but a wrong target is refused at start-up all the same:
    # found only when someone asks for November's figures, it would be found too late.
    settings = Settings(values=values, source=source, sla=parse_sla(source, values["sla"]))
    named_paths = values["paths"] if isinstance(values["paths"], Mapping) else {}
    reminder_path = values["reports"]["action_items_path"]
    if reminder_path and reminder_path not in named_paths:
        known = ", ".join(sorted(named_paths)) or "none: add [paths.*]"
        raise ConfigError(
            f"{source}: reports.action_items_path: unknown escalation path {reminder_path!r} "
            f"(known: {known})"
        )
    try:
        settings.escalation = parse_escalation(
            {name: values[name] for name in NAMED_SECTIONS}, source=source, environ=environ
        )
    except ConfigError as exc:
        if not escalation_optional:
            raise
        settings.escalation_error = str(exc)
    try:
        # `notify` names a path: the table names are enough, even if a path is set aside.
        settings.intake = parse_intake(values["intake"], source=source, paths=list(named_paths))
    except ConfigError as exc:
        if not escalation_optional:
            raise
        settings.intake_error = str(exc)
    return settings


def _read_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, expected a TOML file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not valid TOML: the file is not UTF-8") from None


def _merge(values: dict[str, dict[str, Any]], data: Mapping[str, Any], source: str) -> None:
    """Copy `data` (TOML-shaped) into `values`, refusing unknown keys and wrong types."""
    for name, item in data.items():
        if (ROOT, name) in SETTINGS_BY_NAME:
            values[ROOT][name] = _check_type(SETTINGS_BY_NAME[(ROOT, name)], item, source)
            continue
        if name not in SECTIONS:
            known = ", ".join([s.key for s in SETTINGS if not s.section] + SECTIONS)
            raise ConfigError(f"{source}: {name}: unknown setting (known: {known})")
        if not isinstance(item, Mapping):
            raise ConfigError(f"{source}: {name}: expected a table ([{name}]), got {_kind(item)}")
        if name in NAMED_SECTIONS or name in REPORT_SECTIONS:
            values[name].update(item)
            continue
        for key, value in item.items():
            setting = SETTINGS_BY_NAME.get((name, key))
            if setting is None:
                known = ", ".join(s.key for s in SETTINGS if s.section == name)
                raise ConfigError(f"{source}: {name}.{key}: unknown setting (known: {known})")
            values[name][key] = _check_type(setting, value, source)


def _check_type(setting: Setting, value: Any, source: str) -> Any:
    expected = setting.type
    # bool is an int in Python; a `port = true` is still a mistake.
    ok = isinstance(value, expected) and not (expected is int and isinstance(value, bool))
    if not ok:
        raise ConfigError(
            f"{source}: {setting.dotted}: expected {_TYPE_WORDS[expected]}, got {_kind(value)}"
        )
    return value


def _coerce_env(setting: Setting, raw: str) -> Any:
    source = f"environment variable {setting.env_name}"
    if setting.type is str:
        return raw
    if setting.type is int:
        try:
            return int(raw.strip())
        except ValueError:
            raise ConfigError(f"{source}: expected an integer, got {raw!r}") from None
    if setting.type is bool:
        lowered = raw.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off", ""):
            return False
        raise ConfigError(f"{source}: expected true or false, got {raw!r}")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        raise ConfigError(f"{source}: expected JSON ({_TYPE_WORDS[setting.type]})") from None
    return _check_type(setting, value, source)


def _check_values(values: dict[str, dict[str, Any]], source: str) -> None:
    """Check the values that have a shape beyond their type."""
    site = values["site"]
    try:
        ZoneInfo(site["time_zone"])
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"{source}: site.time_zone: expected an IANA time zone such as 'Europe/Paris', "
            f"got {site['time_zone']!r}"
        ) from None
    if not site["url"].startswith(("http://", "https://")):
        raise ConfigError(f"{source}: site.url: expected an http:// or https:// URL")
    site["url"] = site["url"].rstrip("/")
    for index, link in enumerate(site["footer_links"]):
        if (
            not isinstance(link, Mapping)
            or set(link) != {"label", "url"}
            or not all(isinstance(v, str) for v in link.values())
        ):
            raise ConfigError(
                f"{source}: site.footer_links[{index}]: expected a table with string "
                "`label` and `url`"
            )
        if not link["url"].startswith(("http://", "https://", "/", "mailto:")):
            raise ConfigError(f"{source}: site.footer_links[{index}].url: expected an http(s) URL")
    for key in ("logo_url", "support_url"):
        url = site[key]
        if url and not url.startswith(("http://", "https://", "/")):
            raise ConfigError(f"{source}: site.{key}: expected an http(s) URL or a path")
    server = values["server"]
    if not 0 < server["port"] < 65536:
        raise ConfigError(f"{source}: server.port: expected 1-65535, got {server['port']}")
    if server["workers"] < 1:
        raise ConfigError(f"{source}: server.workers: expected at least 1")
    if server["max_request_bytes"] < 1024:
        raise ConfigError(f"{source}: server.max_request_bytes: expected at least 1024")
    _check_networks(server["trusted_proxies"], "server.trusted_proxies", source)
    smtp = values["smtp"]
    if smtp["security"] not in ("none", "starttls", "tls"):
        raise ConfigError(f"{source}: smtp.security: expected none, starttls or tls")
    if not 0 < smtp["port"] < 65536:
        raise ConfigError(f"{source}: smtp.port: expected 1-65535, got {smtp['port']}")
    for key in ("connections", "max_messages_per_connection"):
        if smtp[key] < 1:
            raise ConfigError(f"{source}: smtp.{key}: expected at least 1")
    if smtp["rate_per_second"] < 0:
        raise ConfigError(f"{source}: smtp.rate_per_second: expected 0 (no limit) or more")
    for key in (
        "poll_seconds",
        "batch_size",
        "http_concurrency",
        "per_host_concurrency",
        "lease_seconds",
        "max_attempts",
        "retry_base_seconds",
        "max_age_hours",
        "ack_link_hours",
    ):
        if values["worker"][key] < 1:
            raise ConfigError(f"{source}: worker.{key}: expected at least 1")
    for section, minimum in (("cadence", 1), ("cache", 0)):
        for key, value in values[section].items():
            if value < minimum:
                raise ConfigError(f"{source}: {section}.{key}: expected at least {minimum}")
    subscribers = values["subscribers"]
    for key in ("email_domains", "webhook_allow_networks"):
        if not all(isinstance(item, str) for item in subscribers[key]):
            raise ConfigError(f"{source}: subscribers.{key}: expected an array of strings")
    from statuspage.delivery.netguard import parse_networks, parse_ports

    try:
        parse_networks(subscribers["webhook_allow_networks"])
    except StatuspageError as exc:
        raise ConfigError(f"{source}: subscribers.webhook_allow_networks: {exc}") from None
    try:
        parse_ports(subscribers["webhook_allow_ports"])
    except StatuspageError as exc:
        raise ConfigError(f"{source}: subscribers.webhook_allow_ports: {exc}") from None
    for key in (
        "signups_per_address_per_hour",
        "signups_per_email_per_day",
        "confirm_link_hours",
        "disable_after_failures",
    ):
        if subscribers[key] < 1:
            raise ConfigError(f"{source}: subscribers.{key}: expected at least 1")
    if "://" not in values["database"]["url"]:
        raise ConfigError(
            f"{source}: database.url: expected a URL such as sqlite:///instance/statuspage.db"
        )
    _check_metrics_and_logging(values, source)


def _check_metrics_and_logging(values: dict[str, dict[str, Any]], source: str) -> None:
    """Check the [metrics] and [logging] values."""
    _check_networks(values["metrics"]["allow_networks"], "metrics.allow_networks", source)
    listen = values["metrics"]["worker_listen"]
    if listen:
        try:
            parse_listen(listen)
        except ValueError as exc:
            raise ConfigError(f"{source}: metrics.worker_listen: {exc}") from None
    if values["logging"]["format"] not in ("text", "json"):
        raise ConfigError(
            f"{source}: logging.format: expected text or json, got {values['logging']['format']!r}"
        )


def parse_listen(text: str) -> tuple[str, int]:
    """Split "host:port" ("[::1]:9465" for IPv6; ":9465" for every address) into its parts."""
    host, colon, port = text.strip().rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not colon or not port.isdigit() or not 0 < int(port) < 65536 or "[" in host:
        raise ValueError(f'expected host:port such as "127.0.0.1:9465", got {text!r}')
    return host, int(port)


def _check_networks(value: list, dotted: str, source: str) -> None:
    """Refuse a list that is not of CIDR strings, naming the setting."""
    from statuspage.delivery.netguard import parse_networks

    if not all(isinstance(item, str) for item in value):
        raise ConfigError(f"{source}: {dotted}: expected an array of strings")
    try:
        parse_networks(value)
    except StatuspageError as exc:
        raise ConfigError(f"{source}: {dotted}: {exc}") from None


def database_uri(url: str, base: Path) -> str:
    """Normalise a database URL: psycopg 3 for PostgreSQL, SQLite paths made absolute."""
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        relative = url[len("sqlite:///") :]
        if relative and relative != ":memory:" and not relative.startswith("file:"):
            return "sqlite:///" + str((base / relative).resolve())
    return url


_TYPE_WORDS = {str: "a string", int: "an integer", bool: "true or false", list: "an array"}


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    for typ, word in (
        (str, "a string"),
        (int, "an integer"),
        (float, "a number"),
        (list, "an array"),
        (Mapping, "a table"),
    ):
        if isinstance(value, typ):
            return word
    return type(value).__name__
