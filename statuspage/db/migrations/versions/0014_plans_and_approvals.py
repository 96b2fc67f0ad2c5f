"""communication plans and approvals: plan versions, the plan an incident follows, drafts for approval

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06

Plans are versioned like messages (`plans`, `plan_versions`). An incident records the plan it
follows. A draft can now be a PM's update waiting for approval (source "pm", state "pending"),
holding the exact text, the author and the revision; `draft_approvals` holds each approver's yes.
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_DRAFT_COLUMNS = (
    ("author_id", sa.Integer(), None),
    ("kind", sa.String(16), "incident"),
    ("title", sa.Text(), None),
    ("body", sa.Text(), None),
    ("notify", sa.Boolean(), sa.true()),
    ("scheduled_for", sa.DateTime(), None),
    ("scheduled_until", sa.DateTime(), None),
    ("seen_update_id", sa.Integer(), None),
    ("revision", sa.Integer(), "1"),
    ("idempotency_key", sa.String(100), None),
    ("plan_slug", sa.String(100), None),
    ("plan_version", sa.Integer(), None),
    ("approvals_needed", sa.Integer(), "0"),
    ("requested_at", sa.DateTime(), None),
    ("escalated_at", sa.DateTime(), None),
    ("comment", sa.Text(), ""),
)


def upgrade() -> None:
    op.create_table(
        "plans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(100), nullable=False),
        sa.Column("current_version", sa.Integer(), nullable=False),
        sa.Column("archived_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plans")),
        sa.UniqueConstraint("slug", name=op.f("uq_plans_slug")),
    )
    op.create_table(
        "plan_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["plans.id"],
            name=op.f("fk_plan_versions_plan_id_plans"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["users.id"],
            name=op.f("fk_plan_versions_author_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_versions")),
        sa.UniqueConstraint("plan_id", "number", name="uq_plan_versions_number"),
    )
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(sa.Column("plan_slug", sa.String(100), nullable=True))
        batch.add_column(sa.Column("plan_version", sa.Integer(), nullable=True))
    with op.batch_alter_table("drafts") as batch:
        for name, type_, default in _DRAFT_COLUMNS:
            batch.add_column(
                sa.Column(
                    name,
                    type_,
                    nullable=default is None,
                    server_default=default,
                )
            )
        batch.create_foreign_key(
            op.f("fk_drafts_author_id_users"), "users", ["author_id"], ["id"], ondelete="SET NULL"
        )
        batch.create_unique_constraint(op.f("uq_drafts_idempotency_key"), ["idempotency_key"])
    # The server defaults only fill the existing rows; the model sets every column from now on.
    with op.batch_alter_table("drafts") as batch:
        for name, type_, default in _DRAFT_COLUMNS:
            if default is not None:
                batch.alter_column(name, existing_type=type_, server_default=None)
    op.create_table(
        "draft_approvals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("draft_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["draft_id"],
            ["drafts.id"],
            name=op.f("fk_draft_approvals_draft_id_drafts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_draft_approvals_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_draft_approvals")),
        sa.UniqueConstraint("draft_id", "user_id", "revision", name="uq_draft_approvals_user"),
    )


def downgrade() -> None:
    op.drop_table("draft_approvals")
    # Drafts for approval have no place in the older schema.
    op.execute("DELETE FROM drafts WHERE source = 'pm'")
    with op.batch_alter_table("drafts") as batch:
        batch.drop_constraint("uq_drafts_idempotency_key", type_="unique")
        batch.drop_constraint("fk_drafts_author_id_users", type_="foreignkey")
        for name, _type, _default in reversed(_DRAFT_COLUMNS):
            batch.drop_column(name)
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("plan_version")
        batch.drop_column("plan_slug")
    op.drop_table("plan_versions")
    op.drop_table("plans")
