"""ledger: PostgreSQL row-level security by role and scope (no-op on SQLite).

Group roles ``gapmap_admin``, ``gapmap_township``, ``gapmap_department``,
``gapmap_verifier``, ``gapmap_viewer`` (cluster-wide; created when missing, so many
databases of one server share them). Each user gets a NOLOGIN role ``gapmap_u_<hash>``,
member of its group, registered in ``ledger_actors`` (written by the schema owner only:
:meth:`geo.ledger.Ledger.register_actor`). Every write of the ledger runs
``SET LOCAL ROLE <the user's role>``, and the policies below decide:

- SELECT: every gapmap role, every row.
- events INSERT: ``by_user`` is the acting user (looked up by ``current_user`` in
  ``ledger_actors``, in the SECURITY DEFINER function ``gapmap_event_allowed``), the item
  is within its scope (township / department indicators), and the (from_state, state) pair
  is one its role may make; admins any.
- snapshots, items, item_texts, snapshot_items INSERT: ``gapmap_admin`` only.
- rejected, refusals INSERT: any gapmap role, as itself.

Revision ID: ledger_0003
Revises: ledger_0002
"""

from alembic import op

revision = "ledger_0003"
down_revision = "ledger_0002"
branch_labels = None
depends_on = None

GROUPS = ("gapmap_admin", "gapmap_township", "gapmap_department", "gapmap_verifier",
          "gapmap_viewer")  # fmt: skip
WRITERS = "gapmap_admin, gapmap_township, gapmap_department, gapmap_verifier"
EVERYONE = ", ".join(GROUPS)
TABLES = ("ledger_meta", "snapshots", "items", "item_texts", "snapshot_items", "events",
          "rejected", "refusals", "ledger_actors")  # fmt: skip


def upgrade() -> None:
    """Apply this revision."""
    if op.get_bind().dialect.name != "postgresql":
        return
    for group in GROUPS:
        # roles belong to the whole cluster: another database (or a test running in
        # parallel) may have made it already
        op.execute(
            "DO $$ BEGIN "
            f"IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{group}') THEN "
            f"CREATE ROLE {group} NOLOGIN; END IF; "
            "EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
        )
    op.execute(
        "CREATE TABLE ledger_actors ("
        " db_role varchar(63) PRIMARY KEY,"
        " username varchar(200) NOT NULL UNIQUE,"
        " role varchar(32) NOT NULL CHECK (role IN "
        "  ('admin', 'township', 'department', 'verifier', 'viewer')),"
        " townships text[] NOT NULL DEFAULT '{}',"
        " indicators text[] NOT NULL DEFAULT '{}')"
    )
    op.execute(
        "CREATE OR REPLACE FUNCTION gapmap_is_self(who name, by_user text) RETURNS boolean "
        "LANGUAGE sql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$ "
        "SELECT EXISTS (SELECT 1 FROM ledger_actors a WHERE a.db_role = $1 AND a.username = $2)"
        " $$"
    )
    op.execute(
        "CREATE OR REPLACE FUNCTION gapmap_event_allowed("
        "who name, key text, by_user text, from_state text, to_state text, act text) "
        "RETURNS boolean LANGUAGE sql STABLE SECURITY DEFINER SET search_path FROM CURRENT "
        "AS $$ SELECT EXISTS ("
        " SELECT 1 FROM ledger_actors a LEFT JOIN items i ON i.item_key = $2"
        " WHERE a.db_role = $1 AND a.username = $3 AND ("
        "  a.role = 'admin'"
        "  OR (a.role IN ('township', 'department')"
        "   AND ((a.role = 'township' AND i.township_code = ANY (a.townships))"
        "     OR (a.role = 'department' AND i.indicator = ANY (a.indicators)))"
        "   AND ((($6 = 'update') AND $4 = $5)"
        "     OR ($6 = 'transition' AND (($4 = 'open' AND $5 = 'in_progress')"
        "       OR ($4 = 'in_progress' AND $5 = 'awaiting_acceptance')))))"
        "  OR (a.role = 'verifier' AND $6 = 'transition' AND $4 = 'awaiting_acceptance'"
        "   AND $5 IN ('closed', 'in_progress'))"
        " )) $$"
    )
    for fn in ("gapmap_is_self(name, text)",
               "gapmap_event_allowed(name, text, text, text, text, text)"):  # fmt: skip
        op.execute(f"REVOKE ALL ON FUNCTION {fn} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {fn} TO {EVERYONE}")
    for table in TABLES:
        op.execute(f"GRANT SELECT ON {table} TO {EVERYONE}")
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY {table}_read ON {table} FOR SELECT TO {EVERYONE} USING (true)")
    op.execute(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA {_schema()} TO {EVERYONE}")
    for table in ("snapshots", "items", "item_texts", "snapshot_items"):
        op.execute(f"GRANT INSERT ON {table} TO gapmap_admin")
    op.execute(
        "CREATE POLICY snapshots_admin ON snapshots FOR INSERT TO gapmap_admin "
        "WITH CHECK (gapmap_is_self(current_user, created_by))"
    )
    for table in ("items", "item_texts", "snapshot_items"):
        op.execute(
            f"CREATE POLICY {table}_admin ON {table} FOR INSERT TO gapmap_admin WITH CHECK (true)"
        )
    op.execute(f"GRANT INSERT ON events, rejected TO {WRITERS}")
    op.execute(
        f"CREATE POLICY events_write ON events FOR INSERT TO {WRITERS} WITH CHECK ("
        "gapmap_event_allowed(current_user, item_key, by_user, from_state, state, action))"
    )
    op.execute(
        f"CREATE POLICY rejected_write ON rejected FOR INSERT TO {WRITERS} "
        "WITH CHECK (gapmap_is_self(current_user, by_user))"
    )
    op.execute(f"GRANT INSERT ON refusals TO {EVERYONE}")
    op.execute(
        f"CREATE POLICY refusals_write ON refusals FOR INSERT TO {EVERYONE} "
        "WITH CHECK (gapmap_is_self(current_user, by_user))"
    )


def _schema() -> str:
    return op.get_bind().exec_driver_sql("SELECT current_schema()").scalar()


def downgrade() -> None:
    """Refuse: the ledger is never rolled back."""
    raise NotImplementedError("the ledger is append-only: restore a backup instead")
