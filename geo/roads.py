"""20户以上自然村通硬化路: does each natural village reach the trunk on hard roads.

Rules (``../shared/STANDARDS.md`` §1, thresholds in :class:`geo.settings.HardRoadSettings`):

- In scope: natural villages with ≥ ``households_min`` households that meet the building
  conditions. Villages planned for relocation (``relocation_planned``, or an admin village
  classed 搬迁撤并) are **excluded** with their reason; smaller villages are reported as
  ``below_threshold`` (their connection is still computed), never dropped.
- "通" = the village snaps (nearest point on the nearest edge, ≤ ``snap_max_m``) onto a
  hard-surfaced (``hard_surfaces``) existing road joined to a trunk-class hard road
  (``trunk_classes``) by an unbroken chain of hard roads.
- Not connected, with a reason:
  ``only_unpaved``: a road chain exists but part of it is gravel/earth (or of unknown
  surface among them); ``unverified_surface``: the only non-hard part is of unknown surface
  (未知, e.g. untagged OSM ways) — to verify on site before paving anything; the missing
  link is the cheapest set of unpaved edges to harden (Dijkstra over all existing roads,
  hard edges free, unpaved edges costing their length).
  ``network_gap``: the village's roads are not joined to the trunk network at all; the
  missing link is the shortest straight connection from that road component to a
  hard road joined to the trunk, plus any unpaved edges between the village and it.
  ``no_road``: no road within ``snap_max_m``; the missing link is the straight line to
  the nearest hard road joined to the trunk (terrain-aware routing replaces the
  straight line when a DEM is used).
- Trunk-class roads of unknown surface count as hard when ``trunk_unknown_surface_hard``
  is on (the default: OSM leaves the surface of 国道/省道/县道 untagged); a village
  connected only thanks to one keeps status ``connected`` with reason
  ``unverified_surface`` (路面待核实) and ``surface_unverified`` True.
- Width: the narrowest road on the connecting path vs ``lane_width_min_m``, reported in
  its own column, never as "not connected".
- Cost: hardening km × ``harden_cost_wan_per_km`` + new km × ``new_road_cost_wan_per_km``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, fields

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import sparse
from scipy.sparse import csgraph

from geo.network import (
    AugmentedGraph,
    RoadGraph,
    nearest_edges,
    shortest_from,
    snap,
    snap_to_subset,
)
from geo.settings import Settings
from layers.dataset import Dataset

__all__ = ["HardRoadResult", "hard_road_access", "trunk_joined_hard_edges"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class HardRoadResult:
    """Result of :func:`hard_road_access`.

    Attributes
    ----------
    villages : GeoDataFrame
        One row per natural village (EPSG:4326, village points), columns:
        ``id``, ``name``, ``admin_village_code``, ``township_code``, ``households``,
        ``population``; ``scope`` (``target``/``below_threshold``/``excluded``);
        ``connected`` (bool, computed for every village); ``status``
        (``connected``/``not_connected``/``below_threshold``/``excluded``); ``reason``
        (``only_unpaved``/``unverified_surface``/``network_gap``/``no_road``/
        ``relocation_planned`` or empty);
        ``snap_dist_m`` (distance to the nearest existing road); ``trunk_dist_m`` (hard
        network distance to the trunk, NaN if not connected); ``harden_km`` and
        ``new_km`` (the missing link); ``cost_wan`` (万元); ``min_width_m`` (narrowest
        road on the hard path) and ``width_ok``; ``surface_unverified`` (connected only
        through trunk roads of unknown surface counted as hard: 路面待核实).
    links : GeoDataFrame
        The missing links (EPSG:4326 lines): ``village_id``, ``kind`` (``harden`` or
        ``new``), ``length_km``, ``cost_wan``, ``road_ids``.
    """

    villages: gpd.GeoDataFrame
    links: gpd.GeoDataFrame


def _township_codes(dataset: Dataset, admin_codes: pd.Series) -> pd.Series:
    if "admin_villages" in dataset:
        av = dataset["admin_villages"].set_index("code")["township_code"]
        mapped = admin_codes.map(av)
        return mapped.fillna(admin_codes.str[:9])
    return admin_codes.str[:9]


def _piece_lookup(aug: AugmentedGraph, keep: np.ndarray, weights: np.ndarray):
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


def _path_min(pred: np.ndarray, value_at: np.ndarray) -> np.ndarray:
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


def _path_steps(pred: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, ...]:
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


def _joined_to(graph: RoadGraph, mask: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """Edges in ``mask`` whose connected component (over ``mask`` edges) holds a seed edge."""
    u = graph.edges["u"].to_numpy()[mask]
    v = graph.edges["v"].to_numpy()[mask]
    n = graph.n_nodes
    adj = sparse.coo_array((np.ones(len(u)), (u, v)), shape=(n, n)).tocsr()
    _, comp = csgraph.connected_components(adj, directed=False)
    seed_nodes = graph.edges["u"].to_numpy()[seeds & mask]
    joined = np.isin(comp, np.unique(comp[seed_nodes]))
    return mask & joined[graph.edges["u"].to_numpy()]


def hard_edges(graph: RoadGraph, settings: Settings) -> tuple[np.ndarray, np.ndarray]:
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


def trunk_joined_hard_edges(graph: RoadGraph, settings: Settings) -> np.ndarray:
    """Mask of existing hard-surfaced edges joined to the trunk network by hard roads.

    These are the roads a village must reach to count as 通硬化路 (and where a new link
    may end).
    """
    hard, _ = hard_edges(graph, settings)
    trunk = hard & graph.edge_mask(classes=settings.hard_road.trunk_classes)
    return hard & _joined_to(graph, hard, trunk)


def _group_sums(values: np.ndarray, owner: np.ndarray, n_groups: int) -> np.ndarray:
    """``values[owner == k].sum()`` for every ``k``, bit for bit, all groups at once.

    ``owner`` is sorted. ``ndarray.sum`` adds fewer than 8 values one after the other
    from 0.0 (numpy's pairwise summation starts at 8 values), so the groups of fewer than
    8 are summed column by column of a padded table, the same additions in the same order;
    ``np.add.reduceat`` would not do (it starts from a group's first value). The rare
    longer groups are summed by ``ndarray.sum`` itself.
    """
    out = np.zeros(n_groups)
    if not len(owner):
        return out
    bounds = np.searchsorted(owner, np.arange(n_groups + 1))
    size = np.diff(bounds)
    short = np.flatnonzero((size > 0) & (size < 8))
    if len(short):
        for j in range(int(size[short].max())):  # at most 7 columns
            has = size[short] > j
            out[short[has]] += values[bounds[short[has]] + j]
    for k in np.flatnonzero(size >= 8):
        out[k] = values[bounds[k] : bounds[k + 1]].sum()
    return out


@dataclass(frozen=True)
class _Links:
    """Missing links, one per row, in the order of the links table."""

    village: np.ndarray  # the village's row in the villages frame
    kind: np.ndarray  # "harden" or "new" (object array)
    length_km: np.ndarray
    road_ids: np.ndarray  # object array of text
    geometry: np.ndarray  # shapely geometries, metric CRS

    @classmethod
    def new(cls, village: np.ndarray, lines: np.ndarray, km: np.ndarray) -> _Links:
        """Straight new links (no road ids)."""
        blank = np.full(len(village), "", dtype=object)
        return cls(village, np.full(len(village), "new", dtype=object), km, blank, lines)

    @classmethod
    def concat(cls, parts: list[_Links]) -> _Links:
        return cls(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)))

    def take(self, rows: np.ndarray) -> _Links:
        return _Links(*(getattr(self, f.name)[rows] for f in fields(self)))

    def frame(self, ids: np.ndarray, crs: object) -> gpd.GeoDataFrame:
        """Return the links table (``crs``).

        Columns ``village_id`` (``ids`` of the villages), ``kind``, ``length_km`` and
        ``road_ids``, and the geometry.
        """
        if not len(self.village):  # the columns of no rows (object dtype), as ever
            frame = pd.DataFrame([], columns=["village_id", "kind", "length_km", "road_ids"])
            return gpd.GeoDataFrame(frame, geometry=[], crs=crs)
        frame = pd.DataFrame(
            {
                "village_id": ids[self.village],
                "kind": self.kind,
                "length_km": self.length_km,
                "road_ids": self.road_ids,
            }
        )
        return gpd.GeoDataFrame(frame, geometry=self.geometry, crs=crs)


def _harden_links(
    graph: RoadGraph,
    aug: AugmentedGraph,
    pred: np.ndarray,
    starts: np.ndarray,
    villages: np.ndarray,
    *,
    lookup: Callable[[np.ndarray, np.ndarray], np.ndarray],
    hard_piece: np.ndarray,
    unknown_surface: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, _Links]:
    """Return the non-hard pieces of each start's path (``pred``) as its 'harden' link.

    Returns, per start: the km and whether every one of them is of unknown surface (未知:
    e.g. an untagged OSM way, which may well be paved — to verify, not to pave); then
    the positions (in ``starts``) of the starts whose path has a non-hard piece and their
    links (village ``villages[k]`` for start ``k``), in start order. A link is the
    multi-line of its path's edges in edge order; its road ids are those edges' roads in
    that order, each once.
    """
    owner, a, b = _path_steps(pred, starts)
    pcs = lookup(a, b)
    keep = (pcs >= 0) & ~hard_piece[np.maximum(pcs, 0)]
    owner, pcs = owner[keep], pcs[keep]
    n = len(starts)
    km = _group_sums(aug.length_m[pcs], owner, n) / 1000
    parent = aug.parent_edge[pcs]
    has = np.bincount(owner, minlength=n) > 0
    unknown = has & (np.bincount(owner[~unknown_surface[parent]], minlength=n) == 0)
    which = np.flatnonzero(has)
    # each path's distinct edges, by path then edge (np.unique sorts the pair keys)
    n_e = max(graph.n_edges, 1)
    pair = np.unique(owner.astype(np.int64) * n_e + parent)
    slot = np.searchsorted(which, pair // n_e)  # the link's position among the links
    edge = pair % n_e
    if not len(pair):
        none = np.zeros(0, dtype=object)
        return km, unknown, which, _Links(villages[which], none, km[which], none, none)
    geoms = shapely.multilinestrings(graph.edge_lines(edge), indices=slot)
    # the road ids (as text) of the edges on these paths only, not of every edge; one
    # road's edges once per link (the first), joined by ";" (object-array concatenation
    # within each link's run of ids)
    on_paths, edge_pos = np.unique(edge, return_inverse=True)
    path_ids = graph.edges["road_id"].iloc[on_paths].astype(str).to_numpy(dtype=object)
    ids = path_ids[edge_pos]
    again = pd.DataFrame({"slot": slot, "id": ids}).duplicated().to_numpy()
    slot, ids = slot[~again], ids[~again]
    first = np.ones(len(slot), dtype=bool)
    first[1:] = slot[1:] != slot[:-1]
    last = np.append(first[1:], True)
    road_ids = np.add.reduceat(np.where(last, ids, ids + ";"), np.flatnonzero(first))
    kind = np.full(len(which), "harden", dtype=object)
    return km, unknown, which, _Links(villages[which], kind, km[which], road_ids, geoms)


def _gap_links(
    graph: RoadGraph,
    aug: AugmentedGraph,
    m_up: sparse.csr_array,
    gap: np.ndarray,
    node_any: np.ndarray,
    *,
    connected: np.ndarray,
    existing: np.ndarray,
    harden: Callable[..., tuple[np.ndarray, np.ndarray, np.ndarray, _Links]],
) -> tuple[np.ndarray, np.ndarray, _Links]:
    """Links of the villages on roads not joined to the trunk (``gap``, their rows).

    Per road component (all existing roads), the shortest straight link from it to the
    hard network joined to the trunk, and the unpaved pieces on the cheapest-hardening
    path from each village to the component's node nearest to where that link starts.
    Returns each village's harden km and new km, and the links: by component, then
    village, a village's harden link (if any) before its new link.
    """
    n_comp, comp = csgraph.connected_components(m_up, directed=False)
    comps, rank_of = np.unique(comp[node_any[gap]], return_inverse=True)
    wanted = np.zeros(n_comp, dtype=bool)
    wanted[comps] = True
    # the existing pieces of these components, by component then piece
    pieces = np.flatnonzero(wanted[comp[aug.u]] & existing[aug.parent_edge])
    rank = np.searchsorted(comps, comp[aug.u[pieces]])
    by = np.argsort(rank, kind="stable")
    pieces, rank = pieces[by], rank[by]
    n_e = max(graph.n_edges, 1)
    pair = np.unique(rank.astype(np.int64) * n_e + aug.parent_edge[pieces])
    comp_geom = shapely.multilinestrings(graph.edge_lines(pair % n_e), indices=pair // n_e)
    qi, to, _ = nearest_edges(graph, comp_geom, edge_mask=connected)
    link_to = np.zeros(len(comps), dtype=np.int64)
    link_to[qi] = to
    line = shapely.shortest_line(comp_geom, graph.edge_lines(link_to))
    start_pt = shapely.get_point(line, 0)
    # each component's node nearest to where its link starts (the first one on a tie)
    n_n = aug.n_nodes
    cand = np.unique(np.concatenate([rank * n_n + aug.u[pieces], rank * n_n + aug.v[pieces]]))
    c_rank, c_node = cand // n_n, cand % n_n
    near = shapely.distance(shapely.points(aug.node_xy[c_node]), start_pt[c_rank])
    low = np.minimum.reduceat(near, np.searchsorted(c_rank, np.arange(len(comps))))
    best = np.flatnonzero(near == low[c_rank])
    start = c_node[best[np.searchsorted(c_rank[best], np.arange(len(comps)))]]
    # One search per component on its own nodes (in index order): the same heap
    # operations, so the same costs and paths, as a search of the whole graph from that
    # node (which reaches nothing else), without a whole-graph search per component.
    by_comp = np.argsort(comp, kind="stable")
    lo = np.searchsorted(comp[by_comp], comps, side="left")
    hi = np.searchsorted(comp[by_comp], comps, side="right")
    pred = np.full(n_n, -9999, dtype=np.int64)
    for k in range(len(comps)):  # a loop over components, not villages
        kept = by_comp[lo[k] : hi[k]]
        local = np.searchsorted(kept, start[k : k + 1])
        _, _, pred_c = shortest_from(m_up[kept][:, kept], local, predecessors=True)
        assert pred_c is not None
        pred[kept] = np.where(pred_c >= 0, kept[np.maximum(pred_c, 0)], -9999)
    order = np.argsort(rank_of, kind="stable")  # by component, then village row
    members = gap[order]
    km, _, which, hardened = harden(pred, node_any[members], members)
    lines = line[rank_of[order]]
    new_km = shapely.length(lines) / 1000
    out_harden, out_new = np.zeros(len(gap)), np.zeros(len(gap))
    out_harden[order], out_new[order] = km, new_km
    both = _Links.concat([hardened, _Links.new(members, lines, new_km)])
    seq = np.argsort(np.r_[2 * which, 2 * np.arange(len(members)) + 1], kind="stable")
    return out_harden, out_new, both.take(seq)


def hard_road_access(dataset: Dataset, graph: RoadGraph, settings: Settings) -> HardRoadResult:
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
    hard, assumed = hard_edges(graph, settings)
    trunk = hard & graph.edge_mask(classes=hr.trunk_classes)

    village_m = villages.geometry.to_crs(graph.crs)  # projected once for every snap below
    snap_any = snap(graph, village_m, max_m=net.snap_max_m, edge_mask=existing)
    # A village reaches the hard network through the nearest hard road that is itself
    # joined to the trunk: a closer hard spur cut off from it must not hide that road.
    # (trunk_joined_hard_edges, from the masks made above)
    joined_hard = hard & _joined_to(graph, hard, trunk)
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

    # narrowest road on each village's hard path to the trunk, and whether the path is
    # all of known hard surface (路面待核实 otherwise)
    lookup_hard = _piece_lookup(aug, hard_piece & existing[aug.parent_edge], length)
    width = graph.edges["width_m"].to_numpy(dtype=float)
    node_width = np.full(aug.n_nodes, np.inf)
    node_sure = np.ones(aug.n_nodes)
    has_pred = np.flatnonzero(pred_hard >= 0)
    pieces = lookup_hard(has_pred, pred_hard[has_pred])
    found = pieces >= 0
    parents = aug.parent_edge[pieces]
    node_width[has_pred] = np.where(found, width[parents], np.inf)
    node_sure[has_pred] = np.where(found, ~assumed[parents], 1.0)
    path_width = _path_min(pred_hard, node_width)
    path_sure = _path_min(pred_hard, node_sure)
    at = np.maximum(node_hard, 0)
    min_width = np.where(connected, path_width[at], np.nan)
    snapped = snap_hard["edge"].to_numpy()
    on_assumed = (snapped >= 0) & assumed[np.maximum(snapped, 0)]
    sure_trunk = trunk_piece & ~assumed[aug.parent_edge]
    sure_nodes = np.zeros(aug.n_nodes, dtype=bool)
    sure_nodes[aug.u[sure_trunk]] = sure_nodes[aug.v[sure_trunk]] = True
    reached = src_hard[at]
    via_assumed_trunk = ~sure_nodes[np.maximum(reached, 0)]
    unverified = connected & ((path_sure[at] < 1) | on_assumed | via_assumed_trunk)
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
    parts: list[_Links] = []

    todo = np.flatnonzero(~connected & ~relocation)
    # upgrade: cheapest hardening over all existing roads (hard pieces ~free)
    unpaved_cost = np.where(hard_piece, 0.0, length)
    m_up = aug.matrix(unpaved_cost, mask=existing)
    cost_up, _, pred_up = shortest_from(m_up, trunk_nodes, predecessors=True)
    assert pred_up is not None
    lookup_any = _piece_lookup(aug, existing[aug.parent_edge], unpaved_cost)
    on_road = node_any >= 0
    up_cost = np.where(on_road, cost_up[np.maximum(node_any, 0)], np.inf)
    surface_codes, surface_values = graph._factorised("surface")
    unknown_surface = np.append(surface_values == "未知", False)[surface_codes]

    def harden(pred: np.ndarray, starts: np.ndarray, rows: np.ndarray):
        return _harden_links(
            graph,
            aug,
            pred,
            starts,
            rows,
            lookup=lookup_any,
            hard_piece=hard_piece,
            unknown_surface=unknown_surface,
        )

    ids = villages["id"].astype(str).to_numpy()
    # 1. only unpaved links: each village's cheapest-hardening path, all at once
    unpaved = todo[on_road[todo] & np.isfinite(up_cost[todo])]
    reason[unpaved] = "only_unpaved"
    km, unknown, _, links = harden(pred_up, node_any[unpaved], unpaved)
    harden_km[unpaved] = km
    reason[unpaved[unknown]] = "unverified_surface"
    parts.append(links)

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
        connected_mask = np.zeros(graph.n_edges, dtype=bool)
        connected_mask[connected_edges] = True
        # 2. no road within the snap distance: a straight new link to the hard network
        if len(no_road):
            village_xy = village_m.to_numpy()[no_road]
            qi, to, _ = nearest_edges(graph, village_xy, edge_mask=connected_mask)
            lines = shapely.shortest_line(village_xy[qi], graph.edge_lines(to))
            km = shapely.length(lines) / 1000
            new_km[no_road[qi]] = km
            parts.append(_Links.new(no_road[qi], lines, km))
        # 3. network gaps: per road component (all existing roads) not joined to the trunk,
        # the shortest link to the hard network, then harden what lies on the way
        if len(gap):
            gap_harden, gap_new, gap_parts = _gap_links(
                graph,
                aug,
                m_up,
                gap,
                node_any,
                connected=connected_mask,
                existing=existing,
                harden=harden,
            )
            harden_km[gap], new_km[gap] = gap_harden, gap_new
            parts.append(gap_parts)

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
            "township_code": _township_codes(dataset, admin_codes).to_numpy(),
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
    links = _Links.concat(parts).frame(ids, graph.crs).to_crs(4326)
    rate = {"harden": hr.harden_cost_wan_per_km, "new": hr.new_road_cost_wan_per_km}
    links["cost_wan"] = links["length_km"] * links["kind"].map(rate).astype(float)
    for frame in (out, links):
        frame.attrs["settings_profile"] = settings.profile
        frame.attrs["dataset_hash"] = dataset.content_hash
        frame.attrs["metric_crs"] = graph.crs.to_string()
    logger.info(
        "hard roads: %d villages, %d in scope, %d not connected",
        n,
        int((scope == "target").sum()),
        int((status == "not_connected").sum()),
    )
    return HardRoadResult(villages=out, links=links)
