"""Users, roles and API tokens in the admin: shown once, stored hashed, last admin kept."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from flask import Blueprint

from statuspage.accounts import tokens
from statuspage.accounts import users as user_service
from statuspage.clock import utcnow
from statuspage.core.roles import Permission
from statuspage.db import audit
from statuspage.db.database import write_transaction
from statuspage.db.extensions import db
from statuspage.db.models import ApiToken, User
from statuspage.errors import Conflict
from statuspage.web.auth import current_user, protect_blueprint, requires
from tests.support import NOW
from tests.support.auth import csrf_token, make_user, sign_in, signed_in


def post(client, path: str, **data):
    return client.post(path, data={"csrf_token": csrf_token(client, "/admin/tokens"), **data})


def shown_secret(response) -> str:
    match = re.search(r'id="secret-value">([^<]+)<', response.get_data(as_text=True))
    assert match, response.get_data(as_text=True)
    return match.group(1)


def user(email: str) -> User:
    db.session.expire_all()
    return user_service.get_user_by_email(email)


# Users


def test_users_page_lists_every_user_with_role_and_state(app, people):
    with write_transaction():
        user_service.set_active(user("viewer@example.com"), False, now=NOW, actor=audit.CLI)
    page = signed_in(app, "admin").get("/admin/users")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    for role in ("admin", "editor", "viewer"):
        assert f"{role}@example.com" in text
    assert text.count('class="disabled"') == 1


def test_users_page_shows_the_last_sign_in(app, people):
    client = signed_in(app, "admin")
    text = client.get("/admin/users").get_data(as_text=True)
    row = text[text.index("admin@example.com") : text.index("editor@example.com")]
    assert "<time datetime=" in row.split("Last sign-in")[-1]
    assert "never" in text[text.index("editor@example.com") :]


def test_adding_a_user_shows_the_generated_password_once(app, people):
    client = signed_in(app, "admin")
    response = post(client, "/admin/users", email="New@Example.com", name="Nina", role="viewer")
    password = shown_secret(response)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert password not in client.get("/admin/users").get_data(as_text=True)
    created = user("new@example.com")
    assert (created.name, created.role) == ("Nina", "viewer")
    assert sign_in(app.test_client(), "new@example.com", password=password).status_code == 302


def test_adding_a_user_with_a_taken_email_keeps_what_was_typed(app, people):
    client = signed_in(app, "admin")
    response = post(client, "/admin/users", email="EDITOR@example.com", name="Twin", role="admin")
    text = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "already exists" in text
    assert 'value="EDITOR@example.com"' in text and 'value="Twin"' in text
    assert 'id="secret-value"' not in text


def test_adding_a_user_with_an_unknown_role_is_refused(app, people):
    response = post(signed_in(app, "admin"), "/admin/users", email="x@example.com", role="owner")
    assert response.status_code == 422
    assert "unknown role" in response.get_data(as_text=True)
    assert user("x@example.com") is None


def test_adding_a_user_is_audited_without_the_password(app, people):
    response = post(signed_in(app, "admin"), "/admin/users", email="n@example.com", role="editor")
    password = shown_secret(response)
    [entry] = audit.entries(action="user.created", actor="admin@example.com")
    assert entry.after == {"email": "n@example.com", "role": "editor"}
    assert password not in repr(audit.as_dict(entry))


def test_role_change_takes_effect_at_the_next_request(app, people):
    editor = signed_in(app, "editor")
    admin = signed_in(app, "admin")
    assert editor.get("/admin/users").status_code == 403
    editor_id = people["editor"].id
    assert post(admin, f"/admin/users/{editor_id}/role", role="admin").status_code == 302
    assert editor.get("/admin/users").status_code == 200
    post(admin, f"/admin/users/{editor_id}/role", role="viewer")
    assert editor.get("/admin/users").status_code == 403


def test_role_change_is_audited_with_before_and_after(app, people):
    post(signed_in(app, "admin"), f"/admin/users/{people['viewer'].id}/role", role="editor")
    [entry] = audit.entries(action="user.role_changed")
    assert (entry.before, entry.after) == ({"role": "viewer"}, {"role": "editor"})
    assert entry.actor == "admin@example.com"


def test_unknown_role_in_a_role_change_is_refused(app, people):
    response = post(signed_in(app, "admin"), f"/admin/users/{people['viewer'].id}/role", role="x")
    assert response.status_code == 422
    assert user("viewer@example.com").role == "viewer"


def test_disabling_a_user_ends_their_sessions_and_sign_in(app, people):
    editor = signed_in(app, "editor")
    admin = signed_in(app, "admin")
    response = post(admin, f"/admin/users/{people['editor'].id}/disable")
    assert response.status_code == 302
    assert editor.get("/admin/").status_code == 302
    assert sign_in(app.test_client(), "editor@example.com").status_code == 401
    assert [e.action for e in audit.entries(action="user.disabled")] == ["user.disabled"]


def test_sessions_ended_by_disabling_stay_ended_after_enabling(app, people):
    editor = signed_in(app, "editor")
    admin = signed_in(app, "admin")
    post(admin, f"/admin/users/{people['editor'].id}/disable")
    post(admin, f"/admin/users/{people['editor'].id}/enable")
    assert editor.get("/admin/").status_code == 302


def test_enabling_a_user_lets_them_sign_in_again(app, people):
    admin = signed_in(app, "admin")
    post(admin, f"/admin/users/{people['editor'].id}/disable")
    post(admin, f"/admin/users/{people['editor'].id}/enable")
    assert user("editor@example.com").active
    assert sign_in(app.test_client(), "editor@example.com").status_code == 302


def test_the_last_active_admin_cannot_demote_themselves(app, people):
    admin = signed_in(app, "admin")
    response = post(admin, f"/admin/users/{people['admin'].id}/role", role="editor")
    assert response.status_code == 409
    assert "last active admin" in response.get_data(as_text=True)
    assert user("admin@example.com").role == "admin"
    assert admin.get("/admin/users").status_code == 200


def test_the_last_active_admin_cannot_disable_themselves(app, people):
    admin = signed_in(app, "admin")
    response = post(admin, f"/admin/users/{people['admin'].id}/disable")
    assert response.status_code == 409
    assert "last active admin" in response.get_data(as_text=True)
    assert user("admin@example.com").active


def test_an_admin_may_step_down_when_another_admin_is_active(app, people):
    make_user("second@example.com", "admin")
    admin = signed_in(app, "admin")
    response = post(admin, f"/admin/users/{people['admin'].id}/role", role="editor")
    assert response.headers["Location"] == "/admin/"
    assert admin.get("/admin/users").status_code == 403


def test_a_disabled_admin_does_not_count_as_another_admin(app, people):
    second = make_user("second@example.com", "admin")
    with write_transaction():
        user_service.set_active(second, False, now=NOW, actor=audit.CLI)
    response = post(
        signed_in(app, "admin"), f"/admin/users/{people['admin'].id}/role", role="viewer"
    )
    assert response.status_code == 409


def test_set_role_service_refuses_to_remove_the_last_admin(people):
    with pytest.raises(Conflict, match="last active admin"), write_transaction():
        user_service.set_role(people["admin"], "viewer", now=NOW, actor=audit.CLI)
    assert user("admin@example.com").role == "admin"


def test_reset_password_shows_a_new_one_once_and_ends_their_sessions(app, people):
    editor = signed_in(app, "editor")
    admin = signed_in(app, "admin")
    response = post(admin, f"/admin/users/{people['editor'].id}/password")
    password = shown_secret(response)
    assert response.headers["Cache-Control"] == "no-store"
    assert editor.get("/admin/").status_code == 302
    assert sign_in(app.test_client(), "editor@example.com").status_code == 401
    fresh = app.test_client()
    assert sign_in(fresh, "editor@example.com", password=password).status_code == 302
    [entry] = audit.entries(action="user.password_reset")
    assert password not in repr(audit.as_dict(entry))


def test_resetting_ones_own_password_keeps_this_session(app, people):
    admin = signed_in(app, "admin")
    shown_secret(post(admin, f"/admin/users/{people['admin'].id}/password"))
    assert admin.get("/admin/users").status_code == 200


def test_user_actions_on_an_unknown_user_answer_404(app, people):
    admin = signed_in(app, "admin")
    assert post(admin, "/admin/users/999/disable").status_code == 404
    assert post(admin, "/admin/users/999/password").status_code == 404


def test_users_page_is_for_admins_only(app, people):
    assert signed_in(app, "editor").get("/admin/users").status_code == 403
    assert signed_in(app, "viewer").get("/admin/users").status_code == 403


# API tokens


def create_token(client, name="deploy pipeline"):
    response = post(client, "/admin/tokens", name=name)
    assert response.status_code == 200, response.get_data(as_text=True)
    return shown_secret(response)


def test_any_signed_in_user_can_create_a_token_shown_once(app, people):
    viewer = signed_in(app, "viewer")
    text = create_token(viewer)
    assert text.startswith("sp_")
    listed = viewer.get("/admin/tokens")
    assert listed.status_code == 200
    assert text not in listed.get_data(as_text=True)
    assert text[:10] in listed.get_data(as_text=True)


def test_tokens_are_stored_hashed_and_nowhere_in_plain_text(app, people):
    text = create_token(signed_in(app, "editor"))
    with db.engine.connect() as conn:
        for table in db.metadata.sorted_tables:
            for row in conn.execute(table.select()):
                assert not any(text in str(value) for value in row), table.name
    stored = db.session.scalar(sa.select(ApiToken))
    assert stored.token_hash != text and len(stored.token_hash) == 64


def test_a_token_without_a_name_is_refused(app, people):
    response = post(signed_in(app, "editor"), "/admin/tokens", name="  ")
    assert response.status_code == 422
    assert "needs a name" in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ApiToken)) == 0


def test_token_creation_and_revocation_are_audited(app, people):
    editor = signed_in(app, "editor")
    text = create_token(editor)
    token = db.session.scalar(sa.select(ApiToken))
    post(editor, f"/admin/tokens/{token.id}/revoke")
    [created] = audit.entries(action="token.created")
    [revoked] = audit.entries(action="token.revoked")
    assert created.actor == revoked.actor == "editor@example.com"
    assert text not in repr(audit.as_dict(created))


def test_a_user_cannot_revoke_someone_elses_token(app, people):
    with write_transaction():
        token, _ = tokens.create(people["admin"], "mine", now=NOW)
    response = post(signed_in(app, "editor"), f"/admin/tokens/{token.id}/revoke")
    assert response.status_code == 404
    db.session.expire_all()
    assert db.session.get(ApiToken, token.id).revoked_at is None


def test_an_admin_sees_and_can_revoke_other_users_tokens(app, people):
    with write_transaction():
        token, _ = tokens.create(people["editor"], "editor's script", now=NOW)
    admin = signed_in(app, "admin")
    assert "editor&#39;s script" in admin.get("/admin/tokens").get_data(as_text=True)
    assert post(admin, f"/admin/tokens/{token.id}/revoke").status_code == 302
    db.session.expire_all()
    assert db.session.get(ApiToken, token.id).revoked_at is not None


def test_a_token_cannot_be_created_for_a_disabled_user(people):
    with write_transaction():
        user_service.set_active(people["editor"], False, now=NOW, actor=audit.CLI)
    with pytest.raises(Conflict, match="disabled"), write_transaction():
        tokens.create(people["editor"], "x", now=NOW)


@pytest.fixture
def probe(app):
    """Two bearer-token routes, one to read and one to publish, protected like /api/v1/."""
    bp = Blueprint("probe", __name__, url_prefix="/api/probe")
    protect_blueprint(bp, api=True)

    @bp.get("/read")
    @requires(Permission.READ)
    def read():
        return {"user": current_user().email}

    @bp.post("/publish")
    @requires(Permission.PUBLISH)
    def publish():
        return {"published": True}

    app.register_blueprint(bp)
    client = app.test_client()

    def call(text: str, method: str = "GET") -> int:
        path = "/api/probe/read" if method == "GET" else "/api/probe/publish"
        return client.open(path, method=method, headers={"Authorization": f"Bearer {text}"})

    return call


def token_for(user: User, name: str = "script") -> str:
    with write_transaction():
        return tokens.create(user, name, now=utcnow())[1]


def test_a_viewers_token_can_only_read(probe, people):
    text = token_for(people["viewer"])
    assert probe(text).status_code == 200
    assert probe(text, "POST").status_code == 403


def test_an_editors_token_can_publish(probe, people):
    text = token_for(people["editor"])
    assert probe(text).json == {"user": "editor@example.com"}
    assert probe(text, "POST").status_code == 200


def test_a_token_follows_its_users_role_at_use_time(probe, people):
    text = token_for(people["editor"])
    with write_transaction():
        user_service.set_role(user("editor@example.com"), "viewer", now=NOW, actor=audit.CLI)
    assert probe(text, "POST").status_code == 403


def test_a_revoked_token_is_refused(probe, people):
    text = token_for(people["editor"])
    with write_transaction():
        tokens.revoke(db.session.scalar(sa.select(ApiToken.id)), now=utcnow())
    assert probe(text).status_code == 401


def test_a_token_revoked_in_the_admin_is_refused(app, probe, people):
    editor = signed_in(app, "editor")
    text = create_token(editor)
    assert probe(text).status_code == 200
    post(editor, f"/admin/tokens/{db.session.scalar(sa.select(ApiToken.id))}/revoke")
    assert probe(text).status_code == 401


def test_a_disabled_users_token_is_refused(probe, people):
    text = token_for(people["editor"])
    with write_transaction():
        user_service.set_active(user("editor@example.com"), False, now=NOW, actor=audit.CLI)
    assert probe(text).status_code == 401


def test_a_made_up_token_is_refused(probe, people):
    token_for(people["editor"])
    assert probe("sp_" + "A" * 43).status_code == 401


def test_token_list_shows_when_a_token_was_last_used(app, probe, people):
    editor = signed_in(app, "editor")
    text = create_token(editor)
    assert "never" in editor.get("/admin/tokens").get_data(as_text=True)
    probe(text)
    page = editor.get("/admin/tokens").get_data(as_text=True)
    assert "never" not in page.split("Your tokens")[1]
