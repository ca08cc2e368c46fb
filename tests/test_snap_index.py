"""The nearest-edge index of :func:`geo.network.snap` against brute force.

The oracle measures every (feature, edge) pair with GEOS (``shapely.distance``) and
takes the least distance, the lowest edge number among equal ones: the rule the
index promises. Cases: random networks with points anywhere, on nodes (ties between
the edges meeting there), on vertices and mid-edge; equidistant parallel roads; a very
long straight segment among short ones (the sampling's worst case); zero-length and
one-segment edges; polygon and line features (the STRtree path); masks; the synthetic
province (20,000 villages, ≈ 120 of them exactly as near two edges) against an STRtree.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely

from geo.network import build_graph, nearest_edges, snap
from tests.test_network import random_network, roads

EPSG = 4544


def oracle(graph, geoms: np.ndarray, mask: np.ndarray | None = None):
    """Nearest edge and distance of each geometry by measuring every edge (GEOS)."""
    edges = np.arange(graph.n_edges) if mask is None else np.flatnonzero(mask)
    lines = graph.edge_geoms[edges]
    dist = shapely.distance(geoms[:, None], lines[None, :])
    low = dist.min(axis=1)
    best = edges[np.argmax(dist == low[:, None], axis=1)]  # the first (lowest) of the least
    return best, low


def test_random_networks_equal_the_oracle():
    for seed in (1, 2, 3, 4):
        frame, rng = random_network(seed)
        g = build_graph(frame, crs=EPSG)
        xy = [
            rng.uniform(-500, 5500, (300, 2)),
            g.node_xy[rng.integers(0, g.n_nodes, 60)],  # on nodes: ties
            g.edge_coords[rng.integers(0, len(g.edge_coords), 40)],  # on vertices
        ]
        mid = g.edge_geoms[rng.integers(0, g.n_edges, 40)]
        xy.append(
            shapely.get_coordinates(shapely.line_interpolate_point(mid, 0.5, normalized=True))
        )
        pts = shapely.points(np.vstack(xy))
        for mask in (None, rng.random(g.n_edges) < 0.4):
            want_edge, want_dist = oracle(g, pts, mask)
            rows, edge, dist = nearest_edges(g, pts, edge_mask=mask)
            assert np.array_equal(rows, np.arange(len(pts)))
            assert np.array_equal(edge, want_edge)
            assert np.array_equal(dist, want_dist)  # bit for bit: GEOS's own distance


def test_snap_takes_the_lowest_edge_among_equally_near():
    # four roads meeting at (500, 0); two parallel roads 100 m either side of y = 300
    frame = roads(
        [
            [(0, 0), (500, 0)],
            [(500, 0), (1000, 0)],
            [(500, 0), (500, 200)],
            [(500, -200), (500, 0)],
            [(0, 400), (1000, 400)],
        ]
    )
    g = build_graph(frame, crs=EPSG)
    pts = gpd.GeoSeries(
        [shapely.Point(500, 0), shapely.Point(500, -0.0), shapely.Point(200, 300)], crs=EPSG
    )
    s = snap(g, pts, max_m=500.0)
    want_edge, want_dist = oracle(g, pts.to_numpy())
    assert s["edge"].tolist() == want_edge.tolist()
    assert s["dist_m"].tolist() == want_dist.tolist()
    at_node = np.flatnonzero(shapely.distance(g.edge_geoms, shapely.Point(500, 0)) == 0)
    assert len(at_node) == 4 and s["edge"].iloc[0] == at_node.min()
    # the point midway: (0, 0)-(500, 0)'s edge, the y = 400 road is as near only at 100 m
    assert s["dist_m"].iloc[2] == pytest.approx(100.0)


def test_a_long_segment_among_short_ones():
    # a 20 km straight road next to a dense grid of 50 m pieces: the sampled pieces must
    # keep the long road's nearest points within reach of the search
    short = [[(x, y), (x + 50.0, y)] for x in np.arange(0, 1000, 50.0) for y in (0.0, 50.0)]
    frame = roads([*short, [(-10_000, 400), (10_000, 400)]])
    g = build_graph(frame, crs=EPSG)
    rng = np.random.default_rng(7)
    pts = shapely.points(
        np.column_stack([rng.uniform(-12_000, 12_000, 400), rng.uniform(-50, 900, 400)])
    )
    want_edge, want_dist = oracle(g, pts)
    _, edge, dist = nearest_edges(g, pts)
    assert np.array_equal(edge, want_edge) and np.array_equal(dist, want_dist)
    assert (edge == g.n_edges - 1).sum() > 100  # many are nearest the long road


def test_zero_length_and_degenerate_edges():
    frame = roads([[(0, 0), (0, 0), (100, 0)], [(100, 0), (100, 0.0)], [(100, 0), (100, 50)]])
    g = build_graph(frame, crs=EPSG)
    pts = shapely.points([(50, 10), (100, 0), (100, -5), (120, 25), (0, 0)])
    want_edge, want_dist = oracle(g, pts)
    _, edge, dist = nearest_edges(g, pts)
    assert np.array_equal(edge, want_edge) and np.array_equal(dist, want_dist)


def test_polygons_and_lines_take_the_same_rule():
    frame, rng = random_network(5)
    g = build_graph(frame, crs=EPSG)
    centres = np.vstack([rng.uniform(0, 5000, (60, 2)), g.node_xy[:20]])
    polys = shapely.buffer(shapely.points(centres), rng.uniform(5, 60, len(centres)), quad_segs=4)
    lines = shapely.linestrings(
        np.stack([centres, centres + rng.uniform(-80, 80, centres.shape)], axis=1)
    )
    geoms = np.concatenate([polys, lines, shapely.points(centres[:30])])
    want_edge, want_dist = oracle(g, geoms)
    rows, edge, dist = nearest_edges(g, geoms)
    assert np.array_equal(rows, np.arange(len(geoms)))
    assert np.array_equal(edge, want_edge) and np.array_equal(dist, want_dist)
    assert (want_dist == 0).sum() > 5  # polygons over a road: every edge inside ties at 0


def test_missing_empty_and_no_candidates():
    frame, _ = random_network(1)
    g = build_graph(frame, crs=EPSG)
    geoms = np.array([None, shapely.Point(), shapely.Point(10, 10)], dtype=object)
    rows, edge, _ = nearest_edges(g, geoms)
    assert rows.tolist() == [2] and edge.tolist() == oracle(g, geoms[2:])[0].tolist()
    rows, edge, dist = nearest_edges(g, geoms, edge_mask=np.zeros(g.n_edges, dtype=bool))
    assert len(rows) == len(edge) == len(dist) == 0
    s = snap(g, gpd.GeoSeries(geoms, crs=EPSG), max_m=1e9, edge_mask=np.zeros(g.n_edges, bool))
    assert (s["edge"] == -1).all()


def test_province_equals_an_strtree_with_the_same_rule(province):
    """20,000 villages of the synthetic province: the edge of an STRtree's equally near
    matches with the lowest number, the distance and the snapped point of GEOS."""
    dataset, graph = province
    pts = dataset["natural_villages"].geometry.to_crs(graph.crs).to_numpy()
    s = snap(graph, dataset["natural_villages"].geometry, max_m=np.inf)
    tree = shapely.STRtree(graph.edge_geoms)
    (q, t), d = tree.query_nearest(pts, all_matches=True, return_distance=True)
    order = np.lexsort((t, q))
    first = np.r_[True, q[order][1:] != q[order][:-1]]
    want_edge, want_dist = t[order][first], d[order][first]
    assert len(q) - len(want_edge) > 50  # ties are there to decide
    assert np.array_equal(s["edge"].to_numpy(), want_edge)
    assert np.array_equal(s["dist_m"].to_numpy(), want_dist)
    line = graph.edge_geoms[want_edge]
    on = shapely.get_point(shapely.shortest_line(pts, line), 1)
    np.testing.assert_array_equal(s[["snap_x", "snap_y"]].to_numpy(), shapely.get_coordinates(on))
    np.testing.assert_array_equal(s["pos_m"].to_numpy(), shapely.line_locate_point(line, on))


@pytest.fixture(scope="module")
def province():
    from layers import Dataset
    from scripts.bench_access import synthetic_province

    frames = synthetic_province(160, n_villages=20_000, n_admin=2900, n_sites=40)
    dataset = Dataset.from_frames(frames, name="province")
    return dataset, build_graph(dataset["roads"])


def test_snap_frame_unchanged_for_points_off_every_tie(demo_dataset):
    """On the demo county the new rule changes nothing but ties (checked with an STRtree's
    first match where that match is the only one)."""
    graph = build_graph(demo_dataset["roads"])
    geoms = demo_dataset["natural_villages"].geometry
    pts = geoms.to_crs(graph.crs).to_numpy()
    s = snap(graph, geoms, max_m=np.inf)
    tree = shapely.STRtree(graph.edge_geoms)
    q, _ = tree.query_nearest(pts, all_matches=True)
    alone = np.bincount(q, minlength=len(pts)) == 1
    (q1, t1) = tree.query_nearest(pts[alone], all_matches=False)
    assert alone.sum() > 0.9 * len(pts)
    assert np.array_equal(s["edge"].to_numpy()[alone][q1], t1)


@pytest.mark.parametrize("share", [0.95, 0.3, 0.02])
def test_subset_searched_in_the_whole_tree_then_its_own(share):
    """A subset's index answers a few points from the whole index's tree (passing over
    the other samples) and a larger batch from a tree of its own: both as the oracle."""
    from scripts.bench_access import county_kwargs, synthetic_province

    frames = synthetic_province(**county_kwargs(300))
    g = build_graph(frames["roads"].to_crs(EPSG), crs=EPSG)
    rng = np.random.default_rng(int(share * 100))
    mask = rng.random(g.n_edges) < share
    lo, hi = g.node_xy.min(axis=0), g.node_xy.max(axis=0)
    few = shapely.points(rng.uniform(lo - 2000, hi + 2000, (2, 2)))
    many = shapely.points(rng.uniform(lo, hi, (400, 2)))
    nearest_edges(g, few)  # the whole index first
    _, (_, index, _) = g._snap_memo.get(g, mask)
    assert index.within is not None
    for pts, own in ((few, False), (many, True)):
        want_edge, want_dist = oracle(g, pts, mask)
        _, edge, dist = nearest_edges(g, pts, edge_mask=mask)
        assert np.array_equal(edge, want_edge) and np.array_equal(dist, want_dist)
        assert (index.within is None) == own
