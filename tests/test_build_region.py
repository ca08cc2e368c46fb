"""The committed region sample (data/region_sample: 同心 640324 + 红寺堡 640303).

Fast checks on the committed files only (no rebuild): 同心 in the region equals the
standalone demo layer by layer; both counties validate clean on their own; the union of
their roads is one network joining the two county towns through a shared border gate;
the region manifest follows the format of coord/plan16.md; and the profile table makes
the nine key counties poorer than the 川区 counties.
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from scipy import sparse
from scipy.sparse import csgraph
from scipy.spatial import cKDTree

from geo.network import build_graph
from layers import LAYER_ORDER, read_dataset

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "region_sample"
DEMO = ROOT / "data" / "demo"
METRIC = 4544
KEY = ("640303", "640323", "640324", "640402", "640422", "640423", "640424", "640425", "640522")
CHUAN = (
    "640104", "640105", "640106", "640121", "640122", "640181", "640202", "640205", "640221",
    "640302", "640381", "640502", "640521",
)  # fmt: skip


@pytest.fixture(scope="module")
def manifest() -> dict:
    return json.loads((SAMPLE / "region.json").read_text(encoding="utf-8"))


def test_manifest_follows_the_region_format(manifest):
    assert manifest["format"] == 1
    assert manifest["province_code"] == "640000"
    assert (SAMPLE / manifest["boundaries"]).exists()
    assert (SAMPLE / manifest["dem"]).exists()
    codes = [c["code"] for c in manifest["counties"]]
    assert codes == ["640303", "640324"]
    for c in manifest["counties"]:
        assert c["city_code"] == "640300" and c["city_name"] == "吴忠市"
        assert c["key"] is True
        assert (SAMPLE / c["gpkg"]).exists() and (SAMPLE / c["inp"]).exists()
        assert c["source"] == "模拟 + 真实边界/名称"
    layers = {
        name: gpd.read_file(SAMPLE / manifest["boundaries"], layer=name)
        for name in ("province", "city", "county")
    }
    assert list(layers["province"]["code"]) == ["640000"]
    assert list(layers["city"]["code"]) == ["640300"]
    assert sorted(layers["county"]["code"]) == ["640303", "640324"]
    assert layers["county"]["key"].all()
    area = layers["county"].to_crs(6933).set_index("code").area / 1e6
    assert area["640324"] == pytest.approx(4411, abs=5)  # DATA_SOURCES.md (Tianditu)
    assert area["640303"] == pytest.approx(2758, abs=5)
    size = sum(p.stat().st_size for p in SAMPLE.iterdir())
    assert size < 6e6


def test_tongxin_in_the_region_is_the_demo():
    for layer in LAYER_ORDER:
        a = gpd.read_file(SAMPLE / "640324.gpkg", layer=layer)
        b = gpd.read_file(DEMO / "tongxin.gpkg", layer=layer)
        pd.testing.assert_frame_equal(
            pd.DataFrame(a.drop(columns="geometry")), pd.DataFrame(b.drop(columns="geometry"))
        )
        assert (a.geometry.to_wkb() == b.geometry.to_wkb()).all(), layer
    assert (SAMPLE / "640324.inp").read_bytes() == (DEMO / "tongxin.inp").read_bytes()


@pytest.mark.parametrize("code", ["640324", "640303"])
def test_each_county_validates_clean(code):
    ds = read_dataset(SAMPLE / f"{code}.gpkg")
    assert ds.problems == [] or not any(p.severity == "error" for p in ds.problems)
    assert not ds.problems
    assert list(ds.layers["county"]["code"]) == [code]
    # every village-level code is real and the county's own
    assert ds.layers["admin_villages"]["code"].str.startswith(code).all()


def test_ids_do_not_collide_between_the_counties():
    for layer in ("roads", "clinics", "service_points", "public_facilities", "env_facilities"):
        a = gpd.read_file(SAMPLE / "640324.gpkg", layer=layer, columns=["id"])
        b = gpd.read_file(SAMPLE / "640303.gpkg", layer=layer, columns=["id"])
        assert not set(a["id"]) & set(b["id"]), layer


def test_roads_cross_the_border_at_a_shared_gate():
    roads = {
        code: gpd.read_file(SAMPLE / f"{code}.gpkg", layer="roads").to_crs(METRIC)
        for code in ("640324", "640303")
    }
    # trunk roads of both counties end at the same point on their border
    ends = {}
    for code, r in roads.items():
        trunk = r.loc[r["road_class"].isin(["国道", "省道"]) & (r["status"] == "现状")].geometry
        ends[code] = shapely.get_coordinates(shapely.boundary(trunk.to_numpy()))
    d, _ = cKDTree(ends["640324"]).query(ends["640303"])
    shared = ends["640303"][d < 0.01]
    assert len(shared) >= 1
    county = {
        code: gpd.read_file(SAMPLE / f"{code}.gpkg", layer="county").to_crs(METRIC).geometry[0]
        for code in roads
    }
    border = shapely.intersection(county["640324"].buffer(200), county["640303"].buffer(200))
    assert all(border.contains(shapely.Point(p)) for p in shared)
    # the union of the roads is one network joining the two county hospitals' towns
    union = pd.concat(list(roads.values()), ignore_index=True)
    union = gpd.GeoDataFrame(union, geometry="geometry", crs=METRIC)
    union = union.loc[union["status"] == "现状"]
    g = build_graph(union, crs=METRIC)
    e = g.edges
    m = sparse.csr_array(
        (np.ones(len(e)), (e["u"].to_numpy(), e["v"].to_numpy())), shape=(g.n_nodes,) * 2
    )
    _, comp = csgraph.connected_components(m, directed=False)
    towns = []
    for code, hospital in (("640324", "YY001"), ("640303", "640303-YY001")):
        clinics = gpd.read_file(SAMPLE / f"{code}.gpkg", layer="clinics").to_crs(METRIC)
        p = clinics.set_index("id").geometry[hospital]
        towns.append(int(np.argmin(np.hypot(*(g.node_xy - [p.x, p.y]).T))))
    assert comp[towns[0]] == comp[towns[1]]


def test_profile_table_makes_the_key_counties_poorer():
    from scripts.build_region import KEY_COUNTIES, county_profile

    assert set(KEY) == set(KEY_COUNTIES) and not set(KEY) & set(CHUAN)
    key = pd.DataFrame([county_profile(c, key=True) for c in KEY])
    chuan = pd.DataFrame([county_profile(c, key=False) for c in CHUAN])
    assert key["gravel_only_share"].min() > chuan["gravel_only_share"].max()
    assert key["no_5g_share"].min() > chuan["no_5g_share"].max()
    assert key["sewage_share"].max() < chuan["sewage_share"].min()
    for col in ("no_clinic", "off_network_admin", "off_network_scattered", "sites", "toilet_low"):
        assert key[col].mean() > chuan[col].mean() + 1, col
    assert (chuan["off_network_admin"] == 0).all()
    # 同心's profile is the demo's
    tx = county_profile("640324", key=True)
    assert tx["no_clinic"] == 3 and tx["no_road"] == 2 and tx["gravel_only_share"] == 0.033


def test_sample_spread_key_county_numbers(manifest):
    by = {c["code"]: c for c in manifest["counties"]}
    hsb = by["640303"]["summary"]
    assert hsb["hard_road_rate_pct"] < 99.0  # a key county: gaps planted
    assert hsb["clinic_gaps"] >= 2
    assert hsb["tap_rate_pct"] < 99.0
