"""The committed 同心县 demo (data/demo): real where it says so, valid, and its planted gaps found.

``tongxin_truth.json`` lists what ``scripts/build_demo.py`` planted on purpose; these tests
run GapMap's own analyses (and EPANET through WNTR) on the committed files and check that
they find exactly those gaps. The issue-15 gaps (schools, elderly care, 5G and fibre,
sewage, waste, toilets, unsafe housing, water works; the truth's ``public`` section) are
checked independently of GapMap: straight lines and networkx on the roads. The real
reference numbers come from
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
    from layers.dataset import read_dataset

    assert read_dataset(GPKG).problems == ()  # the reader's cross-layer and analysis checks too


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


# ----------------------------------------------- issue 15: the seeds' other indicators
#
# Independent of GapMap's analyses: straight lines in EPSG:4544 and networkx shortest
# paths on the existing roads, each point joined to the nearest road within 200 m at its
# projection (not at a vertex), against tongxin_truth.json's ``public`` section.

SNAP_MAX_M = 200.0


@pytest.fixture(scope="module")
def public(truth) -> dict:
    return truth["public"]


@pytest.fixture(scope="module")
def metric(frames) -> dict[str, gpd.GeoDataFrame]:
    return {name: frame.to_crs(METRIC) for name, frame in frames.items()}


class _RoadOracle:
    """networkx shortest walking distances along the existing roads (metres)."""

    def __init__(self, roads: gpd.GeoDataFrame) -> None:
        import networkx as nx

        self.nx = nx
        lines = roads.loc[roads["status"] == "现状"].geometry.to_numpy()
        self.lines = lines
        self.tree = shapely.STRtree(lines)
        g = nx.Graph()
        for line in lines:
            c = np.round(shapely.get_coordinates(line), 2)
            for a, b in zip(map(tuple, c[:-1]), map(tuple, c[1:]), strict=True):
                if a != b:
                    w = float(np.hypot(a[0] - b[0], a[1] - b[1]))
                    if not g.has_edge(a, b) or g[a][b]["weight"] > w:
                        g.add_edge(a, b, weight=w)
        self.graph = g

    def _join(self, g, name: object, p: shapely.Point) -> bool:
        j = self.tree.query_nearest(p, max_distance=SNAP_MAX_M, all_matches=False)
        if len(j) == 0:
            return False
        line = self.lines[int(j[0])]
        c = np.round(shapely.get_coordinates(line), 2)
        cum = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(c, axis=0).T))])
        s = line.project(p)
        k = int(np.clip(np.searchsorted(cum, s) - 1, 0, len(c) - 2))
        off = p.distance(line)
        g.add_edge(name, tuple(c[k]), weight=off + max(s - cum[k], 0.0))
        g.add_edge(name, tuple(c[k + 1]), weight=off + max(cum[k + 1] - s, 0.0))
        return True

    def nearest(self, sources: gpd.GeoSeries, targets: gpd.GeoSeries) -> np.ndarray:
        """Each target's distance to its nearest source (inf where unreachable)."""
        g = self.graph.copy()
        src = [("s", i) for i, p in enumerate(sources) if self._join(g, ("s", i), p)]
        names = []
        for i, p in enumerate(targets):
            names.append(("t", i) if self._join(g, ("t", i), p) else None)
        dist = self.nx.multi_source_dijkstra_path_length(g, src, weight="weight")
        return np.array([dist.get(n, np.inf) if n is not None else np.inf for n in names])


@pytest.fixture(scope="module")
def oracle(metric) -> _RoadOracle:
    return _RoadOracle(metric["roads"])


def _served_by_boarding(pub: gpd.GeoDataFrame, kinds: tuple[str, ...]) -> set[str]:
    b = pub.loc[pub["kind"].isin(kinds) & (pub["boarding"] == 1) & (pub["status"] == "现状")]
    return {c for codes in b["serves_codes"] for c in codes.split(";") if c}


def test_fifteen_layers_and_new_attributes(frames, dataset, public):
    assert len(LAYER_ORDER) == 15
    for layer in ("public_facilities", "telecom_coverage", "env_facilities", "housing_survey"):
        assert len(frames[layer]) > 0, layer
    av = dataset["admin_villages"]
    # 5G and waste come from their layers: the attributes are NA (无数据), not 否
    assert av["has_5g"].isna().all() and av["waste_treated"].isna().all()
    for col in ("key_village", "has_gigabit", "sewage_treated", "toilet_households"):
        assert av[col].notna().all(), col
    nv = dataset["natural_villages"]
    assert nv["primary_children"].notna().all() and nv["junior_children"].notna().all()
    assert (nv["primary_children"] < nv["population"]).all()
    ws = dataset["water_sources"]
    assert ws[["guarantee_rate_pct", "quality_pass_pct"]].notna().all().all()
    counts = frames["public_facilities"]["kind"].value_counts().to_dict()
    assert counts == {k: v for k, v in public["counts"]["public_facilities"].items() if v}
    assert len(frames["telecom_coverage"]) == public["counts"]["telecom_coverage"]
    assert len(frames["housing_survey"]) == public["counts"]["housing_survey"]


def test_primary_school_gaps(metric, oracle, public):
    pub, nv = metric["public_facilities"], metric["natural_villages"]
    schools = pub.loc[pub["kind"].isin(["小学", "九年一贯制学校"]) & (pub["status"] == "现状")]
    d = oracle.nearest(schools.geometry, nv.geometry)
    boarding = _served_by_boarding(pub, ("小学", "九年一贯制学校"))
    served = nv["admin_village_code"].isin(boarding).to_numpy()
    ep = public["edu_primary"]
    problem = sorted(nv["id"][~served & ~(d <= 2500.0)])
    assert problem == ep["problem"] and 2 <= len(problem) <= 8
    straight = shapely.distance(
        nv.geometry.to_numpy()[:, None], schools.geometry.to_numpy()[None]
    ).min(axis=1)
    assert (straight[nv["id"].isin(problem).to_numpy()] > 2500.0).all()
    # some villages beyond the radius are served by a boarding 中心小学's serves_codes
    beyond = sorted(nv["id"][served & (straight > 2500.0)])
    assert set(ep["beyond_radius_boarding"]) <= set(beyond) and len(beyond) >= 5
    host = pub.loc[pub["boarding"] == 1].set_index("admin_village_code")
    for code, serves in ep["boarding_serves"].items():
        row = host.loc[[code]]
        row = row.loc[row["kind"] == "小学"].iloc[0]
        assert row["serves_codes"].split(";") == serves
    kids = nv.set_index("id").loc[problem, "primary_children"]
    assert kids.sum() == ep["children_beyond_problem"] > 0


def test_junior_school_gaps(metric, oracle, public):
    pub, nv = metric["public_facilities"], metric["natural_villages"]
    schools = pub.loc[pub["kind"].isin(["初中", "九年一贯制学校"]) & (pub["status"] == "现状")]
    d = oracle.nearest(schools.geometry, nv.geometry)
    served = nv["admin_village_code"].isin(_served_by_boarding(pub, ("初中",))).to_numpy()
    ej = public["edu_junior"]
    assert sorted(nv["id"][~served & ~(d <= 5000.0)]) == ej["problem"]
    assert (
        sorted(set(nv.set_index("id").loc[ej["problem"], "admin_village_code"]))
        == ej["left_out_admin_villages"]
    )
    # every township has its boarding 初中
    tw = pub.loc[(pub["kind"] == "初中") & (pub["boarding"] == 1), "township_code"]
    assert set(tw) == set(metric["townships"]["code"])


def test_kindergarten_gap_is_one_township(metric, public):
    pub = metric["public_facilities"]
    kg = pub.loc[(pub["kind"] == "幼儿园") & (pub["status"] == "现状")]
    tw = metric["townships"].set_index("code")
    by_code = set(tw.index) - set(kg["township_code"])
    inside = {c for c, poly in tw.geometry.items() if not kg.within(poly.buffer(1.0)).any()}
    assert sorted(by_code) == sorted(inside) == public["kindergarten"]["townships_without"]
    assert sorted(set(kg["admin_village_code"])) == public["kindergarten"]["admin_villages_with"]


def test_elderly_care_gaps(frames, public):
    pub, av = frames["public_facilities"], frames["admin_villages"]
    care = pub.loc[
        pub["kind"].isin(["互助幸福院", "日间照料中心", "老饭桌"]) & (pub["status"] == "现状")
    ]
    need = av.loc[av["population"] >= 800]
    lacking = sorted(need.loc[~need["code"].isin(care["admin_village_code"]), "code"])
    assert lacking == public["elderly_care"]["problem"] and len(lacking) == 3
    # 公共文化室 and 综合服务中心 in every admin village
    for kind in ("公共文化室", "综合服务中心"):
        assert set(pub.loc[pub["kind"] == kind, "admin_village_code"]) == set(av["code"]), kind


def test_relocation_site_public_facility_gaps(metric, oracle, public):
    pub, sites = metric["public_facilities"], metric["relocation_sites"]
    clinics = metric["clinics"]
    existing = pub.loc[pub["status"] == "现状"]
    kinds = {
        "学校": existing.loc[existing["kind"].isin(["小学", "初中", "九年一贯制学校"])].geometry,
        "卫生室": clinics.loc[
            (clinics["kind"] == "卫生室") & (clinics["status"] == "现状")
        ].geometry,
    }
    for kind in ("幼儿园", "公共文化室", "日间照料中心", "综合服务中心"):
        kinds[kind] = existing.loc[existing["kind"] == kind].geometry
    missing: dict[str, list[str]] = {}
    for kind, geoms in kinds.items():
        d = oracle.nearest(geoms, sites.geometry)
        for sid, dist in zip(sites["id"], d, strict=True):
            if dist > 1125.0:  # 15 min at 4.5 km/h
                missing.setdefault(sid, []).append(kind)
    assert (
        missing
        == public["site_public"]["problem"]
        == {"YM02": ["幼儿园"], "YM07": ["日间照料中心"]}
    )


def test_telecom_5g_and_gigabit(metric, frames, public):
    tc, av = metric["telecom_coverage"], metric["admin_villages"]
    five = shapely.union_all(tc.loc[tc["kind"] == "5G"].geometry.to_numpy())
    covered = shapely.contains(five, av.geometry.to_numpy())
    t5 = public["telecom_5g"]
    assert sorted(av["code"][~covered]) == t5["without_5g"]
    rate = 100 * covered.mean()
    assert rate == pytest.approx(t5["rate_pct"], abs=0.01) and 80.0 <= rate < 90.0
    key = frames["admin_villages"].loc[frames["admin_villages"]["key_village"] == 1]
    tg = public["telecom_gigabit"]
    assert sorted(key["code"]) == tg["key_villages"]
    assert sorted(key.loc[key["has_gigabit"] != 1, "code"]) == tg["problem"]
    fibre = shapely.union_all(tc.loc[tc["kind"] == "千兆光纤"].geometry.to_numpy())
    inside = shapely.contains(fibre, av.geometry.to_numpy())
    assert (inside == (frames["admin_villages"]["has_gigabit"] == 1).to_numpy()).all()


def test_sewage_waste_and_toilets(metric, frames, public):
    av = frames["admin_villages"]
    treated = av["sewage_treated"] == 1
    sw = public["sewage"]
    assert 100 * treated.mean() == pytest.approx(sw["rate_pct"], abs=0.01) and sw["rate_pct"] >= 40
    assert sorted(av.loc[~treated, "code"]) == sw["untreated"]
    env = frames["env_facilities"]
    stations = env.loc[env["kind"] == "污水处理站", "serves_codes"]
    assert {c for s in stations for c in s.split(";")} == set(av.loc[treated, "code"])
    # waste: a natural village more than 2 km from every collection point
    envm, nv = metric["env_facilities"], metric["natural_villages"]
    pts = envm.loc[envm["kind"].isin(["垃圾收集点", "垃圾转运站"])].geometry.to_numpy()
    d = shapely.distance(nv.geometry.to_numpy()[:, None], pts[None]).min(axis=1)
    far = nv.loc[d > 2000.0]
    ws = public["waste"]
    assert sorted(far["id"]) == sorted(ws["villages_beyond"])
    assert sorted(set(far["admin_village_code"])) == ws["problem"]
    assert 100 * (1 - len(ws["problem"]) / len(av)) > 95
    # toilets
    pct = 100 * av["toilet_households"] / av["households"]
    tl = public["toilets"]
    assert sorted(av.loc[pct < 60.0, "code"]) == tl["problem"]
    rate = 100 * av["toilet_households"].sum() / av["households"].sum()
    assert rate == pytest.approx(tl["county_rate_pct"], abs=0.01)


def test_unsafe_housing_and_water_works(metric, frames, public):
    hs, nv = metric["housing_survey"], metric["natural_villages"].set_index("id")
    assert hs["village_id"].isin(nv.index).all()
    assert (
        hs["admin_village_code"] == nv.loc[hs["village_id"], "admin_village_code"].to_numpy()
    ).all()
    d = shapely.distance(hs.geometry.to_numpy(), nv.loc[hs["village_id"]].geometry.to_numpy())
    assert (d < 200).all()
    open_ = hs.loc[hs["rectified"] == 0]
    uh = public["unsafe_housing"]
    assert sorted(set(open_["admin_village_code"])) == uh["problem"] and len(uh["problem"]) == 3
    for code, rec in uh["unrectified"].items():
        rows = open_.loc[open_["admin_village_code"] == code]
        assert (len(rows), int(rows["households"].sum())) == (rec["dwellings"], rec["households"])
    ws = frames["water_sources"].set_index("name")
    assert (
        sorted(ws.index[ws["quality_pass_pct"] < 90])
        == public["water_quality"]["problem"]
        == ["R3"]
    )
    assert (ws["guarantee_rate_pct"] >= 95).all()
    w = np.average(ws["quality_pass_pct"], weights=ws["capacity_m3d"])
    assert w == pytest.approx(public["water_quality"]["weighted_pct"], abs=0.01) and w >= 90
