"""Facility siting: where k new facilities of a kind bring the most people within the limit.

The maximal covering location problem (MCLP; Church & ReVelle 1974): demand points *i* with
weights *w_i* (people), candidate sites *j*, coverage *a_ij* = 1 when the network travel time
from *j* to *i* is within the limit. Choose *k* sites to maximise the people covered, counting
only people not already covered by an existing facility of the kind.

Two solvers on one :class:`CoverageProblem`:

- :func:`greedy_cover` — add the site with the largest marginal gain, *k* times (vectorised:
  one sparse matrix–vector product a step). Guaranteed within a factor 1 − 1/e ≈ 0.632 of the
  optimum (Nemhauser, Wolsey & Fisher 1978); in practice far closer, and the gap is measured.
- :func:`exact_cover` — the MCLP as a mixed-integer programme solved by HiGHS through
  :func:`scipy.optimize.milp`; proven optimal within the solver's tolerance, or stopped at a
  time limit with the bound reported.

:func:`coverage_problem` builds the coverage matrix from the road graph (the same snapping and
travel times as the access analyses); :func:`site_facilities` runs it for one kind on a
dataset: 卫生室 (villagers, on foot, ``clinic_max_time_min``) or a 生活圈 kind (relocation sites,
on foot, the kind's limit).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import csgraph

from geo.network import RoadGraph, shortest_from, travel_matrix
from geo.settings import Settings
from layers.dataset import Dataset
from layers.errors import LayerError

__all__ = [
    "SITING_KINDS",
    "CoverSolution",
    "CoverageProblem",
    "SitingResult",
    "coverage_problem",
    "exact_cover",
    "greedy_cover",
    "site_facilities",
]

logger = logging.getLogger(__name__)

SITING_KINDS = ("卫生室", "综合超市", "便利菜店", "药店", "公交站点")
"""Facility kinds :func:`site_facilities` can place."""

_CHUNK = 256  # Dijkstra sources per batch: bounds the dense cost block to 256 × nodes


@dataclass(frozen=True)
class CoverageProblem:
    """A maximal covering instance.

    Attributes
    ----------
    weight : ndarray, shape (n_demand,)
        People at each demand point (≥ 0).
    cover : scipy.sparse.csr_array, shape (n_demand, n_candidates), bool
        ``cover[i, j]`` — candidate ``j`` reaches demand ``i`` within the limit.
    covered_before : ndarray of bool, shape (n_demand,)
        Demand already covered by an existing facility (counts for nobody's gain).
    minutes : scipy.sparse.csr_array, optional
        Travel minutes of each covering pair (same pattern as ``cover``), for reports.
    """

    weight: np.ndarray
    cover: sparse.csr_array
    covered_before: np.ndarray
    minutes: sparse.csr_array | None = None

    def __post_init__(self) -> None:
        n = len(self.weight)
        if self.cover.shape[0] != n or len(self.covered_before) != n:
            raise ValueError(
                f"weight ({n}), cover rows ({self.cover.shape[0]}) and covered_before "
                f"({len(self.covered_before)}) must have one entry per demand point"
            )
        if np.any(~np.isfinite(self.weight)) or np.any(self.weight < 0):
            raise ValueError("demand weights must be finite and non-negative")

    @property
    def n_candidates(self) -> int:
        """Number of candidate sites."""
        return int(self.cover.shape[1])

    def covered_by(self, chosen: np.ndarray) -> np.ndarray:
        """Boolean mask of demand covered by existing facilities or the ``chosen`` sites."""
        chosen = np.asarray(chosen, dtype=np.int64)
        if len(chosen) == 0:
            return self.covered_before.copy()
        hit = np.asarray(self.cover[:, chosen].sum(axis=1)).ravel() > 0
        return self.covered_before | hit

    def gain(self, chosen: np.ndarray) -> float:
        """People newly covered by the ``chosen`` sites."""
        newly = self.covered_by(chosen) & ~self.covered_before
        return float(self.weight[newly].sum())


@dataclass(frozen=True)
class CoverSolution:
    """Sites chosen by a solver.

    Attributes
    ----------
    chosen : ndarray of int
        Candidate indices, in the order chosen (greedy) or by marginal gain (exact: the
        optimal set ordered greedily; sites that add nobody are left out).
    gain : float
        People newly covered.
    step_gain : ndarray
        Marginal people of each chosen site, added in the listed order.
    method : str
        ``"greedy"`` or ``"exact"``.
    optimal : bool
        Proven optimal (exact, solver finished), or not known (greedy, time limit).
    bound : float
        Upper bound on the optimum gain (exact: the solver's dual bound; greedy: the
        ``gain / (1 − 1/e)`` guarantee, capped by the coverable people).
    seconds : float
        Solver wall time.
    """

    chosen: np.ndarray
    gain: float
    step_gain: np.ndarray
    method: str
    optimal: bool
    bound: float
    seconds: float


def _open_demand(problem: CoverageProblem) -> tuple[np.ndarray, sparse.csr_array]:
    """Uncovered demand that some candidate reaches, and the matrix restricted to it."""
    reach = np.asarray(problem.cover.sum(axis=1)).ravel() > 0
    rows = np.flatnonzero(reach & ~problem.covered_before & (problem.weight > 0))
    return rows, sparse.csr_array(problem.cover[rows].astype(np.float64))


def _steps(problem: CoverageProblem, order: np.ndarray) -> np.ndarray:
    covered = problem.covered_before.copy()
    out = []
    for j in order:
        col = problem.cover[:, [int(j)]].toarray().ravel().astype(bool)
        new = col & ~covered
        out.append(float(problem.weight[new].sum()))
        covered |= col
    return np.asarray(out, dtype=float)


def _by_gain(problem: CoverageProblem, chosen: np.ndarray) -> np.ndarray:
    """Order a set of sites by marginal gain (largest first) and drop sites adding nobody."""
    sub = CoverageProblem(
        weight=problem.weight,
        cover=sparse.csr_array(problem.cover[:, np.asarray(chosen, dtype=np.int64)]),
        covered_before=problem.covered_before,
    )
    order = greedy_cover(sub, k=len(chosen)).chosen
    return np.asarray(chosen, dtype=np.int64)[order]


def greedy_cover(problem: CoverageProblem, *, k: int) -> CoverSolution:
    """Choose ``k`` sites greedily by marginal people covered.

    Stops early when no candidate adds anyone. Ties go to the lowest candidate index, so
    the result is deterministic.

    Parameters
    ----------
    problem : CoverageProblem
    k : int
        Number of new facilities (≥ 0).

    Returns
    -------
    CoverSolution
    """
    if k < 0:
        raise ValueError(f"k must be ≥ 0, got {k}")
    t0 = time.perf_counter()
    rows, a = _open_demand(problem)
    a_t = sparse.csr_array(a.T)
    a_t.sort_indices()
    w = problem.weight[rows].astype(float)
    open_w = w.copy()
    chosen: list[int] = []
    gains: list[float] = []
    for _ in range(min(k, problem.n_candidates)):
        score = a_t @ open_w
        if chosen:
            score[chosen] = -1.0
        j = int(np.argmax(score))
        if score[j] <= 0:
            break
        chosen.append(j)
        gains.append(float(score[j]))
        open_w[a_t.indices[a_t.indptr[j] : a_t.indptr[j + 1]]] = 0.0
    gain = float(sum(gains))
    coverable = float(w.sum())
    return CoverSolution(
        chosen=np.asarray(chosen, dtype=np.int64),
        gain=gain,
        step_gain=np.asarray(gains, dtype=float),
        method="greedy",
        optimal=False,
        bound=min(coverable, gain / (1.0 - 1.0 / np.e)),
        seconds=time.perf_counter() - t0,
    )


def exact_cover(
    problem: CoverageProblem, *, k: int, time_limit_s: float = 60.0, mip_rel_gap: float = 0.0
) -> CoverSolution:
    """Solve the maximal covering problem exactly (HiGHS MILP through SciPy).

    Model: binary ``x_j`` (open site j), continuous ``0 ≤ y_i ≤ 1`` (demand i covered);
    maximise ``Σ w_i y_i`` subject to ``y_i ≤ Σ_j a_ij x_j`` and ``Σ x_j ≤ k``. At an
    optimum ``y`` is integral, so it needs no integrality constraint. Only demand not yet
    covered and reachable by some candidate enters the model.

    Parameters
    ----------
    problem : CoverageProblem
    k : int
        Number of new facilities (≥ 0).
    time_limit_s : float
        Solver time limit; on hitting it the best solution found is returned with
        ``optimal=False`` and the solver's bound.
    mip_rel_gap : float
        Relative optimality gap at which HiGHS may stop (0 = prove optimality).

    Returns
    -------
    CoverSolution

    Raises
    ------
    RuntimeError
        If the solver finds no feasible solution (cannot happen for a valid instance).
    """
    if k < 0:
        raise ValueError(f"k must be ≥ 0, got {k}")
    t0 = time.perf_counter()
    rows, a = _open_demand(problem)
    n_i = len(rows)
    w = problem.weight[rows].astype(float)
    if n_i == 0 or k == 0:
        return CoverSolution(np.zeros(0, dtype=np.int64), 0.0, np.zeros(0), "exact", True, 0.0, 0.0)
    # only candidates that reach some open demand can matter
    useful = np.flatnonzero(np.asarray(a.sum(axis=0)).ravel() > 0)
    a = sparse.csr_array(a[:, useful])
    n_u = len(useful)
    # a tiny cost per opened site: among equal covers, open no site that adds nobody
    eps = 1e-6 * float(w[w > 0].min()) / max(k, 1)
    c = np.concatenate([np.full(n_u, eps), -w])
    # y_i - Σ_j a_ij x_j ≤ 0
    cover_rows = sparse.hstack([-a, sparse.eye_array(n_i)], format="csr")
    budget = sparse.hstack(
        [sparse.csr_array(np.ones((1, n_u))), sparse.csr_array((1, n_i))], format="csr"
    )
    constraints = [
        LinearConstraint(cover_rows, -np.inf, 0.0),
        LinearConstraint(budget, 0.0, float(min(k, n_u))),
    ]
    integrality = np.concatenate([np.ones(n_u), np.zeros(n_i)])
    res = milp(
        c,
        constraints=constraints,
        integrality=integrality,
        bounds=Bounds(0.0, 1.0),
        options={"time_limit": float(time_limit_s), "mip_rel_gap": float(mip_rel_gap)},
    )
    if res.x is None:
        raise RuntimeError(f"HiGHS found no solution for the covering problem: {res.message}")
    chosen = _by_gain(problem, useful[np.flatnonzero(res.x[:n_u] > 0.5)])
    gain = problem.gain(chosen)
    bound = -float(getattr(res, "mip_dual_bound", -gain) or -gain)
    optimal = res.status == 0
    return CoverSolution(
        chosen=chosen,
        gain=gain,
        step_gain=_steps(problem, chosen),
        method="exact",
        optimal=bool(optimal),
        bound=max(bound, gain),
        seconds=time.perf_counter() - t0,
    )


def coverage_problem(
    graph: RoadGraph,
    settings: Settings,
    *,
    demand: gpd.GeoSeries,
    weight: np.ndarray,
    candidates: gpd.GeoSeries,
    existing: gpd.GeoSeries,
    limit_min: float,
    mode: str = "walk",
) -> CoverageProblem:
    """Build the coverage matrix from network travel times on the road graph.

    Every feature is snapped to the nearest 现状 road within ``settings.network.snap_max_m``
    and joined to it by a walking access leg, as in the access analyses; a feature with no
    road within reach covers, and is covered by, nothing (except itself: a candidate at a
    demand point's own location covers it when the limit allows).

    Parameters
    ----------
    graph : RoadGraph
    settings : Settings
    demand : GeoSeries
        Demand points (any CRS).
    weight : ndarray
        People at each demand point.
    candidates : GeoSeries
        Candidate sites (any CRS).
    existing : GeoSeries
        Existing facilities of the kind (may be empty).
    limit_min : float
        Travel-time limit (minutes).
    mode : str
        ``"walk"`` or ``"drive"``.

    Returns
    -------
    CoverageProblem
    """
    n_d, n_c, n_e = len(demand), len(candidates), len(existing)
    crs = demand.crs
    geoms = gpd.GeoSeries(
        pd.concat(
            [demand.to_crs(crs), candidates.to_crs(crs), existing.to_crs(crs)], ignore_index=True
        ),
        crs=crs,
    )
    matrix, node = travel_matrix(graph, geoms, mode=mode, settings=settings.network)
    d_node, c_node, e_node = node[:n_d], node[n_d : n_d + n_c], node[n_d + n_c :]
    rows, cols, vals = [], [], []
    # Dijkstra from the smaller side (the graph is undirected)
    from_demand = n_d <= n_c
    src_nodes, dst_nodes = (d_node, c_node) if from_demand else (c_node, d_node)
    dst_ok = dst_nodes >= 0
    for start in range(0, len(src_nodes), _CHUNK):
        block = src_nodes[start : start + _CHUNK]
        ok = np.flatnonzero(block >= 0)
        if len(ok) == 0:
            continue
        cost = csgraph.dijkstra(matrix, directed=False, indices=block[ok], limit=limit_min)
        sub = np.full((len(ok), len(dst_nodes)), np.inf)
        sub[:, dst_ok] = cost[:, dst_nodes[dst_ok]]
        r, c = np.nonzero(sub <= limit_min)
        rows.append(start + ok[r])
        cols.append(c)
        vals.append(sub[r, c])
    r = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
    c = np.concatenate(cols) if cols else np.zeros(0, dtype=np.int64)
    v = np.concatenate(vals) if vals else np.zeros(0)
    if not from_demand:
        r, c = c, r
    v = np.maximum(v, 1e-9)  # keep zero-minute pairs (a candidate on the demand point)
    minutes = sparse.csr_array((v, (r, c)), shape=(n_d, n_c))
    cover = sparse.csr_array((np.ones(len(r), dtype=bool), (r, c)), shape=(n_d, n_c))
    if n_e:
        cost, _, _ = shortest_from(matrix, e_node, limit=limit_min)
        before = np.where(d_node >= 0, cost[np.maximum(d_node, 0)], np.inf) <= limit_min
    else:
        before = np.zeros(n_d, dtype=bool)
    return CoverageProblem(
        weight=np.nan_to_num(np.asarray(weight, dtype=float), nan=0.0).clip(min=0.0),
        cover=cover,
        covered_before=before,
        minutes=minutes,
    )


@dataclass(frozen=True)
class SitingResult:
    """Result of :func:`site_facilities` (frames in EPSG:4326).

    Attributes
    ----------
    kind : str
        The facility kind.
    limit_min : float
        Travel-time limit used.
    sites : GeoDataFrame
        The chosen sites, in order: ``rank``, ``candidate_id``, ``name``,
        ``admin_village_code``, ``township_code``, ``people_added`` (marginal),
        ``people_cumulative``, ``demand_ids`` (demand points it newly covers, ``;``-joined).
    demand : GeoDataFrame
        Demand points: ``id``, ``name``, ``population``, ``covered_before``,
        ``covered_after``, ``site_id`` (the chosen site that newly covers it, else ``""``).
    solution : CoverSolution
        The solver's answer.
    people_total, people_before, people_after : float
        All demand, covered by existing facilities, covered after the new sites.
    """

    kind: str
    limit_min: float
    sites: gpd.GeoDataFrame
    demand: gpd.GeoDataFrame
    solution: CoverSolution
    people_total: float
    people_before: float
    people_after: float
    notes: tuple[str, ...] = field(default=())


def _demand_for(dataset: Dataset, kind: str, settings: Settings) -> gpd.GeoDataFrame:
    nv = dataset["natural_villages"]
    if kind == "卫生室" or settings.services.include_villages:
        frame = nv[["id", "name", "admin_village_code", "geometry"]].assign(
            population=_population(nv, settings)
        )
        if kind == "卫生室":
            return frame.reset_index(drop=True)
    else:
        frame = None
    sites = dataset["relocation_sites"]
    sites = sites[["id", "name", "admin_village_code", "population", "geometry"]]
    if frame is None:
        return sites.reset_index(drop=True)
    return gpd.GeoDataFrame(pd.concat([sites, frame], ignore_index=True), crs=nv.crs)


def _population(frame: pd.DataFrame, settings: Settings) -> np.ndarray:
    pop = pd.to_numeric(frame.get("population"), errors="coerce")
    hh = pd.to_numeric(frame["households"], errors="coerce") * settings.water.persons_per_household
    return pop.fillna(hh).fillna(0.0).to_numpy(dtype=float)


def _default_candidates(dataset: Dataset) -> gpd.GeoDataFrame:
    """Natural villages and relocation sites: where a new facility would usually go."""
    nv = dataset["natural_villages"][["id", "name", "admin_village_code", "geometry"]]
    rs = dataset["relocation_sites"][["id", "name", "admin_village_code", "geometry"]]
    out = gpd.GeoDataFrame(pd.concat([rs, nv], ignore_index=True), crs=nv.crs)
    out["geometry"] = out.geometry.representative_point()
    return out


def site_facilities(
    dataset: Dataset,
    graph: RoadGraph,
    settings: Settings,
    *,
    kind: str,
    k: int,
    candidates: gpd.GeoDataFrame | None = None,
    method: str = "auto",
    time_limit_s: float = 30.0,
) -> SitingResult:
    """Choose ``k`` locations for new facilities of ``kind`` (maximal covering).

    Demand: for 卫生室, natural villages (常住人口, else households × persons per household),
    reached on foot or by the clinic travel mode within ``clinic_max_time_min``; for a 生活圈
    kind, relocation sites (and natural villages if ``services.include_villages``), on foot
    within the kind's limit. Existing 现状 facilities of the kind cover demand already.

    Parameters
    ----------
    dataset : Dataset
    graph : RoadGraph
        The road graph of ``dataset``.
    settings : Settings
    kind : str
        One of :data:`SITING_KINDS`.
    k : int
        Number of new facilities.
    candidates : GeoDataFrame, optional
        Candidate locations with ``id`` and ``name`` (any CRS; polygons use an interior
        point). Default: every relocation site and natural village.
    method : str
        ``"greedy"``, ``"exact"`` or ``"auto"`` (exact, falling back to the greedy answer if
        the solver stops at ``time_limit_s`` with a worse one).
    time_limit_s : float
        Time limit for the exact solver.

    Returns
    -------
    SitingResult

    Raises
    ------
    LayerError
        For an unknown kind or candidates without ``id``.
    """
    if kind not in SITING_KINDS:
        raise LayerError(
            f"siting kind must be one of {SITING_KINDS}, got {kind!r}",
            zh=f"选址设施类别应为 {'、'.join(SITING_KINDS)} 之一，收到「{kind}」",
        )
    if method not in {"greedy", "exact", "auto"}:
        raise ValueError(f"method must be 'greedy', 'exact' or 'auto', got {method!r}")
    if kind == "卫生室":
        limit = settings.clinics.clinic_max_time_min
        mode = settings.clinics.clinic_travel_mode
        fac = dataset["clinics"]
    else:
        limit = settings.services.limit_min(kind)
        mode = "walk"
        fac = dataset["service_points"]
    existing = fac.loc[(fac["kind"] == kind) & (fac["status"] == "现状")]
    demand = _demand_for(dataset, kind, settings)
    if candidates is None:
        cand = _default_candidates(dataset)
    else:
        if "id" not in candidates.columns:
            raise LayerError(
                "candidate locations need an 'id' column",
                zh="候选点图层缺少「id」（编号）字段，请为每个候选点填写唯一编号",
            )
        cand = candidates.copy()
        for col in ("name", "admin_village_code"):
            if col not in cand.columns:
                cand[col] = ""
        cand["geometry"] = cand.geometry.representative_point()
    problem = coverage_problem(
        graph,
        settings,
        demand=demand.geometry,
        weight=demand["population"].to_numpy(dtype=float),
        candidates=cand.geometry,
        existing=existing.geometry,
        limit_min=limit,
        mode=mode,
    )
    notes: list[str] = []
    if method == "greedy":
        sol = greedy_cover(problem, k=k)
    else:
        sol = exact_cover(problem, k=k, time_limit_s=time_limit_s)
        if method == "auto" and not sol.optimal:
            greedy = greedy_cover(problem, k=k)
            notes.append(f"exact solver stopped at {time_limit_s:g} s (bound {sol.bound:.0f})")
            if greedy.gain > sol.gain:
                sol = greedy
    return _result(dataset, kind, limit, problem, sol, demand, cand, notes)


def _result(
    dataset: Dataset,
    kind: str,
    limit: float,
    problem: CoverageProblem,
    sol: CoverSolution,
    demand: gpd.GeoDataFrame,
    cand: gpd.GeoDataFrame,
    notes: list[str],
) -> SitingResult:
    av = dataset["admin_villages"].set_index("code")["township_code"]
    covered = problem.covered_before.copy()
    site_of = np.full(len(demand), "", dtype=object)
    demand_ids = []
    cids = cand["id"].astype(str).to_numpy()
    for j in sol.chosen:
        col = problem.cover[:, [int(j)]].toarray().ravel().astype(bool)
        new = col & ~covered
        site_of[new] = cids[j]
        demand_ids.append(";".join(demand["id"].astype(str).to_numpy()[new]))
        covered |= col
    chosen = cand.iloc[sol.chosen]
    sites = gpd.GeoDataFrame(
        {
            "rank": np.arange(1, len(sol.chosen) + 1),
            "candidate_id": chosen["id"].astype(str).to_numpy(),
            "name": chosen["name"].fillna("").astype(str).to_numpy(),
            "admin_village_code": chosen["admin_village_code"].fillna("").astype(str).to_numpy(),
            "people_added": sol.step_gain,
            "people_cumulative": np.cumsum(sol.step_gain),
            "demand_ids": demand_ids,
        },
        geometry=chosen.geometry.to_numpy(),
        crs=cand.crs,
    )
    tw = sites["admin_village_code"].map(av)
    sites["township_code"] = np.where(tw.notna(), tw.astype(object), "").astype(str)
    d = gpd.GeoDataFrame(
        {
            "id": demand["id"].astype(str).to_numpy(),
            "name": demand["name"].astype(str).to_numpy(),
            "population": problem.weight,
            "covered_before": problem.covered_before,
            "covered_after": covered,
            "site_id": site_of.astype(str),
        },
        geometry=demand.geometry.representative_point().to_numpy(),
        crs=demand.crs,
    )
    total = float(problem.weight.sum())
    before = float(problem.weight[problem.covered_before].sum())
    after = float(problem.weight[covered].sum())
    logger.info(
        "siting %s: k=%d %s gain %.0f (%.0f → %.0f of %.0f people) in %.2f s",
        kind,
        len(sol.chosen),
        sol.method,
        sol.gain,
        before,
        after,
        total,
        sol.seconds,
    )
    return SitingResult(
        kind=kind,
        limit_min=float(limit),
        sites=sites.to_crs(4326),
        demand=d.to_crs(4326),
        solution=sol,
        people_total=total,
        people_before=before,
        people_after=after,
        notes=tuple(notes),
    )
