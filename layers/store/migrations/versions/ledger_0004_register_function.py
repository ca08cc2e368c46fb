"""ledger: users' database roles are made by a SECURITY DEFINER function (PostgreSQL only).

The app logs in as a role that may not create roles (on PostgreSQL 15, CREATEROLE would let
it grant itself the schema owner). :meth:`geo.ledger.Ledger.register_actor` calls
``gapmap_register_actor(username, role, townships, indicators)`` instead: owned by the
schema owner (which has CREATEROLE, see ``scripts/server.sh``), it creates only
``gapmap_u_<16 hex of sha256(username)>`` NOLOGIN roles, makes each a member of exactly one
of the five group roles, grants it to the calling login (so that the app may
``SET ROLE`` to it) and records the user in ``ledger_actors``. Only members of
``gapmap_registrar`` (the app's login role; the owner) may call it.

Revision ID: ledger_0004
Revises: ledger_0003
"""

from alembic import op

revision = "ledger_0004"
down_revision = "ledger_0003"
branch_labels = None
depends_on = None

FUNCTION = "gapmap_register_actor(text, text, text[], text[])"


def upgrade() -> None:
    """Apply this revision."""
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "DO $$ BEGIN "
        "IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'gapmap_registrar') THEN "
        "CREATE ROLE gapmap_registrar NOLOGIN; END IF; "
        "EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
    )
    op.execute(
        "CREATE OR REPLACE FUNCTION gapmap_register_actor("
        "p_username text, p_role text, p_townships text[], p_indicators text[]) "
        "RETURNS text LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$ "
        "DECLARE "
        " r text := 'gapmap_u_' || left(encode(sha256(convert_to(p_username, 'UTF8')), 'hex'),"
        " 16); "
        " g text; "
        "BEGIN "
        " IF coalesce(btrim(p_username), '') = '' THEN "
        "  RAISE EXCEPTION 'a GapMap user needs a name' USING ERRCODE = '22023'; END IF; "
        " IF p_role IS NULL OR p_role NOT IN "
        "  ('admin', 'township', 'department', 'verifier', 'viewer') THEN "
        "  RAISE EXCEPTION 'unknown GapMap role %', p_role USING ERRCODE = '22023'; END IF; "
        " IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN "
        "  BEGIN EXECUTE format('CREATE ROLE %I NOLOGIN', r); "
        "  EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END; "
        " END IF; "
        " FOREACH g IN ARRAY ARRAY['admin', 'township', 'department', 'verifier', 'viewer'] "
        " LOOP "
        "  IF g = p_role THEN EXECUTE format('GRANT %I TO %I', 'gapmap_' || g, r); "
        "  ELSE EXECUTE format('REVOKE %I FROM %I', 'gapmap_' || g, r); END IF; "
        " END LOOP; "
        " IF session_user::text <> r THEN "
        "  EXECUTE format('GRANT %I TO %I', r, session_user); END IF; "
        " INSERT INTO ledger_actors (db_role, username, role, townships, indicators) "
        " VALUES (r, p_username, p_role, coalesce(p_townships, '{}'), "
        "  coalesce(p_indicators, '{}')) "
        " ON CONFLICT (username) DO UPDATE SET role = EXCLUDED.role, "
        "  townships = EXCLUDED.townships, indicators = EXCLUDED.indicators; "
        " RETURN r; "
        "END $$"
    )
    op.execute(f"REVOKE ALL ON FUNCTION {FUNCTION} FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION {FUNCTION} TO gapmap_registrar")


def downgrade() -> None:
    """Refuse: the ledger is never rolled back."""
    raise NotImplementedError("the ledger is append-only: restore a backup instead")
