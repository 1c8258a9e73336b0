"""control-plane replicas: console form tokens spent, and the platform's shared secret material
(the wrapped keyring root, the CA) in the database

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "spent_form_tokens",
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("token", sa.String(64), nullable=False),
        sa.Column("spent_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "token", name=op.f("pk_spent_form_tokens")),
    )
    op.create_index(op.f("ix_spent_form_tokens_spent_at"), "spent_form_tokens", ["spent_at"])
    op.create_table(
        "platform_secrets",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("value", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_platform_secrets")),
    )


def downgrade() -> None:
    op.drop_table("platform_secrets")
    op.drop_index(op.f("ix_spent_form_tokens_spent_at"), table_name="spent_form_tokens")
    op.drop_table("spent_form_tokens")
