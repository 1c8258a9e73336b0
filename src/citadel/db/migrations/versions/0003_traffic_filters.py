"""traffic filters

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "traffic_filter_link_claims",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("organization_id", sa.String(length=32), nullable=False),
        sa.Column("region", sa.String(length=32), nullable=False),
        sa.Column("vendor", sa.String(length=16), nullable=False),
        sa.Column("link_id", sa.String(length=128), nullable=False),
        sa.Column("azure_endpoint_name", sa.String(length=128), nullable=True),
        sa.Column("azure_endpoint_guid", sa.String(length=36), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_traffic_filter_link_claims_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_traffic_filter_link_claims")),
        sa.UniqueConstraint(
            "region", "vendor", "link_id", name=op.f("uq_traffic_filter_link_claims_region")
        ),
    )
    with op.batch_alter_table("traffic_filter_link_claims", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_traffic_filter_link_claims_organization_id"),
            ["organization_id"],
            unique=False,
        )

    op.create_table(
        "traffic_filter_rulesets",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("organization_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("description", sa.String(length=1024), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("region", sa.String(length=32), nullable=False),
        sa.Column("include_by_default", sa.Boolean(), nullable=False),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_traffic_filter_rulesets_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_traffic_filter_rulesets")),
    )
    with op.batch_alter_table("traffic_filter_rulesets", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_traffic_filter_rulesets_organization_id"),
            ["organization_id"],
            unique=False,
        )

    op.create_table(
        "traffic_filter_associations",
        sa.Column("ruleset_id", sa.String(length=32), nullable=False),
        sa.Column("entity_type", sa.String(length=32), nullable=False),
        sa.Column("entity_id", sa.String(length=32), nullable=False),
        sa.Column("organization_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_traffic_filter_associations_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["ruleset_id"],
            ["traffic_filter_rulesets.id"],
            name=op.f("fk_traffic_filter_associations_ruleset_id_traffic_filter_rulesets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "ruleset_id", "entity_type", "entity_id", name=op.f("pk_traffic_filter_associations")
        ),
    )
    with op.batch_alter_table("traffic_filter_associations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_traffic_filter_associations_entity_id"), ["entity_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_traffic_filter_associations_organization_id"),
            ["organization_id"],
            unique=False,
        )

    op.create_table(
        "traffic_filter_ruleset_versions",
        sa.Column("ruleset_id", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("actor_type", sa.String(length=16), nullable=False),
        sa.Column("actor_id", sa.String(length=64), nullable=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["ruleset_id"],
            ["traffic_filter_rulesets.id"],
            name=op.f("fk_traffic_filter_ruleset_versions_ruleset_id_traffic_filter_rulesets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "ruleset_id", "version", name=op.f("pk_traffic_filter_ruleset_versions")
        ),
    )


def downgrade() -> None:
    op.drop_table("traffic_filter_ruleset_versions")
    with op.batch_alter_table("traffic_filter_associations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_traffic_filter_associations_organization_id"))
        batch_op.drop_index(batch_op.f("ix_traffic_filter_associations_entity_id"))

    op.drop_table("traffic_filter_associations")
    with op.batch_alter_table("traffic_filter_rulesets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_traffic_filter_rulesets_organization_id"))

    op.drop_table("traffic_filter_rulesets")
    with op.batch_alter_table("traffic_filter_link_claims", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_traffic_filter_link_claims_organization_id"))

    op.drop_table("traffic_filter_link_claims")
