"""全区: a region computed county by county equals one run over the whole region.

The region is the hand-made fixture :mod:`tests.fixtures.two_counties`: 甲 and 乙 side by
side (roads cross their border; 甲's NV12 walks to 乙's clinic C4) and 远, a third county
far from both. The runs go through the real ``scripts.region.run_region`` on a real
``LocalCluster`` (in-process workers, one thread each, to keep the suite fast; the
separately started scheduler and worker processes are in ``test_region_cluster.py``).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import psycopg
import pytest
import sqlalchemy as sa
from geopandas.testing import assert_geodataframe_equal

from geo.assessment import assess
from geo.clinics import clinic_gaps
from geo.indicators import county_value, indicator_table
from geo.network import build_graph
from geo.region import owner_county, partition_frames, region_rollup
from geo.settings import Settings
from layers import Dataset
from layers.region import (
    RegionError,
    county_input_files,
    read_county_assessment,
    read_county_meta,
    read_county_results,
    read_region,
    read_region_county,
    read_region_results,
)
from layers.store.region import RegionStore, RegionStoreError, publish_results
from layers.write import write_layers
from scripts.region import run_region
from tests.fixtures import two_counties as tc
from tests.pg import PG_URL, fresh_database
from tests.region_results import assert_same_results

ALL = (tc.WEST, tc.EAST, tc.FAR)
NV12 = f"{tc.WEST}-NV12"


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=False,
            dashboard_address=":0",  # any free port: never a clash with a running one
        ) as cluster,
        Client(cluster) as c,
    ):
        yield c


@pytest.fixture(scope="module")
def region_run(tmp_path_factory, client):
    """Rerun story on one data folder: a bad county, repaired, then nothing changed.

    Returns the data folder, the results folder and the three later runs.
    """
    data = tc.write_region(tmp_path_factory.mktemp("region") / "data", ALL)
    good = data / f"{tc.FAR}.gpkg"
    shutil.copy(good, data / "good.gpkg.bak")
    frames = tc.county_frames(tc.FAR)
    nv = frames["natural_villages"].copy()
    nv.loc[1, "id"] = nv.loc[0, "id"]  # a repeated id: the county does not validate
    write_layers(good, {**frames, "natural_villages": nv})
    out = data.parent / "out"
    lines: list[str] = []
    first = run_region(data, out, client=client, progress=lines.append)
    failed_manifest = json.loads((out / "region.json").read_text(encoding="utf-8"))
    failed_rollup = pd.read_parquet(out / "rollup.parquet")
    again = run_region(data, out, client=client, progress=lines.append)
    shutil.copy(data / "good.gpkg.bak", good)  # repaired
    repaired = run_region(data, out, client=client, progress=lines.append)
    unchanged = run_region(data, out, client=client, progress=lines.append)
    return {"data": data, "out": out, "runs": (first, again, repaired, unchanged), "lines": lines,
            "failed_manifest": failed_manifest, "failed_rollup": failed_rollup}  # fmt: skip


def test_a_failed_county_is_reported_while_the_others_complete(region_run):
    first, again, *_ = region_run["runs"]
    assert first.failed == (tc.FAR,)
    assert set(first.computed) == set(ALL)
    assert first.computed[tc.WEST].ok and first.computed[tc.EAST].ok
    error = first.computed[tc.FAR].error
    assert "CountyError" in error and "示例远县" in error and "重复" in error
    assert any(line.startswith("县 ") and "失败 (示例远县)" in line for line in region_run["lines"])
    assert any("完成 (示例乙县" in line for line in region_run["lines"])
    # the others' results and the roll-up were written; the region row counts two counties
    entries = region_run["failed_manifest"]["counties"]
    assert {c: e["status"] for c, e in entries.items()} == {
        tc.WEST: "ok", tc.EAST: "ok", tc.FAR: "failed"
    }  # fmt: skip
    assert "重复" in entries[tc.FAR]["error"] and entries[tc.WEST]["error"] is None
    roll = region_run["failed_rollup"]
    assert set(roll.loc[roll["level"] == "region", "counties"]) == {2}
    assert set(roll.loc[roll["code"] == tc.FAR, "status"]) == {"无数据"}
    # the rerun retries only the failed county: the others' inputs did not change
    assert set(again.computed) == {tc.FAR} and again.failed == (tc.FAR,)
    assert set(again.skipped) == {tc.WEST, tc.EAST}


def test_a_rerun_recomputes_only_what_changed(region_run):
    *_, repaired, unchanged = region_run["runs"]
    # 远 changed; nobody else read its file (it is 20 km from 乙): only 远 is recomputed
    assert set(repaired.computed) == {tc.FAR} and not repaired.failed
    assert set(repaired.skipped) == {tc.WEST, tc.EAST}
    assert unchanged.computed == {} and set(unchanged.skipped) == set(ALL)
    # a county's input hash covers the neighbours' files it reads within its buffer
    region = read_region(region_run["data"])
    assert [p.stem for p in county_input_files(region, tc.WEST, buffer_m=10_000)] == [
        tc.WEST, tc.EAST
    ]  # fmt: skip
    assert [p.stem for p in county_input_files(region, tc.FAR, buffer_m=10_000)] == [tc.FAR]
    manifest = json.loads((region_run["out"] / "region.json").read_text(encoding="utf-8"))
    assert {c: e["status"] for c, e in manifest["counties"].items()} == dict.fromkeys(ALL, "ok")
    assert manifest["buffer_m"] == 10_000.0 and manifest["data"] == str(region_run["data"])


@pytest.fixture(scope="module")
def whole():
    """One assess() over the whole region's merged dataset (validated as one)."""
    frames = [tc.county_frames(c) for c in ALL]
    merged = {k: pd.concat([f[k] for f in frames], ignore_index=True) for k in frames[0]}
    dataset = Dataset.from_frames(merged, name="whole")
    assert dataset.problems == ()
    return assess(dataset, Settings())


def test_partitioned_results_equal_one_whole_region_run(region_run, whole):
    out = region_run["out"]
    w = whole.indicators.outcomes
    owners = owner_county(w)
    assert set(owners) == set(ALL)  # every unit of the whole run has one owner county
    for code in ALL:
        part = read_county_results(out, code)["outcomes"]
        assert set(owner_county(part)) == {code}
        mine = w.loc[owners == code].set_index("key")
        part = part.set_index("key")
        assert set(part.index) == set(mine.index), code
        mine = mine.loc[part.index]
        assert (part["status"] == mine["status"]).all(), code
        np.testing.assert_allclose(part["value"], mine["value"], equal_nan=True, err_msg=code)
    assert whole.clinics.villages.set_index("id").loc[NV12, "clinic_ok"]


def test_the_buffer_lets_a_border_village_reach_the_clinic_across_it(region_run):
    region = read_region(region_run["data"])
    stored = read_county_assessment(region_run["out"], tc.WEST)  # not recomputed
    v = stored.clinics.villages.set_index("id")
    assert v.loc[NV12, "clinic_ok"] and v.loc[NV12, "clinic_id"] == f"{tc.EAST}-C4"
    assert v.loc[NV12, "clinic_min"] == pytest.approx(1000 / 4500 * 60)  # 1,000 m walked
    alone = read_region_county(region, tc.WEST, buffer_m=0)
    assert len(alone["roads"]) == 23 and len(alone["clinics"]) == 3
    graph = build_graph(alone["roads"], node_tolerance_m=0.01)
    v0 = clinic_gaps(alone, graph, Settings()).villages.set_index("id")
    assert not v0.loc[NV12, "clinic_ok"]
    assert v0.loc[NV12, "clinic_min"] == pytest.approx(5500 / 4500 * 60)  # C3 at home
    # the in-memory partition takes the same foreign features as the file reader
    frames = {c: tc.county_frames(c) for c in ALL}
    part = partition_frames(frames[tc.WEST], [frames[tc.EAST], frames[tc.FAR]], buffer_m=10_000)
    read = read_region_county(region, tc.WEST)
    for layer in ("roads", "clinics", "service_points", "public_facilities"):
        assert sorted(part[layer]["id"]) == sorted(read[layer]["id"]), layer
    assert not read["roads"]["id"].str.startswith(tc.FAR).any()  # 远 is 20 km away


def test_the_rollup_recomputes_each_level_from_the_outcome_rows(region_run):
    results = read_region_results(region_run["out"])
    roll = results.rollup
    assert list(roll["level"].unique()) == ["region", "city", "county"]
    table = indicator_table(Settings())
    assert len(roll) == (1 + 2 + 3) * len(table.codes)
    outcomes = {c: read_county_results(region_run["out"], c)["outcomes"] for c in ALL}
    for ind in table:
        rows = roll.loc[roll["indicator"] == ind.code].set_index("code")
        every = pd.concat([o.loc[o["indicator"] == ind.code] for o in outcomes.values()])
        assert rows.loc["640000", "value"] == pytest.approx(
            county_value(every, ind.value_rule), nan_ok=True
        ), ind.code
        wuzhong = pd.concat([outcomes[c].loc[outcomes[c]["indicator"] == ind.code]
                             for c in (tc.WEST, tc.EAST)])  # fmt: skip
        assert rows.loc["640300", "value"] == pytest.approx(
            county_value(wuzhong, ind.value_rule), nan_ok=True
        ), ind.code
        assert rows.loc["640000", "problems"] == (every["status"] == "problem").sum()
    # a county's row is its own assessment's county row (same rule, same rows)
    stored = read_county_assessment(region_run["out"], tc.EAST).rollup.county.set_index("code")
    mine = roll.loc[roll["code"] == tc.EAST].set_index("indicator")
    np.testing.assert_allclose(mine["value"], stored.loc[mine.index, "value"], equal_nan=True)
    assert (mine["status"] == stored.loc[mine.index, "status"]).all()
    keys = roll.drop_duplicates("code").set_index("code")["key"]
    assert keys.to_dict() == {"640000": True, "640300": True, tc.WEST: True, tc.EAST: False,
                              "640400": False, tc.FAR: False}  # fmt: skip
    b = results.boundaries
    assert isinstance(b, gpd.GeoDataFrame) and b.crs.to_epsg() == 4326
    assert sorted(b["level"]) == ["city", "city", "county", "county", "county", "region"]


def test_region_rollup_without_a_county_has_no_data_for_it():
    table = indicator_table(Settings()).without(*indicator_table(Settings()).codes[1:])
    counties = pd.DataFrame(
        [{"code": tc.WEST, "name": "甲", "city_code": "640300", "city_name": "吴忠市", "key": True}]
    )
    roll = region_rollup({}, counties, table, Settings(), region_code="640000", region_name="区")
    assert roll["status"].tolist() == ["无数据"] * 3 and roll["counties"].tolist() == [0, 0, 0]


def test_bad_manifests_name_the_file_and_field(tmp_path):
    with pytest.raises(RegionError, match="not found"):
        read_region(tmp_path)
    data = tc.write_region(tmp_path / "d")
    manifest = json.loads((data / "region.json").read_text(encoding="utf-8"))
    cases = [
        ({**manifest, "format": 2}, "format"),
        ({**manifest, "counties": []}, "counties"),
        ({**manifest, "counties": [{**manifest["counties"][0], "code": "6403"}]}, "counties"),
        ({**manifest, "counties": [{**manifest["counties"][0], "gpkg": "nope.gpkg"}]}, "gpkg"),
        ({**manifest, "counties": [manifest["counties"][0]] * 2}, "重复"),
    ]
    for bad, field in cases:
        path = Path(data / "region.json")
        path.write_text(json.dumps(bad, ensure_ascii=False), encoding="utf-8")
        with pytest.raises(RegionError) as err:
            read_region(data)
        assert "region.json" in err.value.zh and field in err.value.zh, err.value.zh
    (data / "region.json").write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
    region = read_region(data)
    with pytest.raises(RegionError, match="no county"):
        region.county("640999")


def test_the_region_page_maps_ranks_and_opens_a_county_without_computing(region_run, monkeypatch):
    """全区 in the app: read from the results, and a county opened from them, not recomputed."""
    from streamlit.testing.v1 import AppTest

    import app.state

    monkeypatch.setattr(app.state, "REGION_RESULTS", region_run["out"])
    monkeypatch.setenv("GAPMAP_CACHE_DIR", str(region_run["out"].parent / "app-cache"))
    monkeypatch.setenv("GAPMAP_LEDGER_DIR", str(region_run["out"].parent / "ledger"))

    def no_compute(*args, **kwargs):
        raise AssertionError("the app computed a county the region's results have")

    monkeypatch.setattr(app.state, "assess", no_compute)
    main = str(Path(__file__).resolve().parents[1] / "app" / "main.py")
    at = AppTest.from_file(main, default_timeout=120)
    at.switch_page("views/region.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value.startswith("全区")
    ranking = next(d.value for d in at.dataframe if "排名" in d.value.columns)
    assert len(ranking) == len(ALL)
    names = {tc.NAMES[c] for c in ALL}
    assert {n.lstrip("★") for n in ranking["县（★重点县）"]} == names
    at.selectbox(key="region_indicator").set_value("clinics").run()
    assert not at.exception
    at.selectbox(key="region_open_code").set_value(tc.EAST)
    at.button[0].click().run()  # 打开该县 → 总览 of 乙, from its stored results
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["dataset_name"] == f"{tc.NAMES[tc.EAST]}（全区结果）"
    assert any("总览" in t.value for t in at.title)
    stored = read_county_assessment(region_run["out"], tc.EAST).rollup.county
    cards = {m.label: m.value for m in at.metric}
    hard = stored.set_index("code").loc["hard_road"]
    assert cards[hard["indicator"]] == f"{hard['value']:.1f}%"


def test_an_upgrade_of_gapmap_computes_every_county_again(region_run, monkeypatch):
    """Stored results of other code are never reused, by a rerun nor by the app."""
    from layers import cache
    from scripts.region import county_input_hash, settings_hash

    region = read_region(region_run["data"])
    digest = settings_hash(Settings())
    before = county_input_hash(region, tc.WEST, buffer_m=10_000, settings_digest=digest)
    monkeypatch.setattr(cache, "code_fingerprint", lambda: "another version")
    after = county_input_hash(region, tc.WEST, buffer_m=10_000, settings_digest=digest)
    assert before != after
    with pytest.raises(RegionError) as err:
        read_county_assessment(region_run["out"], tc.WEST)
    assert "其他版本" in err.value.zh


def test_the_region_page_shows_a_running_computation(region_run, tmp_path, monkeypatch):
    """progress.json of a run: the page shows counties done / total, or that it broke off."""
    import os
    import socket

    from streamlit.testing.v1 import AppTest

    import app.state
    from layers.region import read_progress, write_progress

    last = read_progress(region_run["out"])  # the fixture's last run that computed
    assert last["running"] is False and last["done"] == last["total"] == 1
    assert last["counties"] == {tc.FAR: "ok"}
    out = tmp_path / "running"
    monkeypatch.setattr(app.state, "REGION_RESULTS", out)
    page = str(Path(__file__).resolve().parents[1] / "app" / "views" / "region.py")
    state = {"running": True, "pid": os.getpid(), "host": socket.gethostname(), "total": 22,
             "done": 7, "failed": 1, "workers": 2, "started": "2026-12-02T02:00:00+00:00",
             "counties": {}}  # fmt: skip
    write_progress(out, state)
    at = AppTest.from_file(page, default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    text = " ".join(str(e.proto) for e in at.get("progress"))
    assert "县 7/22 完成" in text and "1 个失败" in text
    assert "还没有全区计算结果" in at.info[0].value  # and no results yet
    gone = subprocess_pid_that_ended()
    write_progress(out, {**state, "pid": gone})
    at = AppTest.from_file(page, default_timeout=60).run()
    assert "未正常结束" in at.warning[0].value and "7/22" in at.warning[0].value


def subprocess_pid_that_ended() -> int:
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    return int(proc.stdout)


# ------------------------------------------------------------- server mode: PostGIS

needs_pg = pytest.mark.skipif(not PG_URL, reason="set GAPMAP_TEST_PG_URL (PostgreSQL + PostGIS)")


@pytest.fixture(scope="module")
def pg_run(region_run, client, tmp_path_factory):
    """The fixture's results, published by ``run_region(db=…)`` to a fresh PostGIS database.

    A copy of the results folder: every county is current, so the run computes nothing
    and writes all three to the database.
    """
    out = tmp_path_factory.mktemp("pg") / "out"
    shutil.copytree(region_run["out"], out)
    with fresh_database(prefix="gapmap_test_region") as url:
        lines: list[str] = []
        run = run_region(region_run["data"], out, client=client, db=url, progress=lines.append)
        yield {"url": url, "out": out, "run": run, "lines": lines}


@needs_pg
def test_a_run_with_a_database_writes_every_county_to_postgis(pg_run, client, region_run):
    run, lines = pg_run["run"], pg_run["lines"]
    assert run.computed == {} and set(run.skipped) == set(ALL)  # nothing recomputed
    assert any("已写入服务器数据库" in line and "写入 3 个县" in line for line in lines), lines
    with RegionStore(pg_url := pg_run["url"]) as store:
        assert_same_results(store.read_results(), read_region_results(pg_run["out"]))
        with store.engine.connect() as conn:
            tables = ("region_outcomes", "region_admin_villages", "region_townships",
                      "region_counties", "region_county_files", "region_runs")  # fmt: skip
            counts = {t: conn.exec_driver_sql(f"SELECT count(*) FROM {t}").scalar() for t in tables}
            srid = conn.exec_driver_sql(
                "SELECT DISTINCT ST_SRID(geom) FROM region_outcomes WHERE geom IS NOT NULL"
            ).scalars()
            assert set(srid) == {4326}
        folder = {c: read_county_results(pg_run["out"], c) for c in ALL}
        assert counts["region_outcomes"] == sum(len(f["outcomes"]) for f in folder.values())
        assert counts["region_townships"] == sum(len(f["townships"]) for f in folder.values())
        assert counts["region_counties"] == counts["region_county_files"] == 3
        # a second run: every county is already in the database with its input hash
        lines: list[str] = []
        run_region(region_run["data"], pg_run["out"], client=client, db=pg_url,
                   progress=lines.append)  # fmt: skip
        assert any("写入 0 个县" in line and "未变 3 个" in line for line in lines), lines
        assert store.latest_run() == 2


@needs_pg
def test_a_county_is_replaced_in_one_transaction(pg_run):
    """A write that fails half-way leaves the county's old rows; a failed county none."""
    out = pg_run["out"]
    with RegionStore(pg_run["url"]) as store:
        before = store.read_county_results(tc.EAST)
        entry = read_region_results(out).manifest["counties"][tc.EAST]
        frames = read_county_results(out, tc.EAST)
        meta = {**read_county_meta(out, tc.EAST), "input_hash": "f" * 64}
        bad = frames["townships"].copy()
        bad["problems"] = "很多"  # not a number: the townships' COPY fails, after the outcomes
        with pytest.raises(psycopg.errors.DataError):  # the driver's own, from COPY
            store.write_county(
                tc.EAST, region_code="640000", entry=entry, meta=meta,
                frames={**frames, "townships": bad}, county_pkl=b"x",
            )  # fmt: skip
        after = store.read_county_results(tc.EAST)
        for name, frame in before.items():
            assert_geodataframe_equal(after[name], frame)
        assert store.county_states()[tc.EAST][1] == read_county_meta(out, tc.EAST)["input_hash"]
        # recorded as failed: its error, no rows; the app says so in Chinese
        failed = {**entry, "status": "failed", "error": "CountyError: 乙县：图层有误"}
        store.write_county(tc.EAST, region_code="640000", entry=failed)
        assert store.county_states()[tc.EAST][0] == "failed"
        assert store.county_meta(tc.EAST) is None
        with store.engine.connect() as conn:
            n = conn.exec_driver_sql(
                f"SELECT count(*) FROM region_outcomes WHERE county_code = '{tc.EAST}'"
            ).scalar()
            error = conn.exec_driver_sql(
                f"SELECT error FROM region_counties WHERE code = '{tc.EAST}'"
            ).scalar()
        assert n == 0 and error == failed["error"]
        with pytest.raises(RegionStoreError) as err:
            store.read_county(tc.EAST)
        assert "没有县" in err.value.zh and '--db "$GAPMAP_DB_OWNER_URL"' in err.value.zh
        # publishing the folder again puts it back (the database's hash is not the folder's)
        report = publish_results(out, store)
        assert report.written == (tc.EAST,) and set(report.unchanged) == {tc.WEST, tc.FAR}
        for name, frame in before.items():
            assert_geodataframe_equal(store.read_county_results(tc.EAST)[name], frame)


@needs_pg
def test_a_publish_is_one_transaction(pg_run, tmp_path, monkeypatch):
    """Counties and their run commit together: a publish failing after its first county
    leaves the database exactly as it was, and readers see the old run meanwhile."""
    out = tmp_path / "out"
    shutil.copytree(pg_run["out"], out)
    first = next(iter(read_region_results(out).manifest["counties"]))
    meta_path = out / "counties" / first / "meta.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    meta["input_hash"] = "e" * 64  # as if recomputed: the database's hash is not the folder's
    meta_path.write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")

    def snapshot(store):
        results = store.read_results()
        return {"run": store.latest_run(), "manifest": results.manifest,
                "rollup": results.rollup, "states": store.county_states(),
                "counties": {c: store.read_county_results(c) for c in ALL}}  # fmt: skip

    def assert_same(a, b, *, run=True):
        assert a["manifest"] == b["manifest"] and a["states"] == b["states"]
        assert a["run"] == b["run"] or not run
        pd.testing.assert_frame_equal(a["rollup"], b["rollup"])
        for code in ALL:
            for name, frame in a["counties"][code].items():
                assert_geodataframe_equal(b["counties"][code][name], frame)

    with RegionStore(pg_run["url"]) as store:
        before = snapshot(store)
        real, calls, seen = store.write_county, [], []

        def fail_after_the_first(code, **kwargs):
            calls.append(code)
            if len(calls) == 2:  # the first county is written, not committed
                with RegionStore(pg_run["url"]) as reader:
                    seen.append(snapshot(reader))
                raise RuntimeError("killed half-way")
            return real(code, **kwargs)

        monkeypatch.setattr(store, "write_county", fail_after_the_first)
        with pytest.raises(RuntimeError, match="half-way"):
            publish_results(out, store, force=True)
        assert calls[0] == first and len(calls) == 2
        assert_same(seen[0], before)  # a reader during the publish: the old run
        assert_same(snapshot(store), before)  # and after the failure: nothing changed
        monkeypatch.undo()
        # published for real: the county's new hash; then the folder again (as before)
        report = publish_results(out, store)
        assert report.written == (first,) and store.county_states()[first][1] == "e" * 64
        report = publish_results(pg_run["out"], store)
        assert report.written == (first,) and report.run_id == store.latest_run()
        with store.engine.connect() as conn:
            runs = conn.exec_driver_sql("SELECT count(*) FROM region_runs").scalar()
            rollup_rows = conn.exec_driver_sql("SELECT count(*) FROM region_rollup").scalar()
        # the newest run and the one before: not one more roll-up per publish
        assert runs == 2 and rollup_rows == 2 * len(before["rollup"])
        assert_same(snapshot(store), before, run=False)


@needs_pg
def test_a_read_sees_one_snapshot_while_a_publish_commits(pg_run):
    """Each read is one REPEATABLE READ transaction: a commit between its queries is unseen."""
    out = pg_run["out"]
    results = read_region_results(out)
    entry = results.manifest["counties"][tc.EAST]
    with RegionStore(pg_run["url"]) as store, RegionStore(pg_run["url"]) as writer:
        before = store.read_results()
        county = store.read_county_results(tc.EAST)
        commits = {
            "county": lambda: writer.write_county(
                tc.EAST, region_code="640000", entry={**entry, "status": "failed"}
            ),
            "run": lambda: writer.write_run(
                region_code="640000",
                region_name="甲乙",
                manifest={"counties": {}},
                rollup=results.rollup.iloc[:0],
                boundaries=results.boundaries.iloc[:1],
            ),
        }
        pending: list[str] = []

        @sa.event.listens_for(store.engine, "after_cursor_execute")
        def commit_between(*args):  # after the read's first query, another session commits
            if pending:
                commits[pending.pop()]()

        try:
            pending.append("county")
            during = store.read_county_results(tc.EAST)
            assert not pending and store.county_states()[tc.EAST][0] == "failed"
            for name, frame in county.items():
                assert_geodataframe_equal(during[name], frame)
            pending.append("run")
            during = store.read_results()
            assert not pending
            assert during.manifest == before.manifest  # its run's boundaries, not the next one's
            pd.testing.assert_frame_equal(during.rollup, before.rollup)
            assert_geodataframe_equal(during.boundaries, before.boundaries)
            assert len(store.read_results().boundaries) == 1
        finally:
            sa.event.remove(store.engine, "after_cursor_execute", commit_between)
            publish_results(out, writer)  # as it was
        # and a read may not write
        with store._snapshot() as conn, pytest.raises(sa.exc.DBAPIError) as refused:
            conn.exec_driver_sql("DELETE FROM region_runs")
        assert refused.value.orig.sqlstate == "25006"  # read_only_sql_transaction


@needs_pg
def test_non_finite_values_round_trip_through_the_database(pg_run):
    """inf, -inf and NaN in a per-indicator x_* column (JSON has none of them) come back."""
    out = pg_run["out"]
    entry = read_region_results(out).manifest["counties"][tc.EAST]
    frames = read_county_results(out, tc.EAST)
    outcomes = frames["outcomes"].copy()
    n = len(outcomes)
    outcomes["x_ratio"] = np.resize([np.inf, -np.inf, np.nan, 1.5, -0.0], n)
    outcomes["x_note"] = pd.Series(np.resize(["inf", "nan", "Infinity", "一"], n), dtype=object)
    meta = {**read_county_meta(out, tc.EAST), "input_hash": "d" * 64, "x_limit": np.inf}
    with RegionStore(pg_run["url"]) as store:
        store.write_county(tc.EAST, region_code="640000", entry=entry, meta=meta,
                           frames={**frames, "outcomes": outcomes}, county_pkl=b"x")  # fmt: skip
        back = store.read_county_results(tc.EAST)["outcomes"]
        assert_geodataframe_equal(back, outcomes)
        assert np.array_equal(np.signbit(back["x_ratio"]), np.signbit(outcomes["x_ratio"]))
        assert store.county_meta(tc.EAST)["x_limit"] == np.inf
        with pytest.raises(RegionStoreError) as err:  # b"x": not this version's county.pkl
            store.read_county(tc.EAST)
        assert "其他版本" in err.value.zh and '--db "$GAPMAP_DB_OWNER_URL"' in err.value.zh
        publish_results(out, store)  # as it was
        assert store.county_states()[tc.EAST][1] == read_county_meta(out, tc.EAST)["input_hash"]


@pytest.fixture
def app_role(pg_run):
    """A login role made as scripts/server.sh makes the app's: it may read, not write."""
    import uuid

    name = f"gapmap_test_app_{uuid.uuid4().hex[:8]}"
    owner = sa.create_engine(pg_run["url"], isolation_level="AUTOCOMMIT")
    database = sa.make_url(pg_run["url"]).database
    with owner.connect() as conn:
        conn.exec_driver_sql(f"CREATE ROLE {name} LOGIN PASSWORD 'app-pw'")
        conn.exec_driver_sql(f'GRANT CONNECT ON DATABASE "{database}" TO {name}')
        conn.exec_driver_sql(f"GRANT USAGE ON SCHEMA public TO {name}")
        conn.exec_driver_sql(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {name}")
    url = sa.make_url(pg_run["url"]).set(username=name, password="app-pw")
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with owner.connect() as conn:
            conn.exec_driver_sql(f"DROP OWNED BY {name}")
            conn.exec_driver_sql(f"DROP ROLE {name}")
        owner.dispose()


@needs_pg
def test_the_app_role_reads_the_region_results_but_cannot_write_them(pg_run, app_role, client):
    with RegionStore(app_role) as store:
        assert not store.may_write()
        with pytest.raises(RegionStoreError) as err:
            store.require_writer()
        assert "无权写入全区结果" in err.value.zh and "GAPMAP_DB_OWNER_URL" in err.value.zh
        assert store.read_results().manifest["counties"].keys() == set(ALL)
    engine = sa.create_engine(app_role)
    try:
        for sql in (
            "DELETE FROM region_counties",
            "UPDATE region_outcomes SET status = 'ok'",
            # the pickled assessments the app unpickles: never the app's to change
            "UPDATE region_county_files SET content = 'x'::bytea",
            "TRUNCATE region_runs CASCADE",
            "INSERT INTO region_runs (region_code, settings_hash, buffer_m, counties, "
            "counties_ok, counties_failed, manifest, columns) "
            "VALUES ('640000', '', 0, 0, 0, 0, '{}', '{}')",
        ):
            with engine.begin() as conn, pytest.raises(sa.exc.DBAPIError) as refused:
                conn.exec_driver_sql(sql)
            assert refused.value.orig.sqlstate == "42501", sql
    finally:
        engine.dispose()
    owner = sa.create_engine(pg_run["url"])
    with owner.begin() as conn:  # every ledger group role reads them too (the least: 查看)
        conn.exec_driver_sql("SET LOCAL ROLE gapmap_viewer")
        assert conn.exec_driver_sql("SELECT count(*) FROM region_counties").scalar() == 3
    owner.dispose()
    # the CLI with the app's URL stops before computing anything, saying what to do
    with pytest.raises(RegionStoreError, match="may not write"):
        run_region(region_run_data(pg_run), pg_run["out"], client=client, db=app_role,
                   force=True, progress=None)  # fmt: skip


def region_run_data(pg_run) -> Path:
    return Path(json.loads((pg_run["out"] / "region.json").read_text("utf-8"))["data"])


@needs_pg
def test_the_region_page_reads_postgis_in_server_mode(pg_run, tmp_path, monkeypatch):
    """Server mode: the 全区 page and an opened county come from the database, not a folder."""
    from streamlit.testing.v1 import AppTest

    import app.state

    monkeypatch.setattr(app.state, "REGION_RESULTS", tmp_path / "no-folder")
    monkeypatch.setenv("GAPMAP_MODE", "server")
    monkeypatch.setenv("GAPMAP_DB_URL", pg_run["url"])
    monkeypatch.setenv("GAPMAP_CACHE_DIR", str(tmp_path / "app-cache"))

    def no_compute(*args, **kwargs):
        raise AssertionError("the app computed a county the region's results have")

    monkeypatch.setattr(app.state, "assess", no_compute)
    assert app.state.region_available()
    page = str(Path(__file__).resolve().parents[1] / "app" / "views" / "region.py")
    at = AppTest.from_file(page, default_timeout=120).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value.startswith("全区")
    assert any("服务器数据库" in c.value for c in at.caption)
    ranking = next(d.value for d in at.dataframe if "排名" in d.value.columns)
    assert {n.lstrip("★") for n in ranking["县（★重点县）"]} == {tc.NAMES[c] for c in ALL}
    results = app.state.region_results()
    assert results.folder is None
    name = app.state.open_region_county(results, tc.WEST)
    assert name == f"{tc.NAMES[tc.WEST]}（全区结果）"


def test_a_county_opened_from_the_results_gets_its_terrain_grids_back(
    client, tmp_path, monkeypatch
):
    """Stored without its grids, a county computed on the region's DEM has them in the app."""
    import rasterio
    from affine import Affine

    import app.state
    from geo.terrain import read_dem
    from geo.terrain_access import terrain_context
    from layers.region import buffer_area, county_boundary

    data = tc.write_region(tmp_path / "data", (tc.WEST, tc.EAST))
    x, y = np.meshgrid(np.arange(400), np.arange(200))
    heights = (1500 + 0.8 * x + 40 * np.sin(y / 9)).astype("float32")  # a slope with ridges
    with rasterio.open(data / "dem.tif", "w", driver="GTiff", width=400, height=200, count=1,
                       dtype="float32", crs="EPSG:4326",
                       transform=Affine(0.002, 0, 105.5, 0, -0.002, 37.2)) as dst:  # fmt: skip
        dst.write(heights, 1)
    manifest = json.loads((data / "region.json").read_text(encoding="utf-8"))
    manifest["dem"] = "dem.tif"
    (data / "region.json").write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
    out = tmp_path / "out"
    run = run_region(data, out, client=client, counties=[tc.WEST], progress=None)
    assert not run.failed
    # a later run with another buffer (of other counties) keeps this county's results: its
    # grids are cropped with its own meta.json's buffer (10 km), not the manifest's
    later = json.loads((out / "region.json").read_text(encoding="utf-8"))
    assert later["buffer_m"] == 10_000
    later["buffer_m"] = 2_000.0
    (out / "region.json").write_text(json.dumps(later, ensure_ascii=False), encoding="utf-8")
    results = read_region_results(out)
    assert results.manifest["counties"][tc.WEST]["dem"] is True
    partition, stored = results.county(tc.WEST)
    assert stored.terrain is None  # kept without its grids (they are most of its size)

    monkeypatch.setenv("GAPMAP_CACHE_DIR", str(tmp_path / "app-cache"))

    def no_compute(*args, **kwargs):
        raise AssertionError("the app computed a county the region's results have")

    monkeypatch.setattr(app.state, "assess", no_compute)
    name = app.state.open_region_county(results, tc.WEST)
    dataset = app.state.st.session_state["uploads"][name]
    assert dataset.dem is None and dataset.content_hash == partition.content_hash
    opened = app.state.assessment_for(dataset)
    assert opened.terrain is not None
    # the grids a county task computes on: the region's DEM over the county and its buffer
    region = read_region(data)
    crs, area = buffer_area(county_boundary(region.county(tc.WEST)), buffer_m=10_000)
    settings = Settings()
    dem = read_dem(region.dem, crs=crs, resolution_m=settings.terrain.resolution_m,
                   bounds=area.bounds)  # fmt: skip
    expected = terrain_context(partition, dem, settings)
    np.testing.assert_array_equal(opened.terrain.dem.data, expected.dem.data)
    assert opened.terrain.dem.transform == expected.dem.transform
    np.testing.assert_array_equal(opened.terrain.slope_pct, expected.slope_pct)
    np.testing.assert_array_equal(opened.terrain.walk.data, expected.walk.data)
    np.testing.assert_array_equal(opened.terrain.build.data, expected.build.data)
    # and the results stay the stored ones (the hard-road links were routed on it then)
    pd.testing.assert_frame_equal(opened.rollup.county, stored.rollup.county)


@needs_pg
def test_the_region_migration_makes_postgis_tables_and_goes_back():
    """region_0001 on an empty database: typed PostGIS tables in EPSG:4326 with GiST indexes."""
    from alembic import command

    from layers.store import migrate

    with fresh_database(migrated=False, prefix="gapmap_test_regmig") as url:
        engine = sa.create_engine(url)
        try:
            with engine.begin() as conn:
                conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS postgis")
            migrate.upgrade(engine, "region@head")
            with engine.connect() as conn:
                assert migrate.current_heads(conn) == {"region_0001"}
                geoms = conn.exec_driver_sql(
                    "SELECT f_table_name, type, srid FROM geometry_columns "
                    "WHERE f_table_name LIKE 'region%%' ORDER BY 1"
                ).all()
                gist = set(conn.exec_driver_sql(
                    "SELECT tablename FROM pg_indexes WHERE indexdef LIKE '%%USING gist%%'"
                ).scalars())  # fmt: skip
            assert [(t, kind, srid) for t, kind, srid in geoms] == [
                ("region_admin_villages", "GEOMETRY", 4326),
                ("region_boundaries", "GEOMETRY", 4326),
                ("region_outcomes", "POINT", 4326),
                ("region_townships", "GEOMETRY", 4326),
            ]
            assert gist == {t for t, _, _ in geoms}
            migrate.upgrade(engine)  # the other stores next to it
            with engine.begin() as conn:
                command.downgrade(migrate.config(conn), "region@base")
            with engine.connect() as conn:
                left = conn.exec_driver_sql(
                    "SELECT count(*) FROM pg_tables WHERE tablename LIKE 'region%%'"
                ).scalar()
                assert left == 0 and "region_0001" not in migrate.current_heads(conn)
        finally:
            engine.dispose()


@needs_pg
def test_the_cli_publishes_to_the_owners_database_from_the_environment(pg_run, monkeypatch, capsys):
    """``python -m scripts.region`` with ``GAPMAP_DB_OWNER_URL`` set (server.env) writes there."""
    from scripts.region import main

    data = region_run_data(pg_run)
    monkeypatch.setenv("GAPMAP_DB_OWNER_URL", pg_run["url"])
    with RegionStore(pg_run["url"]) as store:
        before = store.latest_run()
        assert main(["--data", str(data), "--out", str(pg_run["out"]), "-q"]) == 0
        assert store.latest_run() == before + 1
        assert main(["--data", str(data), "--out", str(pg_run["out"]), "-q", "--no-db"]) == 0
        assert store.latest_run() == before + 1  # --no-db: the folder only
    monkeypatch.delenv("GAPMAP_DB_OWNER_URL")
    monkeypatch.setenv("GAPMAP_MODE", "server")
    monkeypatch.setenv("GAPMAP_DB_URL", "postgresql+psycopg://nobody:x@127.0.0.1:1/none")
    capsys.readouterr()
    assert main(["--data", str(data), "--out", str(pg_run["out"]), "-q"]) == 2  # unreachable
    err = capsys.readouterr().err
    assert "无法连接全区结果数据库" in err and "Traceback" not in err and ":x@" not in err


def test_server_mode_without_region_tables_reads_the_folder(region_run, monkeypatch, caplog):
    """A server database that is down (or not migrated) never breaks the navigation."""
    import app.state

    monkeypatch.setattr(app.state, "REGION_RESULTS", region_run["out"])
    monkeypatch.setattr(app.state, "_region_db_down", {})  # no outage remembered
    monkeypatch.setenv("GAPMAP_MODE", "server")
    monkeypatch.setenv("GAPMAP_DB_URL", "postgresql+psycopg://nobody:x@127.0.0.1:1/none")
    assert app.state.region_store() is None
    assert "无法连接" in caplog.text or "cannot connect" in caplog.text
    assert app.state.region_available()
    results = app.state.region_results()
    assert results.folder == region_run["out"] and results.place == str(region_run["out"])


def test_an_operational_error_without_sqlstate_is_an_unavailable_server():
    """psycopg's refused/lost connection has no SQLSTATE: UNAVAILABLE; SQLite's keep codes."""
    import sqlite3

    from layers.store.errors import StoreFault, classify, translate

    refused = psycopg.OperationalError("connection failed: Connection refused")
    assert refused.sqlstate is None
    wrapped = sa.exc.OperationalError("SELECT 1", {}, refused)
    assert classify(wrapped) is classify(refused) is StoreFault.UNAVAILABLE
    assert "无法连接全区结果数据库服务器" in translate(wrapped, subject_zh="全区结果").zh
    db = sqlite3.connect(":memory:")
    try:
        with pytest.raises(sqlite3.OperationalError) as syntax:
            db.execute("SELEC 1")
    finally:
        db.close()
    assert classify(syntax.value) is None  # SQLITE_ERROR: a bug, not a server away


@needs_pg
def test_a_cached_store_whose_server_goes_away_falls_back_to_the_folder(
    region_run, tmp_path, monkeypatch, caplog
):
    """Connected once (kept in st.cache_resource), then the server is gone: never a crash.

    The reads say so in Chinese (a GapMapError); the app's navigation check and the 全区
    page read the results folder, asking the database again only after 30 s.
    """
    import time

    from streamlit.testing.v1 import AppTest

    import app.state
    from layers.errors import GapMapError
    from layers.store.base import server_engine

    monkeypatch.setenv("GAPMAP_MODE", "server")
    monkeypatch.setattr(app.state, "_region_db_down", {})
    monkeypatch.setattr(app.state, "REGION_RESULTS", tmp_path / "no-folder")
    page = str(Path(__file__).resolve().parents[1] / "app" / "views" / "region.py")
    with fresh_database(prefix="gapmap_test_regdown") as url:
        monkeypatch.setenv("GAPMAP_DB_URL", url)
        store = app.state.region_store()
        assert store is not None and store.latest_run() is None
        assert app.state.region_store() is store  # the cached one
        # no run yet, no folder: the 全区 page says how the owner publishes one
        at = AppTest.from_file(page, default_timeout=120).run()
        assert not at.exception, [e.value for e in at.exception]
        assert '--db "$GAPMAP_DB_OWNER_URL"' in at.info[0].value
        assert str(tmp_path / "no-folder") in at.info[0].value
    # the database is dropped under it
    reads = (
        store.latest_run,
        store.county_states,
        lambda: store.read_county(tc.WEST),
        lambda: store.read_county_results(tc.WEST),
        lambda: store.county_meta(tc.WEST),
    )
    for read in reads:
        with pytest.raises(GapMapError) as err:
            read()
        assert "无法连接全区结果数据库服务器" in err.value.zh
    # a server that refuses connections (nothing listens on the port)
    monkeypatch.setattr(store, "engine", server_engine(sa.make_url(url).set(port=1)))
    with pytest.raises(GapMapError) as err:
        store.latest_run()
    assert "无法连接全区结果数据库服务器" in err.value.zh
    # the navigation check of every page run: no folder, no 全区 page, no exception
    with caplog.at_level("WARNING", logger="app.state"):
        assert app.state.region_available() is False
    assert sum("region results unavailable" in r.getMessage() for r in caplog.records) == 1
    failed_at = app.state._region_db_down[url]
    caplog.clear()
    # within 30 s: the database is not asked again, nothing logged again
    with caplog.at_level("INFO", logger="app.state"):
        assert app.state.region_store() is None and not app.state.region_available()
        assert app.state._region_db_down[url] == failed_at and not caplog.records
        # 30 s later it is asked again; the same outage is not logged again
        app.state._region_db_down[url] = time.monotonic() - app.state.REGION_DB_RETRY_S - 1
        assert not app.state.region_available()
        assert app.state._region_db_down[url] > failed_at and not caplog.records
    # with a results folder: the 全区 page shows it
    monkeypatch.setattr(app.state, "REGION_RESULTS", region_run["out"])
    monkeypatch.setattr(app.state, "_region_db_down", {})
    assert app.state.region_available()
    at = AppTest.from_file(page, default_timeout=120).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value.startswith("全区")
    assert any(str(region_run["out"]) in c.value for c in at.caption)
    assert app.state.region_results().folder == region_run["out"]
