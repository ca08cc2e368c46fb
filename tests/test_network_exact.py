"""``build_graph``'s column-wise grid and single ``np.unique`` equal the code they replaced.

``_build_graph_reference`` is ``build_graph`` as it was, kept to compare bit for bit.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import CRS

from geo import network
from geo.network import build_graph
from scripts.bench_access import synthetic_province


def _build_graph_reference(
    roads: gpd.GeoDataFrame,
    *,
    crs: CRS | str | int | None = None,
    node_tolerance_m: float = 0.01,
) -> network.RoadGraph:
    """``build_graph`` before the column-wise grid and one ``np.unique`` (kept as is)."""
    if len(roads) == 0:
        raise network.NetworkError(
            "the roads layer is empty; load a roads layer with lines",
            zh="道路图层为空，请导入包含线要素的道路图层",
        )
    target = CRS.from_user_input(crs) if crs is not None else network.metric_crs(roads)
    geoms = roads.geometry.to_numpy()
    types = shapely.get_type_id(geoms)
    if (types == 1).all():  # LineStrings only (the usual case): no parts to explode
        parts, part_road = geoms, np.arange(len(geoms))
    else:
        parts, part_road = shapely.get_parts(geoms, return_index=True)
        keep = shapely.get_type_id(parts) == 1  # LineString
        parts, part_road = parts[keep], part_road[keep]
    coords, part_of = network._coordinates_in(parts, roads.crs, target)
    if len(coords) == 0:
        raise network.NetworkError(
            "the roads layer has no line with coordinates", zh="道路图层中没有有效的线要素"
        )
    # drop consecutive duplicate vertices within a part
    same = np.zeros(len(coords), dtype=bool)
    same[1:] = (part_of[1:] == part_of[:-1]) & np.all(coords[1:] == coords[:-1], axis=1)
    coords, part_of = coords[~same], part_of[~same]
    starts = np.ones(len(coords), dtype=bool)
    starts[1:] = part_of[1:] != part_of[:-1]
    ends = np.ones(len(coords), dtype=bool)
    ends[:-1] = part_of[1:] != part_of[:-1]
    single = starts & ends  # a part reduced to one vertex carries no edge
    coords, part_of = coords[~single], part_of[~single]
    starts, ends = starts[~single], ends[~single]

    grid = np.round(coords / node_tolerance_m).astype(np.int64)
    grid -= grid.min(axis=0)
    span = int(grid[:, 1].max()) + 1
    if grid[:, 0].max() >= np.iinfo(np.int64).max // span:
        raise network.NetworkError(
            f"the roads span too large an area for a node tolerance of {node_tolerance_m} m",
            zh="道路范围过大，请增大节点容差或分区计算",
        )
    keys = grid[:, 0] * span + grid[:, 1]  # one int64 per vertex: a 1-D unique is fast
    _, key_id, key_count = np.unique(keys, return_inverse=True, return_counts=True)
    is_node = starts | ends | (key_count[key_id] >= 2)

    seg = np.zeros(len(coords))
    seg[1:] = np.hypot(*(coords[1:] - coords[:-1]).T)
    seg[starts] = 0.0
    cum = np.cumsum(seg)

    node_pos = np.flatnonzero(is_node)
    a, b = node_pos[:-1], node_pos[1:]
    inside = part_of[a] == part_of[b]
    a, b = a[inside], b[inside]
    node_keys, node_index = np.unique(key_id[node_pos], return_inverse=True)
    key_to_node = np.full(key_id.max() + 1, -1, dtype=np.int64)
    key_to_node[node_keys] = np.arange(len(node_keys))
    node_xy = np.zeros((len(node_keys), 2))
    node_xy[node_index.ravel()] = coords[node_pos]

    counts = b - a + 1
    offsets = np.concatenate([[0], np.cumsum(counts)])
    take = np.repeat(a - offsets[:-1], counts) + np.arange(offsets[-1])
    edge_coords = coords[take]

    road_index = part_road[part_of[a]]
    edges = pd.DataFrame(
        {
            "u": key_to_node[key_id[a]],
            "v": key_to_node[key_id[b]],
            "length_m": cum[b] - cum[a],
            "road_index": road_index,
            "road_id": (
                roads["id"].astype(str).array.take(road_index) if "id" in roads else road_index
            ),
            "road_class": network._taken(roads, "road_class", "其他", road_index),
            "surface": network._taken(roads, "surface", "未知", road_index),
            "width_m": network._taken(roads, "width_m", np.nan, road_index),
            "status": network._taken(roads, "status", "现状", road_index),
        }
    )
    network.logger.info(
        "road graph: %d nodes, %d edges from %d roads (%s)",
        len(node_xy),
        len(edges),
        len(roads),
        target.name,
    )
    return network.RoadGraph(
        crs=target, node_xy=node_xy, edges=edges, edge_coords=edge_coords, edge_offsets=offsets
    )


def _assert_graphs_equal(got, want) -> None:
    assert got.crs == want.crs
    for name in ("node_xy", "edge_coords", "edge_offsets"):
        a, b = getattr(got, name), getattr(want, name)
        assert a.dtype == b.dtype and a.shape == b.shape
        assert np.array_equal(a, b), name
    pd.testing.assert_frame_equal(got.edges, want.edges, check_exact=True)


@pytest.fixture(scope="module")
def province():
    return synthetic_province(
        grid=60,
        n_villages=3000,
        n_admin=400,
        n_sites=40,
        n_rooms=300,
        n_shops=300,
        n_centres=30,
        side=6,
    )


def test_build_graph_equals_reference_on_the_demo(demo_dataset):
    roads = demo_dataset["roads"]
    _assert_graphs_equal(build_graph(roads), _build_graph_reference(roads))


def test_build_graph_equals_reference_on_a_province(province):
    roads = province["roads"]
    _assert_graphs_equal(build_graph(roads), _build_graph_reference(roads))


def test_build_graph_equals_reference_on_odd_lines():
    """Repeated vertices, one-vertex parts, multi-parts, near-coincident vertices."""
    lines = [
        shapely.LineString([(0, 0), (0, 0), (100, 0), (200, 0)]),
        shapely.MultiLineString([[(100, 0), (100, 100)], [(300, 300), (300, 300)]]),
        shapely.LineString([(200.004, 0.003), (200, 100), (100, 100)]),
        shapely.LineString([(50, -50), (50, 50)]),  # crosses the first without a vertex
        shapely.Point(5, 5),
    ]
    roads = gpd.GeoDataFrame(
        {"id": ["a", "b", "c", "d", "e"], "road_class": ["村道"] * 5}, geometry=lines, crs=4544
    )
    _assert_graphs_equal(build_graph(roads, crs=4544), _build_graph_reference(roads, crs=4544))
