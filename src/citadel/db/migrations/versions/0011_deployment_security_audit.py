"""deployment security audit: deployment security audit events shipped from the nodes, and per-deployment audit settings

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deployment_audit_events",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column(
            "deployment_id",
            sa.String(32),
            sa.ForeignKey("deployments.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "organization_id",
            sa.String(32),
            sa.ForeignKey("organizations.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("principal", sa.String(255), nullable=True),
        sa.Column("realm", sa.String(128), nullable=True),
        sa.Column("origin_address", sa.String(64), nullable=True),
        sa.Column("request_id", sa.String(64), nullable=True),
        sa.Column("indices", sa.String(2048), nullable=True),
        sa.Column("event", sa.JSON(), nullable=False),
    )
    op.create_index(
        "ix_deployment_audit_events_deployment_at",
        "deployment_audit_events",
        ["deployment_id", "at", "id"],
    )
    op.create_index("ix_deployment_audit_events_at", "deployment_audit_events", ["at"])
    op.create_table(
        "deployment_audit_settings",
        sa.Column(
            "deployment_id",
            sa.String(32),
            sa.ForeignKey("deployments.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "organization_id",
            sa.String(32),
            sa.ForeignKey("organizations.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("include", sa.JSON(), nullable=False),
        sa.Column("exclude", sa.JSON(), nullable=False),
        sa.Column("ignore_filters", sa.JSON(), nullable=False),
        sa.Column("dropped_events", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_deployment_audit_settings_organization_id",
        "deployment_audit_settings",
        ["organization_id"],
    )


def downgrade() -> None:
    op.drop_table("deployment_audit_settings")
    op.drop_table("deployment_audit_events")
