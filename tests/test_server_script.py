"""scripts/server.sh (database part, ``--no-start``) and ``python -m scripts.db``, for real.

server.sh runs against this machine's PostgreSQL 15 cluster (as root, through the
``postgres`` superuser's socket, as on a county's server) with a database and roles of its
own, then checks the roles, the migrated tables, that the app role cannot drop or alter a
table, and that a second run changes nothing.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from layers.store import migrate

ROOT = Path(__file__).resolve().parents[1]
PG_URL = os.environ.get("GAPMAP_TEST_PG_URL", "")


def _can_run_server_sh() -> bool:
    if not PG_URL or os.geteuid() != 0 or not shutil.which("pg_lsclusters"):
        return False
    installed = subprocess.run(
        ["dpkg", "-s", "postgresql-15", "postgresql-15-postgis-3"], capture_output=True
    )
    return installed.returncode == 0


needs_pg = pytest.mark.skipif(not PG_URL, reason="set GAPMAP_TEST_PG_URL (a PostgreSQL server)")


def _db_cli(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "scripts.db", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


# ---------------------------------------------------------------------------- scripts.db


def test_db_cli_without_a_database_says_how(monkeypatch):
    env = {k: v for k, v in os.environ.items() if k != "GAPMAP_DB_URL"}
    done = subprocess.run(
        [sys.executable, "-m", "scripts.db", "upgrade"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 2
    assert "未指定数据库" in done.stderr and "GAPMAP_DB_URL" in done.stderr
    assert "Traceback" not in done.stderr


def test_db_cli_unreachable_server_is_a_chinese_message():
    done = _db_cli("current", "--db", "postgresql+psycopg://nobody:x@127.0.0.1:1/none")
    assert done.returncode == 2
    assert "无法连接数据库" in done.stderr and "Traceback" not in done.stderr
    assert ":x@" not in done.stderr  # the password is never printed


@needs_pg
def test_db_cli_upgrade_and_current_on_a_new_database():
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    name = f"gapmap_test_cli_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = sa.make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    try:
        before = _db_cli("current", env={"GAPMAP_DB_URL": url})
        assert before.returncode == 0, before.stderr
        assert "空库" in before.stdout and "待升级" in before.stdout
        up = _db_cli("upgrade", "--db", url)
        assert up.returncode == 0, up.stderr
        after = _db_cli("current", "--db", url)
        assert "待升级" not in after.stdout
        for head in migrate.head_revisions():
            assert head in after.stdout
        again = _db_cli("upgrade", "--db", url)  # idempotent
        assert again.returncode == 0, again.stderr
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
        admin.dispose()


# ----------------------------------------------------------------------------- server.sh


@pytest.fixture
def server_env(tmp_path):
    if not _can_run_server_sh():
        pytest.skip("server.sh needs root and Debian's postgresql-15 + postgresql-15-postgis-3")
    tag = uuid.uuid4().hex[:8]
    env = {
        **os.environ,
        "GAPMAP_HOME": str(tmp_path / "etc"),
        "GAPMAP_DB_NAME": f"gapmap_srv_{tag}",
        "GAPMAP_DB_OWNER": f"gapmap_srv_owner_{tag}",
        "GAPMAP_DB_APP": f"gapmap_srv_app_{tag}",
        "GAPMAP_ADMIN": f"admin_{tag}",
        "GAPMAP_PYTHON": sys.executable,  # this venv (server.sh would use scripts/_env.sh)
    }
    env.pop("GAPMAP_DB_URL", None)
    env.pop("GAPMAP_ADMIN_PASSWORD", None)
    yield env
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{env["GAPMAP_DB_NAME"]}" WITH (FORCE)')
        for role in (env["GAPMAP_DB_APP"], env["GAPMAP_DB_OWNER"]):
            conn.exec_driver_sql(f'DROP ROLE IF EXISTS "{role}"')
    admin.dispose()


def _server_sh(env):
    return subprocess.run(
        [str(ROOT / "scripts" / "server.sh"), "--no-start"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _read_env(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.startswith("#"):
            k, v = line.split("=", 1)
            out[k] = v
    return out


def _state(env) -> dict:
    """Everything server.sh sets up, as one comparable value."""
    admin = sa.create_engine(PG_URL)
    db = sa.make_url(PG_URL).set(database=env["GAPMAP_DB_NAME"])
    roles = (env["GAPMAP_DB_OWNER"], env["GAPMAP_DB_APP"])
    with admin.connect() as conn:
        role_rows = conn.execute(
            sa.text(
                "SELECT rolname, rolsuper, rolcreatedb, rolcreaterole, rolcanlogin, "
                "(SELECT rolpassword FROM pg_authid a WHERE a.oid = r.oid) "
                "FROM pg_roles r WHERE rolname = ANY(:r) ORDER BY rolname"
            ),
            {"r": list(roles)},
        ).all()
        members = conn.execute(
            sa.text(
                "SELECT g.rolname, m.rolname FROM pg_auth_members am "
                "JOIN pg_roles g ON g.oid = am.roleid JOIN pg_roles m ON m.oid = am.member "
                "WHERE m.rolname = ANY(:r) ORDER BY 1, 2"
            ),
            {"r": list(roles)},
        ).all()
    admin.dispose()
    engine = sa.create_engine(db)
    with engine.connect() as conn:
        tables = conn.execute(
            sa.text(
                "SELECT schemaname, tablename, tableowner FROM pg_tables "
                "WHERE schemaname IN ('public', 'gapmap_datasets') ORDER BY 1, 2"
            )
        ).all()
        grants = conn.execute(
            sa.text(
                "SELECT table_name, privilege_type FROM information_schema.role_table_grants "
                "WHERE grantee = :app ORDER BY 1, 2"
            ),
            {"app": env["GAPMAP_DB_APP"]},
        ).all()
        heads = migrate.current_heads(conn)
        events = conn.execute(sa.text("SELECT evtname FROM pg_event_trigger ORDER BY 1")).all()
    engine.dispose()
    env_file = Path(env["GAPMAP_HOME"]) / "server.env"
    return {
        "roles": role_rows,
        "members": members,
        "tables": tables,
        "grants": grants,
        "heads": heads,
        "events": events,
        "env_file": env_file.read_text(encoding="utf-8"),
    }


def test_server_sh_sets_up_the_database_and_a_second_run_changes_nothing(server_env):
    from layers.dataset import Dataset, read_dataset
    from layers.store.actors import Actor, Role
    from layers.store.datasets import SCHEMA, DatasetStore

    first = _server_sh(server_env)
    assert first.returncode == 0, first.stderr
    env_file = Path(server_env["GAPMAP_HOME"]) / "server.env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(env_file.parent.stat().st_mode) == 0o700
    secrets = _read_env(env_file)
    assert len(secrets["GAPMAP_DB_APP_PASSWORD"]) >= 24
    assert secrets["GAPMAP_DB_APP_PASSWORD"] != secrets["GAPMAP_DB_OWNER_PASSWORD"]
    assert server_env["GAPMAP_DB_APP"] in secrets["GAPMAP_DB_URL"]

    state = _state(server_env)
    owner, app = server_env["GAPMAP_DB_OWNER"], server_env["GAPMAP_DB_APP"]
    by_name = {r[0]: r for r in state["roles"]}
    assert set(by_name) == {owner, app}
    for name in (owner, app):
        _, superuser, createdb, _, login, _ = by_name[name]
        assert login and not superuser and not createdb
    assert not by_name[app][3]  # the app role cannot create roles
    assert state["heads"] == migrate.head_revisions()
    tables = {(s, t): o for s, t, o in state["tables"]}
    assert tables[("public", "dataset_versions")] == owner
    assert tables[("public", "alembic_version")] == owner
    assert {e[0] for e in state["events"]} == {"gapmap_no_drop", "gapmap_no_alter"}
    # the app role is a member of gapmap_registrar only (it registers users' roles through
    # the owner's SECURITY DEFINER function, then SET ROLE to them); the owner may create
    # roles for that function
    groups = {g for g, m in state["members"] if m == app}
    assert groups == {"gapmap_registrar"}
    assert by_name[owner][3]  # CREATEROLE
    if (ROOT / "scripts" / "users.py").exists():
        assert (
            stat.S_IMODE(
                (Path(server_env["GAPMAP_HOME"]) / "admin-initial-password").stat().st_mode
            )
            == 0o600
        )
    else:  # the accounts CLI is not there: server.sh says how to do it by hand
        assert "scripts.users add" in first.stderr

    # the app role: reads and appends, stores a dataset version, never drops or alters
    app_engine = sa.create_engine(secrets["GAPMAP_DB_URL"])
    demo = read_dataset(ROOT / "data" / "demo" / "tongxin.gpkg")
    small = Dataset(layers={k: demo[k] for k in ("county", "townships")}, name="小样")
    with DatasetStore(app_engine, files_dir=Path(server_env["GAPMAP_HOME"]) / "files") as store:
        version = store.put(small, by=Actor.of("county_admin", Role.ADMIN))
        store.accept(version, by=Actor.of("county_admin", Role.ADMIN))
        assert store.accepted().content_hash == small.content_hash
    layer_table = f'{SCHEMA}."v{version:05d}_county"'
    refused = [
        "DROP TABLE dataset_versions CASCADE",
        "DROP TABLE alembic_version",
        "ALTER TABLE dataset_versions DISABLE TRIGGER USER",
        f"DROP TABLE {layer_table}",
        f"ALTER TABLE {layer_table} DISABLE TRIGGER USER",
        f"TRUNCATE {layer_table}",
        f"DELETE FROM {layer_table}",
        "DELETE FROM dataset_acceptances",
        f"DROP SCHEMA {SCHEMA} CASCADE",
        "CREATE TABLE public.sneaky (x int)",
        "DELETE FROM region_counties",  # region results: written by the owner only
        "INSERT INTO region_boundaries (region_code, row_no) VALUES ('640000', 0)",
        # the county.pkl bytes the app unpickles: the owner's alone
        "UPDATE region_county_files SET content = ''::bytea",
    ]
    for sql in refused:
        with app_engine.begin() as conn, pytest.raises(sa.exc.DBAPIError) as err:
            conn.exec_driver_sql(sql)
        assert err.value.orig.sqlstate in {"42501", "2BP01"} or "append-only" in str(err.value), (
            sql,
            err.value,
        )
    app_engine.dispose()

    # the app role registers a user's database role (no CREATEROLE of its own) and may then
    # act as it, and only as it
    from geo.ledger import Ledger

    township = Actor.of("乡镇甲", Role.TOWNSHIP, townships=["640324100"])
    with Ledger(secrets["GAPMAP_DB_URL"], evidence_dir=Path(server_env["GAPMAP_HOME"])) as book:
        db_role = book.register_actor(township)
        assert db_role == book.db.db_role_of("乡镇甲")
        assert book.register_actor(township) == db_role  # idempotent
    app_engine = sa.create_engine(secrets["GAPMAP_DB_URL"])
    with app_engine.begin() as conn:
        conn.exec_driver_sql(f'SET LOCAL ROLE "{db_role}"')
        assert conn.exec_driver_sql("SELECT current_user").scalar() == db_role
    with app_engine.begin() as conn, pytest.raises(sa.exc.DBAPIError) as err:
        conn.exec_driver_sql("CREATE ROLE gapmap_u_forged NOLOGIN")
    assert err.value.orig.sqlstate == "42501"
    app_engine.dispose()

    # a second run keeps passwords, roles, grants and tables (no new event, no new version)
    before = _state(server_env)
    second = _server_sh(server_env)
    assert second.returncode == 0, second.stderr
    assert _state(server_env) == before
    assert "生成数据库密码" not in second.stderr
