"""Server mode on PostgreSQL + PostGIS, under AppTest: the county's dataset versions.

An administrator saves the active dataset as a version and accepts it; the accepted version
becomes 本县数据, and a ledger snapshot records it (not the sidebar's dataset). A township
editor sees the versions but may neither save nor accept.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from layers.store.actors import Actor, Role
from tests.pg import PG_URL, fresh_database

ROOT = Path(__file__).resolve().parents[1]
VIEWS = ROOT / "app" / "views"
TIMEOUT = 240
ACTOR_KEY = "_gapmap_auth_actor"  # app.auth keeps the logged-in actor here

pytestmark = pytest.mark.skipif(not PG_URL, reason="set GAPMAP_TEST_PG_URL (.ci/run does)")


@pytest.fixture
def server_db(tmp_path, monkeypatch):
    with fresh_database(prefix="gapmap_appsrv") as url:
        monkeypatch.setenv("GAPMAP_MODE", "server")
        monkeypatch.setenv("GAPMAP_DB_URL", url)
        monkeypatch.setenv("GAPMAP_EVIDENCE_DIR", str(tmp_path / "evidence"))
        monkeypatch.setenv("GAPMAP_FILES_DIR", str(tmp_path / "files"))
        yield url


def _page(name: str, actor: Actor) -> AppTest:
    at = AppTest.from_file(str(VIEWS / name), default_timeout=TIMEOUT)
    at.session_state[ACTOR_KEY] = actor
    return at.run()


def test_admin_saves_and_accepts_a_version_and_the_snapshot_records_it(server_db):
    from geo.ledger import Ledger
    from layers.store.datasets import DatasetStore

    admin = Actor.of("admin", Role.ADMIN, display_name="李县")
    town = Actor.of("王明", Role.TOWNSHIP, townships=["640324103"])

    # before any version: the snapshot says where to go, and records nothing
    at = _page("ledger.py", admin)
    assert not at.exception, [e.value for e in at.exception]
    assert any("先在「数据」页" in w.value for w in at.warning)

    at = _page("data_overview.py", admin)
    assert not at.exception, [e.value for e in at.exception]
    assert any("还没有数据版本" in i.value for i in at.info)
    at.text_input(key="version_note").input("演示数据 第一版")
    at.button(key="version_put").click().run()
    assert not at.exception, [e.value for e in at.exception]
    at.button(key="version_accept").click().run()
    assert not at.exception, [e.value for e in at.exception]
    with DatasetStore(server_db) as store:
        versions = store.versions()
        assert versions["version"].tolist() == [1] and bool(versions["accepted"].iloc[0])
        assert versions["uploaded_by"].iloc[0] == "admin"
        accepted_hash = versions["content_hash"].iloc[0]

    # the snapshot records the accepted version, as the administrator
    at = _page("ledger.py", admin)
    assert any("第 1 版" in c.value for c in at.caption)
    at.button(key="ledger_record").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("已记入全县快照" in s.value for s in at.success)
    with Ledger(server_db) as book:
        snaps = book.snapshots()
    assert snaps["dataset_hash"].tolist() == [accepted_hash]
    assert snaps["created_by"].tolist() == ["admin"]

    # a township editor sees the versions, may not save or accept, nor record a snapshot
    at = _page("data_overview.py", town)
    assert not at.exception, [e.value for e in at.exception]
    assert any("由县级管理员办理" in c.value for c in at.caption)
    keys = {b.key for b in at.button}
    assert not keys & {"version_put", "version_accept"}
    at = _page("ledger.py", town)
    assert "ledger_record" not in {b.key for b in at.button}
