"""Microsoft Teams via a Workflows webhook: a message with one Adaptive Card (schema 1.4).

Incident text goes only into `TextRun`s, which Adaptive Cards never parse as Markdown, so it
cannot make a link; mentions need `msteams.entities`, which we never send. The only links are
the `Action.OpenUrl` buttons built here.
"""

from __future__ import annotations

from typing import Any

from statuspage.delivery.channels import ChannelSpec, Delivery, Result, Session, facts, http

CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
CARD_VERSION = "1.4"
#: Teams refuses cards over about 28 KB; long bodies are cut well before that.
TEXT_CHARS = 8000
MAX_ACTIONS = 5


def _run(text: str, **style: str) -> dict[str, Any]:
    return {"type": "TextRun", "text": text, **style}


def _rich(*inlines: dict[str, Any]) -> dict[str, Any]:
    return {"type": "RichTextBlock", "inlines": list(inlines)}


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def card(delivery: Delivery) -> dict[str, Any]:
    """The Adaptive Card for one notification."""
    payload = delivery.payload
    body: list[dict[str, Any]] = []
    subject = str(payload.get("subject") or "").strip()
    if subject:
        body.append(_rich(_run(_clip(subject, 500), size="Medium", weight="Bolder")))
    text = str(payload.get("text") or "")
    if text:
        body.append(_rich(_run(_clip(text, TEXT_CHARS))))
    for label, value in facts(payload):
        # Not a FactSet: Teams renders Markdown in fact values.
        body.append(_rich(_run(f"{_clip(label, 100)}: ", weight="Bolder"), _run(_clip(value, 500))))
    actions = [
        {"type": "Action.OpenUrl", "title": str(link.get("label") or "Open")[:60], "url": url}
        for link in list(payload.get("links") or [])[:MAX_ACTIONS]
        if (url := str(link.get("url") or "")).startswith(("http://", "https://"))
    ]
    content: dict[str, Any] = {
        "$schema": CARD_SCHEMA,
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "body": body,
    }
    if actions:
        content["actions"] = actions
    return content


def message(delivery: Delivery) -> dict[str, Any]:
    """The Workflows webhook JSON: a `message` activity carrying the card as its attachment."""
    return {
        "type": "message",
        "attachments": [
            {"contentType": CARD_CONTENT_TYPE, "contentUrl": None, "content": card(delivery)}
        ],
    }


def send(delivery: Delivery, spec: ChannelSpec, session: Session) -> Result:
    """POST the card to the channel's Workflows URL."""
    return http.post(session.http, spec.url, http.encode(message(delivery)))
