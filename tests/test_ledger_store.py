"""The ledger's storage: 规划 snapshots refused, old files upgraded, faults reported clearly."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from geo.assessment import assess
from geo.ledger import Ledger, LedgerError, make_items
from geo.plan import as_built, planned_counts
from geo.settings import load_settings
from layers import Dataset
from layers.store import migrate
from layers.store.actors import Actor
from tests.fixtures import tiny_county as tc
from tests.pg import PG_URL, fresh_database

ROOT = Path(__file__).resolve().parents[1]
ADMIN = Actor.of("county_admin", "admin", display_name="县管理员")


def _items(keys, **extra):
    return make_items(
        {
            "key": list(keys),
            "indicator": "hard_road",
            "unit_kind": "natural_village",
            "unit_code": [k.split(":")[-1] for k in keys],
            "township_code": "640399100",
            "township_name": "甲镇",
            "problem_type": "未通硬化路",
            "description": "测试",
            "measure": "硬化",
            **extra,
        }
    )


def test_a_planned_road_never_closes_a_ledger_item(tmp_path):
    dataset = Dataset.from_frames(tc.build(), name="tiny")
    roads = dataset["roads"].copy()
    roads.loc[roads["id"] == "R04", ["surface", "status"]] = ["水泥", "规划"]
    draft = dataset.replace_layers(roads=roads)
    # the tiny county also plans three public facilities (F3, F6, F11)
    assert planned_counts(draft) == {"roads": 1, "public_facilities": 3}
    settings = load_settings()
    observed, planned = assess(draft, settings), assess(as_built(draft), settings)
    assert observed.scenario == "current" and planned.scenario == "planned"
    assert planned.planned_as_built == {"roads": 1, "public_facilities": 3}
    with Ledger(tmp_path / "data") as led:
        led.record_snapshot(observed, actor=ADMIN)
        assert led.item("hard_road:NV03")["state"] == "open"  # gravel today
        with pytest.raises(LedgerError, match="observed") as info:
            led.record_snapshot(planned, actor=ADMIN)
        assert info.value.zh.startswith("快照只能记录现状数据")
        assert len(led.snapshots()) == 1  # nothing recorded
        diff = led.record_snapshot(observed, actor=ADMIN)
        assert "hard_road:NV03" in diff.persisting and diff.disappeared == ()
        assert not led.item("hard_road:NV03")["suggest_close"]


def _old_ledger_module(tmp_path):
    """The ledger store of 9b34b0f (schema_version 1, metadata.create_all), as a module."""
    src = subprocess.run(
        ["git", "show", "9b34b0f:geo/ledger/store.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    path = tmp_path / "old_store.py"
    path.write_text(src, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("gapmap_old_ledger_store", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_a_ledger_made_by_the_old_code_is_upgraded_on_open_losing_nothing(tmp_path):
    old = _old_ledger_module(tmp_path)
    folder = tmp_path / "data"
    with old.Ledger(folder) as led:
        led.record_snapshot(_items(["a:1", "a:2"]), user="张三", dataset_hash="h1", settings={})
        led.transition("a:1", "整改中", user="李四", expected_version=1, responsible_unit="交通局")
        led.record_snapshot(
            _items(["a:1", "a:3"], description="新描述"),
            user="张三",
            dataset_hash="h2",
            settings={},
        )
        before_items = led.items()
        before_hist = led.history("a:1")
        before_snap = led.snapshot_items(1)
    db = folder / "gapmap_ledger.sqlite"
    with sa.create_engine(f"sqlite:///{db}").connect() as conn:
        assert "alembic_version" not in sa.inspect(conn).get_table_names()
    with Ledger(folder) as led:
        with led.engine.connect() as conn:
            assert migrate.current_heads(conn) == {"ledger_0006"}
            n_texts = conn.exec_driver_sql("SELECT count(*) FROM item_texts").scalar()
            towns = conn.exec_driver_sql("SELECT DISTINCT township_code FROM items").scalars()
            assert set(towns) == {"640399100"}  # backfilled
        assert n_texts == 4  # a:1, a:2; then a:1 and a:3 with the new description
        after = led.items()
        for col in ("key", "state", "version", "responsible_unit", "description", "updated_by"):
            assert after[col].tolist() == before_items[col].tolist(), col
        assert led.history("a:1")["changes"].tolist() == before_hist["changes"].tolist()
        assert led.snapshot_items(1).equals(before_snap)
        assert led.verify() == []
        # and it goes on working
        item = led.transition("a:1", "已整改待验收", actor=ADMIN, expected_version=2, notes="完工")
        assert item["version"] == 3 and item["updated_by_label"] == "县管理员（县级管理员）"
    with Ledger(folder) as led:  # opening again does nothing
        assert led.item("a:1")["version"] == 3


def test_identical_item_texts_are_stored_once(tmp_path):
    with Ledger(tmp_path / "data") as led:
        for i in range(5):
            led.record_snapshot(
                _items([f"s:{k}" for k in range(50)]), actor=ADMIN, dataset_hash=f"h{i}",
                settings={},
            )  # fmt: skip
        with led.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM item_texts").scalar() == 50
            assert conn.exec_driver_sql("SELECT count(*) FROM snapshot_items").scalar() == 250
        assert len(led.snapshot_items(5)) == 50 and led.verify() == []


def test_snapshot_settings_are_stored_once_and_read_back(tmp_path):
    settings = load_settings()
    other = {"profile": "县里的设置", "hard_road": {"min_households": 30}}
    with Ledger(tmp_path / "data") as led:
        for i, chosen in enumerate([settings, settings, other, settings]):
            led.record_snapshot(_items(["s:1"]), actor=ADMIN, dataset_hash=f"h{i}", settings=chosen)
        with led.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM settings_texts").scalar() == 2
            assert (
                conn.exec_driver_sql(
                    "SELECT count(*) FROM snapshots WHERE settings_json <> ''"
                ).scalar()
                == 0
            )
        read = led.snapshots()["settings"].tolist()
    assert read[0] == read[1] == read[3] != read[2]
    assert {"section": "", "name": "hard_road", "value": {"min_households": 30}} in read[2]


def _fault(led, pragma):
    @sa.event.listens_for(led.engine, "connect")
    def _on_connect(dbapi_conn, _record):
        dbapi_conn.execute(pragma)

    led.engine.dispose()  # new connections get the pragma


def test_a_read_only_ledger_is_a_clear_error_not_a_trace(tmp_path):
    with Ledger(tmp_path / "data") as led:
        led.record_snapshot(_items(["r:1"]), actor=ADMIN, dataset_hash="h", settings={})
        _fault(led, "PRAGMA query_only = 1")
        with pytest.raises(LedgerError) as info:
            led.update("r:1", actor=ADMIN, expected_version=1, notes="x")
        assert "台账" in info.value.zh and "只读" in info.value.zh
        assert isinstance(info.value.__cause__.__cause__, sa.exc.DBAPIError)
        assert led.item("r:1")["version"] == 1  # reading still works


_RO_EDIT = """
import sys
from geo.ledger import Ledger, LedgerError
from layers.store.actors import Actor
try:
    Ledger(sys.argv[1]).update(
        "r:1", actor=Actor.of("county_admin", "admin"), expected_version=1, notes="x"
    )
except LedgerError as exc:
    print("LEDGER-ERROR", exc.zh)
else:
    print("WROTE")
"""


def test_a_read_only_folder_or_filesystem_is_a_clear_error(tmp_path):
    """chmod for a normal user; for root (whom chmod does not stop), a read-only mount."""
    folder = tmp_path / "data"
    if os.geteuid() != 0:
        with Ledger(folder) as led:
            led.record_snapshot(_items(["r:1"]), actor=ADMIN, dataset_hash="h", settings={})
        for p in folder.iterdir():
            if p.is_file():
                p.chmod(0o444)
        folder.chmod(0o555)
        try:
            run = subprocess.run(
                [sys.executable, "-c", _RO_EDIT, str(folder)],
                cwd=ROOT, capture_output=True, text=True, timeout=120,
            )  # fmt: skip
        finally:
            folder.chmod(0o755)
    else:  # a private mount namespace: a tmpfs with the ledger, remounted read-only
        folder.mkdir()
        make = (
            "import sys; from geo.ledger import Ledger, make_items; "
            "from layers.store.actors import Actor; "
            "from tests.test_ledger_store import _items; "
            "Ledger(sys.argv[1]).record_snapshot(_items(['r:1']), "
            "actor=Actor.of('county_admin', 'admin'), dataset_hash='h', settings={})"
        )
        script = (
            f'set -e; mount -t tmpfs gapmap-ro "{folder}"; '
            f'"{sys.executable}" -c "$MAKE" "{folder}"; '
            f'mount -o remount,ro "{folder}"; '
            f'"{sys.executable}" -c "$EDIT" "{folder}"'
        )
        run = subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
            cwd=ROOT, capture_output=True, text=True, timeout=120,
            env={**os.environ, "MAKE": make, "EDIT": _RO_EDIT},
        )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "LEDGER-ERROR" in run.stdout and "台账" in run.stdout, run.stdout + run.stderr
    assert "Traceback" not in run.stderr


def test_a_full_disk_is_a_clear_error_and_loses_nothing(tmp_path):
    with Ledger(tmp_path / "data") as led:
        led.record_snapshot(_items(["f:1"]), actor=ADMIN, dataset_hash="h", settings={})
        pages = led.engine.connect().exec_driver_sql("PRAGMA page_count").scalar()
        _fault(led, f"PRAGMA max_page_count = {pages}")
        big = _items([f"f:{i}" for i in range(2000)], description="很长的描述" * 200)
        with pytest.raises(LedgerError) as info:
            led.record_snapshot(big, actor=ADMIN, dataset_hash="h2", settings={})
        assert "磁盘已满" in info.value.zh and "台账" in info.value.zh
        assert len(led.snapshots()) == 1 and led.verify() == []


def test_layers_never_imports_geo():
    code = (
        "import sys, layers.store.ledger, layers.store.evidence, layers.store.errors; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('geo', 'app')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


@pytest.mark.skipif(not PG_URL, reason="set GAPMAP_TEST_PG_URL")
def test_concurrent_multi_item_edits_in_random_order_lose_nothing_and_never_deadlock(tmp_path):

    from scripts.bench_ledger_load import run_load

    with fresh_database() as url:
        out = run_load(
            url,
            users=4,
            edits=25,
            items=8,
            townships=1,  # everyone edits the same 8 items: conflicts and lock contention
            evidence_dir=tmp_path / "ev",
        )
    assert out["errors"] == [] and out["lost"] == [] and out["unreported"] == []
    assert out["saves"] + out["conflicts"] == 100 and out["saves"] > 0
    assert out["verify"] == []
