"""Datasets: every uploaded county dataset as a version, and which version the county accepted.

Revision ID: datasets_0001
Revises:
Create Date: 2026-12-01

Tables (see :mod:`layers.store.datasets`):

- ``dataset_versions`` — one row per upload: content hash, name, uploader, time, note,
  provenance and the problems found when it was read.
- ``dataset_layers`` — one row per layer of a version: its table in the ``gapmap_datasets``
  schema, SHA-256, row count, column types, the problems found when it was read.
- ``dataset_files`` — the files that complete a version: the EPANET model (``.inp`` text)
  and the DEM (GeoTIFF bytes), each with its SHA-256.
- ``dataset_acceptances`` — append-only: an administrator made a version the county's
  dataset; the latest acceptance wins.

On PostgreSQL the layer tables live in schema ``gapmap_datasets`` (PostGIS geometry,
EPSG:4326, GiST index), and every bookkeeping table refuses UPDATE, DELETE and TRUNCATE
(trigger ``gapmap_datasets_append_only``): nothing is ever overwritten or deleted.
"""

import sqlalchemy as sa
from alembic import op

revision = "datasets_0001"
down_revision = None
branch_labels = ("datasets",)
depends_on = None

TS = sa.DateTime(timezone=True)
BOOKKEEPING = ("dataset_versions", "dataset_layers", "dataset_files", "dataset_acceptances")
SCHEMA = "gapmap_datasets"

APPEND_ONLY = """
CREATE OR REPLACE FUNCTION gapmap_datasets_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'GapMap dataset versions are append-only: % on % refused', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege',
          HINT = '数据集版本只能追加，不能修改或删除；请上传新版本';
END
$$
"""


def upgrade() -> None:
    """Create the dataset tables (and, on PostgreSQL, the schema and triggers)."""
    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    if postgres:
        # a no-op when server.sh (as the superuser) created it already; PostGIS is not a
        # trusted extension, so the owner role alone could not
        op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        op.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    op.create_table(
        "dataset_versions",
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(255), nullable=False, server_default=""),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("uploaded_by", sa.String(64), nullable=False),
        sa.Column("uploaded_by_label", sa.String(255), nullable=False, server_default=""),
        sa.Column("uploaded_at", TS, nullable=False, server_default=sa.func.now()),
        sa.Column("note", sa.Text, nullable=False, server_default=""),
        sa.Column("provenance", sa.Text, nullable=False, server_default="{}"),  # JSON
        sa.Column("problems", sa.Text, nullable=False, server_default="[]"),  # JSON
    )
    op.create_index("dataset_versions_hash", "dataset_versions", ["content_hash"])
    op.create_table(
        "dataset_layers",
        sa.Column(
            "version", sa.Integer, sa.ForeignKey("dataset_versions.version"), primary_key=True
        ),
        sa.Column("layer", sa.String(64), primary_key=True),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("table_name", sa.String(63), nullable=False, unique=True),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("row_count", sa.Integer, nullable=False),
        sa.Column("columns", sa.Text, nullable=False),  # JSON [[name, dtype], ...]
        sa.Column("source_file", sa.String(1024), nullable=False, server_default=""),
        sa.Column("problems", sa.Text, nullable=False, server_default="[]"),  # JSON
    )
    op.create_table(
        "dataset_files",
        sa.Column(
            "version", sa.Integer, sa.ForeignKey("dataset_versions.version"), primary_key=True
        ),
        sa.Column("kind", sa.String(16), primary_key=True),  # water_model | dem
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),  # of the bytes stored
        sa.Column("size_bytes", sa.BigInteger, nullable=False),
        sa.Column("meta", sa.Text, nullable=False, server_default="{}"),  # JSON
        sa.Column("content", sa.LargeBinary, nullable=False),  # bytea on PostgreSQL
        sa.CheckConstraint("kind IN ('water_model', 'dem')", name="dataset_files_kind_known"),
    )
    op.create_table(
        "dataset_acceptances",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("version", sa.Integer, sa.ForeignKey("dataset_versions.version"), nullable=False),
        sa.Column("accepted_by", sa.String(64), nullable=False),
        sa.Column("accepted_by_label", sa.String(255), nullable=False, server_default=""),
        sa.Column("accepted_at", TS, nullable=False, server_default=sa.func.now()),
        sa.Column("note", sa.Text, nullable=False, server_default=""),
    )
    if postgres:
        op.execute(APPEND_ONLY)
        for table in BOOKKEEPING:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION gapmap_datasets_append_only()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION gapmap_datasets_append_only()"
            )


def downgrade() -> None:
    """Drop the dataset tables (development only: versions are never deleted)."""
    bind = op.get_bind()
    for table in reversed(BOOKKEEPING):
        op.drop_table(table)
    if bind.dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS gapmap_datasets_append_only()")
