"""Email over SMTP (smtplib): pooled connections, plain, STARTTLS or implicit TLS.

Header values are built with `email.message.EmailMessage` from text stripped of line breaks,
and recipients are checked addresses passed to the envelope explicitly, so an incident title
cannot add a header or a recipient.
"""

from __future__ import annotations

import hashlib
import html
import io
import re
import secrets
import smtplib
import ssl
import threading
from collections import OrderedDict
from collections.abc import Mapping
from email import policy as email_policy
from email.generator import BytesGenerator
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

from statuspage.clock import utcnow
from statuspage.core.notifications import fill_in
from statuspage.core.text import strip_invisible
from statuspage.delivery.channels import (
    ChannelError,
    ChannelSpec,
    Delivery,
    Outcome,
    Result,
    Session,
)

SUBJECT_CHARS = 200
#: "Service not available, closing transmission channel": too many messages or connections.
CLOSING = 421
#: Headers a payload may add (`headers`): RFC 2369 / RFC 8058 unsubscribe, nothing structural.
EXTRA_HEADERS = ("List-Unsubscribe", "List-Unsubscribe-Post")
#: A bare address: no spaces, brackets, quotes, commas or line breaks (what a config holds).
ADDRESS = re.compile(r"[^@\s<>()\[\],;:\"\\]+@[^@\s<>()\[\],;:\"\\]+")
_LINE_BREAKS = re.compile(r"[\r\n\x00\x0b\x0c\x85\u2028\u2029]+")


def tls_context() -> ssl.SSLContext:
    """The TLS context for STARTTLS and implicit TLS: the system's trusted CAs, verified."""
    return ssl.create_default_context()


def one_line(text: str) -> str:
    """Text fit for a header value: line breaks become spaces."""
    return " ".join(_LINE_BREAKS.sub(" ", text).split())


def check_address(address: str) -> str:
    """Return `address` if it is a plain mailbox address, else refuse it."""
    if not ADDRESS.fullmatch(address):
        raise ChannelError(f"not an email address: {address[:100]!r}")
    return address


def connect(session: Session) -> smtplib.SMTP:
    """Open and authenticate a connection to the configured SMTP server."""
    cfg = session.settings.smtp
    host, port, timeout = cfg["host"], cfg["port"], cfg["timeout_seconds"]
    if cfg["security"] == "tls":
        connection: smtplib.SMTP = smtplib.SMTP_SSL(
            host, port, timeout=timeout, context=tls_context()
        )
    else:
        connection = smtplib.SMTP(host, port, timeout=timeout)
    try:
        if cfg["security"] == "starttls":
            connection.starttls(context=tls_context())
        if cfg["username"]:
            connection.login(cfg["username"], cfg["password"])
    except BaseException:
        connection.close()
        raise
    return connection


def message_id(key: str, from_address: str) -> str:
    """A Message-ID that is the same on every retry, so mail clients can fold duplicates."""
    domain = from_address.rpartition("@")[2] or "localhost"
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@{domain}>"


#: RFC 5322's line limit: with the default 78, Python folds a long List-Unsubscribe link into
#: RFC 2047 encoded words, which mail providers do not decode in that header.
LINE_LIMIT = 998
POLICY = email_policy.SMTP.clone(max_line_length=LINE_LIMIT)


def build(delivery: Delivery, spec: ChannelSpec, *, from_address: str) -> EmailMessage:
    """The email for one notification: plain text with the links listed under it, and the
    payload's `html` as an alternative part when given; a payload's `fill` pairs are put in
    place of their stand-ins in the text, the HTML (escaped) and the headers."""
    payload = filled(delivery.payload)
    return compose(
        payload,
        recipients(spec),
        from_address=from_address,
        date=format_datetime(utcnow()),
        message_id=message_id(delivery.key, from_address),
    )


def recipients(spec: ChannelSpec) -> list[str]:
    """The channel's `to` addresses, checked."""
    if not spec.to:
        raise ChannelError(f"channel {spec.name!r} has no `to` addresses")
    return [check_address(one_line(address)) for address in spec.to]


def filled(payload: Mapping[str, Any]) -> Mapping[str, Any]:
    """The payload with its `fill` pairs put in place (the same payload if it has none)."""
    pairs = [(str(stand_in), str(value)) for stand_in, value in payload.get("fill") or ()]
    if not pairs:
        return payload
    return {
        **payload,
        "text": fill_in(str(payload.get("text") or ""), pairs),
        "html": fill_in(str(payload.get("html") or ""), pairs, escape=True),
        "headers": {
            name: fill_in(str(value), pairs)
            for name, value in (payload.get("headers") or {}).items()
        },
        "fill": [],
    }


def compose(
    payload: Mapping[str, Any],
    recipients: list[str],
    *,
    from_address: str,
    date: str,
    message_id: str,
) -> EmailMessage:
    """The email of a payload whose `fill` is done, to checked `recipients`."""
    # No invisible controls either: a subject cannot be made to read backwards or hide words.
    subject = one_line(strip_invisible(str(payload.get("subject") or ""), keep_joiners=False))
    if len(subject) > SUBJECT_CHARS:
        subject = subject[: SUBJECT_CHARS - 1] + "…"
    email = EmailMessage(policy=POLICY)
    email["Subject"] = subject
    email["From"] = check_address(one_line(from_address))
    email["To"] = ", ".join(recipients)
    email["Date"] = date
    email["Message-ID"] = message_id
    # RFC 3834: machines (vacation responders) must not answer us.
    email["Auto-Submitted"] = "auto-generated"
    lines = [str(payload.get("text") or "").rstrip()]
    links = [link for link in payload.get("links") or [] if link.get("url")]
    if links:
        lines.append("")
        lines.extend(
            f"{one_line(str(link.get('label') or 'Link'))}: {link['url']}" for link in links
        )
    for name, value in (payload.get("headers") or {}).items():
        allowed = {header.lower(): header for header in EXTRA_HEADERS}
        if name.lower() not in allowed:
            raise ChannelError(f"the header {one_line(str(name))[:60]!r} may not be set")
        email[allowed[name.lower()]] = one_line(str(value))
    email.set_content("\n".join(lines).strip() + "\n")
    if payload.get("html"):
        email.add_alternative(str(payload["html"]), subtype="html")
    return email


class Template:
    """An email flattened once for everyone it goes to, with stand-ins where the recipient,
    the date, the Message-ID and the `fill` values go: a copy is a few byte replacements
    instead of building and flattening the email again (most of a send's CPU).

    `usable` is False when flattening changed a stand-in (an encoded part, a folded header):
    such an email is built whole for each recipient.
    """

    def __init__(self, payload: Mapping[str, Any], *, from_address: str) -> None:
        nonce = secrets.token_hex(12)
        self.to = f"x-to-{nonce}@invalid"
        self.message_id = f"<x-message-id-{nonce}@invalid>"
        self.from_address = from_address
        email = compose(
            payload,
            [self.to],
            from_address=from_address,
            date=TEMPLATE_DATE,
            message_id=self.message_id,
        )
        self.data = flatten(email)
        # Where `filled` puts the values: a stand-in counted anywhere else (the subject, a
        # link) makes the template unusable rather than filled where the whole build is not.
        sources = [str(payload.get(key) or "") for key in ("text", "html")] + [
            str(value) for value in (payload.get("headers") or {}).values()
        ]
        self.counts = {
            stand_in: self.data.count(stand_in.encode())
            for stand_in, _value in payload.get("fill") or ()
        }
        self.usable = (
            # A sender or Message-ID domain beyond ASCII needs SMTPUTF8: send_message does that.
            from_address.isascii()
            and all(
                part.get("Content-Transfer-Encoding", "7bit") in ("7bit", "8bit")
                for part in email.walk()
                if not part.is_multipart()
            )
            and all(
                count == sum(source.count(stand_in) for source in sources)
                for stand_in, count in self.counts.items()
            )
            and all(self.data.count(line) == 1 for line in self._lines(self.to, TEMPLATE_DATE))
        )

    def _lines(self, to: str, date: str, message_id: str | None = None) -> list[bytes]:
        return [
            f"\r\nTo: {to}\r\n".encode(),
            f"\r\nDate: {date}\r\n".encode(),
            f"\r\nMessage-ID: {message_id or self.message_id}\r\n".encode(),
        ]

    def copy(self, delivery: Delivery, to: list[str], *, date: str) -> bytes | None:
        """The bytes for one recipient list, or None if this copy must be built whole."""
        pairs = [(str(stand_in), str(value)) for stand_in, value in delivery.payload["fill"]]
        if not (self.usable and _plain(", ".join(to)) and all(_plain(v) for _s, v in pairs)):
            return None
        data = self.data
        own = self._lines(", ".join(to), date, message_id(delivery.key, self.from_address))
        for mark, line in zip(self._lines(self.to, TEMPLATE_DATE), own, strict=True):
            data = data.replace(mark, line, 1)
        for stand_in, value in pairs:
            data = data.replace(stand_in.encode(), value.encode())
        if max(map(len, data.split(b"\r\n"))) > LINE_LIMIT:
            return None  # past SMTP's line limit: the whole build folds or encodes that line
        return data


def flatten(email: EmailMessage) -> bytes:
    """The bytes smtplib's send_message sends for `email` to ASCII addresses (it flattens with
    "From " at the start of a line escaped as ">From ", as mbox files need)."""
    out = io.BytesIO()
    BytesGenerator(out, mangle_from_=True, policy=email.policy).flatten(email, linesep="\r\n")
    return out.getvalue()


#: The date a template is flattened with, replaced in each copy by the time it is sent.
TEMPLATE_DATE = "Thu, 01 Jan 1970 00:00:00 -0000"
TEMPLATES_KEPT = 64
_templates: OrderedDict[tuple, Template] = OrderedDict()
_templates_lock = threading.Lock()


def _plain(value: str) -> bool:
    """Whether a value can go into the bytes as it is: ASCII, one line, nothing to escape."""
    return value.isascii() and value == one_line(value) and html.escape(value, quote=True) == value


def template(payload: Mapping[str, Any], *, from_address: str) -> Template:
    """The shared template of a payload with `fill` (made on first use, kept for a while)."""
    key = (
        from_address,
        payload.get("subject"),
        payload.get("text"),
        payload.get("html"),
        tuple((payload.get("headers") or {}).items()),
        tuple(tuple(link.items()) for link in payload.get("links") or ()),
        tuple(stand_in for stand_in, _value in payload["fill"]),
    )
    with _templates_lock:
        found = _templates.get(key)
        if found is not None:
            _templates.move_to_end(key)
            return found
    made = Template(payload, from_address=from_address)
    with _templates_lock:
        _templates[key] = made
        while len(_templates) > TEMPLATES_KEPT:
            _templates.popitem(last=False)
    return made


def render(delivery: Delivery, spec: ChannelSpec, *, from_address: str) -> EmailMessage | bytes:
    """What to send: the bytes of a template's copy when the payload has `fill` and the copy
    is safe to make, else the email built whole."""
    if delivery.payload.get("fill"):
        to = recipients(spec)
        data = template(delivery.payload, from_address=from_address).copy(
            delivery, to, date=format_datetime(utcnow())
        )
        if data is not None:
            return data
    return build(delivery, spec, from_address=from_address)


def send(delivery: Delivery, spec: ChannelSpec, session: Session) -> Result:
    """Send the email over a pooled connection; once more over a fresh one if the server hung
    up on a connection used before, or answered 421 (closing: nothing was accepted)."""
    from_address = session.settings.smtp["from_address"]
    email = render(delivery, spec, from_address=from_address)
    to = recipients(spec)
    pool = session.smtp_pool(connect)
    for tries_left in (1, 0):
        try:
            with pool.link() as link:
                try:
                    pool.pace()
                    if isinstance(email, bytes):
                        # What send_message would send (see `flatten`), flattened already.
                        sender = check_address(one_line(from_address))
                        refused = link.smtp.sendmail(sender, to, email)
                    else:
                        refused = link.smtp.send_message(email, to_addrs=to)
                except (smtplib.SMTPException, OSError) as exc:
                    link.broken = True
                    if tries_left and _try_again(exc, reused=link.reused):
                        continue
                    if isinstance(exc, smtplib.SMTPServerDisconnected):
                        return Result(Outcome.RETRY, error=f"SMTP server disconnected: {exc}")
                    return classify(exc)
                link.sent += 1
        except (smtplib.SMTPException, OSError) as exc:
            return classify(exc)  # could not connect
        if refused:
            # Some recipients took it: count it as sent and say who did not.
            details = "; ".join(f"{addr}: {code}" for addr, (code, _msg) in refused.items())
            return Result(Outcome.SENT, status=250, error=f"some recipients refused: {details}")
        return Result(Outcome.SENT, status=250)
    return Result(Outcome.RETRY, error="SMTP server disconnected twice")


def _try_again(exc: BaseException, *, reused: bool) -> bool:
    """Whether a failed send is worth one more try on a new connection at once."""
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return reused  # the server closed an idle connection
    if isinstance(exc, smtplib.SMTPResponseException):
        return exc.smtp_code == CLOSING
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return any(code == CLOSING for code, _msg in exc.recipients.values())
    return False


def classify(exc: BaseException) -> Result:
    """Sort an SMTP failure: 5xx about the message or its recipients is permanent."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _msg in exc.recipients.values()]
        details = "; ".join(
            f"{addr}: {code} {_text(msg)}" for addr, (code, msg) in exc.recipients.items()
        )
        permanent = bool(codes) and all(500 <= code < 600 for code in codes)
        outcome = Outcome.PERMANENT if permanent else Outcome.RETRY
        return Result(
            outcome, status=max(codes, default=None), error=f"recipients refused: {details}"
        )
    if isinstance(exc, smtplib.SMTPResponseException):
        code = exc.smtp_code
        error = f"SMTP {code}: {_text(exc.smtp_error)}"
        # A rejected message (552 too big, 554 refused) will be rejected again; a refused
        # sender or failed login is the server's configuration, which the operator can fix.
        permanent = isinstance(exc, smtplib.SMTPDataError) and 500 <= code < 600
        return Result(Outcome.PERMANENT if permanent else Outcome.RETRY, status=code, error=error)
    if isinstance(exc, TimeoutError):
        return Result(Outcome.RETRY, error="SMTP connection timed out")
    return Result(Outcome.RETRY, error=f"SMTP failed: {type(exc).__name__}: {exc}")


def _text(value: bytes | str) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return one_line(value)[:200]
