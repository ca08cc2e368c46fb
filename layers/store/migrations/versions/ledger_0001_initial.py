"""ledger: the schema of GapMap's first ledger (schema_version 1), append-only by triggers.

A ledger file made before Alembic has exactly these tables; on open it is stamped at this
revision and upgraded from here (see :class:`layers.store.ledger.LedgerDB`).

Revision ID: ledger_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "ledger_0001"
down_revision = None
branch_labels = ("ledger",)
depends_on = None

FIELDS = ("measure", "responsible_unit", "deadline", "project", "notes", "evidence", "reason",
          "closed_on")  # fmt: skip
ITEM_TEXT = ("indicator", "unit_kind", "unit_code", "township_code", "township_name",
             "admin_village_code", "admin_village_name", "village_code", "village_name",
             "problem_type", "description", "measure", "cause", "households", "population",
             "cost_wan", "lon", "lat")  # fmt: skip
NUMERIC = ("households", "population", "cost_wan", "lon", "lat")
TABLES = ("ledger_meta", "snapshots", "items", "snapshot_items", "events", "rejected")


def append_only(table: str) -> None:
    """Refuse UPDATE and DELETE (and TRUNCATE on PostgreSQL) on ``table``, in the database."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION gapmap_append_only()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION gapmap_append_only()"
        )
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER IF NOT EXISTS {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                "BEGIN SELECT RAISE(ABORT, 'the GapMap ledger is append-only'); END"
            )


def upgrade() -> None:
    """Apply this revision."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE OR REPLACE FUNCTION gapmap_append_only() RETURNS trigger "
            "LANGUAGE plpgsql AS $$ BEGIN "
            "RAISE EXCEPTION 'the GapMap ledger is append-only (% on %)', TG_OP, TG_TABLE_NAME; "
            "END $$"
        )
    op.create_table(
        "ledger_meta",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "snapshots",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("dataset_hash", sa.String(128), nullable=False),
        sa.Column("settings_profile", sa.String(200), nullable=False),
        sa.Column("settings_json", sa.Text, nullable=False),
        sa.Column("n_items", sa.Integer, nullable=False),
        sa.Column("note", sa.Text, nullable=False),
    )
    op.create_table(
        "items",
        sa.Column("item_key", sa.String(300), primary_key=True),
        sa.Column("indicator", sa.String(64), nullable=False),
        sa.Column("unit_kind", sa.String(64), nullable=False),
        sa.Column("unit_code", sa.String(200), nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("first_snapshot_id", sa.Integer, sa.ForeignKey("snapshots.id"), nullable=False),
    )
    op.create_table(
        "snapshot_items",
        sa.Column("snapshot_id", sa.Integer, sa.ForeignKey("snapshots.id"), primary_key=True),
        sa.Column("item_key", sa.String(300), sa.ForeignKey("items.item_key"), primary_key=True),
        *[sa.Column(c, sa.Float if c in NUMERIC else sa.Text, nullable=True) for c in ITEM_TEXT],
    )
    op.create_index("ix_snapshot_items_key", "snapshot_items", ["item_key", "snapshot_id"])
    op.create_table(
        "events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("item_key", sa.String(300), sa.ForeignKey("items.item_key"), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("at", sa.String(40), nullable=False),
        sa.Column("by_user", sa.String(200), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("from_state", sa.String(32), nullable=True),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("snapshot_id", sa.Integer, sa.ForeignKey("snapshots.id"), nullable=True),
        *[
            sa.Column(f, sa.String(10) if f in ("deadline", "closed_on") else sa.Text)
            for f in FIELDS
        ],
        sa.Column("reopen_count", sa.Integer, nullable=False),
        sa.Column("changes", sa.Text, nullable=False),
        sa.UniqueConstraint("item_key", "version", name="uq_events_item_version"),
        sa.CheckConstraint("version >= 1", name="ck_events_version"),
    )
    op.create_index("ix_events_snapshot", "events", ["snapshot_id", "action"])
    op.create_table(
        "rejected",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("item_key", sa.String(300), sa.ForeignKey("items.item_key"), nullable=False),
        sa.Column("at", sa.String(40), nullable=False),
        sa.Column("by_user", sa.String(200), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("expected_version", sa.Integer, nullable=False),
        sa.Column("actual_version", sa.Integer, nullable=True),
        sa.Column("to_state", sa.String(32), nullable=True),
        sa.Column("changes", sa.Text, nullable=False),
    )
    for table in TABLES:
        append_only(table)
    op.execute("INSERT INTO ledger_meta (name, value) VALUES ('schema_version', '1')")


def downgrade() -> None:
    """Refuse: the ledger is never rolled back."""
    raise NotImplementedError("the ledger is append-only: restore a backup instead")
