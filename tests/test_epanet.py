"""The water bureau's own EPANET model as a first-class input (layers.epanet + geo.water).

Real files no one here wrote: WNTR 1.5.0's example networks (Net3: schematic, 2 pumps,
controls; Kentucky ky4/ky10 in EPSG:3089 US feet, 2 and 13 pumps, 5 valves) and the three
bad ``.inp`` files of WNTR's own test suite.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely
import wntr

from geo.assessment import assess
from geo.settings import Settings
from geo.water import assess_water, build_water_model, run_hydraulics
from layers import Dataset, read_dataset
from layers.epanet import (
    SCHEMATIC,
    InpModel,
    epanet_warnings,
    inp_from_bytes,
    read_inp,
    read_village_nodes,
)
from layers.errors import CRSError, LayerReadError

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "data" / "demo"
NETWORKS = Path(wntr.__file__).parent / "library" / "networks"
WNTR_TESTS = Path(wntr.__file__).parent / "tests" / "networks_for_testing"
SETTINGS = Settings()


@pytest.fixture(scope="module")
def demo() -> Dataset:
    return read_dataset(DEMO / "tongxin.gpkg")


# ------------------------------------------------------------------ declarations


def test_the_coordinate_system_is_asked_never_assumed():
    for crs in (None, "", "  "):
        with pytest.raises(CRSError) as exc:
            read_inp(DEMO / "tongxin.inp", crs=crs)
        assert "请声明" in exc.value.zh and "tongxin.inp" in exc.value.zh
    with pytest.raises(CRSError, match="not a coordinate system"):
        read_inp(DEMO / "tongxin.inp", crs="GK-105")
    assert read_inp(DEMO / "tongxin.inp", crs=4544).crs == "EPSG:4544"
    assert read_inp(DEMO / "tongxin.inp", crs="epsg:4544").crs == "EPSG:4544"
    for word in (SCHEMATIC, "无坐标", "none"):
        assert read_inp(NETWORKS / "Net3.inp", crs=word).schematic


@pytest.mark.parametrize(
    ("name", "line", "section", "what"),
    [
        ("bad_syntax.inp", 330, "FOO", "语法错误"),
        ("bad_values.inp", 56, "PIPES", "未定义的节点"),
        ("bad_times.inp", 324, "TIMES", "选项值无效"),
    ],
)
def test_wntr_bad_files_give_located_chinese_errors(name, line, section, what):
    with pytest.raises(LayerReadError) as exc:
        read_inp(WNTR_TESTS / name, crs="EPSG:4544")
    zh = exc.value.zh
    assert f"{name} 第 {line} 行（[{section}] 节）" in zh and what in zh
    assert "原文：" in zh  # EPANET's own words beside the Chinese
    for leak in ("%s", "%d", "\t", "Traceback", "gapmap-inp-", "model.inp"):
        assert leak not in zh, leak
    assert f"line {line} [{section}]" in str(exc.value)
    assert exc.value.__cause__ is None


def test_upload_bytes_equal_the_file_and_hash_covers_crs_and_table():
    a = read_inp(DEMO / "tongxin.inp", crs="EPSG:4544")
    b = inp_from_bytes((DEMO / "tongxin.inp").read_bytes(), "x/tongxin.inp", crs="EPSG:4544")
    assert b.name == "tongxin.inp" and a.sha256 == b.sha256
    assert read_inp(DEMO / "tongxin.inp", crs="EPSG:4507").sha256 != a.sha256
    assert a.with_village_nodes({"NV1": "J1"}).sha256 != a.sha256


# ----------------------------------------------------------------- place checks


def test_network_outside_the_county_is_refused_with_the_fitting_crs(demo):
    ky4 = demo.with_water_model(read_inp(NETWORKS / "ky4.inp", crs="EPSG:3089"))
    (err,) = ky4.errors
    assert err.kind == "outside_county" and "0%" in err.message_zh and "同心县" in err.message_zh
    assert "常见的宁夏坐标系都对不上" in err.message_zh  # Kentucky fits none of them
    # the demo's own model declared with the zone prefix (wrong): the fitting one is named
    wrong = demo.with_water_model(read_inp(DEMO / "tongxin.inp", crs="EPSG:4523"))
    (err,) = wrong.errors
    assert "EPSG:4544（100% 落在县内）" in err.message_zh
    right = demo.with_water_model(read_inp(DEMO / "tongxin.inp", crs="EPSG:4544"))
    assert right.ok and right.content_hash != demo.content_hash
    # dropping the model gives back the layers' dataset, problems and all
    back = right.with_water_model(None)
    assert back.content_hash == demo.content_hash and back.problems == demo.problems


def test_dem_is_part_of_the_content_hash(demo, tmp_path):
    dem = tmp_path / "dem.tif"
    dem.write_bytes((DEMO / "tongxin_dem.tif").read_bytes())
    with_dem = demo.with_dem(dem)
    assert with_dem.content_hash != demo.content_hash
    before = with_dem.content_hash
    dem.write_bytes(dem.read_bytes()[:-1] + b"\x01")  # a new DEM under the same name
    assert demo.with_dem(dem).content_hash != before


# --------------------------------------------------------- the model as given


@pytest.mark.parametrize(
    ("name", "crs", "pumps", "valves", "controls"),
    [
        ("Net3.inp", SCHEMATIC, 2, 0, 18),
        ("ky4.inp", "EPSG:3089", 2, 0, 2),
        ("ky10.inp", "EPSG:3089", 13, 5, 6),
    ],
)
def test_real_models_run_unchanged(name, crs, pumps, valves, controls):
    """Pumps, valves, controls, patterns and demands of the file are the ones that run."""
    inp = read_inp(NETWORKS / name, crs=crs)
    model = build_water_model(Dataset(layers={}), SETTINGS, inp=inp)
    wn, ref = model.wn, wntr.network.WaterNetworkModel(str(NETWORKS / name))
    assert (wn.num_pumps, wn.num_valves, len(wn.control_name_list)) == (pumps, valves, controls)
    assert set(ref.pattern_name_list) <= set(wn.pattern_name_list)
    for j, node in ref.junctions():
        mine = wn.get_node(j).demand_timeseries_list
        assert [d.base_value for d in mine] == [d.base_value for d in node.demand_timeseries_list]
        assert [d.pattern_name for d in mine] == [
            d.pattern_name for d in node.demand_timeseries_list
        ]
    for c in ref.control_name_list:
        assert str(wn.get_control(c)) == str(ref.get_control(c))
    # what GapMap changed is said, in Chinese
    said = " ".join(model.changes)
    if ref.options.time.duration != 86400:
        assert "模拟时长" in said
    assert "gapmap_rural" in said and "不变" in said
    run = run_hydraulics(model, SETTINGS)
    assert run.simulator == "EPANET 2.2" and len(run.pressure_m) == 25
    if name == "ky10.inp":  # EPANET itself warns on the file as published: shown, in Chinese
        said = " ".join(w.message_zh for w in run.warnings)
        assert "水力计算未收敛（系统不平衡），于 6:55:01" in said and "出现负压" in said


def test_epanet_warnings_reach_the_run_in_chinese_with_the_original_text(tmp_path):
    """Net3 with 4× its demands: EPANET itself reports negative pressures; they are kept."""
    wn = wntr.network.WaterNetworkModel(str(NETWORKS / "Net3.inp"))
    for _, j in wn.junctions():
        for d in j.demand_timeseries_list:
            d.base_value *= 4
    path = tmp_path / "net3_x4.inp"
    wntr.network.write_inpfile(wn, str(path))
    model = build_water_model(Dataset(layers={}), SETTINGS, inp=read_inp(path, crs=SCHEMATIC))
    run = run_hydraulics(model, SETTINGS)
    (neg,) = [w for w in run.warnings if "负压" in w.message_zh]
    assert "原文：WARNING: Negative pressures at" in neg.message_zh
    assert int(neg.value) > 1 and "共" in neg.message_zh
    # an oracle for the grouping: the WARNING lines EPANET itself writes to its report
    plain = run_hydraulics(
        build_water_model(
            Dataset(layers={}), SETTINGS, inp=read_inp(NETWORKS / "Net3.inp", crs=SCHEMATIC)
        ),
        SETTINGS,
    )
    assert not [w for w in plain.warnings if "负压" in w.message_zh]


def test_epanet_warning_grouping_by_hand():
    """Lines as EPANET 2.2 writes them (seen in its reports of Net2, Net3 and ky10 overloaded)."""
    report = """
  WARNING: Negative pressures at 0:00:00 hrs.
     1:00:00: Balanced after 6 trials
  WARNING: Negative pressures at 5:00:00 hrs.
  WARNING: Pump 10 open but exceeds maximum flow at 6:00:00 hrs.
  WARNING: Pump 335 open but exceeds maximum flow at 7:00:00 hrs.
  WARNING: Node 10 disconnected at 8:00:00 hrs
  WARNING: Node 11 disconnected at 8:00:00 hrs
  WARNING: 22 additional nodes disconnected at 8:00:00 hrs
  WARNING: 3 additional nodes disconnected at 9:00:00 hrs
  WARNING: System disconnected because of Link 29
  WARNING: Maximum trials exceeded at 1:00:00 hrs. System may be hydraulically unstable.
  WARNING: Maximum trials exceeded at 2:00:00 hrs. System may be hydraulically unstable.
  WARNING: FCV V3 open but cannot deliver flow at 3:00:00 hrs.
  WARNING: PRV V4 open but cannot deliver pressure at 4:00:00 hrs.
"""
    found = [w.message_zh.split("（原文")[0] for w in epanet_warnings(report, file="m.inp")]
    assert found == [
        "EPANET 计算警告：出现负压（供水水头不足），共 2 次（0:00:00 至 5:00:00）",
        "EPANET 计算警告：水泵流量超过其特性曲线的最大流量，涉及 Pump 10、Pump 335，"
        "共 2 次（6:00:00 至 7:00:00）",
        "EPANET 计算警告：节点与水源断开，涉及 Node 10、Node 11，共 2 次（8:00:00 至 8:00:00）",
        "EPANET 计算警告：另有多个节点与水源断开，共 2 次（8:00:00 至 9:00:00）",
        "EPANET 计算警告：管网因某条管段关闭而断开，涉及 Link 29",
        "EPANET 计算警告：超过最大迭代次数，系统可能水力不稳定，共 2 次（1:00:00 至 2:00:00）",
        "EPANET 计算警告：阀门达不到设定的流量或压力，涉及 FCV V3，于 3:00:00",
        "EPANET 计算警告：阀门达不到设定的流量或压力，涉及 PRV V4，于 4:00:00",
    ]
    assert all("EPANET 警告" not in m for m in found)  # every real kind has its Chinese


# ---------------------------------------------------------------- village links


PUMPED = """[TITLE]
pumped
[JUNCTIONS]
 J0   10   0
 J1   10   0
 J2   10   0.5
[RESERVOIRS]
 R1   12
[PIPES]
 P0   R1   J0   100   200   130   0   Open
 P2   J1   J2   500   100   130   0   Open
[PUMPS]
 PU1  J0   J1   HEAD C1
[CURVES]
 C1   10   40
[OPTIONS]
 Units LPS
 Headloss H-W
[TIMES]
 Duration 0
[COORDINATES]
 J0   560100   4090000
 J1   561000   4090000
 J2   561600   4090000
 R1   560000   4090000
[END]
"""


def _villages(points, water_node=None):
    n = len(points)
    data = {
        "id": [f"NV{k}" for k in range(n)],
        "households": [30] * n,
        "population": [100] * n,
        "admin_village_code": ["640324100201"] * n,
    }
    if water_node is not None:
        data["water_node"] = water_node
    geom = gpd.GeoSeries(shapely.points(points), crs=4544).to_crs(4326)
    return Dataset(layers={"natural_villages": gpd.GeoDataFrame(data, geometry=geom)})


def test_villages_never_hang_on_reservoirs_tanks_or_pump_suction(tmp_path):
    path = tmp_path / "pumped.inp"
    path.write_text(PUMPED, encoding="utf-8")
    inp = read_inp(path, crs="EPSG:4544")
    # NV0 stands on the pump's suction node J0 and 100 m from the reservoir; NV1 names J0
    ds = _villages([(560100, 4090000), (561500, 4090000)], water_node=["", "J0"])
    model = build_water_model(ds, SETTINGS, inp=inp)
    vn = model.village_nodes.set_index("id")
    assert vn.loc["NV0", "node"] in ("", "J1", "J2") and vn.loc["NV0", "node"] != "J0"
    assert vn.loc["NV1", "node"] == "J2" and vn.loc["NV1", "link"] == "nearest"
    kinds = {p.kind for p in model.problems}
    assert "not_linkable" in kinds
    said = [p.message_zh for p in model.problems if p.feature_id == "NV1"]
    assert any("水泵吸水端" in m for m in said) and any("最近的节点 J2" in m for m in said)
    # and the pump still lifts J1/J2 from the reservoir: the model ran as given
    p = run_hydraulics(model, SETTINGS).pressure_m.iloc[0]
    assert p["J1"] > p["J0"] + 30  # 40 m pump head minus the friction loss


def test_unknown_node_is_reported_truthfully(tmp_path):
    """ "Nearest node used" only when there is one: else it says the village is off the pipe."""
    path = tmp_path / "pumped.inp"
    path.write_text(PUMPED, encoding="utf-8")
    inp = read_inp(path, crs="EPSG:4544")
    far = _villages([(600000, 4100000)], water_node=["NOPE"])
    (p,) = build_water_model(far, SETTINGS, inp=inp).problems
    assert "内也没有用水节点" in p.message_zh and "已改用" not in p.message_zh


def test_schematic_model_is_simulated_not_mapped_and_links_by_table(demo, tmp_path):
    inp = read_inp(NETWORKS / "Net3.inp", crs=SCHEMATIC)
    ds = demo.with_water_model(inp)
    assert ds.ok  # no place to check
    model, _, result = assess_water(ds, SETTINGS)
    assert model.schematic and result.nodes.geometry.isna().all()
    assert result.pipes.geometry.isna().all()
    assert (result.villages["status"] == "unlinked").all()
    county = result.county
    assert county["value"].isna().all() and county["met"].isna().all()  # 无数据, never 0 %
    from geo.ledger.items import water_items

    assert water_items(result).empty  # nothing known: no ledger item either
    assert any(p.kind == "not_linkable" and "无数据" in p.message_zh for p in model.problems)
    # with a village → node table the listed villages are linked by name
    ids = demo["natural_villages"]["id"].astype(str).tolist()
    table = tmp_path / "对照表.csv"
    pd.DataFrame({"自然村编码": ids[:3], "供水节点": ["15", "35", "River"]}).to_csv(
        table, index=False
    )
    linked = inp.with_village_nodes(read_village_nodes(table))
    model, _, result = assess_water(demo.with_water_model(linked), SETTINGS)
    v = result.villages.set_index("id")
    assert list(v.loc[ids[:2], "node"]) == ["15", "35"]
    assert v.loc[ids[2], "node"] == ""  # River is a reservoir: never a village's node
    # a village the table does not list is not known to be off the pipe: 无数据, not 0 %
    assert (v.loc[ids[2:], "status"] == "unlinked").all()
    assert set(v.loc[ids[:2], "status"]) <= {"ok", "low_pressure"}
    served = v.loc[ids[:2]]
    expected = 100.0 * served.loc[served["status"] != "off_network", "population"].sum()
    assert result.county.iloc[0]["value"] == pytest.approx(expected / served["population"].sum())
    tw = result.rollup_townships
    assert tw["rural_population"].sum() == served["population"].sum()  # known villages only


def test_village_node_table_errors_are_located(tmp_path):
    bad = tmp_path / "t.csv"
    bad.write_text("自然村编码,供水节点\nNV1,J1\nNV1,J2\n", encoding="utf-8")
    with pytest.raises(LayerReadError) as exc:
        read_village_nodes(bad)
    assert "t.csv 第 3 行" in exc.value.zh
    bad.write_text("村名,节点号\na,b\n", encoding="utf-8")
    with pytest.raises(LayerReadError, match="needs a village id column"):
        read_village_nodes(bad)


# ------------------------------------------------------------- in the assessment


def test_assessment_runs_the_dataset_model_and_items_follow(demo):
    ds = demo.with_water_model(read_inp(DEMO / "tongxin.inp", crs="EPSG:4544"))
    a = assess(ds, SETTINGS)
    assert a.water is not None and a.water.result is not None
    assert a.water.model.source == "tongxin.inp"
    gis = assess(demo, SETTINGS).water.result
    # the demo's .inp is the same network as its layers: the same villages fail
    pd.testing.assert_series_equal(
        a.water.result.villages["status"], gis.villages["status"], check_names=False
    )
    assert a.dataset_hash == ds.content_hash != demo.content_hash


def test_water_error_is_kept_in_the_assessment_not_raised(tmp_path, demo):
    text = PUMPED.replace("[PIPES]", "[PIPES]\n P9   J2   J1   0   100   130   0   Open")
    path = tmp_path / "zero.inp"
    path.write_text(text, encoding="utf-8")
    inp = InpModel(name="zero.inp", text=text, crs=None)  # schematic: no place check
    a = assess(demo.with_water_model(inp), SETTINGS)
    assert a.water.result is None and a.water.error is not None
    assert any(p.kind == "bad_length" for p in a.water.problems)
    assert "供水管网有 1 处错误" in a.water.error.zh


def test_a_plans_pipe_joins_the_countys_model_in_the_planned_scenario(demo):
    """A 规划 pipe to an off-network village: built into the county's .inp when taken as built."""
    from geo.plan import as_built

    inp = read_inp(DEMO / "tongxin.inp", crs="EPSG:4544")
    _, _, before = assess_water(demo.with_water_model(inp), SETTINGS)
    v = before.villages.set_index("id")
    target = sorted(v.index[v["status"] == "off_network"])[0]
    village = demo["natural_villages"].set_index("id").loc[target]
    nodes, pipes = demo["water_nodes"], demo["water_pipes"]
    junctions = nodes[nodes["node_type"] == "Junction"].to_crs(4544)
    here = gpd.GeoSeries([village.geometry], crs=4326).to_crs(4544).iloc[0]
    nearest = junctions.geometry.distance(here).idxmin()
    new_node = nodes.loc[[nearest]].assign(
        name="PLAN_J", geometry=[village.geometry], status="规划"
    )
    new_pipe = pipes.iloc[[0]].assign(
        name="PLAN_P", start_node_name=nodes.loc[nearest, "name"], end_node_name="PLAN_J",
        length_m=float(junctions.geometry.distance(here).min()), diameter_mm=63.0, status="规划",
        geometry=[shapely.LineString([nodes.loc[nearest].geometry, village.geometry])],
    )  # fmt: skip
    orphan = pipes.iloc[[1]].assign(name="PLAN_X", end_node_name="NOWHERE", status="规划")
    plan = demo.replace_layers(
        water_nodes=pd.concat([nodes, new_node], ignore_index=True),
        water_pipes=pd.concat([pipes, new_pipe, orphan], ignore_index=True),
    ).with_water_model(inp)
    now = build_water_model(plan, SETTINGS)
    assert "PLAN_P" not in now.wn.link_name_list  # not built yet: the model as given
    model, _, built = assess_water(as_built(plan), SETTINGS)
    assert "PLAN_P" in model.wn.link_name_list and "PLAN_J" in model.wn.junction_name_list
    said = " ".join(model.changes)
    assert "PLAN_P：" in said and "在新节点 PLAN_J 上添加村庄用水量" in said
    assert built.villages.set_index("id").loc[target, "status"] in {"ok", "low_pressure"}
    assert built.county.iloc[0]["value"] > before.county.iloc[0]["value"]
    (orphaned,) = [p for p in model.problems if "PLAN_X" in p.message_zh]
    assert "不在 EPANET 模型中" in orphaned.message_zh  # its end node exists nowhere: said
