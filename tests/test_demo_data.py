"""The committed 同心县 demo (data/demo): real where it says so, valid, and its planted gaps found.

``tongxin_truth.json`` lists what ``scripts/build_demo.py`` planted on purpose; these tests
run GapMap's own analyses (and EPANET through WNTR) on the committed files and check that
they find exactly those gaps. The real reference numbers come from
``/work/shared/DATA_SOURCES.md``: the Tianditu boundary of 640324 measures 4,411 km² in
EPSG:6933; china-division 2.7.0 (NBS 统计用区划代码 2023) lists 11 townships and 153
village-level units (142 村委会, 11 社区) for the county.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely

from geo.assessment import assess
from geo.settings import Settings
from layers import LAYER_ORDER, Dataset, get_schema

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "data" / "demo"
GPKG = DEMO / "tongxin.gpkg"
INP = DEMO / "tongxin.inp"
DEM = DEMO / "tongxin_dem.tif"
TRUTH = DEMO / "tongxin_truth.json"
METRIC = 4544  # CGCS2000 GK CM 105°E, the zone geo.crs picks for Tongxin

# NBS 2023 units per township (DATA_SOURCES.md §3, from china-division 2.7.0)
UNITS_PER_TOWNSHIP = {
    "豫海镇": 27, "河西镇": 19, "韦州镇": 11, "下马关镇": 21, "预旺镇": 11, "王团镇": 20,
    "丁塘镇": 19, "田老庄乡": 6, "马高庄乡": 7, "张家塬乡": 6, "兴隆乡": 6,
}  # fmt: skip


@pytest.fixture(scope="module")
def truth() -> dict:
    return json.loads(TRUTH.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def frames() -> dict[str, gpd.GeoDataFrame]:
    return {name: gpd.read_file(GPKG, layer=name) for name in LAYER_ORDER}


@pytest.fixture(scope="module")
def dataset(frames) -> Dataset:
    return Dataset.from_frames(frames, name="tongxin")


@pytest.fixture(scope="module")
def assessment(dataset):
    return assess(dataset, Settings())


# ------------------------------------------------------------------------ files, schema


def test_gpkg_holds_every_layer_in_schema_order():
    assert list(gpd.list_layers(GPKG)["name"]) == list(LAYER_ORDER)


def test_layers_have_exactly_the_schema_fields_in_wgs84(frames):
    for name, frame in frames.items():
        assert list(frame.columns) == [*get_schema(name).field_names, "geometry"], name
        assert frame.crs.to_epsg() == 4326, name


def test_every_layer_validates_with_zero_problems(dataset):
    assert dataset.problems == ()
    assert set(dataset.layers) == set(LAYER_ORDER)


def test_files_are_small():
    assert GPKG.stat().st_size < 10e6
    assert INP.stat().st_size < 2e6
    assert DEM.stat().st_size < 200e3


# ------------------------------------------------------------------------------ real data


def test_county_is_the_real_tianditu_boundary(frames):
    county = frames["county"]
    assert len(county) == 1
    assert county["code"].iloc[0] == "640324"
    assert county["name"].iloc[0] == "同心县"
    area_km2 = county.to_crs(6933).area.iloc[0] / 1e6
    assert area_km2 == pytest.approx(4411, rel=0.01)
    assert "天地图" in county["source"].iloc[0]


def test_townships_are_the_eleven_real_ones(frames, truth):
    tw = frames["townships"]
    ref = {r["code"]: r["name"] for r in truth["reference"]["townships"]}
    assert len(tw) == 11
    assert dict(zip(tw["code"], tw["name"], strict=True)) == ref
    assert set(ref.values()) == set(UNITS_PER_TOWNSHIP)
    assert all(code.startswith("640324") for code in ref)
    # the polygons tile the county
    county = frames["county"].to_crs(METRIC).geometry.iloc[0]
    union = shapely.union_all(tw.to_crs(METRIC).geometry.to_numpy())
    assert union.symmetric_difference(county).area / county.area < 1e-3
    assert tw.to_crs(METRIC).area.sum() / county.area == pytest.approx(1, abs=1e-3)


def test_admin_villages_carry_the_real_codes_and_names(frames, truth):
    av = frames["admin_villages"].set_index("code")
    ref = pd.DataFrame(truth["reference"]["admin_villages"]).set_index("code")
    assert len(av) == 153
    assert sorted(av.index) == sorted(ref.index)
    assert (av["name"] == ref.loc[av.index, "name"]).all()
    assert (av["township_code"] == av.index.str[:9]).all()
    kinds = av["kind"].value_counts()
    assert kinds["村委会"] == 142 and kinds["社区"] == 11
    names = frames["townships"].set_index("code")["name"]
    per_township = av["township_code"].map(names).value_counts().to_dict()
    assert per_township == UNITS_PER_TOWNSHIP
    # spot checks against the NBS list
    assert ref.loc["640324100001", "name_nbs"] == "富兴社区居委会"
    assert av.loc["640324101222", "name"] == "同德村"
    assert av.loc["640324203211", "name"] == "张家塬村"


def test_dem_is_a_tiled_deflate_clip_covering_the_county(frames):
    from rasterio.features import geometry_mask

    county = frames["county"].geometry
    with rasterio.open(DEM) as src:
        assert src.crs.to_epsg() == 4326
        assert src.profile["compress"].lower() == "deflate"
        assert src.profile["tiled"]
        b = src.bounds
        minx, miny, maxx, maxy = county.total_bounds
        assert b.left < minx and b.bottom < miny and b.right > maxx and b.top > maxy
        data = src.read(1)
        inside = geometry_mask(county, out_shape=data.shape, transform=src.transform, invert=True)
    # DATA_SOURCES.md §4, measured on the same meteva grid: 1,279–2,494 m in 同心
    assert (data[inside].min(), data[inside].max()) == (1279, 2494)


# ----------------------------------------------------------------------- synthetic part


def test_sizes(frames):
    nv = frames["natural_villages"]
    assert len(nv) >= 600
    assert len(frames["roads"]) >= 3000
    per_committee = nv.groupby("admin_village_code").size()
    committees = frames["admin_villages"].query("kind == '村委会'")["code"]
    assert set(per_committee.index) == set(committees)
    assert per_committee.between(3, 6).all()
    hh = nv["households"]
    assert hh.between(20, 150).mean() > 0.6  # most 20–150 households
    assert 0.02 < (hh < 20).mean() < 0.15  # and a tail below 20


def test_every_synthetic_layer_is_marked(frames):
    for name, frame in frames.items():
        if name != "county":
            assert (frame["source"] == "模拟").all(), name


def test_villages_lie_in_their_townships(frames):
    tw = frames["townships"].to_crs(METRIC).set_index("code").buffer(1.0)
    for layer, code_of in (
        ("admin_villages", lambda f: f["township_code"]),
        ("natural_villages", lambda f: f["admin_village_code"].str[:9]),
    ):
        f = frames[layer].to_crs(METRIC)
        inside = [tw[c].contains(p) for c, p in zip(code_of(f), f.geometry, strict=True)]
        assert all(inside), layer


def test_road_network_shape(frames):
    roads = frames["roads"]
    classes = roads["road_class"].value_counts()
    assert {"国道", "省道", "县道", "乡道", "村道"} <= set(classes.index)
    existing = roads.loc[roads["status"] == "现状"]
    hard = existing["surface"].isin(["沥青", "水泥"])
    assert 0.9 < hard.mean() < 0.99  # mostly hard-surfaced, some gravel and earth
    assert (roads["status"] == "规划").sum() >= 3


# ------------------------------------------------------------------ planted gaps found


def test_hard_road_gaps_are_found(assessment, truth):
    hr = truth["hard_road"]
    v = assessment.hard_road.villages.set_index("id")
    not_connected = v.loc[v["status"] == "not_connected"]
    assert sorted(not_connected.index) == hr["not_connected"]
    for reason in ("only_unpaved", "no_road", "network_gap"):
        assert sorted(not_connected.index[not_connected["reason"] == reason]) == hr[reason]
    assert sorted(v.index[v["status"] == "excluded"]) == hr["excluded_relocation_planned"]
    assert (v["scope"] == "target").sum() == hr["target_villages"]
    narrow = v.loc[(v["status"] == "connected") & ~v["width_ok"]]
    assert sorted(narrow.index) == hr["narrow"]
    # a realistic few percent, as Ningxia reported 99.5 % at end-2022
    assert 94.0 < hr["connected_rate_pct"] < 99.0
    county = assessment.rollup.county.set_index("indicator")
    rate = county.loc["20户以上自然村通硬化路率", "value"]
    assert rate == pytest.approx(hr["connected_rate_pct"], abs=0.01)


def test_digitising_gaps_are_diagnosed(assessment, truth):
    diag = assessment.diagnostics
    gaps = diag.loc[diag["kind"] == "dangle_gap"].to_crs(METRIC)
    found = shapely.get_coordinates(shapely.get_point(gaps.geometry.to_numpy(), 0))
    planted = gpd.GeoSeries(
        shapely.points([g["dead_end_lonlat"] for g in truth["hard_road"]["digitising_gaps"]]),
        crs=4326,
    ).to_crs(METRIC)
    want = shapely.get_coordinates(planted.to_numpy())
    assert len(found) == len(want)
    d = np.hypot(*(found[:, None, :] - want[None]).transpose(2, 0, 1))
    assert (d.min(axis=0) < 1.0).all()
    assert (gaps["gap_m"] < 100).all()
    # each cut-off spur is its own small component
    assert (diag["kind"] == "component").sum() == len(truth["hard_road"]["network_gap"])


def test_convenience_circle_gaps_are_found(assessment, truth):
    sv = truth["services"]
    units = assessment.services.units.set_index("unit_id")
    assert sorted(units.index[units["ok"]]) == sv["sites_ok"]
    not_ok = units.loc[~units["ok"], "missing_kinds"].str.split("、").to_dict()
    assert not_ok == sv["sites_not_ok"]


def test_clinic_blank_spots_are_found(assessment, truth):
    cl = truth["clinics"]
    av = assessment.clinics.admin_villages
    for status in ("no_clinic", "no_doctor", "short_of_doctors", "exempt_host", "exempt_shared"):
        assert sorted(av.loc[av["status"] == status, "code"]) == cl[status], status
    assert sorted(av.loc[av["blank"], "code"]) == sorted(cl["no_clinic"] + cl["no_doctor"])
    tw = assessment.clinics.townships
    assert list(tw.loc[tw["blank"], "code"]) == cl["blank_townships"] == []


def test_water_off_network_villages(frames, truth):
    nv = frames["natural_villages"]
    off = sorted(nv.loc[nv["water_node"] == "", "id"])
    assert off == truth["water"]["off_network"]
    # far enough from every node that a snapping rule cannot quietly serve them
    nodes = frames["water_nodes"].to_crs(METRIC)
    pts = nv.loc[nv["id"].isin(truth["water"]["off_network_scattered"])].to_crs(METRIC)
    d = shapely.distance(pts.geometry.to_numpy()[:, None], nodes.geometry.to_numpy()[None])
    assert d.min() > Settings().water.snap_max_m
    served = nv.loc[nv["water_node"] != ""]
    assert set(served["water_node"]) <= set(nodes["name"])
    rate = 100 * served["population"].sum() / nv["population"].sum()
    assert rate == pytest.approx(truth["water"]["tap_rate_pct"], abs=0.01)


def test_epanet_reproduces_the_low_pressure_villages(frames, truth, tmp_path):
    import wntr

    ws = Settings().water
    wn = wntr.network.WaterNetworkModel(str(INP))
    res = wntr.sim.EpanetSimulator(wn).run_sim(file_prefix=str(tmp_path / "tongxin"))
    pressure = res.node["pressure"][wn.junction_name_list].min()
    nv = frames["natural_villages"]
    served = nv.loc[nv["water_node"] != ""].set_index("id")
    need = ws.service_head_m + ws.service_head_per_storey_m * (served["storeys"] - 1)
    have = pressure.reindex(served["water_node"]).to_numpy()
    low = sorted(served.index[have < need.to_numpy()])
    assert low == sorted(truth["water"]["low_pressure"])
    assert (
        sorted(pressure.index[pressure < ws.service_head_m]) == truth["water"]["low_pressure_nodes"]
    )
    others = pressure.drop(index=truth["water"]["low_pressure_nodes"])
    assert others.min() > ws.service_head_m + 5  # no junction sits on the threshold
    tanks = res.node["pressure"][wn.tank_name_list]
    assert (tanks.min() > 0.5).all() and (tanks.max() < 5.0).all()  # neither empty nor full


def test_water_layers_round_trip_with_wntr_gis(frames):
    import wntr
    from wntr.gis import WaterNetworkGIS

    nodes = frames["water_nodes"].to_crs(METRIC)
    src = frames["water_sources"].to_crs(METRIC)
    pipes = frames["water_pipes"].to_crs(METRIC)
    j = nodes.loc[nodes["node_type"] == "Junction"]
    t = nodes.loc[nodes["node_type"] == "Tank"]

    def gdf(data: dict, frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        index = pd.Index(frame["name"].to_numpy(), name="name")
        return gpd.GeoDataFrame(data, index=index, geometry=frame.geometry.to_numpy(), crs=METRIC)

    gis = WaterNetworkGIS(
        {
            "junctions": gdf(
                {"node_type": "Junction", "elevation": j["elevation_m"].to_numpy()}, j
            ),
            "tanks": gdf(
                {
                    "node_type": "Tank",
                    "elevation": t["elevation_m"].to_numpy(),
                    "init_level": t["init_level_m"].to_numpy(),
                    "min_level": t["min_level_m"].to_numpy(),
                    "max_level": t["max_level_m"].to_numpy(),
                    "diameter": t["tank_diameter_m"].to_numpy(),
                },
                t,
            ),
            "reservoirs": gdf(
                {"node_type": "Reservoir", "base_head": src["head_m"].to_numpy()}, src
            ),
            "pipes": gdf(
                {
                    "link_type": "Pipe",
                    "start_node_name": pipes["start_node_name"].to_numpy(),
                    "end_node_name": pipes["end_node_name"].to_numpy(),
                    "length": pipes["length_m"].to_numpy(),
                    "diameter": pipes["diameter_mm"].to_numpy() / 1000,
                    "roughness": pipes["roughness"].to_numpy(),
                    "initial_status": pipes["initial_status"].to_numpy(),
                },
                pipes,
            ),
        }
    )
    with warnings.catch_warnings():
        # WNTR 1.5.0's from_gis uses pandas' deprecated inplace= (Pandas4Warning, pandas 3.1)
        warnings.simplefilter("ignore", category=getattr(pd.errors, "Pandas4Warning", Warning))
        wn = wntr.network.from_gis(gis)
    ref = wntr.network.WaterNetworkModel(str(INP))
    assert sorted(wn.node_name_list) == sorted(ref.node_name_list)
    assert sorted(wn.link_name_list) == sorted(ref.link_name_list)
    for name in ref.node_name_list:
        a, b = wn.get_node(name), ref.get_node(name)
        assert a.node_type == b.node_type
        assert np.allclose(a.coordinates, b.coordinates, atol=1e-3)
        if b.node_type == "Reservoir":
            assert a.base_head == pytest.approx(b.base_head)
        else:
            assert a.elevation == pytest.approx(b.elevation)
        if b.node_type == "Tank":
            assert (a.diameter, a.max_level) == pytest.approx((b.diameter, b.max_level))
    for name in ref.pipe_name_list:
        a, b = wn.get_link(name), ref.get_link(name)
        assert (a.start_node_name, a.end_node_name) == (b.start_node_name, b.end_node_name)
        assert (a.length, a.diameter, a.roughness) == pytest.approx(
            (b.length, b.diameter, b.roughness), rel=1e-6
        )


# ---------------------------------------------------------------------------- rebuild


@pytest.mark.slow
def test_rebuild_is_deterministic(tmp_path, frames, truth):
    from scripts.build_demo import build, default_cache

    build(tmp_path, seed=truth["seed"], cache=default_cache())
    assert (tmp_path / "tongxin_truth.json").read_text(encoding="utf-8") == TRUTH.read_text(
        encoding="utf-8"
    )
    for name, frame in frames.items():
        new = gpd.read_file(tmp_path / "tongxin.gpkg", layer=name)
        pd.testing.assert_frame_equal(
            new.drop(columns="geometry"), frame.drop(columns="geometry"), obj=name
        )
        assert new.geometry.geom_equals_exact(frame.geometry, tolerance=0).all(), name
    assert (tmp_path / "tongxin.inp").read_text() == INP.read_text()
