"""Region results (全区) in PostGIS: the runs, their roll-up, and every county's result rows.

Revision ID: region_0001
Revises:
Create Date: 2026-12-02

Tables (see :mod:`layers.store.region`; PostgreSQL only, a no-op on SQLite: local mode keeps
the results folder of ``python -m scripts.region``):

- ``region_runs`` — one row per run that was published (append-only history): the region,
  settings hash, buffer, per-county status (the results ``region.json`` as ``manifest``),
  who wrote it (``current_user``) and when. The newest run of a region is what the app shows.
- ``region_rollup`` — that run's roll-up rows (region → city → county per indicator).
- ``region_boundaries`` — the region's, cities' and counties' polygons (EPSG:4326), replaced
  by each run.
- ``region_counties`` — one row per county: its status (``ok`` / ``failed`` with the error),
  input hash, settings hash, dataset hash, seconds, the county's ``meta.json`` and the
  columns (names, dtypes) of its result frames.
- ``region_outcomes`` — every outcome row of every county (point geometry, EPSG:4326).
- ``region_admin_villages``, ``region_townships`` — the counties' roll-up per admin village
  and township (polygons, EPSG:4326).
- ``region_county_files`` — the county's pickled partition and assessment (``county.pkl``
  bytes with their cache key), so the app opens a county without recomputing it.

Every per-county table references ``region_counties`` (``ON DELETE CASCADE``): a county's
results are replaced by deleting its ``region_counties`` row and inserting the new rows, in
one transaction. The variable columns of a frame (an indicator's ``x_*`` extras, the roll-up
metrics per indicator) are kept in ``extra`` (jsonb); the fixed ones are typed columns.

Who writes: the database owner (``python -m scripts.region --db`` with the owner's URL, run
by the administrator on the server, as ``scripts.users``). Nobody else is granted INSERT,
UPDATE, DELETE or TRUNCATE; the app role reads them (``scripts/server.sh`` grants SELECT on
the public schema's tables), and so does every ledger group role (granted here).
"""

from alembic import op

revision = "region_0001"
down_revision = None
branch_labels = ("region",)
depends_on = None

TEXT, FLOAT, INT, BOOL = "text", "double precision", "bigint", "boolean"
OUTCOME_TYPED = (
    ("key", TEXT), ("indicator", TEXT), ("unit_kind", TEXT), ("unit_code", TEXT),
    ("township_code", TEXT), ("township_name", TEXT), ("admin_village_code", TEXT),
    ("admin_village_name", TEXT), ("village_code", TEXT), ("village_name", TEXT),
    ("problem_type", TEXT), ("description", TEXT), ("measure", TEXT), ("cause", TEXT),
    ("households", FLOAT), ("population", FLOAT), ("cost_wan", FLOAT), ("lon", FLOAT),
    ("lat", FLOAT), ("status", TEXT), ("value", FLOAT), ("limit", FLOAT),
    ("value_unit", TEXT),
)  # fmt: skip
ROLLUP_TYPED = (
    ("level", TEXT), ("code", TEXT), ("name", TEXT), ("parent_code", TEXT), ("key", BOOL),
    ("indicator", TEXT), ("indicator_zh", TEXT), ("group", TEXT), ("value", FLOAT),
    ("value_unit", TEXT), ("target", FLOAT), ("comparison", TEXT), ("met", BOOL),
    ("status", TEXT), ("problems", INT), ("units", INT), ("units_ok", INT),
    ("counties", INT), ("department", TEXT), ("source", TEXT),
)  # fmt: skip
BOUNDARY_TYPED = (
    ("level", TEXT), ("code", TEXT), ("name", TEXT), ("parent_code", TEXT), ("key", BOOL),
)  # fmt: skip
UNIT_TYPED = (("code", TEXT), ("name", TEXT), ("township_code", TEXT), ("problems", FLOAT))
TOWNSHIP_TYPED = (("code", TEXT), ("name", TEXT), ("problems", FLOAT))

GROUPS = ("gapmap_admin", "gapmap_township", "gapmap_department", "gapmap_verifier",
          "gapmap_viewer")  # fmt: skip
TABLES = ("region_runs", "region_rollup", "region_boundaries", "region_counties",
          "region_outcomes", "region_admin_villages", "region_townships",
          "region_county_files")  # fmt: skip


def _columns(typed: tuple[tuple[str, str], ...]) -> str:
    return "".join(f', "{name}" {kind}' for name, kind in typed)


def _county_table(table: str, typed: tuple[tuple[str, str], ...], geometry: str) -> None:
    op.execute(
        f"CREATE TABLE {table} ("
        " county_code varchar(12) NOT NULL"
        "  REFERENCES region_counties (code) ON DELETE CASCADE,"
        " row_no integer NOT NULL"
        f"{_columns(typed)},"
        " extra jsonb NOT NULL DEFAULT '{}',"
        f" geom geometry({geometry}, 4326),"
        " PRIMARY KEY (county_code, row_no))"
    )
    op.execute(f"CREATE INDEX {table}_geom ON {table} USING gist (geom)")


def upgrade() -> None:
    """Create the region tables (PostgreSQL only)."""
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")  # a no-op where server.sh made it
    op.execute(
        "CREATE TABLE region_runs ("
        " id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
        " region_code varchar(12) NOT NULL,"
        " region_name text NOT NULL DEFAULT '',"
        " data text NOT NULL DEFAULT '',"
        " settings_hash varchar(64) NOT NULL,"
        " profile text NOT NULL DEFAULT '',"
        " buffer_m double precision NOT NULL,"
        " counties integer NOT NULL,"
        " counties_ok integer NOT NULL,"
        " counties_failed integer NOT NULL,"
        " finished_at timestamptz,"
        " written_at timestamptz NOT NULL DEFAULT now(),"
        " written_by name NOT NULL DEFAULT current_user,"
        " manifest jsonb NOT NULL,"
        " columns jsonb NOT NULL)"  # {"rollup": [[name, dtype], …], "boundaries": …}
    )
    op.execute("CREATE INDEX region_runs_latest ON region_runs (region_code, id DESC)")
    op.execute(
        "CREATE TABLE region_rollup ("
        " run_id bigint NOT NULL REFERENCES region_runs (id) ON DELETE CASCADE,"
        " row_no integer NOT NULL"
        f"{_columns(ROLLUP_TYPED)},"
        " extra jsonb NOT NULL DEFAULT '{}',"
        " PRIMARY KEY (run_id, row_no))"
    )
    op.execute(
        "CREATE TABLE region_boundaries ("
        " region_code varchar(12) NOT NULL,"
        " row_no integer NOT NULL"
        f"{_columns(BOUNDARY_TYPED)},"
        " extra jsonb NOT NULL DEFAULT '{}',"
        " geom geometry(Geometry, 4326),"
        " PRIMARY KEY (region_code, row_no))"
    )
    op.execute("CREATE INDEX region_boundaries_geom ON region_boundaries USING gist (geom)")
    op.execute(
        "CREATE TABLE region_counties ("
        " code varchar(12) PRIMARY KEY,"
        " region_code varchar(12) NOT NULL,"
        " name text NOT NULL,"
        " city_code varchar(12) NOT NULL DEFAULT '',"
        " city_name text NOT NULL DEFAULT '',"
        " key boolean NOT NULL DEFAULT false,"
        " status varchar(8) NOT NULL CHECK (status IN ('ok', 'failed')),"
        " error text,"
        " input_hash varchar(64) NOT NULL,"
        " settings_hash varchar(64),"
        " dataset_hash varchar(64),"
        " buffer_m double precision,"
        " seconds double precision,"
        " finished_at timestamptz,"
        " written_at timestamptz NOT NULL DEFAULT now(),"
        " written_by name NOT NULL DEFAULT current_user,"
        " meta jsonb NOT NULL DEFAULT '{}',"
        " columns jsonb NOT NULL DEFAULT '{}',"  # frame → [[name, dtype], …]
        " CHECK ((status = 'failed') = (error IS NOT NULL)))"
    )
    op.execute("CREATE INDEX region_counties_region ON region_counties (region_code)")
    _county_table("region_outcomes", OUTCOME_TYPED, "Point")
    op.execute("CREATE INDEX region_outcomes_indicator ON region_outcomes (indicator, status)")
    _county_table("region_admin_villages", UNIT_TYPED, "Geometry")
    _county_table("region_townships", TOWNSHIP_TYPED, "Geometry")
    op.execute(
        "CREATE TABLE region_county_files ("
        " county_code varchar(12) NOT NULL"
        "  REFERENCES region_counties (code) ON DELETE CASCADE,"
        " kind varchar(16) NOT NULL CHECK (kind IN ('county.pkl')),"
        " cache_key varchar(64) NOT NULL,"
        " sha256 varchar(64) NOT NULL,"
        " size_bytes bigint NOT NULL,"
        " content bytea NOT NULL,"
        " PRIMARY KEY (county_code, kind))"
    )
    # written by the owner only: no INSERT/UPDATE/DELETE/TRUNCATE for anyone else; read by
    # every group role of the ledger (created there when missing: they are cluster-wide)
    for group in GROUPS:
        op.execute(
            "DO $$ BEGIN "
            f"IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{group}') THEN "
            f"CREATE ROLE {group} NOLOGIN; END IF; "
            "EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
        )
    for table in TABLES:
        op.execute(f"REVOKE ALL ON {table} FROM PUBLIC")
        op.execute(f"GRANT SELECT ON {table} TO {', '.join(GROUPS)}")


def downgrade() -> None:
    """Drop the region tables (their content is recomputed by ``python -m scripts.region``)."""
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in reversed(TABLES):
        op.drop_table(table)
