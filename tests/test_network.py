"""The road graph engine against hand-computed cases and a networkx oracle."""

from __future__ import annotations

import itertools

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely
from scipy.spatial import Delaunay

from geo.network import build_graph, network_diagnostics, shortest_from, snap
from tests.fixtures import tiny_county as tc

EPSG = 4544


def roads(lines, **cols):
    n = len(lines)
    data = {
        "id": [f"L{i}" for i in range(n)],
        "road_class": ["村道"] * n,
        "surface": ["水泥"] * n,
        "width_m": [4.5] * n,
        "status": ["现状"] * n,
    }
    data.update(cols)
    return gpd.GeoDataFrame(data, geometry=[shapely.LineString(c) for c in lines], crs=EPSG)


def test_lines_split_at_shared_vertices_not_at_crossings():
    frame = roads(
        [
            [(0, 0), (100, 0), (200, 0)],  # shares (100, 0) with the next line mid-way
            [(100, 0), (100, 100)],
            [(50, -50), (50, 50)],  # crosses the first line with no shared vertex
        ]
    )
    g = build_graph(frame, crs=EPSG)
    assert g.n_edges == 4  # first line split in two at (100, 0)
    assert sorted(g.edges["length_m"].round(9)) == [100.0, 100.0, 100.0, 100.0]
    deg = np.bincount(np.r_[g.edges["u"], g.edges["v"]])
    assert sorted(deg) == [1, 1, 1, 1, 1, 3]  # the bridge's ends stay dead ends


def test_fixture_graph_counts_and_lengths():
    g = build_graph(tc.build()["roads"])
    assert g.crs.to_epsg() == EPSG
    assert (g.n_nodes, g.n_edges) == (24, 22)
    # trunk 10 km; R01..R12: 1000+1000+1000+1500+940+1000+500+500+2000+2500+500+1000
    assert g.edges["length_m"].sum() == pytest.approx(10_000 + 13_440, abs=1e-5)


def test_snap_inserts_a_virtual_node_mid_edge_and_reports_far_points():
    g = build_graph(roads([[(0, 0), (1000, 0)]]), crs=EPSG)
    pts = gpd.GeoSeries(
        [shapely.Point(300, 40), shapely.Point(700, -10), shapely.Point(500, 900)], crs=EPSG
    )
    s = snap(g, pts, max_m=200)
    assert s["edge"].tolist() == [0, 0, -1]
    assert s["pos_m"].iloc[:2].tolist() == pytest.approx([300, 700])
    assert s["dist_m"].tolist() == pytest.approx([40, 10, 900])
    aug = g.with_points(s)
    m = aug.matrix(aug.length_m)
    cost, _, _ = shortest_from(m, aug.point_node[:1])
    assert cost[aug.point_node[1]] == pytest.approx(400.0)  # along the edge, not via a vertex
    assert aug.point_node[2] == -1


def test_access_legs_add_their_cost():
    g = build_graph(roads([[(0, 0), (1000, 0)]]), crs=EPSG)
    s = snap(g, gpd.GeoSeries([shapely.Point(0, 30), shapely.Point(1000, 50)], crs=EPSG), max_m=100)
    aug = g.with_points(s)
    m = aug.matrix(aug.length_m, access=s["dist_m"].to_numpy())
    cost, _, _ = shortest_from(m, aug.feature_node([0]))
    assert cost[aug.feature_node(1)] == pytest.approx(30 + 1000 + 50)


def random_network(seed: int, n_points: int = 160):
    """Lines made of 1–4 consecutive Delaunay edges with jittered intermediate vertices."""
    rng = np.random.default_rng(seed)
    pts = rng.uniform(0, 5000, (n_points, 2)).round(2)
    tri = Delaunay(pts)
    edges = {tuple(sorted((s[i], s[(i + 1) % 3]))) for s in tri.simplices for i in range(3)}
    edges = [e for e in sorted(edges) if rng.random() < 0.7]
    adj: dict[int, list[int]] = {}
    for a, b in edges:
        adj.setdefault(a, []).append(b)
        adj.setdefault(b, []).append(a)
    used: set[tuple[int, int]] = set()
    lines = []
    for a, b in edges:
        if (a, b) in used:
            continue
        chain = [a, b]
        used.add((a, b))
        for _ in range(rng.integers(0, 4)):  # extend the line through shared vertices
            nxt = [c for c in adj[chain[-1]] if tuple(sorted((chain[-1], c))) not in used]
            if not nxt:
                break
            c = nxt[rng.integers(len(nxt))]
            used.add(tuple(sorted((chain[-1], c))))
            chain.append(c)
        coords = [tuple(pts[chain[0]])]
        for p, q in itertools.pairwise(chain):
            for t in sorted(rng.uniform(0.1, 0.9, rng.integers(0, 3))):  # bends
                mid = pts[p] + t * (pts[q] - pts[p]) + rng.normal(0, 30, 2)
                coords.append(tuple(mid.round(2)))
            coords.append(tuple(pts[q]))
        lines.append(coords)
    return roads(lines), rng


def oracle_graph(frame):
    """networkx graph with every segment an edge, nodes at rounded vertex coordinates."""
    g = nx.Graph()
    for line in frame.geometry:
        c = [tuple(np.round(xy, 2)) for xy in line.coords]
        for p, q in itertools.pairwise(c):
            g.add_node(p, xy=np.array(p))
            g.add_node(q, xy=np.array(q))
            g.add_edge(p, q, weight=float(np.hypot(p[0] - q[0], p[1] - q[1])))
    return g


def oracle_insert(g, point):
    """Split the nearest segment of ``g`` at the point's projection (brute force)."""
    best = None
    px, py = point
    for p, q in g.edges:
        a, b = g.nodes[p]["xy"], g.nodes[q]["xy"]
        ab = b - a
        if not ab.any():  # a zero-length piece left by an earlier split at a vertex
            continue
        t = np.clip(np.dot(np.array(point) - a, ab) / np.dot(ab, ab), 0, 1)
        proj = a + t * ab
        d = np.hypot(px - proj[0], py - proj[1])
        if best is None or d < best[0]:
            best = (d, p, q, t, tuple(proj))
    _, p, q, t, proj = best
    node = ("pt", point)
    g.add_node(node, xy=np.array(proj))
    g.remove_edge(p, q)
    length = np.hypot(*(g.nodes[q]["xy"] - g.nodes[p]["xy"]))
    g.add_edge(p, node, weight=t * length)
    g.add_edge(node, q, weight=(1 - t) * length)
    return node


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_distances_equal_networkx_on_random_networks(seed):
    frame, rng = random_network(seed)
    g = build_graph(frame, crs=EPSG)
    oracle = oracle_graph(frame)
    assert g.edges["length_m"].sum() == pytest.approx(
        sum(w for *_, w in oracle.edges(data="weight")), rel=1e-12
    )
    n_comp = nx.number_connected_components(oracle)
    diag = network_diagnostics(g)
    assert (diag["kind"] == "component").sum() == n_comp - 1

    src_xy = rng.uniform(0, 5000, (4, 2)).round(2)
    dst_xy = rng.uniform(0, 5000, (40, 2)).round(2)
    pts = gpd.GeoSeries(shapely.points(np.vstack([src_xy, dst_xy])), crs=EPSG)
    s = snap(g, pts, max_m=np.inf)
    aug = g.with_points(s)
    cost, _, _ = shortest_from(aug.matrix(aug.length_m), aug.point_node[:4])
    ours = cost[aug.point_node[4:]]

    nodes = [oracle_insert(oracle, tuple(xy)) for xy in np.vstack([src_xy, dst_xy])]
    ref = nx.multi_source_dijkstra_path_length(oracle, set(nodes[:4]), weight="weight")
    expected = np.array([ref.get(n, np.inf) for n in nodes[4:]])
    assert np.array_equal(np.isinf(ours), np.isinf(expected))
    finite = np.isfinite(expected)
    assert finite.sum() >= 20
    np.testing.assert_allclose(ours[finite], expected[finite], atol=1e-6, rtol=0)


def test_diagnostics_find_the_fixture_gap():
    g = build_graph(tc.build()["roads"])
    diag = network_diagnostics(g, dangle_gap_max_m=100)
    gaps = diag.loc[diag["kind"] == "dangle_gap"]
    assert len(gaps) == 1
    assert gaps["gap_m"].iloc[0] == pytest.approx(60.0)
    assert gaps["road_ids"].iloc[0] in {"T05", "T06"}  # both end at (6000, 4000)
    comps = diag.loc[diag["kind"] == "component"]
    assert comps["road_ids"].tolist() == ["R05"]
    assert comps["length_km"].iloc[0] == pytest.approx(0.94)


def test_virtual_nodes_have_their_snapped_coordinates():
    g = build_graph(roads([[(0, 0), (1000, 0)], [(0, 500), (1000, 500)]]), crs=EPSG)
    pts = gpd.GeoSeries(shapely.points([(800, 520), (100, -5), (300, 490), (600, 3)]), crs=EPSG)
    s = snap(g, pts, max_m=50)
    aug = g.with_points(s)
    np.testing.assert_allclose(aug.node_xy[aug.point_node], s[["snap_x", "snap_y"]].to_numpy())
    np.testing.assert_allclose(
        aug.node_xy[aug.point_node], [(800, 500), (100, 0), (300, 500), (600, 0)]
    )


@pytest.mark.parametrize("seed", [1, 2])
def test_matrix_and_masks_equal_the_plain_constructions(seed):
    """The CSR matrix built directly from sorted pieces equals the COO construction
    (cheapest of parallel pieces, access legs), and edge masks equal ``Series.isin``."""
    from scipy import sparse

    frame, rng = random_network(seed)
    frame["surface"] = rng.choice(["沥青", "水泥", "砂石", "未知"], len(frame))
    g = build_graph(frame, crs=EPSG)
    pts = gpd.GeoSeries(shapely.points(rng.uniform(0, 5000, (30, 2))), crs=EPSG)
    s = snap(g, pts, max_m=400.0)
    aug = g.with_points(s)
    # parallel pieces with their own weights: the cheapest of each pair must be kept
    weights = aug.length_m * rng.uniform(0.5, 2.0, len(aug.length_m))
    mask = g.edge_mask(surfaces=("沥青", "水泥"))
    assert mask.tolist() == g.edges["surface"].isin(["沥青", "水泥"]).tolist()
    assert g.edge_mask(statuses=None).all()
    from geo.network import UNPAVED
    from geo.settings import load_settings

    net = load_settings().network
    speeds = dict(net.drive_speed_kmh)
    speed = g.edges["road_class"].map(speeds).fillna(speeds.get("其他", 20)).to_numpy(float)
    speed = np.where(g.edges["surface"].isin(UNPAVED), speed * net.unpaved_speed_factor, speed)
    want = g.edges["length_m"].to_numpy() / 1000.0 / speed * 60.0
    assert np.array_equal(g.travel_minutes("drive", net), want)
    access = rng.uniform(0, 50, len(pts))
    for m, acc in [(None, None), (mask, None), (mask, access)]:
        got = aug.matrix(weights, mask=m, access=acc)
        keep = np.ones(len(weights), dtype=bool) if m is None else m[aug.parent_edge]
        u, v, w = aug.u[keep], aug.v[keep], np.maximum(weights[keep], 1e-9)
        size = aug.n_nodes
        if acc is not None:
            on = np.flatnonzero(aug.point_node >= 0)
            u = np.concatenate([u, aug.point_node[on]])
            v = np.concatenate([v, aug.feature_node(on)])
            w = np.concatenate([w, np.maximum(acc[on], 1e-9)])
            size += len(aug.point_node)
        best: dict[tuple[int, int], float] = {}
        for a, b, x in zip(np.minimum(u, v), np.maximum(u, v), w, strict=True):
            best[(a, b)] = min(best.get((a, b), np.inf), x)
        rows, cols = np.array(list(best)).T
        want = sparse.csr_array((list(best.values()), (rows, cols)), shape=(size, size))
        assert got.shape == want.shape
        assert (got != want).nnz == 0
        assert np.array_equal(got.indptr, want.indptr)
        assert np.array_equal(got.indices, want.indices)
        assert np.array_equal(got.data, want.data)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_snap_to_subset_equals_snapping_to_the_subset(seed):
    """Snapping to a subset from the snaps to all edges gives what snap() to the subset
    gives (edge, position, point, distance when snapped), ties at vertices and between
    parallel roads included."""
    from geo.network import snap_to_subset

    frame, rng = random_network(seed)
    g = build_graph(frame, crs=EPSG)
    # points anywhere, on vertices (ties between the edges meeting there) and on edges
    xy = [rng.uniform(0, 5000, (150, 2)), g.node_xy[rng.integers(0, g.n_nodes, 30)]]
    mid = g.edge_geoms[rng.integers(0, g.n_edges, 30)]
    xy.append(shapely.get_coordinates(shapely.line_interpolate_point(mid, 0.5, normalized=True)))
    pts = gpd.GeoSeries(shapely.points(np.vstack(xy)), crs=EPSG)
    subset = rng.random(g.n_edges) < 0.6
    nearest = snap(g, pts, max_m=300.0)
    got = snap_to_subset(g, pts, nearest, max_m=300.0, subset=subset)
    fresh = build_graph(frame, crs=EPSG)  # no memo shared with the call above
    want = snap(fresh, pts, max_m=300.0, edge_mask=subset)
    want.loc[want["edge"] < 0, "dist_m"] = np.nan
    assert (got["edge"] >= 0).sum() > 50
    pd.testing.assert_frame_equal(got, want)


def test_snap_to_subset_ties_between_parallel_roads():
    """A point midway between two parallel subset roads snaps as snap() to the subset."""
    from geo.network import snap_to_subset

    lines = [shapely.LineString([(0, y), (1000, y)]) for y in (0.0, 100.0, 200.0)]
    frame = gpd.GeoDataFrame(
        {
            "id": ["a", "b", "c"],
            "road_class": ["村道"] * 3,
            "surface": ["水泥"] * 3,
            "width_m": [4.0] * 3,
            "status": ["现状"] * 3,
        },
        geometry=lines,
        crs=EPSG,
    )
    g = build_graph(frame, crs=EPSG)
    pts = gpd.GeoSeries([shapely.Point(500, 50), shapely.Point(500, 150)], crs=EPSG)
    for subset in (np.array([True, True, False]), np.array([True, False, True])):
        nearest = snap(g, pts, max_m=80.0)
        got = snap_to_subset(g, pts, nearest, max_m=80.0, subset=subset)
        want = snap(build_graph(frame, crs=EPSG), pts, max_m=80.0, edge_mask=subset)
        want.loc[want["edge"] < 0, "dist_m"] = np.nan
        pd.testing.assert_frame_equal(got, want)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_searches_within_equal_full_graph_searches(seed):
    """The per-source searches on the nodes in reach give the full graph's costs, bit for
    bit, in batches of any size (here several)."""
    from scipy.sparse import csgraph

    from geo.network import searches_within

    frame, rng = random_network(seed)
    g = build_graph(frame, crs=EPSG)
    pts = gpd.GeoSeries(shapely.points(rng.uniform(0, 5000, (25, 2))), crs=EPSG)
    aug = g.with_points(snap(g, pts, max_m=300.0))
    matrix = aug.matrix(aug.length_m / 80.0)
    sources = aug.point_node[aug.point_node >= 0]
    limits = rng.uniform(-1, 15, len(sources))  # minutes; a negative budget reaches nothing
    seen = []
    for which, kept, local, dist in searches_within(matrix, sources, limits, max_cells=200):
        assert len(which) < len(sources)  # several batches
        assert kept.size < aug.n_nodes  # near the sources only
        full = csgraph.dijkstra(
            matrix,
            directed=False,
            indices=sources[which],
            limit=max(float(limits[which].max()), 0.0),
        )
        assert np.array_equal(dist[:, local], full)
        seen.append(which)
    assert np.array_equal(np.sort(np.concatenate(seen)), np.arange(len(sources)))


@pytest.mark.parametrize("seed", [1, 2])
def test_piece_lookup_equals_the_plain_construction(seed):
    """The cheapest kept piece between two nodes (the first in piece order on a tie)."""
    from geo.roads import _piece_lookup

    frame, rng = random_network(seed)
    g = build_graph(frame, crs=EPSG)
    # points on the same edges twice over: parallel pieces and ties between them
    pts = gpd.GeoSeries(shapely.points(rng.uniform(0, 5000, (60, 2)).round(-2)), crs=EPSG)
    aug = g.with_points(snap(g, pd.concat([pts, pts], ignore_index=True), max_m=400.0))
    keep = rng.random(len(aug.u)) < 0.8
    weights = rng.integers(0, 3, len(aug.u)).astype(float)  # many ties
    best: dict[tuple[int, int], tuple[float, int]] = {}
    for i in np.flatnonzero(keep):
        pair = (min(aug.u[i], aug.v[i]), max(aug.u[i], aug.v[i]))
        if pair not in best or weights[i] < best[pair][0]:
            best[pair] = (weights[i], int(i))
    a, b = np.array(list(best)).T
    lookup = _piece_lookup(aug, keep, weights)
    assert lookup(a, b).tolist() == [i for _, i in best.values()]
    assert lookup(b, a).tolist() == [i for _, i in best.values()]
    pairs = [(x, y) for x in range(40) for y in range(40)]
    missing = np.array([(x, y) for x, y in pairs if (min(x, y), max(x, y)) not in best])
    assert (lookup(missing[:, 0], missing[:, 1]) == -1).all()


def test_edge_columns_equal_the_plain_frame_construction():
    """Edge attribute columns (taken per distinct value) equal what ``pd.DataFrame`` makes
    of the taken values: text as the string dtype, NA kept, other columns as they are."""
    from geo.network import _col, _taken

    rng = np.random.default_rng(3)
    n = 500
    frame = pd.DataFrame(
        {
            "text": rng.choice(np.array(["水泥", "砂石", None, np.nan], dtype=object), n),
            "mixed": rng.choice(np.array(["村道", 3, None], dtype=object), n),
            "empty": np.full(n, None, dtype=object),
            "str": pd.array(rng.choice(["a", "b"], n), dtype="str"),
            "number": rng.uniform(0, 9, n),
        }
    )
    rows = rng.integers(0, n, 2 * n)
    for name in [*frame.columns, "absent"]:
        got = pd.DataFrame({"c": _taken(frame, name, "未知", rows)})
        want = pd.DataFrame({"c": _col(frame.iloc[rows], name, "未知")})
        pd.testing.assert_frame_equal(got, want)


def _plain_linestrings(coords, offsets):
    counts = np.diff(offsets)
    return shapely.linestrings(
        coords[offsets[0] : offsets[-1]], indices=np.repeat(np.arange(len(counts)), counts)
    )


def test_edge_geometries_equal_the_plain_construction(demo_dataset):
    """Edge LineStrings built per vertex-count block equal ``shapely.linestrings`` with a
    vertex index (WKB): on the demo graph, on the fixture's, on edges of mixed counts (in
    shuffled order, 2–6 vertices) and on offsets that do not start at 0."""
    from geo.network import _linestrings

    for frame in (demo_dataset["roads"], tc.build()["roads"]):
        g = build_graph(frame)
        want = _plain_linestrings(g.edge_coords, g.edge_offsets)
        assert np.array_equal(shapely.to_wkb(g.edge_geoms), shapely.to_wkb(want))
    rng = np.random.default_rng(5)
    for counts in (rng.integers(2, 7, 400), np.full(50, 4), np.array([2])):
        offsets = np.concatenate([[3], 3 + np.cumsum(counts)])
        coords = rng.uniform(-1e5, 1e5, (offsets[-1] + 2, 2))
        got = _linestrings(coords, offsets)
        want = _plain_linestrings(coords, offsets)
        assert got.dtype == object and len(got) == len(counts)
        assert np.array_equal(shapely.to_wkb(got), shapely.to_wkb(want))
    assert len(_linestrings(np.empty((0, 2)), np.array([0]))) == 0
