"""The three access analyses and the roll-up on the hand-made county (answers by hand)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from geo.clinics import clinic_gaps
from geo.network import build_graph
from geo.roads import hard_road_access
from geo.rollup import rollup
from geo.services import isochrones, service_access
from geo.settings import load_settings
from layers import Dataset
from tests.fixtures import tiny_county as tc


@pytest.fixture(scope="module")
def ctx():
    dataset = Dataset.from_frames(tc.build(), name="tiny")
    graph = build_graph(dataset["roads"])
    return dataset, graph, load_settings()


@pytest.fixture(scope="module")
def hard(ctx):
    return hard_road_access(*ctx)


@pytest.fixture(scope="module")
def services(ctx):
    return service_access(*ctx)


@pytest.fixture(scope="module")
def clinics(ctx):
    return clinic_gaps(*ctx)


@pytest.mark.parametrize("vid", sorted(tc.EXPECTED_HARD_ROAD))
def test_hard_road_status_reason_distance_and_missing_link(hard, vid):
    status, reason, dist, missing = tc.EXPECTED_HARD_ROAD[vid]
    row = hard.villages.set_index("id").loc[vid]
    assert row["status"] == status
    assert row["reason"] == (reason or "")
    if dist is None:
        assert np.isnan(row["trunk_dist_m"])
    else:
        assert row["trunk_dist_m"] == pytest.approx(dist, abs=1e-6)
    if missing is not None:
        assert (row["harden_km"] + row["new_km"]) * 1000 == pytest.approx(missing, abs=1e-6)


def test_hard_road_costs_widths_and_links(hard):
    v = hard.villages.set_index("id")
    s = load_settings().hard_road
    assert v.loc["NV03", "cost_wan"] == pytest.approx(1.5 * s.harden_cost_wan_per_km)
    assert v.loc["NV04", "cost_wan"] == pytest.approx(2.0 * s.new_road_cost_wan_per_km)
    assert v.loc["NV12", "min_width_m"] == 3.0 and not v.loc["NV12", "width_ok"]
    assert v.loc["NV12", "connected"]  # narrow is reported apart, not as "not connected"
    assert v.loc["NV06", "connected"] and v.loc["NV06", "scope"] == "below_threshold"
    for vid, snap_m in tc.EXPECTED_SNAP_DISTANCE_M.items():
        assert v.loc[vid, "snap_dist_m"] == pytest.approx(snap_m, abs=1e-6)
    links = hard.links.set_index("village_id")
    assert links.loc["NV03", "road_ids"] == "R04" and links.loc["NV03", "kind"] == "harden"
    assert links.loc["NV07", "road_ids"] == "R07"
    assert links.loc["NV05", "kind"] == "new"
    assert links.to_crs(tc.METRIC_EPSG).length.loc["NV05"] == pytest.approx(60.0, abs=1e-6)
    assert hard.villages.attrs["dataset_hash"]


def test_hard_road_counts_a_planned_road_only_when_it_is_built(ctx):
    dataset, _, settings = ctx
    roads = dataset["roads"].copy()
    roads.loc[roads["id"] == "R04", "surface"] = "水泥"
    roads.loc[roads["id"] == "R04", "status"] = "规划"  # planned, not yet there
    planned = dataset.replace_layers(roads=roads)
    v = hard_road_access(planned, build_graph(planned["roads"]), settings).villages
    assert v.set_index("id").loc["NV03", "reason"] == "no_road"  # R04 is not an existing road
    built = roads.assign(status="现状")
    done = dataset.replace_layers(roads=built)
    v = hard_road_access(done, build_graph(done["roads"]), settings).villages
    assert v.set_index("id").loc["NV03", "status"] == "connected"
    assert dataset["roads"].set_index("id").loc["R04", "surface"] == "砂石"  # input untouched


@pytest.mark.parametrize("site", sorted(tc.EXPECTED_SERVICES))
def test_service_distances_per_kind(services, site, ctx):
    speed = ctx[2].network.walk_speed_kmh * 1000 / 60
    row = services.units.set_index("unit_id").loc[site]
    for kind, metres in tc.EXPECTED_SERVICES[site].items():
        assert row[f"{kind}_min"] * speed == pytest.approx(metres, abs=1e-6), kind
        assert row[f"{kind}_ok"] == (metres <= 1125.0)
    assert row["ok"] == tc.EXPECTED_SERVICES_OK[site]


def test_service_nearest_facility_ids_and_missing_kinds(services):
    u = services.units.set_index("unit_id")
    assert u.loc["S1", "药店_id"] == "P3" and u.loc["S2", "便利菜店_id"] == "P5"
    assert u.loc["S1", "missing_kinds"] == "药店"
    assert u.loc["S2", "missing_kinds"] == "综合超市、药店"


def test_mofcom_profile_tightens_daily_needs(ctx):
    dataset, graph, _ = ctx
    r = service_access(dataset, graph, load_settings("mofcom")).units.set_index("unit_id")
    # S1's bus stop is 1,000 m = 13.3 min: within 15 but not within MOFCOM's 10
    assert not r.loc["S1", "公交站点_ok"] and r.loc["S1", "综合超市_ok"]


def test_isochrone_reach_is_exact(ctx):
    iso = isochrones(*ctx).set_index("unit_id")
    # S1: 500 m to the trunk, then 625 m each way; S2: 1,000 m, then 125 m three ways
    assert iso.loc["S1", "reach_km"] == pytest.approx(1.75, abs=1e-9)
    assert iso.loc["S2", "reach_km"] == pytest.approx(1.375, abs=1e-9)
    poly = iso.to_crs(tc.METRIC_EPSG).geometry
    assert poly.loc["S1"].contains(tc._pt(5000, 4250)) and not poly.loc["S1"].contains(
        tc._pt(6000, 4000)
    )


def test_clinic_blank_spots(clinics):
    e = tc.EXPECTED_CLINICS
    assert (
        clinics.townships.loc[clinics.townships["blank"], "code"].tolist()
        == e["townships_without_health_centre"]
    )
    av = clinics.admin_villages.set_index("code")["status"]
    assert av[av == "no_clinic"].index.tolist() == e["admin_villages_without_clinic"]
    assert av[av == "no_doctor"].index.tolist() == e["admin_villages_clinic_without_doctor"]
    assert av[av == "short_of_doctors"].index.tolist() == e["admin_villages_short_of_doctors"]
    assert av[av == "exempt_host"].index.tolist() == e["admin_villages_exempt_host_health_centre"]


def test_clinic_travel_times_by_hand(clinics, ctx):
    net = ctx[2].network
    v = clinics.villages.set_index("id")
    walk = net.walk_speed_kmh * 1000 / 60
    # NV01 walks 1,000 m down R01 and 2,000 m along the trunk to 乙村卫生室 (C2)
    assert v.loc["NV01", "clinic_min"] == pytest.approx(3000 / walk)
    assert v.loc["NV01", "clinic_id"] == "C2" and not v.loc["NV01", "clinic_ok"]
    # and drives R01 (村道 25 km/h) + 1 km of 县道 (40 km/h) to the health centre C1
    assert v.loc["NV01", "health_centre_min"] == pytest.approx(60 * (1 / 25 + 1 / 40))
    assert np.isinf(v.loc["NV04", "clinic_min"])  # not on the network


def test_rollup_by_hand(ctx, hard, services, clinics):
    dataset, _, settings = ctx
    r = rollup(dataset, settings, hard_road=hard, services=services, clinics=clinics)
    county = r.county.set_index("indicator")["value"]
    assert county["20户以上自然村通硬化路率"] == pytest.approx(60.0)  # 6 of 10 target villages
    assert county["移民安置区一刻钟便民生活服务圈达标率"] == 0.0
    assert county["乡村两级医疗卫生机构和人员空白点"] == 3  # 乙乡, 丙村, 丁村
    tw = r.townships.set_index("code")
    assert tw.loc["640399200", "hr_not_connected"] == 2  # NV05, NV07
    assert tw.loc["640399200", "hr_households_not_connected"] == 40 + 35
    assert tw.loc["640399100", "hr_new_km"] == pytest.approx(2.0)
    assert r.townships["code"].iloc[0] == "640399200"  # most problems first
    assert not r.county["met"].any()


def test_a_closer_cut_off_hard_spur_does_not_hide_the_connected_road(ctx):
    """NV09 is 100 m from the trunk; a cement spur joined to nothing lies only 40 m away."""
    dataset, _, settings = ctx
    roads = dataset["roads"]
    spur = roads.iloc[[0]].copy()
    spur["id"] = "SPUR"
    spur["road_class"] = "村道"
    spur["surface"] = "水泥"
    spur = spur.set_geometry(
        gpd.GeoSeries([tc._line((1450, 4140), (1550, 4140))], crs=tc.METRIC_EPSG).to_crs(4326)
    )
    with_spur = dataset.replace_layers(roads=pd.concat([roads, spur], ignore_index=True))
    graph = build_graph(with_spur["roads"])
    v = hard_road_access(with_spur, graph, settings).villages.set_index("id")
    assert v.loc["NV09", "status"] == "connected"
    assert v.loc["NV09", "trunk_dist_m"] == pytest.approx(0.0, abs=1e-6)


def test_a_link_of_unknown_surface_is_to_verify_not_to_pave(ctx):
    """NV03's only link R04 is gravel; if its surface were unknown (未知), say so instead."""
    dataset, _, settings = ctx
    roads = dataset["roads"].copy()
    roads.loc[roads["id"] == "R04", "surface"] = "未知"
    unknown = dataset.replace_layers(roads=roads)
    v = hard_road_access(unknown, build_graph(unknown["roads"]), settings).villages
    row = v.set_index("id").loc["NV03"]
    assert (row["status"], row["reason"]) == ("not_connected", "unverified_surface")
    assert row["harden_km"] == pytest.approx(1.5)  # the same 1.5 km, to check on site
    gravel = hard_road_access(dataset, build_graph(dataset["roads"]), settings).villages
    assert gravel.set_index("id").loc["NV03", "reason"] == "only_unpaved"


def test_a_shared_clinic_serves_codes_with_any_separator_validation_accepts(ctx):
    """联合设置 lists read with the one splitter validation uses (；，, and blanks alike)."""
    from layers.schema import split_codes

    assert split_codes("640399100201；640399200202,\t640399100202， 640399100203") == [
        "640399100201", "640399200202", "640399100202", "640399100203",
    ]  # fmt: skip
    assert split_codes("") == [] and split_codes(None) == []
    dataset, graph, settings = ctx
    blank = tc.EXPECTED_CLINICS["admin_villages_without_clinic"][0]
    cl = dataset["clinics"].copy()
    room = cl.index[(cl["kind"] == "卫生室") & (cl["doctors"] > 0)][0]
    cl.loc[room, "serves_codes"] = f"{cl.loc[room, 'admin_village_code']}， {blank}"
    shared = dataset.replace_layers(clinics=cl)
    assert not shared.errors  # validation reads the list as two known codes
    status = clinic_gaps(shared, graph, settings).admin_villages.set_index("code")["status"]
    assert status[blank] == "exempt_shared"


def test_path_steps_equal_walking_each_predecessor_path():
    """All predecessor paths at once (geo.roads._path_steps) list the same steps, in the
    same order, as walking each path node by node."""
    from scipy import sparse

    from geo.network import shortest_from
    from geo.roads import _path_steps

    rng = np.random.default_rng(7)
    n = 400
    u, v = rng.integers(0, n, 1500), rng.integers(0, n, 1500)
    m = sparse.csr_array((rng.uniform(1, 10, 1500), (u, v)), shape=(n, n))
    _, _, pred = shortest_from(m, np.array([0, 5, 9]), predecessors=True)
    starts = rng.integers(0, n, 60)
    owner, a, b = _path_steps(pred, starts)
    want = []
    for k, s in enumerate(starts):
        node = int(s)
        while pred[node] >= 0:
            want.append((k, node, int(pred[node])))
            node = int(pred[node])
    assert list(zip(owner.tolist(), a.tolist(), b.tolist(), strict=True)) == want
    assert len(want) > 100
    assert [len(x) for x in _path_steps(pred, np.zeros(0, dtype=int))] == [0, 0, 0]


def test_problem_counts_equal_the_crosstab():
    """The roll-up's problem counts (one bincount) equal crosstab + reindex: units with no
    problem, problems of units not in the frame, NA units, an indicator without rows."""
    from geo.rollup import _with_problem_counts

    frame = pd.DataFrame({"name": list("abcd")}, index=pd.Index(["u1", "u2", "u3", "u4"]))
    problems = pd.DataFrame(
        {
            "unit": ["u1", "u1", "u3", "zz", None, "u3", "u1"],
            "indicator": ["x", "y", "x", "x", "y", "q", "x"],
        }
    )
    codes = ("x", "y", "w")
    got = _with_problem_counts(frame, problems, "unit", codes)
    want = frame.copy()
    counts = (
        pd.crosstab(problems["unit"], problems["indicator"])
        .reindex(index=frame.index, columns=list(codes), fill_value=0)
        .astype(float)
    )
    for c in codes:
        want[f"problems_{c}"] = counts[c].to_numpy()
    want["problems"] = want[[f"problems_{c}" for c in codes]].sum(axis=1)
    pd.testing.assert_frame_equal(got, want)
    assert got["problems"].tolist() == [3.0, 0.0, 1.0, 0.0]


def test_hard_road_builds_two_nearest_edge_indexes(ctx, monkeypatch):
    """通硬化路 indexes the existing roads once (every snap of the villages) and the
    trunk-joined hard roads once (their re-snap and the new-link searches share it),
    the latter from the former's samples."""
    from geo import network, roads

    dataset, _, settings = ctx
    built = []
    plain = network._EdgeIndex.__init__

    def spy(self, graph, candidates, within=None):
        built.append((len(candidates), within is None))
        plain(self, graph, candidates, within=within)

    monkeypatch.setattr(network._EdgeIndex, "__init__", spy)
    graph = build_graph(dataset["roads"])
    got = hard_road_access(dataset, graph, settings)
    assert (got.villages["status"] == "not_connected").any()  # the new-link search ran
    existing, joined = graph.edge_mask(), roads.trunk_joined_hard_edges(graph, settings)
    # the second from the first's samples
    assert built == [(existing.sum(), True), (joined.sum(), False)]
