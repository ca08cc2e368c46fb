"""农村供水 (geo.water): oracles against EPANET, a hand-computed network, bad networks, the demo.

Oracles:

- EPANET's own toolkit (ENopen → ENinitH → ENrunH/ENnextH, run directly on the original
  ``.inp`` with the duration set to 24 h) on the example networks shipped in the WNTR
  1.5.0 wheel (``wntr/library/networks``: Net1, Net2, Net3, Kentucky ky4 and ky10) and the
  demo county's ``tongxin.inp``. EPANET works in feet internally; its pressure in metres
  is head − elevation × 0.3048 (what it reports itself for SI files), so that is what
  GapMap's pipeline (read .inp → run_hydraulics) is compared with, at every hour.
- A tiny network whose pressures follow from the Hazen-Williams formula by hand.
- ``data/demo/tongxin_truth.json``: the planted off-network and low-pressure villages.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
import wntr
from wntr.epanet import toolkit
from wntr.epanet.util import EN

from geo.settings import Settings, WaterSettings
from geo.water import (
    STATUSES,
    WaterNetworkError,
    WaterProblemKind,
    assess_water,
    build_water_model,
    model_layers,
    run_hydraulics,
    water_coverage,
    with_changes,
)
from layers import Dataset
from layers.epanet import read_inp
from layers.errors import LayerReadError, NetworkError, Severity

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "data" / "demo"
NETWORKS = Path(wntr.__file__).parent / "library" / "networks"
WNTR_TESTS = Path(wntr.__file__).parent / "tests" / "networks_for_testing"
METRIC = 4544
E0, N0 = 560_000.0, 4_090_000.0  # near 同心县, in EPSG:4544 (as tests/fixtures/tiny_county)
FT = 0.3048
SETTINGS = Settings()
INP_CRS = {"ky4.inp": "EPSG:3089", "ky10.inp": "EPSG:3089"}  # Kentucky single zone, US ft
"""Declared CRS of the example models; Net1–3 are schematic, the rest GK CM 105°E."""


def inp(path: Path, crs: str | None = None):
    """Read an .inp with its CRS declared as a user would (Net1-3: schematic)."""
    name = Path(path).name
    default = "schematic" if name.startswith("Net") else INP_CRS.get(name, "EPSG:4544")
    return read_inp(path, crs=crs or default)


# ------------------------------------------------------------------------- helpers


def epanet_pressures(path: Path, tmp: Path, duration_s: int = 86400) -> pd.DataFrame:
    """EPANET run directly through its toolkit: pressure (m) = (head − elevation) per node."""
    en = toolkit.ENepanet()
    en.ENopen(str(path), str(tmp / "oracle.rpt"), "")
    en.ENsettimeparam(EN.DURATION, duration_s)
    n = en.ENgetcount(EN.NODECOUNT)
    to_m = FT if en.ENgetflowunits() < 5 else 1.0  # CFS..AFD are US units, LPS.. SI
    ids = [en.ENgetnodeid(i) for i in range(1, n + 1)]
    rows = {}
    en.ENopenH()
    en.ENinitH(0)
    while True:
        t = en.ENrunH()
        rows[t / 3600.0] = [
            (en.ENgetnodevalue(i, EN.HEAD) - en.ENgetnodevalue(i, EN.ELEVATION)) * to_m
            for i in range(1, n + 1)
        ]
        if en.ENnextH() <= 0:
            break
    en.ENcloseH()
    en.ENclose()
    return pd.DataFrame.from_dict(rows, orient="index", columns=ids)


def frame(rows: list[dict], geoms: list) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(rows, geometry=geoms, crs=METRIC).to_crs(4326)


def pt(x: float, y: float) -> shapely.Point:
    return shapely.Point(E0 + x, N0 + y)


def line(*xy: tuple[float, float]) -> shapely.LineString:
    return shapely.LineString([(E0 + x, N0 + y) for x, y in xy])


def tiny_county(
    *,
    sources: list[tuple[dict, shapely.Point]],
    nodes: list[tuple[dict, shapely.Point]],
    pipes: list[tuple[dict, shapely.LineString]],
    villages: list[tuple[dict, shapely.Point]],
) -> Dataset:
    """A one-township county in a 10 km box, with the water layers given."""
    admin = {"code": "640399100200", "name": "甲村", "township_code": "640399100",
             "village_class": "集聚提升类", "population": 0}  # fmt: skip
    nv = [
        {"admin_village_code": admin["code"], "relocation_planned": False, **row}
        for row, _ in villages
    ]
    admin["population"] = sum(r["population"] for r in nv)
    box = shapely.box(E0 - 5000, N0 - 5000, E0 + 5000, N0 + 5000)
    frames = {
        "county": frame([{"code": "640399", "name": "示例县"}], [box]),
        "townships": frame([{"code": "640399100", "name": "甲镇"}], [box]),
        "admin_villages": frame([admin], [pt(0, 0)]),
        "natural_villages": frame(nv, [g for _, g in villages]),
        "water_sources": frame([r for r, _ in sources], [g for _, g in sources]),
        "water_nodes": frame([r for r, _ in nodes], [g for _, g in nodes]),
        "water_pipes": frame([r for r, _ in pipes], [g for _, g in pipes]),
    }
    return Dataset.from_frames(frames, name="tiny")


def src(name: str, head: float, xy=(0, 0), capacity: float = 1000.0):
    return {"name": name, "kind": "水厂", "head_m": head, "capacity_m3d": capacity}, pt(*xy)


def junction(name: str, elev: float, xy):
    return {"name": name, "node_type": "Junction", "elevation_m": elev}, pt(*xy)


def pipe(name: str, a: str, b: str, length: float, dia: float, c: float, *xy):
    return (
        {"name": name, "start_node_name": a, "end_node_name": b, "length_m": length,
         "diameter_mm": dia, "roughness": c},
        line(*xy),
    )  # fmt: skip


def village(vid: str, population: int, node: str, xy, *, households: int | None = None):
    hh = households if households is not None else round(population / 4)
    return (
        {"id": vid, "name": vid, "households": hh, "population": population, "water_node": node},
        pt(*xy),
    )


# Hand network: R (head 100 m) —P1 800 m DN100 C120— J1 (elev 10) —P2 1200 m DN75 C130— J2
# (elev 20), village V1 (5,000 people at 40 L/p/d) on J2, the rural pattern over the day.
HAND = {
    "sources": [src("R", 100.0, (0, 0))],
    "nodes": [junction("J1", 10.0, (800, 0)), junction("J2", 20.0, (2000, 0))],
    "pipes": [
        pipe("P1", "R", "J1", 800.0, 100.0, 120.0, (0, 0), (800, 0)),
        pipe("P2", "J1", "J2", 1200.0, 75.0, 130.0, (800, 0), (1400, 100), (2000, 0)),
    ],
    "villages": [village("V1", 5000, "J2", (2000, 50))],
}


def hw_loss(length: float, q: np.ndarray, d: float, c: float, exp_d: float = 4.871):
    """Hazen-Williams head loss (m) for flow q (m³/s): 10.667 L Q^1.852 / (C^1.852 D^e)."""
    return 10.667 * length * np.abs(q) ** 1.852 / (c**1.852 * d**exp_d)


def hand_pressures(multipliers: np.ndarray, hours: np.ndarray, q_mean: float):
    q = q_mean * multipliers[hours.astype(int) % len(multipliers)]
    h1 = 100.0 - hw_loss(800, q, 0.100, 120)
    h2 = h1 - hw_loss(1200, q, 0.075, 130)
    return h1 - 10.0, h2 - 20.0


# ------------------------------------------------------------------- EPANET oracle


@pytest.mark.parametrize(
    "path",
    [
        NETWORKS / "Net1.inp",
        NETWORKS / "Net2.inp",
        NETWORKS / "Net3.inp",
        NETWORKS / "ky4.inp",
        NETWORKS / "ky10.inp",
        DEMO / "tongxin.inp",
    ],
    ids=lambda p: p.name,
)
def test_pressures_equal_epanet_run_directly(path, tmp_path):
    model = build_water_model(Dataset(layers={}), SETTINGS, inp=inp(path))
    assert not model.errors
    run = run_hydraulics(model, SETTINGS)
    assert run.simulator == "EPANET 2.2"
    oracle = epanet_pressures(path, tmp_path)
    hours = oracle.index.intersection(run.pressure_m.index)
    assert list(hours) == [float(h) for h in range(25)]  # every hour 0 … 24
    assert sorted(oracle.columns) == sorted(model.wn.node_name_list)
    diff = (run.pressure_m.loc[hours, oracle.columns] - oracle.loc[hours]).abs().to_numpy()
    assert np.nanmax(diff) < 1e-3, f"{path.name}: {np.nanmax(diff):.2e} m"


# -------------------------------------------------------------------- round trips


def test_gis_model_gis_round_trip_loses_nothing():
    """Demo layers → WNTR model (from_gis) → layers (to_gis): every value and vertex back."""
    names = ["natural_villages", "water_sources", "water_nodes", "water_pipes"]
    ds = Dataset.from_frames({n: gpd.read_file(DEMO / "tongxin.gpkg", layer=n) for n in names})
    back = model_layers(build_water_model(ds, SETTINGS)).layers
    for layer, key, cols in (
        ("water_sources", "name", ["head_m", "capacity_m3d"]),
        ("water_nodes", "name", ["node_type", "elevation_m", "init_level_m", "min_level_m",
                                 "max_level_m", "tank_diameter_m"]),
        ("water_pipes", "name", ["start_node_name", "end_node_name", "length_m",
                                 "diameter_mm", "roughness", "initial_status"]),
    ):  # fmt: skip
        a = ds[layer].set_index(key).sort_index()
        b = back[layer].set_index(key).sort_index()
        assert list(a.index) == list(b.index), layer
        for c in cols:
            if a[c].dtype == object:
                assert (a[c] == b[c]).all(), (layer, c)
            else:
                np.testing.assert_allclose(b[c], a[c], rtol=1e-12, err_msg=f"{layer}.{c}")
        ga = shapely.get_coordinates(a.geometry.to_crs(METRIC).to_numpy())
        gb = shapely.get_coordinates(b.geometry.to_crs(METRIC).to_numpy())
        assert ga.shape == gb.shape, layer
        assert np.abs(ga - gb).max() < 1e-6, layer  # metres


def test_inp_gis_model_round_trip_net3():
    """Net3.inp → GapMap layers → GIS build: names, sizes, roughness, elevations, coordinates."""
    # Net3's coordinates are a drawing; declared as GK metres they convert like any other
    ref = build_water_model(
        Dataset(layers={}), SETTINGS, inp=inp(NETWORKS / "Net3.inp", crs="EPSG:4544")
    )
    converted = model_layers(ref)
    layers = converted.layers
    lost = " ".join(p.message_zh for p in converted.lost)
    assert "2 台水泵" in lost and "控制规则" in lost and "L/s" in lost  # listed, not dropped
    with pytest.raises(NetworkError, match="schematic"):
        model_layers(
            build_water_model(Dataset(layers={}), SETTINGS, inp=inp(NETWORKS / "Net3.inp"))
        )
    ds = Dataset(layers=layers)
    rebuilt = build_water_model(ds, SETTINGS)
    a, b = ref.wn, rebuilt.wn
    assert sorted(b.node_name_list) == sorted(a.node_name_list)
    assert sorted(b.pipe_name_list) == sorted(a.pipe_name_list)  # pumps have no GapMap layer
    for name in a.pipe_name_list:
        pa, pb = a.get_link(name), b.get_link(name)
        assert (pa.start_node_name, pa.end_node_name) == (pb.start_node_name, pb.end_node_name)
        assert (pb.length, pb.diameter, pb.roughness) == pytest.approx(
            (pa.length, pa.diameter, pa.roughness), rel=1e-12
        )
    for name in a.junction_name_list + a.tank_name_list:
        assert b.get_node(name).elevation == pytest.approx(a.get_node(name).elevation, rel=1e-12)
    for name in a.tank_name_list:
        ta, tb = a.get_node(name), b.get_node(name)
        assert (tb.init_level, tb.min_level, tb.max_level, tb.diameter) == pytest.approx(
            (ta.init_level, ta.min_level, ta.max_level, ta.diameter)
        )
    for name in a.reservoir_name_list:
        assert b.get_node(name).base_head == pytest.approx(a.get_node(name).base_head)
    # the rebuilt model's coordinates are in the GK zone of the data; compare in EPSG:4544
    names = a.node_name_list
    xa = np.array([a.get_node(n).coordinates for n in names])
    xb = gpd.GeoSeries(
        shapely.points([b.get_node(n).coordinates for n in names]), crs=rebuilt.crs
    ).to_crs(ref.crs)
    assert np.abs(shapely.get_coordinates(xb.to_numpy()) - xa).max() < 1e-6


# ------------------------------------------------------------------ hand network


def test_hand_network_hazen_williams():
    ds = tiny_county(**HAND)
    assert ds.ok, ds.problems
    model, run, result = assess_water(ds, SETTINGS)
    assert model.problems == ()
    assert model.village_nodes.loc[0, ["node", "link"]].tolist() == ["J2", "explicit"]
    ws = SETTINGS.water
    mult = np.asarray(ws.diurnal_pattern) / np.mean(ws.diurnal_pattern)
    q_mean = 5000 * ws.demand_lpcd / 1000 / 86400  # m³/s
    hours = run.pressure_m.index.to_numpy()
    p1, p2 = hand_pressures(mult, hours, q_mean)
    err = max(
        np.abs(run.pressure_m["J1"].to_numpy() - p1).max(),
        np.abs(run.pressure_m["J2"].to_numpy() - p2).max(),
    )
    assert err < 1e-2, err
    # the flow is the village demand, and the peak is the pattern's largest multiplier
    np.testing.assert_allclose(
        run.flow_lps["P2"].to_numpy(), 1000 * q_mean * mult[hours.astype(int) % 24], rtol=1e-3
    )
    assert result.peak_hour == float(np.argmax(mult))
    v = result.villages.iloc[0]
    assert v["min_pressure_m"] == pytest.approx(p2.min(), abs=1e-2)
    assert v["required_head_m"] == ws.service_head_m
    assert v["supply_lpcd"] == pytest.approx(1000.0 * 1000 / 5000)  # 1,000 m³/d for 5,000
    assert (v["status"], v["supply_class"], v["reason"]) == ("ok", "ok", "")
    county = result.county.set_index("indicator")
    assert county.loc["农村自来水普及率", "value"] == 100.0


def test_hand_network_households_basis_and_storeys():
    ws = WaterSettings(demand_basis="households")
    settings = Settings(water=ws)
    case = dict(HAND, villages=[village("V1", 5000, "J2", (2000, 50), households=2000)])
    ds = tiny_county(**case)
    nv = ds["natural_villages"].assign(storeys=8)
    ds = ds.replace_layers(natural_villages=nv)
    _, run, result = assess_water(ds, settings)
    mult = np.asarray(ws.diurnal_pattern) / np.mean(ws.diurnal_pattern)
    q_mean = 2000 * ws.persons_per_household * ws.demand_lpcd / 1000 / 86400
    _, p2 = hand_pressures(mult, run.pressure_m.index.to_numpy(), q_mean)
    assert np.abs(run.pressure_m["J2"].to_numpy() - p2).max() < 1e-2
    v = result.villages.iloc[0]
    assert v["required_head_m"] == ws.service_head_m + 7 * ws.service_head_per_storey_m  # 38 m
    assert v["min_pressure_m"] == pytest.approx(p2.min(), abs=1e-2)
    assert p2.min() < 38.0 < p2.max()  # the 8-storey village is short of head at the peak
    assert (v["status"], v["pressure_ok"]) == ("low_pressure", False)


# ---------------------------------------------------------------- bad networks


def _kinds(model) -> dict[str, Severity]:
    return {str(p.kind): p.severity for p in model.problems}


def test_each_bad_network_kind_is_reported_and_blocks_the_run():
    case = dict(HAND)
    case["sources"] = [*HAND["sources"], src("J1", 50.0, (900, 0))]  # clashes with a node
    case["nodes"] = [
        *HAND["nodes"],
        junction("J 3", 5.0, (2500, 0)),  # a blank in an EPANET ID
        ({"name": "T1", "node_type": "Tank", "elevation_m": 90.0, "init_level_m": 6.0,
          "min_level_m": 1.0, "max_level_m": 5.0, "tank_diameter_m": 0.0}, pt(0, 500)),
    ]  # fmt: skip
    case["pipes"] = [
        *HAND["pipes"],
        pipe("P3", "J2", "J9", 100.0, 50.0, 130.0, (2000, 0), (2100, 0)),  # J9 missing
        pipe("P4", "J2", "J1", 100.0, 0.0, 130.0, (2000, 0), (800, 0)),  # zero diameter
        pipe("P5", "J1", "J2", -5.0, 50.0, 130.0, (800, 0), (2000, 0)),  # negative length
        pipe("P6", "J2", "J2", 10.0, 50.0, 130.0, (2000, 0), (2000, 10)),  # a loop on itself
        pipe("P1", "R", "J2", 10.0, 50.0, 130.0, (0, 0), (2000, 0)),  # duplicate name
    ]
    ds = tiny_county(**case)
    model = build_water_model(ds, SETTINGS)
    kinds = _kinds(model)
    for kind in ("duplicate_name", "bad_name", "bad_tank", "missing_node", "bad_diameter",
                 "bad_length", "self_loop"):  # fmt: skip
        assert kinds.get(kind) is Severity.ERROR, kind
    for p in model.problems:
        assert p.message_zh and p.fix_zh and p.message and p.layer.startswith("water_")
        assert p.row is not None and p.feature_id
    missing = next(p for p in model.problems if p.kind == "missing_node")
    assert (missing.layer, missing.row, missing.field) == ("water_pipes", 3, "end_node_name")
    assert "J9" in missing.message_zh and "J9" in missing.message
    with pytest.raises(WaterNetworkError) as exc:
        run_hydraulics(model, SETTINGS)
    assert "water_pipes 第 3 行：管道“P3”的终点节点“J9”不存在" in exc.value.zh
    assert "Error 2" not in exc.value.zh and "singular" not in str(exc.value)
    assert len([p for p in exc.value.problems if p.severity is Severity.ERROR]) >= 7


def test_no_source_is_an_error_and_tanks_only_a_warning():
    ds = tiny_county(**dict(HAND, sources=[]))
    model = build_water_model(ds, SETTINGS)
    assert _kinds(model)["no_source"] is Severity.ERROR
    with pytest.raises(WaterNetworkError, match="no source"):
        run_hydraulics(model, SETTINGS)
    tank_row = {"name": "R", "node_type": "Tank", "elevation_m": 95.0, "init_level_m": 3.0,
                "min_level_m": 0.5, "max_level_m": 5.0, "tank_diameter_m": 20.0}  # fmt: skip
    tank = (tank_row, pt(0, 0))
    model = build_water_model(
        tiny_county(**dict(HAND, sources=[], nodes=[*HAND["nodes"], tank])), SETTINGS
    )
    assert _kinds(model) == {"no_source": Severity.WARNING}
    run_hydraulics(model, SETTINGS)  # EPANET drains the tank; no error


def test_disconnected_part_is_reported_and_the_rest_simulated():
    case = dict(HAND)
    case["nodes"] = [*HAND["nodes"], junction("J3", 0.0, (3000, 0)), junction("J4", 0.0, (3500, 0))]
    case["pipes"] = [
        *HAND["pipes"],
        pipe("P3", "J3", "J4", 500.0, 50.0, 130.0, (3000, 0), (3500, 0)),
    ]
    case["villages"] = [*HAND["villages"], village("V2", 800, "J4", (3500, 20))]
    ds = tiny_county(**case)
    model = build_water_model(ds, SETTINGS)
    assert model.disconnected_nodes == {"J3", "J4"}
    assert _kinds(model) == {"disconnected": Severity.WARNING}
    model, run, result = assess_water(ds, SETTINGS)
    assert run.simulator == "EPANET 2.2"
    assert run.pressure_m[["J3", "J4"]].isna().all().all()
    assert run.flow_lps["P3"].isna().all()
    ref = run_hydraulics(build_water_model(tiny_county(**HAND), SETTINGS), SETTINGS)
    pd.testing.assert_frame_equal(run.pressure_m[["J1", "J2"]], ref.pressure_m[["J1", "J2"]])
    v = result.villages.set_index("id")
    assert (v.loc["V2", "status"], v.loc["V2", "on_network"]) == ("disconnected", True)
    assert v.loc["V1", "status"] == "ok"
    assert bool(result.nodes.set_index("name").loc["J4", "disconnected"])
    county = result.county.set_index("indicator")
    assert county.loc["农村自来水普及率", "value"] == pytest.approx(100 * 5000 / 5800)


def test_village_links_explicit_nearest_and_none():
    case = dict(HAND)
    case["villages"] = [
        village("V1", 5000, "J2", (2000, 50)),  # explicit
        village("V2", 300, "", (820, 400)),  # 400 m from J1: nearest
        village("V3", 200, "J7", (2020, -300)),  # unknown node: nearest to J2 (≈ 301 m)
        village("V4", 100, "", (4000, 4000)),  # far from everything: off the network
    ]
    ds = tiny_county(**case)
    model = build_water_model(ds, SETTINGS)
    vn = model.village_nodes.set_index("id")
    assert vn["node"].to_dict() == {"V1": "J2", "V2": "J1", "V3": "J2", "V4": ""}
    assert vn["link"].to_dict() == {"V1": "explicit", "V2": "nearest", "V3": "nearest",
                                    "V4": "none"}  # fmt: skip
    assert vn.loc["V2", "snap_dist_m"] == pytest.approx(np.hypot(20, 400), abs=1e-3)
    assert _kinds(model) == {"unknown_water_node": Severity.WARNING}
    # the GIS build put every linked village's demand on its junction
    assert model.wn.get_node("J1").base_demand == pytest.approx(300 * 40 / 86400 / 1000)
    _, _, result = assess_water(ds, SETTINGS)
    v = result.villages.set_index("id")
    assert v.loc["V4", "status"] == "off_network"
    assert (v.loc["V4", "supply_lpcd"], v.loc["V4", "supply_class"]) == (0.0, "short")
    assert set(result.villages["status"]) <= set(STATUSES)


def test_capacity_short_is_shared_over_the_part():
    case = dict(HAND, sources=[src("R", 100.0, (0, 0), capacity=150.0)])  # 30 L/p/d for 5,000
    _, _, result = assess_water(tiny_county(**case), SETTINGS)
    v = result.villages.iloc[0]
    assert v["supply_lpcd"] == pytest.approx(30.0)
    assert (v["supply_class"], v["status"], v["reason"]) == ("basic", "capacity_short",
                                                             "capacity_short")  # fmt: skip
    assert result.rollup_townships.loc[0, "villages_capacity_short"] == 1


# ------------------------------------------------------------------- .inp errors


def _write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


SMALL_INP = """[TITLE]
{title}
[JUNCTIONS]
 J1   {elev}   1.0
[RESERVOIRS]
 R1   50
[PIPES]
 P1   R1   {end}   1000   {dia}   130   0   Open
[OPTIONS]
 Units LPS
 Headloss H-W
[TIMES]
 Duration 0
[COORDINATES]
 J1   561000   4090000
 R1   560000   4090000
[END]
"""


def test_malformed_inp_raises_a_located_bilingual_error(tmp_path):
    bad_node = _write(
        tmp_path, "坏模型.inp", SMALL_INP.format(title="t", elev=10, end="J9", dia=100)
    )
    with pytest.raises(LayerReadError) as exc:
        build_water_model(Dataset(layers={}), SETTINGS, inp=inp(bad_node))
    assert "坏模型.inp 第 8 行" in exc.value.zh and "未定义的节点" in exc.value.zh
    assert "line 8" in str(exc.value) and exc.value.__cause__ is None
    assert "Traceback" not in exc.value.zh
    bad_number = _write(
        tmp_path, "n.inp", SMALL_INP.format(title="t", elev="abc", end="J1", dia=100)
    )
    with pytest.raises(LayerReadError) as exc:
        build_water_model(Dataset(layers={}), SETTINGS, inp=inp(bad_number))
    assert "n.inp 第 4 行" in exc.value.zh and "abc" in exc.value.zh
    with pytest.raises(LayerReadError) as exc:
        build_water_model(Dataset(layers={}), SETTINGS, inp=inp(WNTR_TESTS / "bad_syntax.inp"))
    assert "第 330 行" in exc.value.zh and "[FOO]" in exc.value.zh
    with pytest.raises(LayerReadError, match="not found"):
        build_water_model(Dataset(layers={}), SETTINGS, inp=inp(tmp_path / "none.inp"))


def test_inp_in_gb18030_and_zero_diameter(tmp_path):
    text = SMALL_INP.format(title="同心县 供水", elev=10, end="J1", dia=100)
    good = _write(tmp_path, "a.inp", text, encoding="gb18030")
    model, run, _ = assess_water(Dataset(layers={}), SETTINGS, inp=inp(good))
    assert model.problems == () and model.crs == "EPSG:4544"
    # 1 L/s through 1,000 m of DN100, C 130, all day (no pattern): 50 − loss − 10
    expected = 50.0 - hw_loss(1000, 1e-3, 0.1, 130) - 10.0
    assert np.abs(run.pressure_m["J1"] - expected).max() < 1e-2
    # WNTR's reader refuses a zero diameter itself; GapMap locates it
    zero = _write(tmp_path, "z.inp", SMALL_INP.format(title="t", elev=10, end="J1", dia=0))
    with pytest.raises(LayerReadError) as exc:
        build_water_model(Dataset(layers={}), SETTINGS, inp=inp(zero))
    assert "z.inp 第 8 行" in exc.value.zh and "管段属性值不合法" in exc.value.zh
    # a zero length passes the reader: GapMap's own check stops the run
    short = _write(tmp_path, "s.inp", SMALL_INP.format(title="t", elev=10, end="J1", dia=100))
    short.write_text(short.read_text().replace("1000   100", "0   100"))
    model = build_water_model(Dataset(layers={}), SETTINGS, inp=inp(short))
    assert _kinds(model) == {"bad_length": Severity.ERROR}
    with pytest.raises(WaterNetworkError, match="length 0 m must be > 0"):
        run_hydraulics(model, SETTINGS)


# ------------------------------------------------------------------------ what-if


def test_with_changes_copies_and_connects():
    case = dict(HAND)
    case["villages"] = [*HAND["villages"], village("V2", 400, "", (2000, 2000))]  # 2 km away
    ds = tiny_county(**case)
    model = build_water_model(ds, SETTINGS)
    assert model.village_nodes.set_index("id").loc["V2", "node"] == ""
    n_nodes = model.wn.num_nodes
    new = gpd.GeoDataFrame(
        {"name": ["P9"], "start_node_name": ["J2"], "end_node_name": ["J9"],
         "diameter_mm": [50.0], "end_elevation_m": [15.0]},
        geometry=[line((2000, 0), (2000, 1950))], crs=METRIC,
    )  # fmt: skip
    changed = with_changes(model, add_pipes=new, raise_tank_m={"T0": 5.0})
    assert model.wn.num_nodes == n_nodes and "P9" not in model.wn.link_name_list
    assert [str(p.kind) for p in changed.problems] == ["unknown_element"]  # T0 is no tank
    changed = with_changes(model, add_pipes=new)
    vn = changed.village_nodes.set_index("id")
    assert (vn.loc["V2", "node"], bool(vn.loc["V2", "demand_added"])) == ("J9", True)
    assert changed.wn.get_link("P9").length == pytest.approx(1950.0, abs=1e-3)
    run = run_hydraulics(changed, SETTINGS)
    result = water_coverage(ds, changed, run, SETTINGS)
    v = result.villages.set_index("id")
    assert v.loc["V2", "status"] == "ok"
    assert result.county.loc[0, "value"] == 100.0
    # a new source feeding a cut-off part makes it connected
    case["nodes"] = [*HAND["nodes"], junction("J3", 0.0, (3000, 0))]
    case["villages"] = [*HAND["villages"], village("V3", 100, "J3", (3000, 10))]
    cut = build_water_model(tiny_county(**case), SETTINGS)
    assert cut.disconnected_nodes == {"J3"}
    well = gpd.GeoDataFrame({"name": ["W1"], "head_m": [40.0], "capacity_m3d": [20.0]},
                            geometry=[pt(3100, 0)], crs=METRIC)  # fmt: skip
    link = gpd.GeoDataFrame({"name": ["P8"], "start_node_name": ["W1"], "end_node_name": ["J3"],
                             "diameter_mm": [50.0]}, geometry=[line((3100, 0), (3000, 0))],
                            crs=METRIC)  # fmt: skip
    fixed = with_changes(cut, add_sources=well, add_pipes=link)
    assert fixed.disconnected_nodes == frozenset() and fixed.source_capacity_m3d["W1"] == 20.0
    assert run_hydraulics(fixed, SETTINGS).pressure_m["J3"].notna().all()


# ------------------------------------------------------------------- demo county


@pytest.fixture(scope="module")
def demo() -> tuple[Dataset, dict]:
    names = ["county", "townships", "admin_villages", "natural_villages", "water_sources",
             "water_nodes", "water_pipes"]  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        frames = {n: gpd.read_file(DEMO / "tongxin.gpkg", layer=n) for n in names}
    truth = json.loads((DEMO / "tongxin_truth.json").read_text(encoding="utf-8"))["water"]
    return Dataset.from_frames(frames, name="tongxin"), truth


@pytest.mark.parametrize("inp_file", [None, DEMO / "tongxin.inp"], ids=["gis", "inp"])
def test_demo_county_finds_the_planted_water_gaps(demo, inp_file):
    ds, truth = demo
    model, run, result = assess_water(ds, SETTINGS, inp=inp(inp_file) if inp_file else None)
    assert model.problems == () and not model.disconnected_nodes
    v = result.villages
    assert sorted(v.loc[v["status"] == "off_network", "id"]) == truth["off_network"]
    assert sorted(v.loc[v["status"] == "low_pressure", "id"]) == sorted(truth["low_pressure"])
    assert set(v["status"]) == {"ok", "off_network", "low_pressure"}  # and no others
    low = v.set_index("id").loc[sorted(truth["low_pressure"])]
    expected = [truth["low_pressure"][i]["min_pressure_m"] for i in low.index]
    np.testing.assert_allclose(low["min_pressure_m"], expected, atol=0.01)
    assert list(low["node"]) == truth["low_pressure_nodes"]
    ok = v.loc[v["status"] == "ok"]
    assert ok["min_pressure_m"].min() == pytest.approx(
        truth["min_pressure_other_junctions_m"], abs=0.01
    )
    assert (ok["supply_class"] == "ok").all()
    county = result.county.iloc[0]
    assert county["indicator"] == "农村自来水普及率"
    assert round(county["value"], 2) == truth["tap_rate_pct"] == 98.17
    assert (county["target"], county["comparison"], bool(county["met"])) == (98.0, ">=", True)
    tw, av = result.rollup_townships, result.rollup_admin_villages
    assert tw["villages_off_network"].sum() == av["villages_off_network"].sum() == 15
    assert tw["villages_low_pressure"].sum() == 3
    assert tw["rural_population"].sum() == v["population"].sum()
    off_av = av.loc[av["code"].isin(truth["off_network_admin_villages"])]
    assert (off_av["tap_rate_pct"] == 0).all()
    assert result.peak_hour == 7.0 and result.peak_hour in run.pressure_m.index
    assert len(result.nodes) == 700 and len(result.pipes) == 697
    assert result.nodes.crs.to_epsg() == result.pipes.crs.to_epsg() == 4326
    minx, miny, maxx, maxy = result.pipes.total_bounds
    assert 105 < minx < maxx < 107 and 36 < miny < maxy < 38
    if inp_file is None:  # the GIS build returns the layers' own geometries
        own = ds["water_pipes"].set_index("name").geometry
        assert result.pipes.set_index("name").geometry.geom_equals_exact(own, 0).all()


def test_demo_settings_profile_and_no_mutation(demo):
    ds, _ = demo
    before = {n: ds[n].copy() for n in ("natural_villages", "water_pipes")}
    assess_water(ds, SETTINGS)
    for n, f in before.items():
        pd.testing.assert_frame_equal(ds[n], f)


def test_environment_networks_are_in_the_wheel():
    # the brief named examples/networks; WNTR 1.5.0 ships them in wntr/library/networks
    assert {"Net1.inp", "Net3.inp", "ky4.inp", "ky10.inp"} <= set(os.listdir(NETWORKS))
    assert WaterProblemKind.DISCONNECTED == "disconnected"


# ---------------------------------------------------------------------- solvers


def test_wntr_simulator_setting_and_fallback(monkeypatch):
    ds = tiny_county(**HAND)
    model = build_water_model(ds, SETTINGS)
    epanet = run_hydraulics(model, SETTINGS)
    own = run_hydraulics(model, Settings(water=WaterSettings(simulator="wntr")))
    assert own.simulator == "WNTRSimulator"
    assert np.abs(own.pressure_m["J2"] - epanet.pressure_m["J2"]).max() < 1e-2

    import geo.water.sim as water

    def broken(wn, file):
        raise RuntimeError("EPANET error 110: cannot solve network hydraulic equations")

    monkeypatch.setitem(water._SIMULATORS, "epanet", ("EPANET 2.2", broken))
    assert run_hydraulics(model, SETTINGS).simulator == "WNTRSimulator"
    monkeypatch.setitem(water._SIMULATORS, "wntr", ("WNTRSimulator", broken))
    with pytest.raises(NetworkError) as exc:
        run_hydraulics(model, SETTINGS)
    assert "水力计算未能求解" in exc.value.zh and "110" not in exc.value.zh


def test_planned_pipe_counts_only_in_the_planned_scenario(demo):
    """A 规划 pipe to an off-network village connects it once the plan is taken as built."""
    from geo.plan import as_built

    dataset, truth = demo
    _, _, before = assess_water(dataset, SETTINGS)
    v = before.villages.set_index("id")
    off = sorted(v.index[v["status"] == "off_network"])
    target = off[0]
    village = dataset["natural_villages"].set_index("id").loc[target]
    nodes = dataset["water_nodes"]
    junctions = nodes[nodes["node_type"] == "Junction"]
    metric = junctions.to_crs(4544)
    here = gpd.GeoSeries([village.geometry], crs=4326).to_crs(4544).iloc[0]
    nearest = metric.geometry.distance(here).idxmin()
    pipes = dataset["water_pipes"]
    new_node = junctions.loc[[nearest]].assign(
        name="PLAN_J", geometry=[village.geometry], status="规划"
    )
    new_pipe = pipes.iloc[[0]].assign(
        name="PLAN_P",
        start_node_name=junctions.loc[nearest, "name"],
        end_node_name="PLAN_J",
        length_m=float(metric.geometry.distance(here).min()),
        diameter_mm=63.0,
        status="规划",
        geometry=[shapely.LineString([junctions.loc[nearest].geometry, village.geometry])],
    )
    villages = dataset["natural_villages"].copy()
    villages.loc[villages["id"] == target, "water_node"] = "PLAN_J"
    plan = dataset.replace_layers(
        water_nodes=pd.concat([nodes, new_node], ignore_index=True),
        water_pipes=pd.concat([pipes, new_pipe], ignore_index=True),
        natural_villages=villages,
    )
    _, _, now = assess_water(plan, SETTINGS)
    # before the plan is built the new node hangs in the air: not served either way
    assert now.villages.set_index("id").loc[target, "status"] in {"off_network", "disconnected"}
    _, _, built = assess_water(as_built(plan), SETTINGS)
    assert built.villages.set_index("id").loc[target, "status"] in {"ok", "low_pressure"}
    assert built.county.iloc[0]["value"] > before.county.iloc[0]["value"]
    assert len(truth["off_network_admin_villages"]) >= 1
