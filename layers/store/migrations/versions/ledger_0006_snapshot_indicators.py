"""ledger: each snapshot's county indicator rows (value, target, status per indicator).

An indicator judged against its own past (农村卫生厕所普及率 稳步提高, S 001 指标表 11)
needs the value the previous snapshot had: ``snapshot_indicators`` keeps every county row
of the indicator table as the snapshot computed it (append-only, like every ledger table).
Snapshots recorded before this revision have none (the baseline target applies).

Revision ID: ledger_0006
Revises: ledger_0005
"""

import sqlalchemy as sa
from alembic import op

revision = "ledger_0006"
down_revision = "ledger_0005"
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
    op.create_table(
        "snapshot_indicators",
        sa.Column("snapshot_id", sa.Integer, sa.ForeignKey("snapshots.id"), primary_key=True),
        sa.Column("code", sa.String(64), primary_key=True),
        sa.Column("indicator", sa.Text, nullable=False),
        sa.Column("value", sa.Float, nullable=True),  # NULL: 无数据
        sa.Column("unit", sa.Text, nullable=False),
        sa.Column("target", sa.Float, nullable=True),
        sa.Column("comparison", sa.String(8), nullable=False),
        sa.Column("status", sa.Text, nullable=False),
    )
    append_only("snapshot_indicators")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"GRANT SELECT ON snapshot_indicators TO {EVERYONE}")
        op.execute("GRANT INSERT ON snapshot_indicators TO gapmap_admin")
        op.execute("ALTER TABLE snapshot_indicators ENABLE ROW LEVEL SECURITY")
        op.execute(
            "CREATE POLICY snapshot_indicators_read ON snapshot_indicators FOR SELECT "
            f"TO {EVERYONE} USING (true)"
        )
        op.execute(
            "CREATE POLICY snapshot_indicators_admin ON snapshot_indicators FOR INSERT "
            "TO gapmap_admin WITH CHECK (true)"
        )


def downgrade() -> None:
    """Refuse: the ledger is never rolled back."""
    raise NotImplementedError("the ledger is append-only: restore a backup instead")
