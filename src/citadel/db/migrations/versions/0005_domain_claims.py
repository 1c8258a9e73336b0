"""domain claims

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "claimed_domains",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("organization_id", sa.String(length=32), nullable=False),
        sa.Column("domain", sa.String(length=253), nullable=False),
        sa.Column("verification_code", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("verified_domain", sa.String(length=253), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=512), nullable=True),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_claimed_domains_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_claimed_domains")),
        sa.UniqueConstraint(
            "organization_id", "domain", name=op.f("uq_claimed_domains_organization_id")
        ),
        sa.UniqueConstraint("verified_domain", name=op.f("uq_claimed_domains_verified_domain")),
    )
    with op.batch_alter_table("claimed_domains", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_claimed_domains_domain"), ["domain"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_claimed_domains_organization_id"), ["organization_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("claimed_domains", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_claimed_domains_organization_id"))
        batch_op.drop_index(batch_op.f("ix_claimed_domains_domain"))

    op.drop_table("claimed_domains")
