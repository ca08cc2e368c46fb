"""Every app page runs under Streamlit's AppTest on the shipped demo county, widgets work."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from geo.ledger import problem_items

ROOT = Path(__file__).resolve().parents[1]
VIEWS = ROOT / "app" / "views"
TIMEOUT = 180


@pytest.fixture(autouse=True)
def _private_ledger(tmp_path, monkeypatch):
    """Pages read the 整改台账: give each test its own, never the repository's out/ledger."""
    monkeypatch.setenv("GAPMAP_LEDGER_DIR", str(tmp_path / "ledger"))


def _table(at: AppTest, column: str):
    """The first data frame on the page with ``column`` (AppTest does not expose their keys)."""
    for df in at.dataframe:
        if column in df.value.columns:
            return df.value
    raise AssertionError(f"no table with column {column!r}")


def _page(name: str) -> AppTest:
    at = AppTest.from_file(str(VIEWS / f"{name}.py"), default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_data_page_lists_demo_layers_and_passes_validation():
    at = _page("data_overview")
    table = _table(at, "图层名")
    assert set(table["图层名"]) >= {
        "county",
        "townships",
        "admin_villages",
        "natural_villages",
        "relocation_sites",
        "roads",
        "clinics",
        "service_points",
    }
    assert at.success and "全部图层通过检查" in at.success[0].value
    assert at.get("file_uploader")  # county data and draft plan uploads


def _township_codes() -> list[str]:
    from layers.dataset import read_dataset

    return sorted(read_dataset(ROOT / "data/demo/tongxin.gpkg")["townships"]["code"])


def test_overview_kpis_and_drill_down_to_a_township():
    at = _page("overview")
    labels = [m.label for m in at.metric]
    assert "20户以上自然村通硬化路率" in labels
    assert "移民安置区一刻钟便民生活服务圈达标率" in labels
    assert len(_table(at, "问题数")) == 11
    codes = _township_codes()
    # A click on the township map sets pending_township and reruns (app.state.drill_down).
    at.session_state["pending_township"] = codes[0]
    at.run()
    assert not at.exception
    assert at.sidebar.selectbox(key="township").value == codes[0]
    assert len(_table(at, "问题数")) == 1
    assert _table(at, "卫生室状态").shape[0] >= 1
    # and the sidebar select box drills down the same way
    at.sidebar.selectbox(key="township").set_value(codes[1]).run()
    assert not at.exception
    assert _table(at, "问题数").iloc[0]["代码"] == codes[1]


def test_hard_road_page_filters_by_reason():
    at = _page("hard_road")
    table = _table(at, "户数")
    assert len(table) > 0
    at.multiselect(key="hr_reasons").set_value(["only_unpaved"]).run()
    assert not at.exception
    filtered = _table(at, "户数")
    assert 0 < len(filtered) < len(table)
    assert set(filtered["原因"]) == {"仅有砂石/土路连接"}


def test_services_page_lists_every_relocation_site():
    at = _page("services")
    from layers.dataset import read_dataset

    n_sites = len(read_dataset(ROOT / "data/demo/tongxin.gpkg")["relocation_sites"])
    assert len(_table(at, "药店(分钟)")) == n_sites
    at.multiselect(key="sv_kinds").set_value(["药店"]).run()
    assert not at.exception


def test_clinics_page_shows_blank_spots():
    at = _page("clinics")
    assert len(_table(at, "应配医生数")) > 0
    assert any(m.label == "空白行政村" for m in at.metric)


def test_village_sheet_search_and_download():
    at = _page("village")
    box = at.selectbox(key="village_code")
    assert len(box.options) >= 100  # every admin village of the county
    at.text_input(key="village_query").input("640324").run()
    assert not at.exception
    first = at.selectbox(key="village_code").value
    assert first.startswith("640324")
    assert _table(at, "户数").shape[0] >= 1
    assert at.get("download_button")
    assert any("台账中没有本村的问题" in c.value for c in at.caption)
    # every indicator's outcome for the village, water's too, problems first
    at.text_input(key="village_query").input("").run()
    worst = at.selectbox(key="village_code").value
    table = _table(at, "指标")
    assert {"农村自来水普及率", "20户以上自然村通硬化路率", "行政村通5G比例"} <= set(table["指标"])
    assert table["结果"].iloc[0] == "未达标"
    assert (table.loc[table["结果"] == "无数据", "现值"] == "无数据").all()
    from geo.assessment import assess
    from geo.settings import Settings
    from layers.dataset import read_dataset

    a = assess(read_dataset(ROOT / "data/demo/tongxin.gpkg"), Settings())
    o = a.indicators.outcomes
    town = worst[:9]  # the township's rows (卫生院, 幼儿园 by township) belong to the sheet
    mine = (o["admin_village_code"] == worst) | (
        (o["unit_kind"] == "township") & (o["unit_code"] == town)
    )
    problems = o.loc[mine & (o["status"] == "problem")]
    assert (table["结果"] == "未达标").sum() == len(problems) > 0


def test_export_page_offers_three_downloads():
    at = _page("export")
    labels = [b.label for b in at.get("download_button")]
    assert any("results.gpkg" in x for x in labels)
    assert any("report.xlsx" in x for x in labels)
    assert any("离线地图包" in x for x in labels)
    # report.xlsx has a sheet of every seed indicator of the table (geo.report decides)
    from geo.indicators.table import indicator_table
    from geo.report import indicator_sheet_name
    from geo.settings import Settings

    table = indicator_table(Settings())
    sheets = next(m.value for m in at.markdown if "指标-" in m.value).split("、")
    seeds = [i.code for i in table if i.code not in {"hard_road", "services", "clinics", "water"}]
    assert len(seeds) >= 13  # the four have detail sheets of their own
    assert {indicator_sheet_name(table, c) for c in seeds} <= set(sheets)


@pytest.mark.parametrize(
    "page", ["overview", "hard_road", "services", "clinics", "water", "village"]
)
def test_pages_render_with_tianditu_basemap(page, monkeypatch):
    monkeypatch.setenv("TIANDITU_KEY", "test-key")
    at = AppTest.from_file(str(VIEWS / f"{page}.py"), default_timeout=TIMEOUT)
    at.session_state["basemap"] = "tianditu"
    at.run()
    assert not at.exception


def test_water_page_shows_coverage_problem_villages_and_downloads():
    at = _page("water")
    labels = [m.label for m in at.metric]
    assert "农村自来水普及率" in labels
    table = _table(at, "供水状态")
    assert set(table["供水状态"]) <= {"未通自来水", "水压不足", "水源水量不足", "所接管网无水源"}
    assert len(table) > 0
    downloads = [b.label for b in at.get("download_button")]
    assert any(".inp" in x for x in downloads)
    slider = at.select_slider(key="water_hour")
    slider.set_value(0.0).run()
    assert not at.exception


def test_ledger_page_records_a_snapshot_and_changes_a_state(tmp_path, monkeypatch, demo_assessment):
    monkeypatch.setenv("GAPMAP_LEDGER_DIR", str(tmp_path / "ledger"))
    at = AppTest.from_file(str(VIEWS / "ledger.py"), default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    at.button(key="ledger_record").click().run()
    assert not at.exception, [e.value for e in at.exception]
    n = len(problem_items(demo_assessment))  # every indicator's problems (51 of the first four)
    assert any(f"新增 {n}" in s.value for s in at.success), [s.value for s in at.success]
    table = _table(at, "问题编号")
    assert len(table) == n and set(table["整改状态"]) == {"待整改"}
    # a second run of the same data changes nothing: every problem persists
    at.button(key="ledger_record").click().run()
    assert any(f"新增 0，持续 {n}" in s.value for s in at.success)
    labels = [b.label for b in at.get("download_button")]
    assert any("整改台账" in x for x in labels)


def test_ledger_snapshot_in_the_planned_scenario_records_the_current_state(tmp_path, monkeypatch):
    """With the sidebar on 规划, 记入台账 still records 现状: a plan closes no real item."""
    from geo.assessment import assess
    from geo.ledger import Ledger, problem_items
    from geo.plan import as_built
    from geo.settings import load_settings
    from layers.dataset import read_dataset

    monkeypatch.setenv("GAPMAP_LEDGER_DIR", str(tmp_path / "ledger"))
    at = AppTest.from_file(str(VIEWS / "ledger.py"), default_timeout=TIMEOUT)
    at.session_state["scenario"] = "planned"
    at.run()
    assert any("快照只记录全县的现状数据" in i.value for i in at.info)
    at.button(key="ledger_record").click().run()
    assert not at.exception, [e.value for e in at.exception]
    demo = read_dataset(ROOT / "data/demo/tongxin.gpkg")
    now = set(problem_items(assess(demo, load_settings()))["key"])
    planned = set(problem_items(assess(as_built(demo), load_settings()))["key"])
    assert now != planned  # the demo's plan closes something, so the test can tell them apart
    recorded = Ledger(tmp_path / "ledger").items()
    assert set(recorded["key"]) == now


def test_village_sheet_lists_the_villages_ledger_items(tmp_path):
    from geo.assessment import assess
    from geo.ledger import Ledger, problem_items
    from geo.settings import load_settings
    from layers.dataset import read_dataset
    from layers.store.actors import Actor

    dataset = read_dataset(ROOT / "data/demo/tongxin.gpkg")
    settings = load_settings()
    a = assess(dataset, settings)
    Ledger(tmp_path / "ledger").record_snapshot(
        problem_items(a), actor=Actor.local(), dataset_hash=a.dataset_hash, settings=settings
    )
    worst = a.rollup.admin_villages.sort_values("problems")["code"].iloc[-1]
    at = AppTest.from_file(str(VIEWS / "village.py"), default_timeout=TIMEOUT)
    at.run()
    at.selectbox(key="village_code").set_value(worst).run()
    assert not at.exception
    table = _table(at, "整改状态")
    # the roll-up counts every indicator's problems of the table, water's among them
    expected = a.rollup.admin_villages.set_index("code").loc[worst, "problems"]
    assert len(table) == int(expected)
    assert set(table["整改状态"]) == {"待整改"}
    history = _table(at, "修改内容")
    assert len(history) == len(table)  # one 'created' event per item so far


@pytest.mark.parametrize("page", ["hard_road", "services", "clinics", "overview"])
def test_plan_review_shows_the_change_against_the_current_state(page):
    """The demo has 13 planned road segments and a planned shop: 规划 shows deltas."""
    at = AppTest.from_file(str(VIEWS / f"{page}.py"), default_timeout=TIMEOUT)
    at.run()
    assert at.sidebar.radio(key="scenario").value == "current"
    assert all(m.proto.delta == "" for m in at.metric)
    at.sidebar.radio(key="scenario").set_value("planned").run()
    assert not at.exception, [e.value for e in at.exception]
    deltas = [m.proto.delta for m in at.metric if m.value != "无数据"]  # 无数据: no change
    assert deltas and all("较现状" in d for d in deltas)
    if page == "hard_road":
        rate = next(m for m in at.metric if m.label == "通硬化路率")
        assert not rate.proto.delta.startswith("−")  # building planned roads never lowers it


def test_projects_page_ranks_plans_within_budget_and_sites_facilities(demo_assessment):
    at = _page("projects")
    table = _table(at, "每万元受益人数")
    assert len(table) == len(problem_items(demo_assessment))  # one project per problem
    assert "新建便民设施" in set(table["项目类型"]) and "人居环境项目" in set(table["项目类型"])
    ratio = table["每万元受益人数"].to_numpy(dtype=float)
    known = ratio[~np.isnan(ratio)]  # a water works' project: people served not known, last
    assert (known[:-1] >= known[1:]).all() and np.isnan(ratio[len(known) :]).all()
    # the plan takes ranked projects while they fit the budget
    at.number_input(key="plan_budget").set_value(400.0).run()
    assert not at.exception, [e.value for e in at.exception]
    table = _table(at, "每万元受益人数")
    chosen = table.loc[table["列入方案"]]
    assert 0 < chosen["估算投资(万元)"].sum() <= 400.0
    kpis = _table(at, "方案建成后")
    assert (kpis["方案建成后"] != kpis["现状"]).any()
    closed = _table(at, "问题编号")
    assert 0 < len(closed) <= len(chosen)
    # the whole library: every access problem closes, and every village gets piped water
    at.number_input(key="plan_budget").set_value(100_000.0).run()
    assert not at.exception, [e.value for e in at.exception]
    kpis = _table(at, "方案建成后").set_index("指标")
    access = ["20户以上自然村通硬化路率", "移民安置区一刻钟便民生活服务圈达标率"]
    assert set(kpis.loc[[*access, "乡村两级医疗卫生机构和人员空白点"], "建成后是否达标"]) == {
        "达标"
    }
    assert kpis.loc["农村自来水普及率", "方案建成后"] == 100.0
    closed = _table(at, "问题编号")
    assert len(closed) >= 33
    # the demo's draft plan (planned roads and a shop) closes the items its features fix
    draft = next(m.value for m in at.markdown if "规划草案可销号" in m.value)
    assert int(draft.split("**")[1]) == _draft_closes()
    # siting: the exact answer covers at least as many as greedy
    at.selectbox(key="siting_kind").set_value("卫生室").run()
    exact = next(m for m in at.metric if m.label == "新址建成后").value
    at.radio(key="siting_method").set_value("greedy").run()
    assert not at.exception
    greedy = next(m for m in at.metric if m.label == "新址建成后").value
    assert float(exact.replace(",", "")) >= float(greedy.replace(",", ""))
    assert len(_table(at, "新增覆盖人口")) == 3


def _draft_closes() -> int:
    """Items of the demo that its 规划 features close, computed without the app."""
    from geo.assessment import assess
    from geo.ledger import problem_items
    from geo.plan import as_built
    from geo.settings import Settings
    from layers.dataset import read_dataset

    def keys(ds):
        return set(problem_items(assess(ds, Settings()))["key"])  # water items included

    ds = read_dataset(ROOT / "data/demo/tongxin.gpkg")
    return len(keys(ds) - keys(as_built(ds)))


def test_terrain_switch_on_services_clinics_and_hard_road_pages():
    """The demo carries a DEM: 考虑地形 gives per-site and per-township terrain answers."""
    at = _page("services")
    at.radio(key="sv_mode").set_value("terrain").run()
    assert not at.exception, [e.value for e in at.exception]
    table = _table(at, "考虑地形(分钟)")
    assert len(table) == 9 * 4  # every relocation site × required kind
    assert set(table["变化"]) <= {"不变", "变为超时", "变为达标"}
    at.selectbox(key="sv_surface").set_value("药店").run()
    assert not at.exception

    at = _page("clinics")
    at.radio(key="cl_mode").set_value("terrain").run()
    assert not at.exception, [e.value for e in at.exception]
    zones = _table(at, "超时人口（考虑地形）")
    assert len(zones) == 11 and (zones["超时人口（考虑地形）"] <= zones["人口"]).all()

    at = _page("hard_road")
    at.checkbox(key="hr_slope").check().run()
    assert not at.exception, [e.value for e in at.exception]
    assert "新建连接线平均坡度(%)" in _table(at, "需新建(公里)").columns


def test_water_page_runs_the_countys_own_inp_and_says_what_changed():
    """A dataset whose water network is the water bureau's .inp (as after an upload)."""
    from layers.dataset import read_dataset
    from layers.epanet import read_inp

    demo = read_dataset(ROOT / "data/demo/tongxin.gpkg")
    own = demo.with_water_model(read_inp(ROOT / "data/demo/tongxin.inp", crs="EPSG:4544"))
    at = AppTest.from_file(str(VIEWS / "water.py"), default_timeout=TIMEOUT)
    at.session_state["uploads"] = {"演示数据": own}
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("EPANET 模型 tongxin.inp" in c.value for c in at.caption)
    values = {m.label: m.value for m in at.metric}
    assert values["农村自来水普及率"] == "98.17%" and values["未通自来水自然村"] == "15 个"
    notes = _table(at, "处理")
    assert notes["内容"].str.contains("gapmap_rural").any()


def test_indicators_page_maps_and_tables_every_other_indicator_of_the_table():
    from geo.indicators.table import GROUP_ZH, indicator_table
    from geo.settings import Settings

    at = _page("indicators")
    table = indicator_table(Settings())
    box = at.selectbox(key="indicator_code")
    own_pages = {"hard_road", "services", "clinics", "water"}
    expect = [i for i in table if i.code not in own_pages]
    # one entry per indicator, labelled with its group, the page's groups first
    assert sorted(box.options) == sorted(f"{GROUP_ZH[i.group]} · {i.name_zh}" for i in expect)
    assert box.options[0].startswith("教育")
    for code in ("edu_primary", "telecom_5g", "toilets", "water_quality", "site_public"):
        at.selectbox(key="indicator_code").set_value(code).run()
        assert not at.exception, [e.value for e in at.exception]
        card = next(m for m in at.metric if m.label == table.get(code).name_zh)
        line = next(m.value for m in at.markdown if "按单元统计" in m.value)
        total = int(re.search(r"共 \*\*([\d,]+)\*\* 个单元", line).group(1).replace(",", ""))
        counts = {
            k: int(re.search(k + r" \*\*([\d,]+)\*\*", line).group(1).replace(",", ""))
            for k in ("达标", "未达标", "无数据", "不纳入")
        }
        assert total == sum(counts.values()) > 0
        shown = _table(at, "结果")
        assert set(shown["结果"]) <= {"达标", "未达标", "无数据", "不纳入"}
        assert (shown.loc[shown["结果"] == "无数据", "现值"] == "无数据").all()
        if card.value == "无数据":
            assert counts["达标"] == counts["未达标"] == 0  # never met, never zero
    # only the problems
    at.multiselect(key="indicator_status").set_value(["problem"]).run()
    assert not at.exception
    assert set(_table(at, "结果")["结果"]) <= {"未达标"}


def test_a_new_server_process_reads_the_assessment_instead_of_computing(tmp_path, monkeypatch):
    """A restarted server (or a second one) opens the county from the disk cache."""
    import app.state

    monkeypatch.setenv("GAPMAP_CACHE_DIR", str(tmp_path / "cache"))
    app.state._assess.clear()  # as in a new process
    _page("clinics")
    kept = list((tmp_path / "cache").glob("assessment-*.pkl"))
    assert len(kept) == 1

    def no_compute(*args, **kwargs):
        raise AssertionError("computed again although the cache had it")

    app.state._assess.clear()
    monkeypatch.setattr(app.state, "assess", no_compute)
    at = _page("clinics")
    assert len(_table(at, "应配医生数")) > 0
    assert any(m.label == "空白行政村" for m in at.metric)
    # stored without the terrain grids, which came back from the DEM
    demo = app.state.load_demo()
    assert app.state.assessment_for(demo).terrain is not None
