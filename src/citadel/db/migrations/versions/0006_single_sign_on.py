"""single sign-on

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sso_configurations",
        sa.Column("organization_id", sa.String(length=32), nullable=False),
        sa.Column("login_prefix", sa.String(length=63), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("idp_entity_id", sa.String(length=1024), nullable=False),
        sa.Column("idp_sso_url", sa.String(length=2048), nullable=False),
        sa.Column("idp_certificate", sa.Text(), nullable=False),
        sa.Column("sp_certificate", sa.Text(), nullable=False),
        sa.Column("sp_key_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_sso_configurations_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("organization_id", name=op.f("pk_sso_configurations")),
        sa.UniqueConstraint("login_prefix", name=op.f("uq_sso_configurations_login_prefix")),
    )
    op.create_table(
        "sso_identities",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("organization_id", sa.String(length=32), nullable=False),
        sa.Column("idp_entity_id", sa.String(length=1024), nullable=False),
        sa.Column("name_id", sa.String(length=1024), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("groups", sa.JSON(), nullable=True),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_sign_in_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_sso_identities_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_sso_identities_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sso_identities")),
        sa.UniqueConstraint(
            "organization_id",
            "idp_entity_id",
            "name_id",
            name=op.f("uq_sso_identities_organization_id"),
        ),
    )
    with op.batch_alter_table("sso_identities", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sso_identities_organization_id"), ["organization_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_sso_identities_user_id"), ["user_id"], unique=False)

    op.create_table(
        "sso_login_requests",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("organization_id", sa.String(length=32), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("return_to", sa.String(length=512), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_sso_login_requests_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sso_login_requests")),
    )
    with op.batch_alter_table("sso_login_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sso_login_requests_expires_at"), ["expires_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_sso_login_requests_organization_id"), ["organization_id"], unique=False
        )

    op.create_table(
        "sso_role_mappings",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("organization_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("match", sa.String(length=8), nullable=False),
        sa.Column("groups", sa.JSON(), nullable=False),
        sa.Column("role_assignments", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_sso_role_mappings_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sso_role_mappings")),
        sa.UniqueConstraint(
            "organization_id", "name", name=op.f("uq_sso_role_mappings_organization_id")
        ),
    )
    with op.batch_alter_table("sso_role_mappings", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sso_role_mappings_organization_id"), ["organization_id"], unique=False
        )

    op.create_table(
        "sso_seen_assertions",
        sa.Column("organization_id", sa.String(length=32), nullable=False),
        sa.Column("assertion_id", sa.String(length=256), nullable=False),
        sa.Column("forget_after", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_sso_seen_assertions_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "organization_id", "assertion_id", name=op.f("pk_sso_seen_assertions")
        ),
    )
    with op.batch_alter_table("sso_seen_assertions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sso_seen_assertions_forget_after"), ["forget_after"], unique=False
        )

    with op.batch_alter_table("user_sessions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("method", sa.String(length=16), nullable=False, server_default="password")
        )
        batch_op.add_column(sa.Column("sso_organization_id", sa.String(length=32), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_user_sessions_sso_organization_id_organizations"),
            "organizations",
            ["sso_organization_id"],
            ["id"],
            ondelete="CASCADE",
        )


def downgrade() -> None:
    with op.batch_alter_table("user_sessions", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_user_sessions_sso_organization_id_organizations"), type_="foreignkey"
        )
        batch_op.drop_column("sso_organization_id")
        batch_op.drop_column("method")

    with op.batch_alter_table("sso_seen_assertions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sso_seen_assertions_forget_after"))

    op.drop_table("sso_seen_assertions")
    with op.batch_alter_table("sso_role_mappings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sso_role_mappings_organization_id"))

    op.drop_table("sso_role_mappings")
    with op.batch_alter_table("sso_login_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sso_login_requests_organization_id"))
        batch_op.drop_index(batch_op.f("ix_sso_login_requests_expires_at"))

    op.drop_table("sso_login_requests")
    with op.batch_alter_table("sso_identities", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sso_identities_user_id"))
        batch_op.drop_index(batch_op.f("ix_sso_identities_organization_id"))

    op.drop_table("sso_identities")
    op.drop_table("sso_configurations")
