"""通硬化路 equals the implementation it replaced, frame for frame, bit for bit.

``_old_hard_road_access`` (and its helpers) below is :func:`geo.roads.hard_road_access`
as it was before the missing links were built all at once (no loop over villages), the
gap components searched on their own nodes and the two path minima jumped together
(2026-12). Both run on fresh graphs of the same roads: the shipped demo county, the
tiny county, a synthetic province and the same province with cut-off islands, planned
roads and trunk roads of unknown surface. Its new-link searches take the nearest-edge
rule that came with the snap index (the lowest edge number among equally near edges,
:func:`_old_nearest`); the rest is as it was.
"""

from __future__ import annotations

import dataclasses

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from geopandas.testing import assert_geodataframe_equal
from scipy import sparse
from scipy.sparse import csgraph

from geo.network import (
    AugmentedGraph,
    RoadGraph,
    build_graph,
    shortest_from,
    snap,
    snap_to_subset,
)
from geo.roads import HardRoadResult, _group_sums, hard_road_access
from geo.settings import Settings, load_settings
from layers import Dataset
from scripts.bench_access import synthetic_province
from tests.fixtures import tiny_county as tc

EPSG = 4544


# --- the previous implementation, kept as the reference ----------------------------------


def _old_township_codes(dataset: Dataset, admin_codes: pd.Series) -> pd.Series:
    if "admin_villages" in dataset:
        av = dataset["admin_villages"].set_index("code")["township_code"]
        mapped = admin_codes.map(av)
        return mapped.fillna(admin_codes.str[:9])
    return admin_codes.str[:9]


def _old_piece_lookup(aug: AugmentedGraph, keep: np.ndarray, weights: np.ndarray):
    """Return a function (a, b) → index of the cheapest kept piece joining node a and b."""
    idx = np.flatnonzero(keep)
    rows, cols, first, order = aug.piece_pairs(keep)
    key = rows * aug.n_nodes + cols
    # per pair, the cheapest piece, and the first such piece in piece order on a tie
    w = weights[idx][order]
    counts = np.diff(np.append(first, len(order)))
    cheapest = np.repeat(np.minimum.reduceat(w, first), counts) if len(first) else w
    candidate = np.where(w == cheapest, order, len(idx))
    pieces = idx[np.minimum.reduceat(candidate, first)] if len(first) else idx

    def lookup(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        k = np.minimum(x, y).astype(np.int64) * aug.n_nodes + np.maximum(x, y)
        pos = np.searchsorted(key, k).clip(max=len(key) - 1)
        found = key[pos] == k
        return np.where(found, pieces[pos], -1)

    return lookup


def _old_path_min(pred: np.ndarray, value_at: np.ndarray) -> np.ndarray:
    """Minimum of ``value_at`` over each node's path to its source (pointer jumping)."""
    n = len(pred)
    anc = np.where(pred >= 0, pred, np.arange(n))
    val = value_at.copy()
    for _ in range(64):  # 2**64 > any path length
        nxt = anc[anc]
        val = np.minimum(val, val[anc])
        if np.array_equal(nxt, anc):
            break
        anc = nxt
    return val


def _old_path_steps(pred: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, ...]:
    """Every step of each start's predecessor path, all starts at once.

    Returns ``(owner, a, b)``: step ``k`` goes from node ``a[k]`` to ``b[k] = pred[a[k]]``
    on the path of ``starts[owner[k]]``; the steps of one start are consecutive and in
    path order, from the start to its source.
    """
    owners, froms, tos = [], [], []
    cur = np.asarray(starts, dtype=np.int64)
    who = np.arange(len(cur))
    while len(cur):  # one level of every path per round
        nxt = pred[cur]
        go = nxt >= 0
        cur, who, nxt = cur[go], who[go], nxt[go].astype(np.int64)
        owners.append(who)
        froms.append(cur)
        tos.append(nxt)
        cur = nxt
    if not owners:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    owner = np.concatenate(owners)
    order = np.argsort(owner, kind="stable")  # by start; levels stay in path order
    return owner[order], np.concatenate(froms)[order], np.concatenate(tos)[order]


def _old_joined_to(graph: RoadGraph, mask: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """Edges in ``mask`` whose connected component (over ``mask`` edges) holds a seed edge."""
    u = graph.edges["u"].to_numpy()[mask]
    v = graph.edges["v"].to_numpy()[mask]
    n = graph.n_nodes
    adj = sparse.coo_array((np.ones(len(u)), (u, v)), shape=(n, n)).tocsr()
    _, comp = csgraph.connected_components(adj, directed=False)
    seed_nodes = graph.edges["u"].to_numpy()[seeds & mask]
    joined = np.isin(comp, np.unique(comp[seed_nodes]))
    return mask & joined[graph.edges["u"].to_numpy()]


def _old_edge_tree(graph: RoadGraph, edges: np.ndarray) -> shapely.STRtree:
    """Return ``STRtree(graph.edge_geoms[edges])``."""
    return shapely.STRtree(graph.edge_geoms[edges])


def _old_nearest(tree: shapely.STRtree, geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``tree.query_nearest(geoms)``, the lowest tree index among equally near lines.

    The nearest-edge rule of :func:`geo.network.snap` since 2026-12 (the edges are in
    ascending order in the tree), in place of the tree's own first match.
    """
    q, t = tree.query_nearest(geoms, all_matches=True)
    order = np.lexsort((t, q))
    q, t = q[order], t[order]
    first = np.ones(len(q), dtype=bool)
    first[1:] = q[1:] != q[:-1]
    return q[first], t[first]


def _old_hard_edges(graph: RoadGraph, settings: Settings) -> tuple[np.ndarray, np.ndarray]:
    """Masks of the edges counted as hard, and of those counted so only by assumption.

    Hard: existing (现状) roads of a ``hard_surfaces`` surface, plus — when
    ``trunk_unknown_surface_hard`` is on — trunk-class roads of unknown surface (未知);
    the second mask is the latter (路面待核实).
    """
    hr = settings.hard_road
    hard = graph.edge_mask(surfaces=hr.hard_surfaces)
    assumed = np.zeros(graph.n_edges, dtype=bool)
    if hr.trunk_unknown_surface_hard:
        assumed = graph.edge_mask(surfaces=("未知",), classes=hr.trunk_classes)
    return hard | assumed, assumed


def _old_trunk_joined_hard_edges(graph: RoadGraph, settings: Settings) -> np.ndarray:
    """Mask of existing hard-surfaced edges joined to the trunk network by hard roads.

    These are the roads a village must reach to count as 通硬化路 (and where a new link
    may end).
    """
    hard, _ = _old_hard_edges(graph, settings)
    trunk = hard & graph.edge_mask(classes=settings.hard_road.trunk_classes)
    return hard & _old_joined_to(graph, hard, trunk)


def _old_hard_road_access(dataset: Dataset, graph: RoadGraph, settings: Settings) -> HardRoadResult:
    """Check 20户以上自然村通硬化路 for every natural village.

    Parameters
    ----------
    dataset : Dataset
        Needs ``natural_villages``; uses ``admin_villages`` for township codes and
        搬迁撤并 classes when present.
    graph : RoadGraph
        Built from the dataset's ``roads`` (:func:`geo.network.build_graph`).
    settings : Settings
        Uses ``settings.hard_road`` and ``settings.network.snap_max_m``.

    Returns
    -------
    HardRoadResult
        Village statuses with reason codes and the missing links (see the class).
    """
    hr, net = settings.hard_road, settings.network
    villages = dataset["natural_villages"]
    n = len(villages)
    existing = graph.edge_mask()
    hard, assumed = _old_hard_edges(graph, settings)
    trunk = hard & graph.edge_mask(classes=hr.trunk_classes)

    village_m = villages.geometry.to_crs(graph.crs)  # projected once for every snap below
    snap_any = snap(graph, village_m, max_m=net.snap_max_m, edge_mask=existing)
    # A village reaches the hard network through the nearest hard road that is itself
    # joined to the trunk: a closer hard spur cut off from it must not hide that road.
    joined_hard = _old_trunk_joined_hard_edges(graph, settings)
    snap_hard = snap_to_subset(
        graph,
        village_m,
        snap_any,
        max_m=net.snap_max_m,
        subset=joined_hard,
    )
    both = pd.concat([snap_hard, snap_any], ignore_index=True)
    aug = graph.with_points(both)
    node_hard, node_any = aug.point_node[:n], aug.point_node[n:]

    trunk_piece = trunk[aug.parent_edge]
    trunk_nodes = np.concatenate([aug.u[trunk_piece], aug.v[trunk_piece]])
    length = aug.length_m
    hard_piece = hard[aug.parent_edge]
    m_hard = aug.matrix(length, mask=hard)
    cost_hard, src_hard, pred_hard = shortest_from(m_hard, trunk_nodes, predecessors=True)
    assert pred_hard is not None
    trunk_dist = np.where(node_hard >= 0, cost_hard[np.maximum(node_hard, 0)], np.inf)
    connected = np.isfinite(trunk_dist)

    # narrowest road on each village's hard path to the trunk
    lookup_hard = _old_piece_lookup(aug, hard_piece & existing[aug.parent_edge], length)
    width = graph.edges["width_m"].to_numpy(dtype=float)
    node_width = np.full(aug.n_nodes, np.inf)
    has_pred = np.flatnonzero(pred_hard >= 0)
    pieces = lookup_hard(has_pred, pred_hard[has_pred])
    node_width[has_pred] = np.where(pieces >= 0, width[aug.parent_edge[pieces]], np.inf)
    path_width = _old_path_min(pred_hard, node_width)
    min_width = np.where(connected, path_width[np.maximum(node_hard, 0)], np.nan)
    # 路面待核实: the hard path (or the road the village joins) is assumed hard
    node_sure = np.ones(aug.n_nodes)
    node_sure[has_pred] = np.where(pieces >= 0, ~assumed[aug.parent_edge[pieces]], 1.0)
    path_sure = _old_path_min(pred_hard, node_sure)
    snapped = snap_hard["edge"].to_numpy()
    on_assumed = (snapped >= 0) & assumed[np.maximum(snapped, 0)]
    sure_trunk = trunk_piece & ~assumed[aug.parent_edge]
    sure_nodes = np.zeros(aug.n_nodes, dtype=bool)
    sure_nodes[aug.u[sure_trunk]] = sure_nodes[aug.v[sure_trunk]] = True
    reached = src_hard[np.maximum(node_hard, 0)]
    via_assumed_trunk = ~sure_nodes[np.maximum(reached, 0)]
    unverified = connected & (
        (path_sure[np.maximum(node_hard, 0)] < 1) | on_assumed | via_assumed_trunk
    )
    min_width = np.where(np.isinf(min_width), np.nan, min_width)  # on the trunk itself

    # scope
    relocation = villages["relocation_planned"].to_numpy(dtype=bool).copy()
    if "admin_villages" in dataset:
        classes = dataset["admin_villages"].set_index("code")["village_class"]
        relocation |= (villages["admin_village_code"].map(classes) == "搬迁撤并").to_numpy()
    below = villages["households"].to_numpy() < hr.households_min
    scope = np.where(relocation, "excluded", np.where(below, "below_threshold", "target"))

    reason = np.full(n, "", dtype=object)
    reason[unverified] = "unverified_surface"
    reason[relocation] = "relocation_planned"
    harden_km = np.zeros(n)
    new_km = np.zeros(n)
    link_rows: list[dict[str, object]] = []
    link_geoms: list[shapely.Geometry] = []

    todo = np.flatnonzero(~connected & ~relocation)
    # upgrade: cheapest hardening over all existing roads (hard pieces ~free)
    unpaved_cost = np.where(hard_piece, 0.0, length)
    m_up = aug.matrix(unpaved_cost, mask=existing)
    cost_up, _, pred_up = shortest_from(m_up, trunk_nodes, predecessors=True)
    assert pred_up is not None
    lookup_any = _old_piece_lookup(aug, existing[aug.parent_edge], unpaved_cost)
    on_road = node_any >= 0
    up_cost = np.where(on_road, cost_up[np.maximum(node_any, 0)], np.inf)
    surface_codes, surface_values = graph._factorised("surface")
    unknown_surface = np.append(surface_values == "未知", False)[surface_codes]

    def harden_links(vids: np.ndarray, pred: np.ndarray, starts: np.ndarray) -> list:
        """Return the non-hard pieces of each start's path (``pred``) as its 'harden' link.

        Returns, per start: the km, whether every one of them is of unknown surface (未知:
        e.g. an untagged OSM way, which may well be paved — to verify, not to pave), and
        the link's row and geometry (None when the path has no non-hard piece).
        """
        owner, a, b = _old_path_steps(pred, starts)
        pcs = lookup_any(a, b)
        keep = (pcs >= 0) & ~hard_piece[np.maximum(pcs, 0)]
        owner, pcs = owner[keep], pcs[keep]
        bounds = np.searchsorted(owner, np.arange(len(starts) + 1))
        # the road ids (as text) of the edges on these paths only, not of every edge
        on_paths = np.unique(aug.parent_edge[pcs])
        path_ids = graph.edges["road_id"].iloc[on_paths].astype(str).to_numpy(dtype=object)
        out = []
        for k, vid in enumerate(vids):
            mine = pcs[bounds[k] : bounds[k + 1]]
            if not len(mine):
                out.append((0.0, False, None))
                continue
            parents = np.unique(aug.parent_edge[mine])
            unknown = bool(np.all(unknown_surface[parents]))
            km = float(length[mine].sum()) / 1000
            row = {
                "village_id": vid,
                "kind": "harden",
                "length_km": km,
                "road_ids": ";".join(dict.fromkeys(path_ids[np.searchsorted(on_paths, parents)])),
            }
            out.append((km, unknown, (row, shapely.multilinestrings(graph.edge_geoms[parents]))))
        return out

    def add_link(link: tuple[dict[str, object], shapely.Geometry] | None) -> None:
        if link is not None:
            link_rows.append(link[0])
            link_geoms.append(link[1])

    def new_link(vid: str, line: shapely.Geometry) -> float:
        km = float(shapely.length(line)) / 1000
        link_rows.append({"village_id": vid, "kind": "new", "length_km": km, "road_ids": ""})
        link_geoms.append(line)
        return km

    ids = villages["id"].astype(str).to_numpy()
    # 1. only unpaved links: walk each village's cheapest-hardening path (few villages)
    unpaved = todo[on_road[todo] & np.isfinite(up_cost[todo])]
    reason[unpaved] = "only_unpaved"
    for i, (km, unknown, link) in zip(
        unpaved, harden_links(ids[unpaved], pred_up, node_any[unpaved]), strict=True
    ):
        harden_km[i] = km
        add_link(link)
        if unknown:
            reason[i] = "unverified_surface"

    connected_edges = np.flatnonzero(
        hard & existing & np.isfinite(cost_hard[graph.edges["u"].to_numpy()])
    )
    gap = todo[on_road[todo] & ~np.isfinite(up_cost[todo])]
    no_road = todo[~on_road[todo]]
    reason[gap] = "network_gap"
    reason[no_road] = "no_road"
    if len(connected_edges) == 0:  # no trunk at all: nothing to link to
        new_km[gap] = np.nan
        new_km[no_road] = np.nan
    else:
        tree = _old_edge_tree(graph, connected_edges)
        # 2. no road within the snap distance: a straight new link to the hard network
        if len(no_road):
            village_xy = village_m.to_numpy()[no_road]
            qi, ti = _old_nearest(tree, village_xy)
            lines = shapely.shortest_line(village_xy[qi], graph.edge_geoms[connected_edges[ti]])
            for i, line in zip(no_road[qi], lines, strict=True):
                new_km[i] = new_link(ids[i], line)
        # 3. network gaps: per road component (all existing roads) not joined to the trunk,
        # the shortest link to the hard network, then harden what lies on the way
        if len(gap):
            _, comp = csgraph.connected_components(m_up, directed=False)
            piece_comp = comp[aug.u]
            for c in np.unique(comp[node_any[gap]]):
                members = gap[comp[node_any[gap]] == c]
                pieces_c = np.flatnonzero((piece_comp == c) & existing[aug.parent_edge])
                edges_c = np.unique(aug.parent_edge[pieces_c])
                comp_geom = shapely.multilinestrings(graph.edge_geoms[edges_c])
                j = _old_nearest(tree, np.array([comp_geom]))[1][0]
                line = shapely.shortest_line(comp_geom, graph.edge_geoms[connected_edges[j]])
                start_pt = shapely.get_point(line, 0)
                cand = np.unique(np.concatenate([aug.u[pieces_c], aug.v[pieces_c]]))
                near = shapely.distance(shapely.points(aug.node_xy[cand]), start_pt)
                start = int(cand[np.argmin(near)])
                _, _, pred_c = shortest_from(m_up, np.array([start]), predecessors=True)
                assert pred_c is not None
                walks = harden_links(ids[members], pred_c, node_any[members])
                for i, (km, _, link) in zip(members, walks, strict=True):
                    harden_km[i] = km
                    add_link(link)
                    new_km[i] = new_link(ids[i], line)

    cost = harden_km * hr.harden_cost_wan_per_km + new_km * hr.new_road_cost_wan_per_km
    status = np.where(
        scope == "excluded",
        "excluded",
        np.where(
            scope == "below_threshold",
            "below_threshold",
            np.where(connected, "connected", "not_connected"),
        ),
    )
    admin_codes = villages["admin_village_code"].astype(str)
    out = gpd.GeoDataFrame(
        {
            "id": villages["id"].to_numpy(),
            "name": villages["name"].to_numpy(),
            "admin_village_code": admin_codes.to_numpy(),
            "township_code": _old_township_codes(dataset, admin_codes).to_numpy(),
            "households": villages["households"].to_numpy(),
            "population": villages["population"].to_numpy(),
            "scope": scope,
            "connected": connected,
            "status": status,
            "reason": reason.astype(str),
            "snap_dist_m": snap_any["dist_m"].to_numpy(),
            "trunk_dist_m": np.where(connected, trunk_dist, np.nan),
            "harden_km": harden_km,
            "new_km": new_km,
            "cost_wan": cost,
            "min_width_m": min_width,
            "width_ok": ~(min_width < hr.lane_width_min_m),
            "surface_unverified": unverified,
        },
        geometry=villages.geometry.to_numpy(),
        crs=villages.crs,
    )
    links = gpd.GeoDataFrame(
        pd.DataFrame(link_rows, columns=["village_id", "kind", "length_km", "road_ids"]),
        geometry=link_geoms if link_geoms else [],
        crs=graph.crs,
    ).to_crs(4326)
    rate = {"harden": hr.harden_cost_wan_per_km, "new": hr.new_road_cost_wan_per_km}
    links["cost_wan"] = links["length_km"] * links["kind"].map(rate).astype(float)
    for frame in (out, links):
        frame.attrs["settings_profile"] = settings.profile
        frame.attrs["dataset_hash"] = dataset.content_hash
        frame.attrs["metric_crs"] = graph.crs.to_string()
    return HardRoadResult(villages=out, links=links)


# --- the comparison ------------------------------------------------------------------------


def _assert_same(got: HardRoadResult, want: HardRoadResult) -> None:
    for name in ("villages", "links"):
        a, b = getattr(got, name), getattr(want, name)
        # exact values, dtypes and order; geometries as WKB (the same coordinates)
        pd.testing.assert_frame_equal(a.to_wkb(), b.to_wkb(), check_exact=True)
        assert_geodataframe_equal(a, b, check_crs=True)
        assert a.attrs == b.attrs


def _both(dataset: Dataset, settings: Settings) -> tuple[HardRoadResult, HardRoadResult]:
    """New and old on fresh graphs, each after the villages were snapped (as the bench)."""
    out = []
    for fn in (hard_road_access, _old_hard_road_access):
        graph = build_graph(dataset["roads"])
        snap(graph, dataset["natural_villages"].geometry, max_m=settings.network.snap_max_m)
        out.append(fn(dataset, graph, settings))
    return out[0], out[1]


def _islands(frames: dict[str, gpd.GeoDataFrame]) -> dict[str, gpd.GeoDataFrame]:
    """The province with its roads cut around a few blocks (road components not joined to
    the trunk, with villages on them), some roads planned and some 县道 of unknown surface."""
    roads = frames["roads"].to_crs(EPSG)
    x0, y0 = 310_000.0, 3_900_000.0
    blocks = [(30.5, 5.5, 35.5, 10.5), (60.5, 40.5, 64.5, 45.5), (10.5, 60.5, 12.5, 61.5)]
    cut = np.zeros(len(roads), dtype=bool)
    for a, b, c, d in blocks:
        ring = shapely.box(x0 + a * 1000, y0 + b * 1000, x0 + c * 1000, y0 + d * 1000).boundary
        cut |= roads.intersects(ring).to_numpy()
    roads = roads.loc[~cut].copy()
    rng = np.random.default_rng(5)
    pick = rng.random(len(roads))
    roads.loc[pick < 0.03, "status"] = "规划"
    county_road = (roads["road_class"] == "县道").to_numpy()
    roads.loc[county_road & (pick > 0.8), "surface"] = "未知"
    roads.loc[(~county_road) & (pick > 0.97), "surface"] = "未知"
    roads.loc[pick > 0.99, "width_m"] = np.nan
    # a band of mostly gravel village roads: long hardening paths over several roads
    x = roads.geometry.centroid.x.to_numpy() - x0
    band = (x > 40_000) & (x < 56_000) & (roads["road_class"] == "村道").to_numpy()
    roads.loc[band & (rng.random(len(roads)) < 0.6), "surface"] = "砂石"
    return {**frames, "roads": roads.to_crs(4326)}


@pytest.fixture(scope="module")
def province() -> dict[str, gpd.GeoDataFrame]:
    return synthetic_province(grid=80)


def test_demo_equals_the_previous_implementation(demo_dataset):
    got, want = _both(demo_dataset, load_settings())
    assert (want.villages["reason"] == "network_gap").any()
    _assert_same(got, want)


def test_tiny_county_equals_the_previous_implementation():
    dataset = Dataset.from_frames(tc.build(), name="tiny")
    got, want = _both(dataset, load_settings())
    assert set(want.villages["reason"]) >= {"only_unpaved", "network_gap", "no_road"}
    _assert_same(got, want)


def test_province_equals_the_previous_implementation(province):
    dataset = Dataset.from_frames(province, name="province")
    got, want = _both(dataset, load_settings())
    assert len(want.links) > 1000
    _assert_same(got, want)
    # a second run on the same graph (its snap memo filled) changes nothing either
    graph = build_graph(dataset["roads"])
    first = hard_road_access(dataset, graph, load_settings())
    _assert_same(hard_road_access(dataset, graph, load_settings()), first)


@pytest.mark.parametrize("assume_trunk_hard", [True, False])
def test_province_with_islands_equals_the_previous_implementation(province, assume_trunk_hard):
    dataset = Dataset.from_frames(_islands(province), name="islands")
    base = load_settings()
    settings = dataclasses.replace(
        base,
        hard_road=dataclasses.replace(base.hard_road, trunk_unknown_surface_hard=assume_trunk_hard),
    )
    got, want = _both(dataset, settings)
    reasons = want.villages["reason"].value_counts()
    assert reasons.get("network_gap", 0) > 10  # several cut-off components
    if assume_trunk_hard:
        assert want.villages["surface_unverified"].any()
    _assert_same(got, want)


def test_no_trunk_and_no_links_equal_the_previous_implementation():
    """No trunk at all (NaN new km, no link rows) and a county where every village is
    connected (an empty links table)."""
    frames = tc.build()
    roads = frames["roads"].copy()
    roads["road_class"] = "村道"
    for case in (
        {**frames, "roads": roads},
        {**frames, "natural_villages": frames["natural_villages"].iloc[:0]},
    ):
        dataset = Dataset.from_frames(case, name="case")
        got, want = _both(dataset, load_settings())
        _assert_same(got, want)


def test_group_sums_equal_each_group_summed():
    rng = np.random.default_rng(11)
    sizes = rng.integers(0, 20, 400)  # empty groups, short ones and pairwise-summed ones
    owner = np.repeat(np.arange(len(sizes)), sizes)
    values = rng.random(len(owner)) * rng.choice([1.0, 1e3, 1e6], len(owner))
    got = _group_sums(values, owner, len(sizes) + 3)
    want = [values[owner == k].sum() for k in range(len(sizes) + 3)]
    assert got.tolist() == want  # exactly: the same additions in the same order
