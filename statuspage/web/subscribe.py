"""Public subscription pages: sign up by email, webhook or Slack (to the page), or by email or
webhook to one incident until it is resolved; confirm, manage, unsubscribe.

Links in emails only show a page; the change is a POST (mail scanners open links on their own).
The unsubscribe POST is exempt from CSRF: its signed token authenticates it, and RFC 8058
one-click requests come from mail providers with no session and no form token.
"""

from __future__ import annotations

import functools

from flask import (
    Blueprint,
    Response,
    current_app,
    redirect,
    render_template,
    request,
    url_for,
)

from statuspage.clock import utcnow
from statuspage.db import queries
from statuspage.db.database import write_transaction
from statuspage.db.extensions import db
from statuspage.db.models import Incident
from statuspage.delivery import subscriber_common as common
from statuspage.delivery import subscribers as service
from statuspage.errors import NotFound, StatuspageError, ValidationError
from statuspage.web import csrf

bp = Blueprint("subscribe", __name__)

#: The field people never see (CSS hides it); scripts that fill every field fill it too.
HONEYPOT = "website"
MAX_TOKEN = 300
#: The sign-up form of each kind of subscription.
FORMS = {
    common.EMAIL: "public/subscribe.html",
    common.WEBHOOK: "public/subscribe_webhook.html",
    common.SLACK: "public/subscribe_slack.html",
}
#: The sign-up form of a subscription to one incident (email or webhook).
INCIDENT_FORM = "public/subscribe_incident.html"


@bp.after_request
def private(response: Response) -> Response:
    """Keep these pages (tokens in URLs, per-session forms) out of caches, logs and Referers."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex"
    return response


def _offered() -> None:
    if not current_app.config["STATUSPAGE"].subscribers["enabled"]:
        raise NotFound("This page does not offer subscriptions.")


def _checked(token: str) -> str:
    if len(token) > MAX_TOKEN:
        raise NotFound("no such link")
    return token


def _form_page(
    template: str,
    *,
    status: int = 200,
    error: StatuspageError | None = None,
    kind: str = common.EMAIL,
    incident: Incident | None = None,
):
    tree = queries.component_tree()
    chosen = request.form.getlist("component") or request.args.getlist("component")
    context = {
        "kind": kind,
        "incident": incident,
        **(_incident_words(incident) if incident is not None else {}),
        "groups": [(g, m) for g in tree.groups if (m := tree.members.get(g.id))],
        "ungrouped": tree.ungrouped,
        "chosen": {value for value in chosen if value.isdigit()},
        "form": request.form,
        "error": error.message if error else None,
        "field": error.field if error else None,
        "honeypot": HONEYPOT,
    }
    return render_template(template, **context), status


def _incident_words(incident: Incident) -> dict[str, str]:
    """What the pages call an incident or a maintenance, and its end."""
    if incident.is_maintenance:
        return {"what": "maintenance", "ends": "complete"}
    return {"what": "incident", "ends": "resolved"}


def _sign_up(kind: str, incident: Incident | None = None):
    """Count the attempt, drop bots, sign up (to the page, or to `incident`); answer the same
    whoever the address is."""
    form = request.form
    template = INCIDENT_FORM if incident is not None else FORMS[kind]
    page = functools.partial(_form_page, template, kind=kind, incident=incident)
    now = utcnow()
    try:
        with write_transaction():
            service.count_signup(request.remote_addr or "", now)
    except service.TooManySignups as exc:
        return page(status=429, error=exc)
    if form.get(HONEYPOT):
        return redirect(url_for("subscribe.sent"), 303)
    try:
        with write_transaction():
            choice = service.parse_choice(form.getlist("component"))
            if kind == common.EMAIL:
                service.sign_up_email(form.get("email", ""), choice, now=now, incident=incident)
            elif kind == common.SLACK:
                service.sign_up_slack(form.get("url", ""), form.get("email", ""), choice, now=now)
            else:
                service.sign_up_webhook(
                    form.get("url", ""), form.get("email", ""), choice, now=now, incident=incident
                )
    except ValidationError as exc:
        return page(status=422, error=exc)
    return redirect(url_for("subscribe.sent"), 303)


@bp.route("/subscribe", methods=["GET", "POST"])
def subscribe():
    """Subscribe to updates by email."""
    _offered()
    if request.method == "POST":
        return _sign_up(common.EMAIL)
    return _form_page("public/subscribe.html")


@bp.route("/subscribe/webhook", methods=["GET", "POST"])
def subscribe_webhook():
    """Subscribe a webhook; the page also describes what it receives."""
    _offered()
    if request.method == "POST":
        return _sign_up(common.WEBHOOK)
    return _form_page("public/subscribe_webhook.html")


@bp.route("/subscribe/slack", methods=["GET", "POST"])
def subscribe_slack():
    """Subscribe a Slack channel through one of its incoming-webhook URLs."""
    _offered()
    if request.method == "POST":
        return _sign_up(common.SLACK)
    return _form_page("public/subscribe_slack.html")


def _incident(incident_id: int) -> Incident:
    incident = db.session.get(Incident, incident_id)
    if incident is None:
        raise NotFound(f"no incident with id {incident_id}")
    return incident


@bp.route("/incidents/<id:incident_id>/subscribe", methods=["GET", "POST"])
def subscribe_incident(incident_id: int):
    """Get the updates of one incident or maintenance by email, until it is over."""
    _offered()
    incident = _incident(incident_id)
    if request.method == "POST":
        return _sign_up(common.EMAIL, incident)
    return _form_page(INCIDENT_FORM, incident=incident)


@bp.route("/incidents/<id:incident_id>/subscribe/webhook", methods=["GET", "POST"])
def subscribe_incident_webhook(incident_id: int):
    """Get the updates of one incident or maintenance by webhook, until it is over."""
    _offered()
    incident = _incident(incident_id)
    if request.method == "POST":
        return _sign_up(common.WEBHOOK, incident)
    return _form_page(INCIDENT_FORM, kind=common.WEBHOOK, incident=incident)


@bp.get("/subscribe/sent")
def sent():
    """Check your inbox."""
    _offered()
    hours = current_app.config["STATUSPAGE"].subscribers["confirm_link_hours"]
    return render_template("public/subscribe_sent.html", hours=hours)


def _refused(exc: StatuspageError):
    return render_template("public/subscribe_link.html", error=exc.message), exc.http_status


@bp.route("/subscriptions/confirm/<token>", methods=["GET", "POST"])
def confirm(token: str):
    """Show what will be confirmed (GET); confirm it (POST), showing a webhook's secret once."""
    token = _checked(token)
    try:
        if request.method == "GET":
            subscriber = service.from_token(common.CONFIRM, token)
            return render_template(
                "public/subscribe_confirm.html",
                subscriber=subscriber,
                target=common.shown_url(subscriber),
            )
        with write_transaction():
            subscriber = service.confirm(token, now=utcnow())
            secret = subscriber.secret if subscriber.kind == common.WEBHOOK else None
            manage = common.make_token(current_app.config["SECRET_KEY"], common.MANAGE, subscriber)
            context = {
                "subscriber": subscriber,
                "target": common.shown_url(subscriber),
                "secret": secret,
                "manage_token": manage,
            }
            page = render_template("public/subscribe_confirm.html", done=True, **context)
    except common.BadLink as exc:
        return _refused(exc)
    return page


@bp.route("/subscriptions/manage/<token>", methods=["GET", "POST"])
def manage(token: str):
    """Change the components followed; webhooks: new secret, turn back on after failures."""
    token = _checked(token)
    notice = secret = None
    error: ValidationError | None = None
    try:
        with write_transaction():
            subscriber = service.from_token(common.MANAGE, token)
            if request.method == "POST":
                try:
                    notice, secret = _manage_action(subscriber, request.form.get("action", ""))
                except ValidationError as exc:
                    error = exc
            tree = queries.component_tree()
            chosen = {str(c.id) for c in subscriber.components}
            page = render_template(
                "public/subscribe_manage.html",
                subscriber=subscriber,
                target=common.shown_url(subscriber),
                state=common.state_of(subscriber),
                groups=[(g, m) for g in tree.groups if (m := tree.members.get(g.id))],
                ungrouped=tree.ungrouped,
                chosen=set() if subscriber.all_components else chosen,
                notice=notice,
                secret=secret,
                error=error.message if error else None,
                field=error.field if error else None,
                unsubscribe_token=common.make_token(
                    current_app.config["SECRET_KEY"], common.UNSUBSCRIBE, subscriber
                ),
            )
    except common.BadLink as exc:
        return _refused(exc)
    return page, 422 if error else 200


def _manage_action(subscriber, action: str) -> tuple[str, str | None]:
    """Do what the manage page's button asked; return the notice and a new secret, if any."""
    if action == "save":
        service.set_choice(subscriber, service.parse_choice(request.form.getlist("component")))
        return "Saved. Updates follow your new choice from now on.", None
    if action == "rotate":
        secret = service.rotate_secret(subscriber)
        return "A new signing secret is in use from the next delivery.", secret
    if action == "enable":
        service.enable(subscriber)
        return "The subscription is on again.", None
    raise ValidationError("unknown action")


@bp.route("/subscriptions/unsubscribe/<token>", methods=["GET", "POST"])
@csrf.exempt
def unsubscribe(token: str):
    """Ask (GET), or unsubscribe (POST: the page's button, or an RFC 8058 one-click request)."""
    token = _checked(token)
    if request.method == "GET":
        try:
            common.read_token(current_app.config["SECRET_KEY"], common.UNSUBSCRIBE, token)
        except common.BadLink as exc:
            return _refused(exc)
        return render_template("public/subscribe_unsubscribe.html", token=token, done=False)
    try:
        with write_transaction():
            result = service.unsubscribe(token, now=utcnow())
            page = render_template(
                "public/subscribe_unsubscribe.html",
                done=True,
                changed=result.changed,
                subscriber=result.subscriber,
                target=common.shown_url(result.subscriber) if result.subscriber else "",
            )
    except common.BadLink as exc:
        return _refused(exc)
    return page
