"""Slack incoming webhooks: a `text` fallback plus Block Kit blocks.

Slack parses `&`, `<` and `>` as control characters (`<!channel>`, `<@U123>`, `<url|label>`),
so every piece of incident text is escaped; the only links are the buttons built here and the
links the body's Markdown has (core/mrkdwn.py, which every Slack body goes through).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from statuspage.core import mrkdwn
from statuspage.core.mrkdwn import escape
from statuspage.delivery import netguard
from statuspage.delivery.channels import (
    SUBSCRIBER_PREFIX,
    ChannelSpec,
    Delivery,
    Outcome,
    Result,
    Session,
    facts,
    http,
)
from statuspage.delivery.channels.webhook import guard_policy

#: Slack's limits: a section's text, a button's label, a button's URL.
SECTION_CHARS = 3000
BUTTON_LABEL_CHARS = 75
URL_CHARS = 3000
MAX_BUTTONS = 5

__all__ = ["body", "escape", "message", "send"]


def body(payload: Mapping[str, Any]) -> str:
    """The message's body as mrkdwn (bold, italics, links, lists, code; all text escaped).

    From the sanitised HTML a subscriber update stores (`html`), else from the Markdown of an
    escalation notice (`markdown`, rendered as the public page would), else plain `text`.
    """
    if payload.get("html"):
        return mrkdwn.from_html(str(payload["html"]), SECTION_CHARS)
    if payload.get("markdown"):
        return mrkdwn.from_markdown(str(payload["markdown"]), SECTION_CHARS)
    return escape(str(payload.get("text") or ""), SECTION_CHARS)


def _facts(payload: Mapping[str, Any]) -> str:
    return "  ·  ".join(f"*{escape(label)}:* {escape(value)}" for label, value in facts(payload))


def _buttons(links: list[Mapping[str, str]]) -> list[dict[str, Any]]:
    buttons = []
    for index, link in enumerate(links[:MAX_BUTTONS]):
        url = str(link.get("url") or "")
        if not url.startswith(("http://", "https://")) or len(url) > URL_CHARS:
            continue
        label = str(link.get("label") or "Open")[:BUTTON_LABEL_CHARS]
        button = {
            "type": "button",
            "action_id": f"link-{index}",
            "text": {"type": "plain_text", "text": label},
            "url": url,
        }
        if index == 0:
            button["style"] = "primary"
        buttons.append(button)
    return buttons


def message(delivery: Delivery) -> dict[str, Any]:
    """The incoming-webhook JSON for one notification."""
    payload = delivery.payload
    subject = str(payload.get("subject") or "")
    text = body(payload)
    links = list(payload.get("links") or [])
    blocks: list[dict[str, Any]] = []
    if subject.strip():
        title = f"*{escape(subject.strip(), SECTION_CHARS - 2)}*"
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": title}})
    if text:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text}})
    summary = _facts(payload)
    if summary:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": summary}]})
    buttons = _buttons(links)
    if buttons:
        blocks.append({"type": "actions", "elements": buttons})
    # `text` is what notifications and screen readers show; Slack renders it like mrkdwn.
    return {"text": escape(subject, SECTION_CHARS), "blocks": blocks}


def send(delivery: Delivery, spec: ChannelSpec, session: Session) -> Result:
    """POST the message to the channel's incoming-webhook URL.

    A URL a subscriber typed (a `guarded` row, or any subscriber row) is checked again now and
    the request goes to the checked address, as for subscriber webhooks; the operator's own
    escalation channels are sent as configured.
    """
    content = http.encode(message(delivery))
    if not (delivery.payload.get("guarded") or delivery.channel.startswith(SUBSCRIBER_PREFIX)):
        return http.post(session.http, spec.url, content)
    try:
        target = netguard.check_url(spec.url, guard_policy(session))
    except netguard.UnsafeURL as exc:
        return Result(Outcome.PERMANENT, error=exc.message)
    url, extra, extensions = target.pinned()
    return http.post(session.http, url, content, headers=extra, extensions=extensions)
