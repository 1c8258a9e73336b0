"""deployment realms: customer SAML and OIDC realms configured per deployment

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deployment_realms",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("organization_id", sa.String(length=32), nullable=False),
        sa.Column("deployment_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=8), nullable=False),
        sa.Column("order", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("idp_metadata", sa.Text(), nullable=False),
        sa.Column("idp_metadata_fetched_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("client_secret_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_deployment_realms_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployments.id"],
            name=op.f("fk_deployment_realms_deployment_id_deployments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployment_realms")),
        sa.UniqueConstraint(
            "deployment_id", "name", name=op.f("uq_deployment_realms_deployment_id")
        ),
    )
    with op.batch_alter_table("deployment_realms", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_deployment_realms_organization_id"), ["organization_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_deployment_realms_deployment_id"), ["deployment_id"], unique=False
        )


def downgrade() -> None:
    op.drop_table("deployment_realms")
