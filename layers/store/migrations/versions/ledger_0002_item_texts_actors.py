"""ledger: item texts stored once, who acted (label), refusals, items' township.

- ``item_texts``: the problem data of an item as found, once per distinct content
  (``text_hash``); ``snapshot_items`` becomes (snapshot, item, text_hash). The old rows are
  moved over, nothing is lost.
- ``events.by_label``/``rejected.by_label``: 王明（乡镇填报员） beside the username.
- ``refusals``: writes refused by the role rules (audit).
- ``items.township_code``: the township of each item (for scopes and row-level security),
  backfilled from its latest snapshot row.

Revision ID: ledger_0002
Revises: ledger_0001
"""

import hashlib
import json

import sqlalchemy as sa
from alembic import op

revision = "ledger_0002"
down_revision = "ledger_0001"
branch_labels = None
depends_on = None

ITEM_TEXT = ("indicator", "unit_kind", "unit_code", "township_code", "township_name",
             "admin_village_code", "admin_village_name", "village_code", "village_name",
             "problem_type", "description", "measure", "cause", "households", "population",
             "cost_wan", "lon", "lat")  # fmt: skip
NUMERIC = ("households", "population", "cost_wan", "lon", "lat")


def text_hash(row):
    """SHA-256 of the item text values (as :func:`layers.store.ledger.text_hash`)."""
    values = []
    for c in ITEM_TEXT:
        v = row.get(c)
        if v is None or (isinstance(v, float) and v != v):
            v = None
        elif c in NUMERIC:
            v = float(v)
        else:
            v = str(v)
        values.append(v)
    return hashlib.sha256(json.dumps(values, ensure_ascii=False).encode()).hexdigest()


def _pg() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def drop_append_only(table: str) -> None:
    """Lift the append-only triggers of ``table`` (inside this migration only)."""
    if _pg():
        op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
    else:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")


def append_only(table: str) -> None:
    """Refuse UPDATE and DELETE (and TRUNCATE on PostgreSQL) on ``table``."""
    if _pg():
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
    conn = op.get_bind()
    texts = op.create_table(
        "item_texts",
        sa.Column("text_hash", sa.String(64), primary_key=True),
        *[sa.Column(c, sa.Float if c in NUMERIC else sa.Text, nullable=True) for c in ITEM_TEXT],
    )
    refs = op.create_table(
        "snapshot_items_v2",
        sa.Column("snapshot_id", sa.Integer, sa.ForeignKey("snapshots.id"), primary_key=True),
        sa.Column("item_key", sa.String(300), sa.ForeignKey("items.item_key"), primary_key=True),
        sa.Column(
            "text_hash", sa.String(64), sa.ForeignKey("item_texts.text_hash"), nullable=False
        ),
    )
    old = sa.table(
        "snapshot_items",
        sa.column("snapshot_id"),
        sa.column("item_key"),
        *[sa.column(c) for c in ITEM_TEXT],
    )
    seen: set[str] = set()
    ids = [r[0] for r in conn.execute(sa.text("SELECT id FROM snapshots ORDER BY id"))]
    for sid in ids:
        rows = conn.execute(sa.select(old).where(old.c.snapshot_id == sid)).mappings().all()
        fresh, links = [], []
        for r in rows:
            h = text_hash(r)
            if h not in seen:
                seen.add(h)
                fresh.append({"text_hash": h, **{c: r[c] for c in ITEM_TEXT}})
            links.append({"snapshot_id": sid, "item_key": r["item_key"], "text_hash": h})
        if fresh:
            conn.execute(texts.insert(), fresh)
        if links:
            conn.execute(refs.insert(), links)
    op.drop_table("snapshot_items")  # its triggers and index go with it
    op.rename_table("snapshot_items_v2", "snapshot_items")
    op.create_index("ix_snapshot_items_key", "snapshot_items", ["item_key", "snapshot_id"])
    op.create_index("ix_snapshot_items_text", "snapshot_items", ["text_hash"])
    append_only("snapshot_items")
    append_only("item_texts")

    op.add_column("events", sa.Column("by_label", sa.Text, nullable=True))
    op.add_column("rejected", sa.Column("by_label", sa.Text, nullable=True))
    op.create_table(
        "refusals",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.String(40), nullable=False),
        sa.Column("by_user", sa.String(200), nullable=False),
        sa.Column("by_label", sa.Text, nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("item_key", sa.String(300), nullable=True),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("to_state", sa.String(32), nullable=True),
        sa.Column("changes", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
    )
    op.create_index("ix_refusals_item", "refusals", ["item_key"])
    append_only("refusals")

    op.add_column("items", sa.Column("township_code", sa.Text, nullable=True))
    drop_append_only("items")
    op.execute(
        "UPDATE items SET township_code = (SELECT t.township_code FROM snapshot_items s "
        "JOIN item_texts t ON t.text_hash = s.text_hash WHERE s.item_key = items.item_key "
        "ORDER BY s.snapshot_id DESC LIMIT 1)"
    )
    append_only("items")


def downgrade() -> None:
    """Refuse: the ledger is never rolled back."""
    raise NotImplementedError("the ledger is append-only: restore a backup instead")
