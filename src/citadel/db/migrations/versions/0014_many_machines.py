"""many machines: allocators and placement, snapshots, restores, leases, shared recent clients,
join tokens

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "allocators",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("address", sa.String(255), nullable=False),
        sa.Column("zone", sa.String(64), nullable=False),
        sa.Column("capacity_mb", sa.Integer(), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_allocators")),
    )
    with op.batch_alter_table("deployments") as batch:
        batch.add_column(sa.Column("allocator_id", sa.String(64), nullable=True))
        batch.add_column(sa.Column("node_port", sa.Integer(), nullable=True))
        batch.add_column(
            sa.Column("snapshot_count", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("snapshot_latest_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("snapshot_latest_name", sa.String(255), nullable=True))
        batch.add_column(sa.Column("snapshot_healthy", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("restore_source_id", sa.String(32), nullable=True))
        batch.add_column(sa.Column("restore_snapshot", sa.String(255), nullable=True))
        batch.add_column(
            sa.Column(
                "restore_include_security", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )
        batch.add_column(sa.Column("restored_from_name", sa.String(255), nullable=True))
        batch.add_column(sa.Column("restored_from_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("shred_after", sa.DateTime(timezone=True), nullable=True))
        batch.create_index(batch.f("ix_deployments_allocator_id"), ["allocator_id"])
    op.create_table(
        "leases",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("holder", sa.String(128), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_leases")),
    )
    op.create_table(
        "recent_clients",
        sa.Column("deployment_id", sa.String(32), nullable=False),
        sa.Column("client_ip", sa.String(64), nullable=False),
        sa.Column("endpoint_id", sa.String(160), nullable=False),  # "": no endpoint
        sa.Column("last_seen", sa.Float(), nullable=False),
        sa.Column("connected", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint(
            "deployment_id", "client_ip", "endpoint_id", name=op.f("pk_recent_clients")
        ),
    )
    op.create_index(op.f("ix_recent_clients_last_seen"), "recent_clients", ["last_seen"])
    op.create_table(
        "join_tokens",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("used_by", sa.String(255), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_join_tokens")),
    )


def downgrade() -> None:
    op.drop_table("join_tokens")
    op.drop_table("recent_clients")
    op.drop_table("leases")
    with op.batch_alter_table("deployments") as batch:
        batch.drop_index(batch.f("ix_deployments_allocator_id"))
        for column in (
            "shred_after",
            "restored_from_at",
            "restored_from_name",
            "restore_include_security",
            "restore_snapshot",
            "restore_source_id",
            "snapshot_healthy",
            "snapshot_latest_name",
            "snapshot_latest_at",
            "snapshot_count",
            "node_port",
            "allocator_id",
        ):
            batch.drop_column(column)
    op.drop_table("allocators")
