"""The role matrix of the 整改台账: every role × every write action, allowed and refused.

On SQLite and, with GAPMAP_TEST_PG_URL, on PostgreSQL (where row-level security applies the
same matrix to raw SQL: see test_row_level_security_refuses_another_townships_item).
"""

from __future__ import annotations

import pandas as pd
import pytest
import sqlalchemy as sa

from geo.labels import item_key_zh
from geo.ledger import (
    Change,
    Ledger,
    LedgerError,
    PermissionDeniedError,
    State,
    allowed_transitions,
    export_xlsx,
    import_xlsx,
    make_items,
    may,
    read_xlsx,
)
from geo.ledger.items import INDICATOR_ZH
from geo.ledger.permissions import Action
from layers.store.actors import Actor
from tests.pg import PG_URL, fresh_database

T1, T2 = "640324103", "640324104"

ADMIN = Actor.of("county_admin", "admin", display_name="县管理员")
TOWN = Actor.of("wangming", "township", townships=[T1], display_name="王明")
DEPT = Actor.of("water_bureau", "department", department="水务局", display_name="水务局李")
VERIFIER = Actor.of("verifier", "verifier", display_name="验收组")
VIEWER = Actor.of("leader", "viewer", display_name="县领导")
ACTORS = {"admin": ADMIN, "township": TOWN, "department": DEPT, "verifier": VERIFIER,
          "viewer": VIEWER}  # fmt: skip

# item kinds: A = township T1, indicator hard_road (the township editor's);
#             B = township T2, indicator water (the water bureau's)
KIND = {"A": (T1, "hard_road"), "B": (T2, "water")}
PATH = {
    State.OPEN: [],
    State.IN_PROGRESS: [State.IN_PROGRESS],
    State.AWAITING_ACCEPTANCE: [State.IN_PROGRESS, State.AWAITING_ACCEPTANCE],
    State.CLOSED: [State.IN_PROGRESS, State.AWAITING_ACCEPTANCE, State.CLOSED],
}

# (case, item kind, start state, action, to_state, fields) and the roles that may do it
CASES = [
    ("A 待整改→整改中", "A", State.OPEN, "transition", State.IN_PROGRESS, {}, "admin township"),
    ("A 整改中→待验收", "A", State.IN_PROGRESS, "transition", State.AWAITING_ACCEPTANCE, {},
     "admin township"),
    ("A 待验收→已销号", "A", State.AWAITING_ACCEPTANCE, "transition", State.CLOSED,
     {"closed_on": "2026-06-30"}, "admin verifier"),
    ("A 验收不通过→整改中", "A", State.AWAITING_ACCEPTANCE, "transition", State.IN_PROGRESS,
     {"notes": "路面未硬化完"}, "admin verifier"),
    ("A →暂缓", "A", State.OPEN, "transition", State.DEFERRED, {"reason": "资金"}, "admin"),
    ("A →豁免", "A", State.IN_PROGRESS, "transition", State.EXEMPT, {"reason": "搬迁"}, "admin"),
    ("A 已销号→重新打开", "A", State.CLOSED, "transition", State.OPEN, {"reason": "复核"},
     "admin"),
    ("A 改备注", "A", State.OPEN, "update", None, {"notes": "已进场"}, "admin township"),
    ("A 改措施/单位/时限/项目", "A", State.IN_PROGRESS, "update", None,
     {"measure": "硬化", "responsible_unit": "交通局", "deadline": "2026-09-30",
      "project": "XM-1"}, "admin township"),
    ("A 改原因说明", "A", State.OPEN, "update", None, {"reason": "改"}, "admin"),
    ("A 改销号日期", "A", State.CLOSED, "update", None, {"closed_on": "2026-07-01"}, "admin"),
    ("B 改备注", "B", State.OPEN, "update", None, {"notes": "水务"}, "admin department"),
    ("B 待整改→整改中", "B", State.OPEN, "transition", State.IN_PROGRESS, {},
     "admin department"),
    ("A 佐证材料", "A", State.OPEN, "evidence", None, {}, "admin township"),
    ("B 佐证材料", "B", State.OPEN, "evidence", None, {}, "admin department"),
    ("A 导入备注", "A", State.OPEN, "import", None, {"notes": "表中填写"}, "admin township"),
    ("B 导入备注", "B", State.OPEN, "import", None, {"notes": "表中填写"}, "admin department"),
    ("A 采纳方案", "A", State.OPEN, "accept_plan", None, {"project": "方案1"}, "admin"),
]  # fmt: skip


def _items(keys_kinds):
    keys = [k for k, _ in keys_kinds]
    return make_items(
        {
            "key": keys,
            "indicator": [KIND[c][1] for _, c in keys_kinds],
            "unit_kind": "natural_village",
            "unit_code": [k.split(":")[-1] for k in keys],
            "township_code": [KIND[c][0] for _, c in keys_kinds],
            "township_name": ["韦州镇" if c == "A" else "下马关镇" for _, c in keys_kinds],
            "problem_type": "测试",
            "description": "测试",
            "measure": "硬化",
        }
    )


@pytest.fixture(
    # the server where there is one (.ci/run starts it): the same API there, plus row-level
    # security; SQLite otherwise. Both at once cost the suite time for little more
    params=["postgresql" if PG_URL else "sqlite"]
)
def ledger(request, tmp_path):
    """A fresh ledger on SQLite, and on PostgreSQL when a server is given."""
    if request.param == "sqlite":
        with Ledger(tmp_path / "data") as led:
            yield led
        return
    with fresh_database() as url, Ledger(url, evidence_dir=tmp_path / "evidence") as led:
        yield led


def _prepare(ledger):
    """One item per case, brought to the case's start state by the administrator."""
    keys = [(f"case:{i:02d}", kind) for i, (_, kind, *_rest) in enumerate(CASES)]
    ledger.record_snapshot(_items(keys), actor=ADMIN, dataset_hash="h", settings={})
    for (key, _), (_, _, start, *_rest) in zip(keys, CASES, strict=True):
        v = 1
        for step in PATH[start]:
            v = ledger.transition(key, step, actor=ADMIN, expected_version=v)["version"]
    return [k for k, _ in keys]


def _attempt(ledger, actor, key, action, to_state, fields, tmp_path):
    v = int(ledger.item(key)["version"])
    if action == "transition":
        reason = fields.get("reason")
        rest = {k: x for k, x in fields.items() if k != "reason"}
        ledger.transition(key, to_state, actor=actor, expected_version=v, reason=reason, **rest)
    elif action == "update":
        ledger.update(key, actor=actor, expected_version=v, **fields)
    elif action == "evidence":
        photo = tmp_path / "照片.jpg"
        photo.write_bytes(b"\xff\xd8photo")
        ledger.attach_evidence(key, photo, actor=actor, expected_version=v)
    elif action == "accept_plan":
        ledger.apply_changes([Change(key, v, None, fields)], actor=actor, accept_plan=True)
    elif action == "import":
        path = export_xlsx(ledger, tmp_path / f"{key.replace(':', '_')}.xlsx")
        frame = read_xlsx(path)
        frame.loc[frame["问题编号"] == item_key_zh(key, INDICATOR_ZH), "备注"] = fields["notes"]
        result = import_xlsx(ledger, frame, actor=actor)
        if result.refused:
            raise PermissionDeniedError(actor, Action.IMPORT, key, "row refused", "本行被拒绝")
        assert result.applied, result.problems
    return int(ledger.item(key)["version"]) > v


@pytest.mark.parametrize("role", list(ACTORS))
def test_every_role_and_every_write_action(ledger, role, tmp_path):
    actor = ACTORS[role]
    ledger.register_actor(actor)
    keys = _prepare(ledger)
    refused_keys = []
    for key, (case, _kind, _start, action, to_state, fields, who) in zip(keys, CASES, strict=True):
        allowed = role in who.split()
        item = ledger.item(key)
        if action == "transition":
            assert (to_state in allowed_transitions(actor, item)) is allowed, case
        if allowed:
            assert _attempt(ledger, actor, key, action, to_state, fields, tmp_path), case
            hist = ledger.history(key)
            assert hist.iloc[-1]["user"] == actor.username, case
            assert hist.iloc[-1]["user_label"] == actor.label, case
        else:
            before = ledger.item(key)["version"]
            with pytest.raises(PermissionDeniedError) as info:
                _attempt(ledger, actor, key, action, to_state, fields, tmp_path)
            assert actor.display_name in info.value.zh and info.value.zh.endswith("未保存。"), case
            assert ledger.item(key)["version"] == before, case  # nothing saved
            if action == "import" and role in ("verifier", "viewer"):
                continue  # refused as a whole, before any row: audited without an item
            refused_keys.append(key)
            shown = ledger.history(key, include_rejected=True)
            assert "refused" in set(shown["outcome"]), case
            assert "refused" not in set(ledger.history(key)["outcome"])
    # the snapshot, a county-level action
    if role == "admin":
        ledger.record_snapshot(_items([("case:00", "A")]), actor=actor, dataset_hash="h2",
                               settings={})  # fmt: skip
    else:
        with pytest.raises(PermissionDeniedError, match="may not snapshot"):
            ledger.record_snapshot(_items([("case:00", "A")]), actor=actor, dataset_hash="h2",
                                   settings={})  # fmt: skip
    audit = ledger.refusals()
    assert set(refused_keys) <= set(audit["item_key"].dropna())
    assert (audit["by_user"] == actor.username).all()
    if role != "admin":
        assert "snapshot" in set(audit["action"])
        assert audit["by_label"].str.contains(actor.role.zh).all()
    assert ledger.verify() == []


def test_may_without_an_item_is_what_the_ui_shows():
    assert may(ADMIN, "snapshot") and not may(TOWN, "snapshot") and not may(VIEWER, "update")
    assert may(TOWN, "import") and may(DEPT, "update") and not may(VERIFIER, "import")
    item_a = {"key": "a", "state": "open", "township_code": T1, "indicator": "hard_road"}
    item_b = {"key": "b", "state": "open", "township_code": T2, "indicator": "water"}
    assert allowed_transitions(TOWN, item_a) == {State.IN_PROGRESS}
    assert allowed_transitions(TOWN, item_b) == set()
    assert allowed_transitions(DEPT, item_b) == {State.IN_PROGRESS}
    assert allowed_transitions(ADMIN, item_a) == {State.IN_PROGRESS, State.DEFERRED, State.EXEMPT}
    assert allowed_transitions(VERIFIER, {**item_b, "state": "awaiting_acceptance"}) == {
        State.CLOSED,
        State.IN_PROGRESS,
    }
    assert allowed_transitions(VIEWER, item_a) == set()
    assert not may(TOWN, "update", item_a, fields={"reason"})
    assert may(TOWN, "update", item_a, fields={"notes", "evidence"})


def test_a_township_import_applies_its_rows_and_lists_the_others(ledger, tmp_path):
    ledger.register_actor(TOWN)
    ledger.record_snapshot(
        _items([("hard_road:A1", "A"), ("water:B1", "B")]),
        actor=ADMIN,
        dataset_hash="h",
        settings={},
    )
    frame = read_xlsx(export_xlsx(ledger, tmp_path / "all.xlsx"))
    frame["备注"] = "乡镇填写"
    result = import_xlsx(ledger, frame, actor=TOWN)
    assert result.applied
    assert [c.key for c in result.changes] == ["hard_road:A1"]
    assert [c.key for c in result.refused] == ["water:B1"]
    listed = [p for p in result.problems if p.feature_id == "water:B1"]
    assert listed and "无权修改本行" in listed[0].message_zh and listed[0].row is not None
    assert ledger.item("hard_road:A1")["notes"] == "乡镇填写"
    assert ledger.item("water:B1")["notes"] is None
    audit = ledger.refusals()
    assert audit[["item_key", "action"]].values.tolist() == [["water:B1", "import"]]


def test_actor_is_required_and_typed_names_are_refused(ledger):
    ledger.record_snapshot(_items([("hard_road:A1", "A")]), actor=ADMIN, dataset_hash="h",
                           settings={})  # fmt: skip
    with pytest.raises(LedgerError, match="actor=Actor"):
        ledger.update("hard_road:A1", actor="县长（冒名）", expected_version=1, notes="x")
    with pytest.raises(TypeError):
        ledger.update("hard_road:A1", user="县长（冒名）", expected_version=1, notes="x")


@pytest.mark.skipif(not PG_URL, reason="set GAPMAP_TEST_PG_URL")
def test_row_level_security_refuses_another_townships_item(tmp_path):
    with fresh_database() as url, Ledger(url, evidence_dir=tmp_path / "ev") as led:
        role = led.register_actor(TOWN)
        assert role == led.register_actor(TOWN)  # idempotent
        led.record_snapshot(
            _items([("hard_road:A1", "A"), ("water:B1", "B")]),
            actor=ADMIN,
            dataset_hash="h",
            settings={},
        )
        cols = "item_key, version, at, by_user, action, from_state, state, reopen_count, changes"

        def insert(conn, key, by_user, to_state="in_progress"):
            conn.exec_driver_sql(
                f"INSERT INTO events ({cols}) VALUES (%(k)s, 2, 'now', %(u)s, "
                "'transition', 'open', %(s)s, 0, '{}')",
                {"k": key, "u": by_user, "s": to_state},
            )

        engine = sa.create_engine(url)
        try:
            for key, by_user, to_state, ok in [
                ("water:B1", TOWN.username, "in_progress", False),  # another township
                ("hard_road:A1", "county_admin", "in_progress", False),  # forged by_user
                ("hard_road:A1", TOWN.username, "closed", False),  # a verifier's move
                ("hard_road:A1", TOWN.username, "in_progress", True),  # its own item
            ]:
                with engine.connect() as conn:
                    conn.begin()
                    conn.exec_driver_sql(f'SET LOCAL ROLE "{role}"')
                    if ok:
                        insert(conn, key, by_user, to_state)
                        conn.commit()
                        continue
                    with pytest.raises(sa.exc.DBAPIError) as info:
                        insert(conn, key, by_user, to_state)
                    assert info.value.orig.sqlstate == "42501", (key, by_user)
                    conn.rollback()
            # and a township role cannot write a snapshot at all
            with engine.connect() as conn, conn.begin():
                conn.exec_driver_sql(f'SET LOCAL ROLE "{role}"')
                with pytest.raises(sa.exc.DBAPIError) as info:
                    conn.exec_driver_sql(
                        "INSERT INTO snapshots (created_at, created_by, dataset_hash, "
                        "settings_profile, settings_json, n_items, note) VALUES "
                        "('now', 'wangming', 'h', '', '[]', 0, '')"
                    )
                assert info.value.orig.sqlstate == "42501"
        finally:
            engine.dispose()
        assert led.item("hard_road:A1")["state"] == "in_progress"
        assert led.item("water:B1")["state"] == "open"
        # through the API the same refusal is a clear error first
        with pytest.raises(PermissionDeniedError):
            led.update("water:B1", actor=TOWN, expected_version=1, notes="x")


def test_item_columns_of_the_store_are_the_items_columns():
    from geo.ledger.items import ITEM_COLUMNS
    from layers.store import ledger as store

    assert store.ITEM_COLUMNS == ITEM_COLUMNS
    assert pd.Index(store.TEXT_COLUMNS).equals(pd.Index(ITEM_COLUMNS[1:]))
