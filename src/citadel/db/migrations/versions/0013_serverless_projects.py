"""serverless projects: the projects table, the kind of a runtime instance, serverless traffic filters

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deployments") as batch:
        batch.add_column(
            sa.Column("kind", sa.String(16), nullable=False, server_default="deployment")
        )
    with op.batch_alter_table("traffic_filter_rulesets") as batch:
        batch.add_column(sa.Column("api", sa.String(16), nullable=False, server_default="hosted"))
    op.create_table(
        "projects",
        sa.Column(
            "id",
            sa.String(32),
            sa.ForeignKey(
                "deployments.id", ondelete="CASCADE", name=op.f("fk_projects_id_deployments")
            ),
            nullable=False,
        ),
        sa.Column(
            "organization_id",
            sa.String(32),
            sa.ForeignKey(
                "organizations.id",
                ondelete="CASCADE",
                name=op.f("fk_projects_organization_id_organizations"),
            ),
            nullable=False,
        ),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("alias", sa.String(64), nullable=False),
        sa.Column("region_id", sa.String(32), nullable=False),
        sa.Column("optimized_for", sa.String(32), nullable=True),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=True),
        sa.Column("phase", sa.String(16), nullable=False),
        sa.Column("phase_changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("suspended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("suspended_reason", sa.String(255), nullable=True),
        sa.Column("last_request_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("idle_stopped", sa.Boolean(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_projects")),
        sa.UniqueConstraint("region_id", "alias", name=op.f("uq_projects_region_id")),
    )
    op.create_index(op.f("ix_projects_organization_id"), "projects", ["organization_id"])


def downgrade() -> None:
    op.drop_table("projects")
    with op.batch_alter_table("traffic_filter_rulesets") as batch:
        batch.drop_column("api")
    with op.batch_alter_table("deployments") as batch:
        batch.drop_column("kind")
