"""Nearest-facility search: tiny-county answers by hand and a networkx oracle."""

from __future__ import annotations

import itertools

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely

from geo.access import facility_access_outcomes, nearest_facility, seat_points
from geo.indicators.outcomes import OUTCOME_COLUMNS
from geo.network import build_graph
from geo.settings import IndicatorSpec, NetworkSettings, Settings
from layers import Dataset
from tests.fixtures import tiny_county as tc
from tests.test_network import random_network

EPSG = 4544


@pytest.fixture(scope="module")
def ctx():
    dataset = Dataset.from_frames(tc.build(), name="tiny")
    return dataset, build_graph(dataset["roads"]), Settings()


def test_nearest_pharmacy_of_each_site_in_every_mode(ctx):
    dataset, graph, settings = ctx
    sp = dataset["service_points"]
    pharmacy = sp.loc[sp["kind"] == "药店"]
    sites = dataset["relocation_sites"].geometry
    walk = nearest_facility(graph, sites, pharmacy, mode="walk", network=settings.network)
    # S1 (5000, 4500): R11 500 m + trunk 1000 m to P3 (6000, 4000); S2 (1000, 3000): 1000 + 5000
    assert walk["distance_m"].tolist() == pytest.approx([1500.0, 6000.0])
    assert walk["minutes"].tolist() == pytest.approx([1500 / 75, 6000 / 75])
    assert walk["row"].tolist() == [0, 0]
    drive = nearest_facility(graph, sites, pharmacy, mode="drive", network=settings.network)
    # 村道 at 25 km/h, 县道 at 40 km/h
    want = [500 / 25e3 * 60 + 1000 / 40e3 * 60, 1000 / 25e3 * 60 + 5000 / 40e3 * 60]
    assert drive["minutes"].tolist() == pytest.approx(want)
    assert drive["distance_m"].tolist() == pytest.approx([1500.0, 6000.0])
    metres = nearest_facility(graph, sites, pharmacy, mode="network_m", network=settings.network)
    assert metres["distance_m"].tolist() == pytest.approx([1500.0, 6000.0])
    line = nearest_facility(graph, sites, pharmacy, mode="straight", network=settings.network)
    assert line["distance_m"].tolist() == pytest.approx([np.hypot(1000, 500), np.hypot(5000, 1000)])
    assert line["minutes"].isna().all()


def test_off_network_unreachable_and_no_facility(ctx):
    dataset, graph, settings = ctx
    nv = dataset["natural_villages"].set_index("id")
    sp = dataset["service_points"]
    found = nearest_facility(
        graph, nv.geometry[["NV04", "NV10"]], sp.loc[sp["kind"] == "药店"], mode="walk",
        network=settings.network,
    )  # fmt: skip
    assert found["reason"].tolist() == ["off_network", ""]
    assert not found.loc["NV04", "on_network"] and np.isinf(found.loc["NV04", "minutes"])
    assert found.loc["NV10", "distance_m"] == pytest.approx(800.0)
    none = nearest_facility(graph, nv.geometry, sp.iloc[0:0], mode="walk", network=settings.network)
    assert (none["reason"] == "no_facility").all() and (none["row"] == -1).all()


def test_admin_village_seat_is_its_largest_natural_village(ctx):
    dataset, _, _ = ctx
    seats = seat_points(dataset).to_crs(EPSG)
    xy = {c: (round(p.x - tc.ORIGIN_E), round(p.y - tc.ORIGIN_N)) for c, p in seats.items()}
    assert xy == {
        "640399100201": (2000, 6000),  # NV02 (170 people)
        "640399100202": (3000, 7000),  # NV11 (120)
        "640399200201": (5200, 4000),  # NV10 (230)
        "640399200202": (9000, 2500),  # NV08, its only natural village
    }
    no_nv = Dataset.from_frames(
        {k: v for k, v in tc.build().items() if k != "natural_villages"}, name="x"
    )
    own = seat_points(no_nv).to_crs(EPSG)
    assert (round(own.iloc[0].x - tc.ORIGIN_E), round(own.iloc[0].y - tc.ORIGIN_N)) == (1500, 4500)


SPEC = IndicatorSpec(
    code="pharmacy_30",
    name_zh="行政村到药店",
    layer="service_points",
    kinds=("药店",),
    unit_kind="admin_village",
    mode="walk",
    max_time_min=30.0,
    cost_wan=15.0,
)


def test_profile_indicator_outcomes_by_hand(ctx):
    out = facility_access_outcomes(*ctx, spec=SPEC).set_index("unit_code")
    assert set(out.columns) == set(OUTCOME_COLUMNS) - {"unit_code"}
    assert len(out) == 4 and (out["description"] != "").all()
    # seats → P3 (6000, 4000): NV02 2000 + 4000 m, NV11 4000 + 4000 m, NV10 800 m; NV08 off road
    assert out["value"].iloc[:3].tolist() == pytest.approx([6000 / 75, 8000 / 75, 800 / 75])
    assert out["status"].tolist() == ["problem", "problem", "ok", "problem"]
    assert out["cause"].tolist() == ["beyond_limit", "beyond_limit", "", "off_network"]
    assert out["key"].iloc[0] == "pharmacy_30:640399100201"
    assert out.loc[out["status"] == "problem", "cost_wan"].tolist() == [15.0] * 3
    assert (out.loc[out["status"] == "problem", "problem_type"] != "").all()
    assert np.isnan(out.loc["640399200202", "value"]) and out["limit"].eq(30.0).all()


def test_profile_indicator_by_distance_for_natural_villages(ctx):
    spec = IndicatorSpec(
        code="bus_2km", name_zh="自然村到公交站点", kinds=("公交站点",),
        unit_kind="natural_village", mode="straight", max_distance_m=2000.0,
    )  # fmt: skip
    out = facility_access_outcomes(*ctx, spec=spec).set_index("unit_code")
    assert len(out) == 12 and out["value_unit"].eq("米").all()
    # NV01 (1000, 5000) to P6 (1000, 4000): 1000 m straight
    assert out.loc["NV01", "value"] == pytest.approx(1000.0)
    assert out.loc["NV08", "status"] == "problem"  # (9000, 2500) is 4.7 km from P4


def test_profile_indicator_without_its_layer_is_no_data(ctx):
    frames = {k: v for k, v in tc.build().items() if k != "service_points"}
    dataset = Dataset.from_frames(frames, name="tiny")
    out = facility_access_outcomes(dataset, ctx[1], ctx[2], spec=SPEC)
    assert len(out) == 4 and out["status"].eq("no_data").all()
    assert out["description"].str.contains("无数据").all()


def test_planned_facilities_do_not_count(ctx):
    _, graph, settings = ctx
    frames = tc.build()
    sp = frames["service_points"].copy()
    sp["status"] = np.where(sp["id"] == "P3", "规划", "现状")
    planned = Dataset.from_frames(frames | {"service_points": sp}, name="tiny")
    out = facility_access_outcomes(planned, graph, settings, spec=SPEC)
    assert out["cause"].eq("no_facility").all() and out["status"].eq("problem").all()


# ---------------------------------------------------------------------- oracle

SPEEDS = NetworkSettings(snap_max_m=1e9).drive_speed_kmh


def _oracle(frame: gpd.GeoDataFrame, mode: str, net: NetworkSettings) -> nx.Graph:
    g = nx.Graph()
    for line, cls in zip(frame.geometry, frame["road_class"], strict=True):
        kmh = net.walk_speed_kmh if mode == "walk" else SPEEDS[cls]
        c = [tuple(xy) for xy in line.coords]
        for p, q in itertools.pairwise(c):
            length = float(np.hypot(p[0] - q[0], p[1] - q[1]))
            g.add_node(p, xy=np.array(p))
            g.add_node(q, xy=np.array(q))
            g.add_edge(p, q, length=length, minutes=length / (kmh * 1000 / 60))
    return g


def _insert(g: nx.Graph, name: object, point: np.ndarray, walk_m_per_min: float) -> None:
    """Join a feature to the projection on its nearest segment (brute force)."""
    best = None
    for p, q, data in g.edges(data=True):
        if any(isinstance(n[0], str) and n[0] == "f" for n in (p, q)):
            continue  # an access leg, not a road
        a, b = g.nodes[p]["xy"], g.nodes[q]["xy"]
        ab = b - a
        if not ab.any():
            continue
        t = float(np.clip(np.dot(point - a, ab) / np.dot(ab, ab), 0, 1))
        d = float(np.hypot(*(point - (a + t * ab))))
        if best is None or d < best[0]:
            best = (d, p, q, t, data)
    d, p, q, t, data = best
    on = ("s", name)
    g.remove_edge(p, q)
    g.add_node(on, xy=g.nodes[p]["xy"] + t * (g.nodes[q]["xy"] - g.nodes[p]["xy"]))
    for end, share in ((p, t), (q, 1 - t)):
        g.add_edge(end, on, length=share * data["length"], minutes=share * data["minutes"])
    g.add_node(("f", name), xy=point)
    g.add_edge(on, ("f", name), length=d, minutes=d / walk_m_per_min)


@pytest.mark.parametrize(("seed", "mode"), [(1, "walk"), (2, "drive"), (3, "drive")])
def test_nearest_facility_equals_networkx(seed, mode):
    frame, rng = random_network(seed, n_points=90)
    frame["road_class"] = rng.choice(["县道", "乡道", "村道", "入户路"], len(frame))
    net = NetworkSettings(snap_max_m=1e9)
    graph = build_graph(frame, crs=EPSG)
    o_xy = rng.uniform(0, 5000, (12, 2)).round(2)
    f_xy = rng.uniform(0, 5000, (5, 2)).round(2)
    origins = gpd.GeoSeries(shapely.points(o_xy), crs=EPSG)
    facilities = gpd.GeoDataFrame({"id": range(5)}, geometry=shapely.points(f_xy), crs=EPSG)
    ours = nearest_facility(graph, origins, facilities, mode=mode, network=net)

    oracle = _oracle(frame, mode, net)
    walk = net.walk_speed_kmh * 1000 / 60
    for i, xy in enumerate(o_xy):
        _insert(oracle, ("o", i), xy, walk)
    for j, xy in enumerate(f_xy):
        _insert(oracle, ("x", j), xy, walk)
    for i in range(len(o_xy)):
        times = nx.single_source_dijkstra_path_length(oracle, ("f", ("o", i)), weight="minutes")
        reach = {j: times[("f", ("x", j))] for j in range(5) if ("f", ("x", j)) in times}
        if not reach:
            assert ours.loc[i, "reason"] == "unreachable"
            continue
        j = min(reach, key=reach.get)
        path = nx.dijkstra_path(oracle, ("f", ("o", i)), ("f", ("x", j)), weight="minutes")
        metres = sum(oracle.edges[a, b]["length"] for a, b in itertools.pairwise(path))
        assert ours.loc[i, "minutes"] == pytest.approx(reach[j], rel=1e-9)
        assert ours.loc[i, "row"] == j
        assert ours.loc[i, "distance_m"] == pytest.approx(metres, rel=1e-9)


def test_straight_distance_equals_brute_force():
    rng = np.random.default_rng(7)
    o_xy, f_xy = rng.uniform(0, 9000, (50, 2)), rng.uniform(0, 9000, (8, 2))
    origins = gpd.GeoSeries(shapely.points(o_xy), crs=EPSG)
    facilities = gpd.GeoSeries(shapely.points(f_xy), crs=EPSG)
    graph = build_graph(tc.build()["roads"])
    ours = nearest_facility(graph, origins, facilities, mode="straight", network=NetworkSettings())
    d = np.hypot(*(o_xy[:, None, :] - f_xy[None, :, :]).transpose(2, 0, 1))
    assert ours["distance_m"].to_numpy() == pytest.approx(d.min(axis=1), rel=1e-9)
    assert (ours["row"].to_numpy() == d.argmin(axis=1)).all()
    assert isinstance(ours, pd.DataFrame)
