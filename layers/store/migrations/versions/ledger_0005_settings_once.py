"""ledger: a snapshot's settings stored once per distinct content; one unused index dropped.

Each snapshot repeated the whole settings JSON (about 4.7 kB for the default profile: a
quarter of the ledger after 100 snapshots of the demo). New snapshots keep
``settings_json = ''`` and a ``settings_hash`` into ``settings_texts`` (append-only, like
every ledger table); old snapshots keep their JSON (the ledger never rewrites a row).
``ix_snapshot_items_text`` served no query (texts are looked up by their primary key).

Revision ID: ledger_0005
Revises: ledger_0004
"""

import sqlalchemy as sa
from alembic import op

revision = "ledger_0005"
down_revision = "ledger_0004"
branch_labels = None
depends_on = None

EVERYONE = "gapmap_admin, gapmap_township, gapmap_department, gapmap_verifier, gapmap_viewer"


def append_only(table: str) -> None:
    """Refuse UPDATE and DELETE (and TRUNCATE on PostgreSQL) on ``table`` (as ledger_0001)."""
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
    op.drop_index("ix_snapshot_items_text", table_name="snapshot_items")
    op.create_table(
        "settings_texts",
        sa.Column("settings_hash", sa.String(64), primary_key=True),
        sa.Column("settings_json", sa.Text, nullable=False),
    )
    append_only("settings_texts")
    op.add_column("snapshots", sa.Column("settings_hash", sa.String(64), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"GRANT SELECT ON settings_texts TO {EVERYONE}")
        op.execute("GRANT INSERT ON settings_texts TO gapmap_admin")
        op.execute("ALTER TABLE settings_texts ENABLE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY settings_texts_read ON settings_texts FOR SELECT TO {EVERYONE} "
            "USING (true)"
        )
        op.execute(
            "CREATE POLICY settings_texts_admin ON settings_texts FOR INSERT TO gapmap_admin "
            "WITH CHECK (true)"
        )


def downgrade() -> None:
    """Refuse: the ledger is never rolled back."""
    raise NotImplementedError("the ledger is append-only: restore a backup instead")
