"""问题清单/整改台账: items, snapshots and diffs, the workflow, locking, crashes, XLSX."""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
import sqlalchemy as sa

from geo.assessment import assess
from geo.indicators import BUILTIN_CODES, builtin_table
from geo.labels import item_key_zh
from geo.ledger import (
    STATE_ZH,
    TRANSITIONS,
    Change,
    ConflictError,
    IllegalTransitionError,
    ItemNotFoundError,
    Ledger,
    LedgerError,
    State,
    export_xlsx,
    import_xlsx,
    make_items,
    problem_items,
)
from geo.ledger.items import INDICATOR_ZH
from geo.ledger.store import REASON_REQUIRED
from geo.ledger.xlsx import EXPORT_COLUMNS, OFFICE_COLUMNS, SHEET, TITLE_ROWS, ledger_table
from geo.settings import load_settings
from layers import Dataset, read_dataset
from layers.store.actors import Actor
from tests.fixtures import tiny_county as tc
from tests.pg import PG_URL, fresh_database

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "data" / "demo" / "tongxin.gpkg"

BASE_KEYS = {
    "hard_road:NV03",  # gravel only
    "hard_road:NV04",  # no road
    "hard_road:NV05",  # 60 m gap
    "hard_road:NV07",  # earth part
    "services:S1:药店",
    "services:S2:综合超市",
    "services:S2:药店",
    "clinics:township:640399200",  # 乙乡 has no health centre
    "clinics:admin_village:640399200201",  # 丙村: clinic without a doctor
    "clinics:admin_village:640399200202",  # 丁村: no clinic
}


# ------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def tiny():
    return Dataset.from_frames(tc.build(), name="tiny"), load_settings()


def _variant(dataset, *, paved=(), gravel=(), doctors=None):
    roads = dataset["roads"].copy()
    roads.loc[roads["id"].isin(paved), "surface"] = "水泥"
    roads.loc[roads["id"].isin(gravel), "surface"] = "砂石"
    layers = {"roads": roads}
    if doctors:
        clinics = dataset["clinics"].copy()
        for cid, n in doctors.items():
            clinics.loc[clinics["id"] == cid, "doctors"] = n
        layers["clinics"] = clinics
    return dataset.replace_layers(**layers)


@pytest.fixture(scope="module")
def runs(tiny):
    """Three analysis runs of the tiny county (see test_snapshot_sequence).

    The four built-in indicators only (the workflow's hand-made keys); the snapshot's
    indicator rows are tested with the whole table.
    """
    dataset, settings = tiny
    table = builtin_table()
    s1 = assess(dataset, settings, table=table)
    # R04 paved (NV03 fixed), 丙村's clinic gets a doctor, R01 turned to gravel (NV01 new)
    changed = _variant(dataset, paved=["R04"], gravel=["R01"], doctors={"C3": 1})
    s2 = assess(changed, settings, table=table)
    # R04 back to gravel (NV03 fails again), R01 paved again, 丙村 keeps its doctor
    s3 = assess(_variant(dataset, doctors={"C3": 1}), settings, table=table)
    return s1, s2, s3


def _admin(name):
    return Actor.of(name, "admin")


@pytest.fixture
def sqlite_ledger(tmp_path):
    with Ledger(tmp_path / "data") as led:
        yield led


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param(
            "postgresql",
            marks=pytest.mark.skipif(
                not PG_URL, reason="set GAPMAP_TEST_PG_URL to run the ledger on PostgreSQL too"
            ),
        ),
    ]
)
def ledger(request, tmp_path):
    """A fresh ledger on SQLite, and on PostgreSQL when a server is given."""
    if request.param == "sqlite":
        with Ledger(tmp_path / "data") as led:
            yield led
        return
    with fresh_database() as url, Ledger(url, evidence_dir=tmp_path / "evidence") as led:
        yield led


def _db(led):
    return led.url.render_as_string(hide_password=False)


def _synthetic(keys):
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
        }
    )


def _record(led, keys, user="测试"):
    return led.record_snapshot(_synthetic(keys), actor=_admin(user), dataset_hash="h", settings={})


def _n_events(led):
    with led.engine.connect() as conn:
        return conn.execute(sa.text("SELECT COUNT(*) FROM events")).scalar()


# ------------------------------------------------------------------ problem items


def test_problem_items_of_the_tiny_county_by_hand(runs):
    a = runs[0]
    items = problem_items(a).set_index("key")
    assert set(items.index) == BASE_KEYS
    nv03 = items.loc["hard_road:NV03"]
    assert nv03["description"] == "仅有砂石/土路连接，需硬化 1.5 公里，估算 90 万元（25户95人）"
    assert nv03["measure"].startswith("硬化现有砂石/土路 1.5 公里（道路 R04）")
    assert (nv03["township_name"], nv03["admin_village_name"], nv03["village_name"]) == (
        "甲镇",
        "乙村",
        "砂沟",
    )
    assert items.loc["hard_road:NV05", "description"].startswith(
        "路网断头（未与干线连通），需新建 0.06 公里，估算 7.2 万元"
    )
    assert items.loc["hard_road:NV04", "cost_wan"] == pytest.approx(240.0)
    # S1 → 丙村药店 is 1,500 m = 20 min at 4.5 km/h
    assert (
        "最近的丙村药店约 1.5 公里，需步行 20 分钟" in items.loc["services:S1:药店", "description"]
    )
    assert items.loc["clinics:admin_village:640399200201", "problem_type"] == "村医空白"
    assert items.loc["clinics:admin_village:640399200202", "problem_type"] == "村卫生室空白"
    assert items.loc["clinics:township:640399200", "description"] == "乙乡无乡镇卫生院"
    # a point on each unit, near the fixture county (≈ 105.67°E 36.95°N)
    assert items["lon"].between(105.6, 105.8).all() and items["lat"].between(36.9, 37.1).all()
    # the roll-up counts exactly these items, per admin village and township
    all_items = problem_items(a)
    per_av = all_items.loc[all_items["unit_kind"] != "township"].groupby("admin_village_code")
    roll = a.rollup.admin_villages.set_index("code")["problems"]
    assert per_av.size().reindex(roll.index, fill_value=0).tolist() == roll.astype(int).tolist()
    tw = a.rollup.townships.set_index("code")["problems"]
    per_tw = all_items.groupby("township_code").size()
    assert per_tw.reindex(tw.index, fill_value=0).tolist() == tw.astype(int).tolist()


def test_problem_items_of_the_demo_county_agree_with_the_rollup():
    a = assess(read_dataset(DEMO), load_settings())
    items = problem_items(a)
    assert items["key"].is_unique
    tw = a.rollup.townships
    by = items.groupby("indicator")
    assert by.size()["hard_road"] == tw["hr_not_connected"].sum()
    assert by["unit_code"].nunique()["services"] == tw["sv_not_ok"].sum()
    assert (
        by.size()["clinics"] == tw["cl_blank_admin_villages"].sum() + tw["cl_township_blank"].sum()
    )
    assert by.size()["water"] == a.water.result.rollup_townships["problems"].sum()
    # the roll-up's problem counts are the ledger's items, per indicator (services: one
    # per missing kind, not one per site)
    for code in a.indicators.table.codes:
        assert tw[f"problems_{code}"].sum() == by.size().get(code, 0), code
    assert tw["problems"].sum() == len(items)
    assert by.size()["services"] > by["unit_code"].nunique()["services"]  # a site lacks 2+
    builtin = items.loc[items["indicator"].isin(BUILTIN_CODES)]
    assert (
        builtin["key"]
        .str.fullmatch(
            r"hard_road:\d{12}-\d{2}|services:YM\d{2}:\w+|clinics:(admin_village:\d{12}|township:\d{9})"
            r"|water:\d{12}-\d{2}"
        )
        .all()
    )
    assert (items["key"].str.split(":").str[0] == items["indicator"]).all()  # every indicator
    assert (items["description"] != "").all() and (items["measure"] != "").all()
    assert items["problem_type"].str.len().gt(0).all()
    below = items["unit_kind"].isin(["natural_village", "relocation_site"])
    assert (items.loc[below, "village_name"] != "").all()
    hr = items.loc[items["indicator"] == "hard_road"]
    assert hr["description"].str.contains(r"需(?:硬化|新建) [\d.]+ 公里，估算 [\d.]+ 万元").all()


def test_water_hook_and_item_checks(runs):
    water = make_items(
        [{"key": "water:NV01", "indicator": "water", "unit_kind": "natural_village"}]
    )
    items = problem_items(runs[0], extra=[water])
    assert "water:NV01" in set(items["key"]) and len(items) == len(BASE_KEYS) + 1
    with pytest.raises(LedgerError, match="unique") as info:
        problem_items(runs[0], extra=[make_items([{"key": "hard_road:NV03"}])])
    assert "重复" in info.value.zh


def test_snapshots_keep_the_county_indicators_for_the_next_judgement(sqlite_ledger, tiny):
    """农村卫生厕所普及率 稳步提高: the previous snapshot's value becomes the target."""
    from geo.indicators import with_previous

    dataset, settings = tiny
    s1 = assess(dataset, settings)  # the whole table, 卫生厕所 included
    s2 = assess(_variant(dataset, paved=["R04"]), settings)
    led = sqlite_ledger
    d1 = led.record_snapshot(s1, actor=_admin("张三"))
    stored = led.snapshot_indicators(d1.b).set_index("code")
    assert set(stored.index) == set(s1.indicators.table.codes)
    county = s1.rollup.county.set_index("code")
    for code in stored.index:
        want = county.loc[code, "value"]
        got = stored.loc[code, "value"]
        assert (np.isnan(got) and np.isnan(want)) or got == pytest.approx(want), code
        assert stored.loc[code, "status"] == county.loc[code, "status"]
    # the run just recorded is not its own past; none before it
    assert led.previous_indicators(dataset_hash=s1.dataset_hash) is None
    d2 = led.record_snapshot(s2, actor=_admin("张三"))
    previous = led.previous_indicators(dataset_hash=s2.dataset_hash)
    assert set(previous["snapshot_id"]) == {d1.b}
    toilets_before = float(stored.loc["toilets", "value"])
    assert np.isfinite(toilets_before)  # the tiny county has 卫生厕所 figures
    judged = with_previous(s2.rollup.county, previous).set_index("code")
    assert judged.loc["toilets", "target"] == pytest.approx(toilets_before)
    assert judged.loc["hard_road", "target"] == s2.settings.targets.hard_road_rate_pct
    # a frame of items carries no indicator rows
    d3 = led.record_snapshot(
        problem_items(s2), actor=_admin("张三"), dataset_hash="h3", settings={}
    )
    assert led.snapshot_indicators(d3.b).empty
    assert set(led.previous_indicators()["snapshot_id"]) == {d2.b}


# ------------------------------------------------------------------ snapshots, diffs, workflow


def test_snapshot_sequence_new_persisting_disappeared_reopened(ledger, runs):
    s1, s2, s3 = runs
    d1 = ledger.record_snapshot(s1, actor=_admin("张三"))
    assert (d1.a, d1.b) == (None, 1)
    assert set(d1.new) == BASE_KEYS and d1.counts()["persisting"] == 0
    assert (ledger.items()["state"] == "open").all()

    d2 = ledger.record_snapshot(s2, actor=_admin("张三"), note="二季度")
    assert (d2.a, d2.b) == (1, 2)
    assert d2.new == ("hard_road:NV01",)
    assert set(d2.disappeared) == {"hard_road:NV03", "clinics:admin_village:640399200201"}
    assert len(d2.persisting) == 8 and d2.reopened == ()
    note = d2.frame.set_index("key").loc["hard_road:NV03", "note_zh"]
    assert "建议组织验收后销号" in note
    cur = ledger.items().set_index("key")
    assert cur.loc["hard_road:NV03", "suggest_close"]
    assert not cur.loc["hard_road:NV04", "suggest_close"]
    assert (cur["version"] == 1).all()  # persisting and disappeared items get no events

    # people work the list between the runs
    v = 1
    for state in ("整改中", "已整改待验收", "已销号"):
        v = ledger.transition(
            "hard_road:NV03",
            state,
            actor=_admin("李四"),
            expected_version=v,
            closed_on="2026-05-20",
        )["version"]
    assert ledger.item("hard_road:NV03")["closed_on"] == "2026-05-20"
    ledger.transition("services:S1:药店", "整改中", actor=_admin("王五"), expected_version=1)
    ledger.transition("services:S1:药店", "已整改待验收", actor=_admin("王五"), expected_version=2)
    ledger.transition(
        "hard_road:NV05", "暂缓", actor=_admin("李四"), expected_version=1, reason="纳入2027年计划"
    )
    ledger.transition(
        "services:S2:综合超市",
        "豁免",
        actor=_admin("李四"),
        expected_version=1,
        reason="安置点规模小",
    )

    d3 = ledger.record_snapshot(s3, actor=_admin("张三"))
    assert d3.reopened == ("hard_road:NV03",)  # 已销号, fails again: flagged
    assert d3.disappeared == ("hard_road:NV01",)
    assert d3.new == () and len(d3.persisting) == 8
    notes = d3.frame.set_index("key")["note_zh"]
    assert "已销号问题再次出现" in notes["hard_road:NV03"]
    assert "请核实后再验收" in notes["services:S1:药店"]  # claimed fixed, data disagrees

    nv03 = ledger.item("hard_road:NV03")
    assert nv03["state"] == "open" and nv03["reopened"] and nv03["reopen_count"] == 1
    assert nv03["closed_on"] is None and nv03["version"] == 5
    hist = ledger.history("hard_road:NV03")
    assert hist["action"].tolist() == [
        "created",
        "transition",
        "transition",
        "transition",
        "reopened",
    ]
    assert hist["version"].tolist() == [1, 2, 3, 4, 5]
    assert hist["snapshot_id"].tolist()[0] == 1 and hist["snapshot_id"].tolist()[-1] == 3
    assert hist["state_zh"].tolist() == ["待整改", "整改中", "已整改待验收", "已销号", "待整改"]
    assert hist.loc[3, "closed_on"] == "2026-05-20"  # the history keeps the old 销号日期

    cur = ledger.items().set_index("key")
    assert cur.loc["hard_road:NV05", "state"] == "deferred"  # a snapshot never moves these
    assert cur.loc["services:S2:综合超市", "state"] == "exempt"
    clinic = cur.loc["clinics:admin_village:640399200201"]
    assert clinic["state"] == "open" and not clinic["in_latest"] and clinic["suggest_close"]
    assert clinic["last_seen"] == 1 and clinic["first_seen"] == 1

    # any two snapshots compare; state is the current one
    d13 = ledger.diff(1, 3)
    assert d13.reopened == ("hard_road:NV03",)
    assert d13.disappeared == ("clinics:admin_village:640399200201",)
    assert d13.new == () and len(d13.persisting) == 8
    with pytest.raises(LedgerError):
        ledger.diff(3, 1)
    with pytest.raises(LedgerError):
        ledger.diff(1, 9)

    snaps = ledger.snapshots()
    assert snaps["id"].tolist() == [1, 2, 3]
    assert snaps["dataset_hash"].tolist() == [s1.dataset_hash, s2.dataset_hash, s3.dataset_hash]
    assert len(set(snaps["dataset_hash"])) == 3
    assert snaps["n_items"].tolist() == [10, 9, 9] and snaps["note"].tolist()[1] == "二季度"
    settings = {r["name"]: r["value"] for r in snaps.loc[0, "settings"]}
    assert settings["profile"] == "default" and settings["households_min"] == 20
    created = dt.datetime.fromisoformat(snaps.loc[0, "created_at"])
    assert created.utcoffset() == dt.timedelta(0)
    assert set(ledger.snapshot_items(2)["key"]) == set(d2.new) | set(d2.persisting)
    hints = ledger_table(ledger.items()).set_index("问题编号")["系统提示"]
    assert hints[_shown("hard_road:NV03")] == "销号后复发（第1次）"
    assert hints[_shown("clinics:admin_village:640399200201")] == "本期数据已不再发现，建议验收销号"
    assert ledger.verify() == []


def test_the_same_run_twice_is_the_same_items(ledger, runs):
    ledger.record_snapshot(runs[0], actor=_admin("张三"))
    before = _n_events(ledger)
    d = ledger.record_snapshot(runs[0], actor=_admin("张三"))
    assert set(d.persisting) == BASE_KEYS and d.new == d.disappeared == d.reopened == ()
    assert _n_events(ledger) == before


def _drive(led, key, target):
    """Bring a fresh item to ``target`` through legal steps; return its version."""
    paths = {
        State.OPEN: [],
        State.IN_PROGRESS: ["in_progress"],
        State.AWAITING_ACCEPTANCE: ["in_progress", "awaiting_acceptance"],
        State.CLOSED: ["in_progress", "awaiting_acceptance", "closed"],
        State.DEFERRED: ["deferred"],
        State.EXEMPT: ["exempt"],
    }
    v = 1
    for step in paths[target]:
        v = led.transition(key, step, actor=_admin("u"), expected_version=v, reason="理由")[
            "version"
        ]
    return v


def test_every_transition_is_allowed_or_refused_as_declared(ledger):
    pairs = [(a, b) for a in State for b in State]
    _record(ledger, [f"t:{i}" for i in range(len(pairs))])
    refused = 0
    for i, (a, b) in enumerate(pairs):
        key = f"t:{i}"
        v = _drive(ledger, key, a)
        if b in TRANSITIONS[a]:
            item = ledger.transition(key, b, actor=_admin("u"), expected_version=v, reason="理由")
            assert item["state"] == b and item["version"] == v + 1
        else:
            refused += 1
            with pytest.raises(IllegalTransitionError) as info:
                ledger.transition(key, b, actor=_admin("u"), expected_version=v, reason="理由")
            assert f"不能从“{a.zh}”直接改为“{b.zh}”" in info.value.zh
            assert ledger.item(key)["version"] == v  # nothing written
    assert sum(map(len, TRANSITIONS.values())) == 14  # the moves drawn in geo.ledger.states
    assert refused == 36 - 14  # every other pair, staying put included, is refused
    assert ledger.verify() == []


def test_reasons_are_required_where_declared(ledger):
    _record(ledger, ["r:1", "r:2", "r:3"])
    for state in REASON_REQUIRED:
        with pytest.raises(IllegalTransitionError, match="needs a reason") as info:
            ledger.transition("r:1", state, actor=_admin("u"), expected_version=1, reason="  ")
        assert "必须填写原因说明" in info.value.zh
    ledger.transition("r:1", "暂缓", actor=_admin("u"), expected_version=1, reason="资金未落实")
    with pytest.raises(IllegalTransitionError):  # cannot blank the reason while 暂缓
        ledger.update("r:1", actor=_admin("u"), expected_version=2, reason="")
    assert (
        ledger.transition("r:1", "待整改", actor=_admin("u"), expected_version=2)["reason"] is None
    )
    # reopening a 已销号 item by hand needs a reason and counts as a reopening
    v = _drive(ledger, "r:2", State.CLOSED)
    with pytest.raises(IllegalTransitionError):
        ledger.transition("r:2", "待整改", actor=_admin("u"), expected_version=v)
    item = ledger.transition(
        "r:2", "待整改", actor=_admin("u"), expected_version=v, reason="验收有误"
    )
    assert item["reopen_count"] == 1 and item["closed_on"] is None


def test_fields_users_dates_and_unknown_items(sqlite_ledger):
    clock = iter(
        dt.datetime(2026, 6, 30, 17, 0, tzinfo=dt.UTC) + dt.timedelta(seconds=i) for i in range(99)
    )
    led = Ledger(sqlite_ledger.path, clock=lambda: next(clock))
    _record(led, ["f:1"])
    item = led.update(
        "f:1",
        actor=_admin("赵六"),
        expected_version=1,
        responsible_unit=" 县交通运输局 ",
        deadline="2026年9月30日",
        project="XM-2026-001",
        evidence=["evidence/a.jpg", "evidence/b.pdf"],
    )
    assert item["responsible_unit"] == "县交通运输局" and item["deadline"] == "2026-09-30"
    assert item["evidence"] == "evidence/a.jpg\nevidence/b.pdf"
    assert item["updated_by"] == "赵六" and item["updated_at"].startswith("2026-06-30T17:00")
    # a no-op edit writes no event
    assert (
        led.update("f:1", actor=_admin("赵六"), expected_version=2, project="XM-2026-001")[
            "version"
        ]
        == 2
    )
    with pytest.raises(LedgerError, match="not a date") as info:
        led.update("f:1", actor=_admin("u"), expected_version=2, deadline="下个月")
    assert "不是有效日期" in info.value.zh
    with pytest.raises(LedgerError, match="unknown ledger field"):
        led.update("f:1", actor=_admin("u"), expected_version=2, state="closed")
    with pytest.raises(LedgerError, match="closed_on"):
        led.update("f:1", actor=_admin("u"), expected_version=2, closed_on="2026-07-01")
    with pytest.raises(LedgerError, match="actor=Actor"):
        led.update("f:1", actor=" ", expected_version=2, notes="x")
    with pytest.raises(ItemNotFoundError) as info:
        led.transition("f:404", "整改中", actor=_admin("u"), expected_version=1)
    assert "没有编号为“f:404”" in info.value.zh
    with pytest.raises(ItemNotFoundError):
        led.history("f:404")
    # 销号日期 defaults to today in China time (17:00 UTC on 30 June is 1 July in Ningxia)
    v = 2
    for step in ("整改中", "已整改待验收", "已销号"):
        v = led.transition("f:1", step, actor=_admin("u"), expected_version=v)["version"]
    assert led.item("f:1")["closed_on"] == "2026-07-01"
    led.close()


def test_stale_version_is_a_conflict_and_the_refused_edit_is_kept(ledger):
    _record(ledger, ["c:1"])
    ledger.update("c:1", actor=_admin("甲"), expected_version=1, notes="甲的备注")
    with pytest.raises(ConflictError) as info:
        ledger.transition(
            "c:1", "整改中", actor=_admin("乙"), expected_version=1, responsible_unit="乙单位"
        )
    err = info.value
    assert (err.expected_version, err.actual_version, err.changed_by) == (1, 2, "甲（县级管理员）")
    assert "已被 甲（县级管理员） 于" in err.zh and "本次修改未保存" in err.zh
    item = ledger.item("c:1")
    assert item["notes"] == "甲的备注" and item["responsible_unit"] is None
    hist = ledger.history("c:1", include_rejected=True)
    assert hist["outcome"].tolist() == ["applied", "applied", "rejected"]
    assert hist.iloc[-1]["user"] == "乙" and "责任单位 → 乙单位" in hist.iloc[-1]["changes_zh"]
    assert len(ledger.history("c:1")) == 2


def test_apply_changes_is_all_or_nothing(ledger):
    _record(ledger, ["b:1", "b:2"])
    ledger.update("b:2", actor=_admin("甲"), expected_version=1, notes="先改")
    with pytest.raises(ConflictError):
        ledger.apply_changes(
            [
                Change("b:1", 1, State.IN_PROGRESS, {"responsible_unit": "单位"}),
                Change("b:2", 1, None, {"notes": "后改"}),
            ],
            actor=_admin("乙"),
        )
    assert ledger.item("b:1")["version"] == 1 and ledger.item("b:1")["state"] == "open"
    assert ledger.item("b:2")["notes"] == "先改"


def test_history_is_append_only_and_versions_unique_in_the_database(ledger):
    _record(ledger, ["a:1"])
    sqlite = ledger.engine.dialect.name == "sqlite"
    with ledger.engine.connect() as conn:
        if sqlite:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000
        conn.rollback()
        statements = [
            "UPDATE events SET state = 'closed'",
            "DELETE FROM events",
            "DELETE FROM snapshots",
            "UPDATE snapshot_items SET text_hash = ''",
            "UPDATE item_texts SET description = ''",
        ]
        if not sqlite:
            statements.append("TRUNCATE events CASCADE")
        for stmt in statements:
            with pytest.raises(sa.exc.DBAPIError, match="append-only"), conn.begin():
                conn.exec_driver_sql(stmt)
        # the second writer of version 2 is refused by the database itself
        row = dict(conn.execute(sa.text("SELECT * FROM events")).mappings().one())
        row.pop("id")
        conn.rollback()
        with pytest.raises(sa.exc.IntegrityError), conn.begin():
            for version in (2, 2):
                conn.execute(
                    sa.text(
                        f"INSERT INTO events ({', '.join(row)}) "
                        f"VALUES ({', '.join(':' + k for k in row)})"
                    ),
                    {**row, "version": version},
                )
    assert ledger.item("a:1")["version"] == 1 and ledger.verify() == []


def test_a_folder_or_a_file_and_reopening(tmp_path):
    with Ledger(tmp_path / "县台账") as led:
        _record(led, ["p:1"])
        assert led.path == (tmp_path / "县台账" / "gapmap_ledger.sqlite").resolve()
    with Ledger(tmp_path / "县台账" / "gapmap_ledger.sqlite") as again:
        assert again.items()["key"].tolist() == ["p:1"]
    with Ledger(f"sqlite:///{tmp_path / 'other.db'}") as by_url:
        assert by_url.items().empty and by_url.path == (tmp_path / "other.db").resolve()


def test_attach_evidence_copies_the_file(sqlite_ledger, tmp_path):
    _record(sqlite_ledger, ["e:1"])
    photo = tmp_path / "路面.jpg"
    photo.write_bytes(b"\xff\xd8jpeg")
    item = sqlite_ledger.attach_evidence("e:1", photo, actor=_admin("u"), expected_version=1)
    (rel,) = item["evidence"].splitlines()
    assert rel.startswith("evidence/e_1/") and rel.endswith("_路面.jpg")
    assert (sqlite_ledger.evidence_dir.parent / rel).read_bytes() == b"\xff\xd8jpeg"
    with pytest.raises(ConflictError):
        sqlite_ledger.attach_evidence("e:1", photo, actor=_admin("u"), expected_version=1)
    assert (
        len(list((sqlite_ledger.evidence_dir / "e_1").iterdir())) == 1
    )  # the refused copy is gone


def test_evidence_names_with_line_breaks_or_path_parts_stay_one_file(sqlite_ledger, tmp_path):
    """A browser-given name like "a\\nledger.sqlite" must not add a second evidence path."""
    _record(sqlite_ledger, ["e:2"])
    odd = tmp_path / "照片\n..\\ledger.sqlite\t.jpg"
    odd.write_bytes(b"x")
    item = sqlite_ledger.attach_evidence("e:2", odd, actor=_admin("u"), expected_version=1)
    (rel,) = item["evidence"].splitlines()  # one path, not two
    assert rel.startswith("evidence/e_2/") and "\n" not in rel and "\\" not in rel
    stored = sqlite_ledger.evidence_dir.parent / rel
    assert stored.read_bytes() == b"x"
    assert stored.resolve().is_relative_to(sqlite_ledger.evidence_dir.resolve())


# ------------------------------------------------------------------ two processes, crashes


def _worker(*args):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.ledger_worker", *map(str, args)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait(path, proc, timeout_s=30.0):
    end = time.monotonic() + timeout_s
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(proc.stderr.read())
        assert time.monotonic() < end, "worker did not start"
        time.sleep(0.005)


def test_two_editors_in_two_processes_one_wins_none_is_lost(ledger, tmp_path):
    _record(ledger, ["hard_road:NV03"])
    go = tmp_path / "go"
    edits = {"甲": ("notes", "甲：已联系施工队"), "乙": ("responsible_unit", "县交通运输局")}
    procs = {}
    for user, (field, value) in edits.items():
        ready = tmp_path / f"ready-{user}"
        procs[user] = _worker(
            "edit", "--db", _db(ledger), "--key", "hard_road:NV03", "--user", user,
            "--field", field, "--value", value, "--ready", ready, "--go", go,
        )  # fmt: skip
        _wait(ready, procs[user])
    go.touch()  # both read version 1; now both save it
    out = {}
    for user, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=60)
        assert proc.returncode == 0, stderr
        out[user] = [json.loads(line) for line in stdout.splitlines()]
    outcomes = sorted(o[0]["outcome"] for o in out.values())
    assert outcomes == ["conflict", "won"]  # exactly one wins
    loser = next(u for u, o in out.items() if o[0]["outcome"] == "conflict")
    winner = next(u for u in out if u != loser)
    assert out[loser][0]["actual"] == 2 and "本次修改未保存" in out[loser][0]["zh"]
    assert out[loser][1] == {"outcome": "retried", "version": 3}
    hist = ledger.history("hard_road:NV03", include_rejected=True)
    applied = hist[hist["outcome"] == "applied"]
    assert applied["user"].tolist() == ["测试", winner, loser]
    assert applied["version"].tolist() == [1, 2, 3]
    refused = hist[hist["outcome"] == "rejected"]
    assert refused["user"].tolist() == [loser] and refused["expected_version"].tolist() == [1]
    item = ledger.item("hard_road:NV03")  # both edits are there: no lost update
    assert item["notes"] == "甲：已联系施工队" and item["responsible_unit"] == "县交通运输局"
    assert ledger.verify() == []


def test_killing_a_writer_mid_snapshot_leaves_the_ledger_consistent(sqlite_ledger, tmp_path):
    _record(sqlite_ledger, ["k:1", "k:2"])
    sqlite_ledger.transition("k:1", "整改中", actor=_admin("u"), expected_version=1)
    before = sqlite_ledger.items()
    marker = tmp_path / "mid-write"
    proc = _worker("crash-snapshot", "--db", sqlite_ledger.path, "--marker", marker, "--n", 6000)
    try:
        _wait(marker, proc)
        wal = Path(f"{sqlite_ledger.path}-wal")
        assert wal.stat().st_size > 4_000_000  # uncommitted pages of the snapshot on disk
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    with Ledger(sqlite_ledger.path) as after:
        assert after.verify() == []
        assert after.snapshots()["id"].tolist() == [1]
        pd.testing.assert_frame_equal(after.items(), before)
        d = _record(after, ["k:2", "k:3"])  # and it takes writes again
        assert (d.a, d.b, d.new, d.disappeared) == (1, 2, ("k:3",), ("k:1",))
        assert after.verify() == []


def test_killing_an_editor_at_a_random_moment_loses_only_the_unfinished_edit(
    sqlite_ledger, tmp_path
):
    _record(sqlite_ledger, ["loop:1"])
    rng = random.Random(20260601)
    last = 1
    for round_ in range(2):
        marker = tmp_path / f"looping-{round_}"
        proc = _worker(
            "crash-loop", "--db", sqlite_ledger.path, "--key", "loop:1", "--marker", marker
        )
        try:
            _wait(marker, proc)
            time.sleep(rng.uniform(0.05, 0.3))
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.communicate(timeout=30)
        with Ledger(sqlite_ledger.path) as after:
            assert after.verify() == []
            item = after.item("loop:1")
            hist = after.history("loop:1")
            assert item["version"] > last and hist["version"].tolist() == list(
                range(1, item["version"] + 1)
            )
            assert item["notes"] == hist.iloc[-1]["notes"]
            last = item["version"]


# ------------------------------------------------------------------ XLSX


def test_export_in_the_county_layout(ledger, runs, tmp_path):
    ledger.record_snapshot(runs[0], actor=_admin("张三"))
    ledger.transition(
        "hard_road:NV03",
        "整改中",
        actor=_admin("李四"),
        expected_version=1,
        responsible_unit="交通局",
    )
    out = export_xlsx(ledger, tmp_path / "out" / "台账.xlsx")
    assert sorted(p.name for p in out.parent.iterdir()) == ["台账.xlsx"]  # atomic, no temp
    wb = openpyxl.load_workbook(out)
    ws = wb[SHEET]
    header = [c.value for c in ws[TITLE_ROWS + 1]]
    assert tuple(header[: len(OFFICE_COLUMNS)]) == OFFICE_COLUMNS
    assert tuple(header) == EXPORT_COLUMNS
    body = ws.iter_rows(min_row=TITLE_ROWS + 2, values_only=True)
    rows = pd.DataFrame(list(body), columns=header)
    assert len(rows) == len(BASE_KEYS) and rows["序号"].tolist() == list(range(1, 11))
    nv03 = rows.set_index("问题编号").loc[_shown("hard_road:NV03")]
    assert (nv03["乡镇"], nv03["行政村"], nv03["自然村"]) == ("甲镇", "乙村", "砂沟")
    assert (nv03["整改状态"], nv03["责任单位"], nv03["版本"]) == ("整改中", "交通局", 2)
    assert nv03["问题类型"] == "未通硬化路" and "1.5 公里" in nv03["问题描述"]
    assert set(rows["整改状态"]) <= set(STATE_ZH.values())
    (dv,) = ws.data_validations.dataValidation
    assert dv.formula1 == '"待整改,整改中,已整改待验收,已销号,暂缓,豁免"'
    assert "填写说明" in wb.sheetnames
    only = export_xlsx(ledger, tmp_path / "乙乡.xlsx", township="乙乡", indicator="hard_road")
    assert openpyxl.load_workbook(only)[SHEET].max_row == TITLE_ROWS + 1 + 2  # NV05, NV07


def _shown(key: str) -> str:
    """问题编号 as the exported sheet spells ``key`` (the indicator's Chinese name first)."""
    return item_key_zh(key, INDICATOR_ZH)


def _edit_sheet(path, edits):
    """Edit cells as a person would in Excel: {(key, column): value}; return key → Excel row."""
    wb = openpyxl.load_workbook(path)
    ws = wb[SHEET]
    head = TITLE_ROWS + 1
    header = [c.value for c in ws[head]]
    shown = {
        ws.cell(r, header.index("问题编号") + 1).value: r for r in range(head + 1, ws.max_row + 1)
    }
    keys = {_shown(k): k for k in {k for k, _ in edits} | set(BASE_KEYS)}
    rows = {keys.get(v, v): r for v, r in shown.items()}
    for (key, col), value in edits.items():
        ws.cell(rows[key], header.index(col) + 1).value = value
    wb.save(path)
    return rows


def test_import_edits_back(ledger, runs, tmp_path):
    ledger.record_snapshot(runs[0], actor=_admin("张三"))
    path = export_xlsx(ledger, tmp_path / "台账.xlsx")
    rows = _edit_sheet(
        path,
        {
            ("hard_road:NV03", "整改状态"): "整改中",
            ("hard_road:NV03", "责任单位"): "县交通运输局",
            ("hard_road:NV03", "完成时限"): dt.datetime(2026, 9, 30),  # a real Excel date
            ("hard_road:NV05", "整改状态"): "暂缓",
            ("hard_road:NV05", "原因说明"): "纳入2027年项目库",
            ("services:S1:药店", "备注"): "已与医药公司洽谈",
            ("services:S1:药店", "关联项目"): 2026001,  # typed as a number
            ("hard_road:NV04", "问题描述"): "改了描述",  # read-only: a warning, not imported
        },
    )
    result = import_xlsx(ledger, path, actor=_admin("县乡村振兴局"))
    assert result.applied and result.errors == () and result.rows == 10
    assert len(result.changes) == 3
    (warning,) = result.problems
    assert (warning.severity, warning.row, warning.field) == (
        "warning",
        rows["hard_road:NV04"],
        "问题描述",
    )
    cur = ledger.items().set_index("key")
    nv03 = cur.loc["hard_road:NV03"]
    assert (nv03["state"], nv03["responsible_unit"], nv03["deadline"]) == (
        "in_progress",
        "县交通运输局",
        "2026-09-30",
    )
    assert cur.loc["hard_road:NV05", "state"] == "deferred"
    assert cur.loc["hard_road:NV05", "reason"] == "纳入2027年项目库"
    assert cur.loc["services:S1:药店", "project"] == "2026001"
    assert cur.loc["hard_road:NV04", "description"].startswith("附近无道路")
    assert ledger.history("hard_road:NV03").iloc[-1]["user"] == "县乡村振兴局"
    # importing the same workbook again: its versions are now stale
    again = import_xlsx(ledger, path, actor=_admin("县乡村振兴局"))
    assert not again.applied and {p.feature_id for p in again.errors} >= {"hard_road:NV03"}


def test_import_with_bad_rows_applies_nothing(ledger, runs, tmp_path):
    ledger.record_snapshot(runs[0], actor=_admin("张三"))
    path = export_xlsx(ledger, tmp_path / "台账.xlsx")
    rows = _edit_sheet(
        path,
        {
            ("clinics:admin_village:640399200202", "整改状态"): "已销号",  # skips 3 steps
            ("hard_road:NV04", "整改状态"): "暂缓",  # no reason
            ("hard_road:NV05", "完成时限"): "年底前",
            ("hard_road:NV07", "整改状态"): "完成了",
            ("services:S1:药店", "问题编号"): "services:S9:药店",
            ("services:S2:药店", "问题编号"): "hard_road:NV03",  # the same item twice
            ("services:S2:综合超市", "责任单位"): "县商务局",  # a good row: still not applied
        },
    )
    ledger.update("clinics:township:640399200", actor=_admin("他人"), expected_version=1, notes="x")
    _edit_sheet(path, {("clinics:township:640399200", "责任单位"): "县卫健局"})
    events = _n_events(ledger)
    result = import_xlsx(ledger, path, actor=_admin("县乡村振兴局"))
    assert not result.applied
    got = {(p.row, p.field, p.kind) for p in result.errors}
    assert got == {
        (rows["clinics:admin_village:640399200202"], "整改状态", "value_not_allowed"),
        (rows["hard_road:NV04"], "原因说明", "missing_value"),
        (rows["hard_road:NV05"], "完成时限", "wrong_type"),
        (rows["hard_road:NV07"], "整改状态", "value_not_allowed"),
        (rows["services:S1:药店"], "问题编号", "unknown_code"),
        (rows["services:S2:药店"], "问题编号", "duplicate_id"),  # both rows of the key
        (rows["hard_road:NV03"], "问题编号", "duplicate_id"),
        (rows["clinics:township:640399200"], "版本", "value_not_allowed"),
    }
    msgs = {p.row: p.message_zh for p in result.errors}
    assert (
        msgs[rows["clinics:admin_village:640399200202"]] == "整改状态不能从“待整改”直接改为“已销号”"
    )
    assert "已被 他人 修改" in msgs[rows["clinics:township:640399200"]]
    assert all(re.search(r"[\u4e00-\u9fff]", p.fix_zh) for p in result.errors)
    assert _n_events(ledger) == events  # nothing applied, not even the good row
    assert ledger.item("services:S2:综合超市")["responsible_unit"] is None


def test_import_needs_the_key_columns(sqlite_ledger, runs, tmp_path):
    sqlite_ledger.record_snapshot(runs[0], actor=_admin("张三"))
    path = tmp_path / "手填.xlsx"
    pd.DataFrame({"序号": [1], "乡镇": ["甲镇"], "整改状态": ["整改中"]}).to_excel(
        path, index=False
    )
    result = import_xlsx(sqlite_ledger, path, actor=_admin("u"))
    assert not result.applied
    assert {(p.field, p.kind) for p in result.errors} == {
        ("问题编号", "missing_field"),
        ("版本", "missing_field"),
    }


def test_water_items_are_exactly_the_failing_villages_and_go_through_the_ledger(tmp_path):
    from geo.assessment import assess
    from geo.ledger.items import problem_items, water_items
    from geo.settings import load_settings
    from geo.water import assess_water
    from layers.dataset import read_dataset

    dataset = read_dataset(ROOT / "data" / "demo" / "tongxin.gpkg")
    settings = load_settings()
    _, _, water = assess_water(dataset, settings)
    items = water_items(water)
    failing = water.villages.loc[water.villages["status"] != "ok", "id"]
    assert set(items["key"]) == {f"water:{v}" for v in failing}
    assert len(items) == 18  # 15 off the network + 3 at low pressure, as planted
    low = items[items["cause"] == "low_pressure"]
    assert len(low) == 3 and low["description"].str.contains("低于所需 10 米").all()
    a = assess(dataset, settings)  # runs the water analysis itself: no extra= to remember
    everything = problem_items(a)
    base = everything["indicator"].isin(["hard_road", "services", "clinics", "water"])
    assert base.sum() == 33 + 18  # the four built-in indicators' items, as before
    from_assessment = everything.loc[everything["indicator"] == "water"].reset_index(drop=True)
    pd.testing.assert_frame_equal(from_assessment, items.reset_index(drop=True), check_dtype=False)
    ledger = Ledger(tmp_path)
    diff = ledger.record_snapshot(
        everything, actor=_admin("测试"), dataset_hash=dataset.content_hash, settings=settings
    )
    assert len(diff.new) == len(everything)
