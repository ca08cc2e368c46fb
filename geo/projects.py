"""项目库: a candidate project for every open problem, costed and ranked; what-if of a selection.

:func:`project_library` turns the 问题清单 (:func:`geo.ledger.problem_items`) and the analysis
results behind it into one candidate project per problem item: what to build, how much
(km of road, a clinic and its doctors, a shop, a bus stop, km of pipe), the cost estimate
from the unit costs in :class:`geo.settings.ProjectSettings` (and the road costs of
:class:`geo.settings.HardRoadSettings`), the people it serves, and the ranking figure the
county uses: **people served per 10,000 yuan** (``people_per_wan``; 1 万元 = 10,000 yuan).

:func:`apply_projects` returns the dataset as it would be after a selection of projects is
built (roads resurfaced, new links, facilities and doctors added); the caller re-runs
:func:`geo.assessment.assess` on it and compares with :func:`review_plan`. Nothing is stored
and the input dataset is not changed: a person accepts a plan, not this function.

Water: a pipe extension to an off-network village is built in the what-if (a DN
``pipe_diameter_mm`` branch from the nearest junction, whose elevation the new junction
takes); the 24 h hydraulics then say whether the village gets enough pressure. Boosters,
source works and reconnecting a network without a source are costed and ranked but not
simulated (``what_if`` false): they need an engineer's pump curve or source data.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.plan import compare_kpis
from layers.dataset import Dataset

if TYPE_CHECKING:
    from geo.assessment import Assessment
    from geo.water import WaterResult

__all__ = [
    "PROJECT_COLUMNS",
    "PROJECT_KIND_ZH",
    "PlanReview",
    "apply_projects",
    "project_library",
    "review_plan",
]

logger = logging.getLogger(__name__)

PROJECT_COLUMNS: tuple[str, ...] = (
    "project_id",
    "item_key",
    "indicator",
    "kind",
    "kind_zh",
    "township_code",
    "township_name",
    "admin_village_code",
    "admin_village_name",
    "village_code",
    "village_name",
    "quantity",
    "unit_zh",
    "unit_cost_wan",
    "cost_wan",
    "people",
    "people_per_wan",
    "rank",
    "what_if",
    "content",
)
"""Columns of the project library (plus ``geometry``, EPSG:4326).

``project_id`` ``P-`` + the item key; ``item_key`` the ledger item the project closes;
``kind`` (:data:`PROJECT_KIND_ZH`); ``quantity`` in ``unit_zh`` (公里/处/人);
``unit_cost_wan`` and ``cost_wan`` 万元; ``people`` served (the problem's population);
``people_per_wan`` = people / cost_wan; ``rank`` 1 = most people per 万元 (ties by
fewer cost, then key); ``what_if`` whether :func:`apply_projects` can build it;
``content`` 建设内容 in Chinese.
"""

PROJECT_KIND_ZH: dict[str, str] = {
    "road_harden": "道路硬化",
    "road_new": "新建硬化连接路",
    "road_mixed": "道路硬化及新建连接路",
    "road_verify": "路面核实（必要时硬化）",
    "facility": "新建便民设施",
    "clinic": "新建村卫生室",
    "doctor": "配备村医",
    "health_centre": "新建乡镇卫生院",
    "pipe": "延伸供水管网",
    "booster": "增设加压设施",
    "source": "扩建水源",
}
"""Chinese name of each project kind."""


def _frame(rows: list[dict], crs: object = 4326) -> gpd.GeoDataFrame:
    cols = [c for c in PROJECT_COLUMNS if c not in {"rank", "people_per_wan"}]
    if not rows:
        return gpd.GeoDataFrame(
            pd.DataFrame(columns=[*cols, "geometry"]), geometry="geometry", crs=crs
        )
    return gpd.GeoDataFrame(pd.DataFrame(rows), geometry="geometry", crs=crs)


def _where(item: pd.Series) -> dict[str, object]:
    return {
        "item_key": item["key"],
        "indicator": item["indicator"],
        "township_code": item["township_code"],
        "township_name": item["township_name"],
        "admin_village_code": item["admin_village_code"],
        "admin_village_name": item["admin_village_name"],
        "village_code": item["village_code"],
        "village_name": item["village_name"],
        "people": float(item["population"]) if pd.notna(item["population"]) else np.nan,
    }


def _point(item: pd.Series) -> shapely.Geometry:
    if pd.isna(item["lon"]) or pd.isna(item["lat"]):
        return None
    return shapely.Point(float(item["lon"]), float(item["lat"]))


def _km(x: float) -> str:
    return f"{x:.2f}" if x < 1 else f"{x:.1f}"


def _road_projects(items: pd.DataFrame, a: Assessment) -> list[dict]:
    hr = a.settings.hard_road
    v = a.hard_road.villages.set_index("id")
    links = a.hard_road.links
    geoms = links.groupby("village_id").geometry.agg(lambda g: shapely.union_all(g.to_numpy()))
    rows = []
    for _, it in items.iterrows():
        vid = it["unit_code"]
        if vid not in v.index:
            continue
        h = float(np.nan_to_num(v.at[vid, "harden_km"]))
        n = float(np.nan_to_num(v.at[vid, "new_km"]))
        if it["cause"] == "unverified_surface":
            kind = "road_verify"
        elif h > 0 and n > 0:
            kind = "road_mixed"
        else:
            kind = "road_new" if n > 0 else "road_harden"
        cost = h * hr.harden_cost_wan_per_km + n * hr.new_road_cost_wan_per_km
        parts = []
        if h > 0:
            parts.append(f"硬化现有道路 {_km(h)} 公里")
        if n > 0:
            parts.append(f"新建硬化连接路 {_km(n)} 公里")
        parts.append(f"路面宽度不低于 {hr.lane_width_min_m:g} 米")
        rows.append(
            {
                **_where(it),
                "kind": kind,
                "quantity": h + n,
                "unit_zh": "公里",
                "unit_cost_wan": cost / (h + n) if h + n > 0 else np.nan,
                "cost_wan": cost,
                "what_if": vid in geoms.index,
                "content": "，".join(parts),
                "geometry": geoms.get(vid, _point(it)),
            }
        )
    return rows


def _facility_projects(items: pd.DataFrame, a: Assessment) -> list[dict]:
    costs = a.settings.projects.facility_cost_wan
    rows = []
    for _, it in items.iterrows():
        kind = str(it["cause"]).removeprefix("missing:")
        cost = float(costs.get(kind, np.nan))
        rows.append(
            {
                **_where(it),
                "kind": "facility",
                "facility_kind": kind,
                "quantity": 1.0,
                "unit_zh": "处",
                "unit_cost_wan": cost,
                "cost_wan": cost,
                "what_if": True,
                "content": f"在{it['village_name']}步行范围内新设{kind} 1 处",
                "geometry": _point(it),
            }
        )
    return rows


def _clinic_projects(items: pd.DataFrame, a: Assessment) -> list[dict]:
    ps = a.settings.projects
    av = a.clinics.admin_villages.set_index("code")
    rows = []
    for _, it in items.iterrows():
        where = _where(it)
        if it["unit_kind"] == "township":
            people = float(
                pd.to_numeric(
                    av.loc[av["township_code"] == it["unit_code"], "population"], errors="coerce"
                ).sum()
            )
            rows.append(
                {
                    **where,
                    "people": people,
                    "kind": "health_centre",
                    "quantity": 1.0,
                    "unit_zh": "处",
                    "unit_cost_wan": ps.health_centre_build_wan,
                    "cost_wan": ps.health_centre_build_wan,
                    "what_if": True,
                    "content": f"新建{it['township_name']}卫生院 1 处，配备执业（助理）医师"
                    f" {ps.health_centre_doctors} 名",
                    "geometry": _point(it),
                }
            )
            continue
        code = it["unit_code"]
        need = max(int(av.at[code, "doctors_required"]), 1) if code in av.index else 1
        have = int(av.at[code, "doctors"]) if code in av.index else 0
        doctors = max(need - have, 1)
        if it["cause"] == "no_clinic":
            cost = ps.clinic_build_wan + doctors * ps.doctor_post_wan
            rows.append(
                {
                    **where,
                    "kind": "clinic",
                    "quantity": 1.0,
                    "unit_zh": "处",
                    "unit_cost_wan": cost,
                    "cost_wan": cost,
                    "doctors_added": doctors,
                    "what_if": True,
                    "content": f"新建标准化村卫生室 1 处，配备村医 {doctors} 名",
                    "geometry": _point(it),
                }
            )
        else:
            rows.append(
                {
                    **where,
                    "kind": "doctor",
                    "quantity": float(doctors),
                    "unit_zh": "人",
                    "unit_cost_wan": ps.doctor_post_wan,
                    "cost_wan": doctors * ps.doctor_post_wan,
                    "doctors_added": doctors,
                    "what_if": True,
                    "content": f"为村卫生室配备合格村医 {doctors} 名",
                    "geometry": _point(it),
                }
            )
    return rows


def _nearest_junctions(
    items: pd.DataFrame, water: WaterResult | None
) -> tuple[np.ndarray, np.ndarray]:
    """Nearest junction with a source (name, metres) to each item's point; '' / NaN if none."""
    n = len(items)
    names, dist = np.full(n, "", dtype=object), np.full(n, np.nan)
    if water is None or n == 0:
        return names, dist
    nodes = water.nodes
    ok = (nodes["node_type"] == "Junction") & ~nodes["disconnected"].astype(bool)
    nodes = nodes.loc[ok]
    pts = gpd.GeoSeries(gpd.points_from_xy(items["lon"], items["lat"]), crs=4326)
    has = pts.notna() & ~pts.is_empty & items["lon"].notna().to_numpy()
    if nodes.empty or not has.any():
        return names, dist
    metric = nodes.estimate_utm_crs()
    tree = shapely.STRtree(nodes.geometry.to_crs(metric).to_numpy())
    (qi, ti), d = tree.query_nearest(
        pts[has].to_crs(metric).to_numpy(), return_distance=True, all_matches=False
    )
    rows = np.flatnonzero(has.to_numpy())[qi]
    names[rows] = nodes["name"].astype(str).to_numpy()[ti]
    dist[rows] = d
    return names, dist


def _water_projects(items: pd.DataFrame, water: WaterResult | None, ps: object) -> list[dict]:
    junction, metres = _nearest_junctions(items, water)
    rows = []
    for k, (_, it) in enumerate(items.iterrows()):
        cause = it["cause"]
        where = _where(it)
        if cause in {"off_network", "disconnected"}:
            d = metres[k]
            km = max(d / 1000, ps.pipe_min_km) if np.isfinite(d) else np.nan
            what = "延伸供水管网" if cause == "off_network" else "连通管网至有水源的片区"
            rows.append(
                {
                    **where,
                    "kind": "pipe",
                    "quantity": km,
                    "unit_zh": "公里",
                    "unit_cost_wan": ps.pipe_cost_wan_per_km,
                    "cost_wan": km * ps.pipe_cost_wan_per_km,
                    "what_if": cause == "off_network" and bool(junction[k]),
                    "connect_to": junction[k],
                    "content": f"{what} {_km(km)} 公里并入户"
                    + (f"（自节点 {junction[k]} 接出）" if junction[k] else ""),
                    "geometry": _point(it),
                }
            )
        else:
            kind, cost, text = (
                ("booster", ps.booster_cost_wan, "增设加压泵站或高位水池 1 处")
                if cause == "low_pressure"
                else ("source", ps.source_cost_wan, "扩建水源或从相邻管网调水")
            )
            rows.append(
                {
                    **where,
                    "kind": kind,
                    "quantity": 1.0,
                    "unit_zh": "处",
                    "unit_cost_wan": cost,
                    "cost_wan": cost,
                    "what_if": False,
                    "content": text,
                    "geometry": _point(it),
                }
            )
    return rows


def project_library(
    items: pd.DataFrame,
    assessment: Assessment,
    *,
    water: WaterResult | None = None,
    open_keys: Iterable[str] | None = None,
) -> gpd.GeoDataFrame:
    """Return one candidate project per problem item, costed and ranked.

    通硬化路, 一刻钟, 医疗 and 供水 items are built here (quantities from the analyses);
    the items of every other indicator of the assessment's table by that indicator's
    ``projects`` (:func:`geo.indicators.table.generic_projects` for the seed indicators:
    the item's measure and its cost from ``settings.projects``, not simulated). Items of an
    indicator whose table entry has no ``projects`` make none.

    Parameters
    ----------
    items : DataFrame
        Problem items (:func:`geo.ledger.problem_items`) of ``assessment`` (and of
        ``water`` for ``water:`` items).
    assessment : Assessment
        The assessment the items came from (quantities and unit costs).
    water : WaterResult, optional
        The water coverage the ``water:`` items came from (pipe lengths); default the
        assessment's own (:attr:`Assessment.water`).
    open_keys : iterable of str, optional
        Only items with these keys (e.g. the ledger's items that are not 已销号/豁免).

    Returns
    -------
    GeoDataFrame
        Columns :data:`PROJECT_COLUMNS` plus ``facility_kind`` (生活圈 projects),
        ``doctors_added`` (clinic/doctor projects), ``connect_to`` (pipe projects: the
        nearest junction with a source, where the branch starts; the length is the straight
        distance to it) and ``geometry`` (EPSG:4326: the missing road links, or the
        problem's point), sorted by ``rank``.
    """
    if open_keys is not None:
        items = items.loc[items["key"].isin(set(open_keys))]
    by = {k: g for k, g in items.groupby("indicator")}
    if water is None and assessment.water is not None:
        water = assessment.water.result
    builders: dict[str, Callable[[pd.DataFrame, Assessment], list[dict]]] = {
        "hard_road": _road_projects,
        "services": _facility_projects,
        "clinics": _clinic_projects,
        "water": lambda it, a: _water_projects(it, water, a.settings.projects),
    }
    if assessment.table is not None:  # the table says how each indicator's items are built
        for ind in assessment.table:
            if ind.code not in builders and ind.projects is not None:
                builders[ind.code] = ind.projects
            elif ind.projects is None:
                builders.pop(ind.code, None)
    rows: list[dict] = []
    for code, group in by.items():
        if code in builders:
            rows += builders[code](group, assessment)
    out = _frame(rows)
    for col, default in (("facility_kind", ""), ("doctors_added", 0), ("connect_to", "")):
        if col not in out.columns:
            out[col] = default
    out["facility_kind"] = out["facility_kind"].fillna("").astype(str)
    out["connect_to"] = out["connect_to"].fillna("").astype(str)
    out["doctors_added"] = pd.to_numeric(out["doctors_added"]).fillna(0).astype(int)
    out["project_id"] = "P-" + out["item_key"].astype(str)
    kind_zh = dict(PROJECT_KIND_ZH)
    if assessment.table is not None:  # other indicators' projects: by their group (教育项目 …)
        from geo.indicators.table import GROUP_ZH

        for ind in assessment.table:
            kind_zh.setdefault(ind.code, f"{GROUP_ZH.get(ind.group, ind.group)}项目")
    out["kind_zh"] = out["kind"].map(kind_zh).fillna(out["kind"])
    cost = pd.to_numeric(out["cost_wan"], errors="coerce").astype(float)
    people = pd.to_numeric(out["people"], errors="coerce").astype(float)
    out["cost_wan"], out["people"] = cost, people
    out["quantity"] = pd.to_numeric(out["quantity"], errors="coerce").astype(float)
    out["unit_cost_wan"] = pd.to_numeric(out["unit_cost_wan"], errors="coerce").astype(float)
    out["what_if"] = out["what_if"].astype(bool)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(cost > 0, people / cost, np.where(people > 0, np.inf, 0.0))
    out["people_per_wan"] = ratio
    out = out.sort_values(
        ["people_per_wan", "cost_wan", "item_key"], ascending=[False, True, True], kind="stable"
    ).reset_index(drop=True)
    out["rank"] = np.arange(1, len(out) + 1)
    extra = ["facility_kind", "doctors_added", "connect_to"]
    out = out[[*PROJECT_COLUMNS, *extra, "geometry"]]
    logger.info("project library: %d projects, %.0f 万元 in all", len(out), float(np.nansum(cost)))
    return out


def _new_id(base: str, taken: set[str]) -> str:
    new, k = base, 1
    while new in taken:
        k += 1
        new = f"{base}-{k}"
    taken.add(new)
    return new


def _join_ends(roads: gpd.GeoDataFrame, lines: np.ndarray) -> gpd.GeoDataFrame:
    """Insert each new line's end points as vertices of the roads they touch.

    A new link usually ends mid-segment on an existing road; the graph joins roads only
    at shared vertices (:func:`geo.network.build_graph`), so the touched road gets the end
    point as a vertex (a T-junction), exactly the coordinates of the link's end.
    """
    ends = shapely.points(
        np.vstack([shapely.get_coordinates(shapely.get_point(lines, i)) for i in (0, -1)])
    )
    metric = roads.estimate_utm_crs()
    geoms = roads.geometry.to_numpy().copy()
    m_roads = roads.geometry.to_crs(metric).to_numpy()
    m_ends = gpd.GeoSeries(ends, crs=roads.crs).to_crs(metric).to_numpy()
    tree = shapely.STRtree(m_roads)
    (qi, ti), dist = tree.query_nearest(m_ends, return_distance=True, all_matches=False)
    for e, r in zip(qi[dist < 0.5], ti[dist < 0.5], strict=True):
        xy = shapely.get_coordinates(geoms[r])
        p = shapely.get_coordinates(ends[e])[0]
        if np.any(np.all(np.isclose(xy, p, rtol=0, atol=1e-12), axis=1)):
            continue
        seg = shapely.linestrings(np.stack([xy[:-1], xy[1:]], axis=1))
        k = int(np.argmin(shapely.distance(seg, ends[e])))
        geoms[r] = shapely.LineString(np.vstack([xy[: k + 1], p, xy[k + 1 :]]))
    return roads.set_geometry(gpd.GeoSeries(geoms, index=roads.index, crs=roads.crs))


def _extend_pipes(
    dataset: Dataset, pipes_in: gpd.GeoDataFrame, settings: object
) -> dict[str, gpd.GeoDataFrame]:
    """Add a junction at each village, a branch to it from ``connect_to``; link the village."""
    nodes, pipes = dataset["water_nodes"], dataset["water_pipes"]
    villages = dataset["natural_villages"].copy()
    metric = villages.estimate_utm_crs()
    junctions = nodes.set_index(nodes["name"].astype(str))
    pipes_in = pipes_in.loc[pipes_in["connect_to"].isin(set(junctions.index))]
    j_xy = junctions.geometry.to_crs(metric)
    by_id = villages.set_index("id")
    v_xy = by_id.geometry.to_crs(metric).representative_point()
    taken_n, taken_p = set(nodes["name"].astype(str)), set(pipes["name"].astype(str))
    new_nodes, new_pipes, lines = [], [], []
    for vid, j, project in zip(
        pipes_in["village_code"], pipes_in["connect_to"], pipes_in["project_id"], strict=True
    ):
        if vid not in v_xy.index:
            continue
        pt, jrow = v_xy[vid], junctions.loc[j]
        name = _new_id(f"XM-{vid}", taken_n)
        line = shapely.LineString([j_xy[j], pt])
        new_nodes.append(
            {
                "name": name,
                "node_type": "Junction",
                "elevation_m": float(jrow["elevation_m"]),
                "source": f"项目库 {project}",
                "geometry": pt,
            }
        )
        new_pipes.append(
            {
                "name": _new_id(f"XM-P-{vid}", taken_p),
                "start_node_name": j,
                "end_node_name": name,
                "length_m": max(float(line.length), 1.0),
                "diameter_mm": settings.projects.pipe_diameter_mm,
                "roughness": 140.0,
                "status": "现状",
                "source": f"项目库 {project}",
            }
        )
        lines.append(line)
        villages.loc[villages["id"] == vid, "water_node"] = name
    add_n = gpd.GeoDataFrame(new_nodes, geometry="geometry", crs=metric).to_crs(nodes.crs)
    add_p = gpd.GeoDataFrame(new_pipes, geometry=lines, crs=metric).to_crs(pipes.crs)
    return {
        "water_nodes": gpd.GeoDataFrame(
            pd.concat([nodes, add_n], ignore_index=True), crs=nodes.crs
        ),
        "water_pipes": gpd.GeoDataFrame(
            pd.concat([pipes, add_p], ignore_index=True), crs=pipes.crs
        ),
        "natural_villages": villages,
    }


def _largest_village(dataset: Dataset, *, admin_code: str = "", township: str = ""):
    nv = dataset["natural_villages"]
    if admin_code:
        sel = nv.loc[nv["admin_village_code"] == admin_code]
    else:
        sel = nv.loc[nv["admin_village_code"].astype(str).str[:9] == township]
    if sel.empty:
        return None
    row = sel.loc[pd.to_numeric(sel["households"], errors="coerce").fillna(0).idxmax()]
    return row.geometry.representative_point()


def apply_projects(dataset: Dataset, projects: gpd.GeoDataFrame, assessment: Assessment) -> Dataset:
    """Return ``dataset`` as it would be once ``projects`` are built (a what-if).

    - road projects: every road on the village's hardening path gets surface 水泥 (and at
      least the single-lane width); each new link becomes a 水泥 村道;
    - 生活圈 projects: a new service point of the kind at the relocation site;
    - 卫生室: a new 卫生室 with its doctors at the admin village's largest natural village;
      村医: doctors added to the village's clinic; 卫生院: a new one at the township's largest
      natural village.

    New and changed features get ``source = "项目库 <project_id>"`` and status 现状 (the
    scenario is the built state). Projects with ``what_if`` false (water) are skipped.

    Parameters
    ----------
    dataset : Dataset
        The dataset the projects were derived from (not modified).
    projects : GeoDataFrame
        Rows of :func:`project_library` (any subset).
    assessment : Assessment
        The assessment of ``dataset`` (missing links).

    Returns
    -------
    Dataset
        A new, re-validated dataset.
    """
    hr = assessment.settings.hard_road
    chosen = projects.loc[projects["what_if"].astype(bool)]
    changes: dict[str, gpd.GeoDataFrame] = {}
    roads_in = chosen.loc[chosen["indicator"] == "hard_road"]
    if len(roads_in):
        roads = dataset["roads"].copy()
        links = assessment.hard_road.links
        links = links.loc[links["village_id"].isin(set(roads_in["village_code"]))]
        pid = dict(zip(roads_in["village_code"], roads_in["project_id"], strict=True))
        harden = links.loc[links["kind"] == "harden"]
        for vid, ids in zip(harden["village_id"], harden["road_ids"], strict=True):
            sel = roads["id"].astype(str).isin([r for r in str(ids).split(";") if r])
            roads.loc[sel, "surface"] = "水泥"
            roads.loc[sel, "width_m"] = roads.loc[sel, "width_m"].clip(lower=hr.lane_width_min_m)
            roads.loc[sel, "source"] = f"项目库 {pid[vid]}"
        new = links.loc[links["kind"] == "new"].to_crs(roads.crs)
        if len(new):
            roads = _join_ends(roads, new.geometry.to_numpy())
            taken = set(roads["id"].astype(str))
            add = gpd.GeoDataFrame(
                {
                    "id": [_new_id(f"XM-{v}", taken) for v in new["village_id"]],
                    "name": "",
                    "road_class": "村道",
                    "surface": "水泥",
                    "width_m": max(hr.lane_width_min_m, 4.5),
                    "status": "现状",
                    "source": [f"项目库 {pid[v]}" for v in new["village_id"]],
                },
                geometry=new.geometry.to_numpy(),
                crs=roads.crs,
            )
            roads = gpd.GeoDataFrame(pd.concat([roads, add], ignore_index=True), crs=roads.crs)
        changes["roads"] = roads
    fac_in = chosen.loc[chosen["kind"] == "facility"]
    if len(fac_in):
        sp = dataset["service_points"]
        taken = set(sp["id"].astype(str))
        sites = dataset["relocation_sites"].set_index("id")
        pts = [
            sites.geometry[v].representative_point() if v in sites.index else g
            for v, g in zip(fac_in["village_code"], fac_in.geometry, strict=True)
        ]
        add = gpd.GeoDataFrame(
            {
                "id": [_new_id(f"XM-{p}", taken) for p in fac_in["project_id"]],
                "name": (fac_in["village_name"] + fac_in["facility_kind"]).to_numpy(),
                "kind": fac_in["facility_kind"].to_numpy(),
                "status": "现状",
                "source": ("项目库 " + fac_in["project_id"]).to_numpy(),
            },
            geometry=gpd.GeoSeries(pts, crs=4326).to_crs(sp.crs).to_numpy(),
            crs=sp.crs,
        )
        changes["service_points"] = gpd.GeoDataFrame(
            pd.concat([sp, add], ignore_index=True), crs=sp.crs
        )
    cl_in = chosen.loc[chosen["indicator"] == "clinics"]
    if len(cl_in):
        clinics = dataset["clinics"].copy()
        taken = set(clinics["id"].astype(str))
        rows, geoms = [], []
        for p in cl_in.itertuples():
            if p.kind == "doctor":
                sel = np.flatnonzero(
                    (
                        (clinics["admin_village_code"] == p.admin_village_code)
                        & (clinics["kind"] == "卫生室")
                        & (clinics["status"] == "现状")
                    ).to_numpy()
                )
                if len(sel):
                    i = clinics.index[sel[0]]
                    clinics.loc[i, "doctors"] = int(clinics.at[i, "doctors"]) + int(p.doctors_added)
                    clinics.loc[i, "source"] = f"项目库 {p.project_id}"
                continue
            centre = p.kind == "health_centre"
            where = (
                _largest_village(dataset, township=p.township_code)
                if centre
                else _largest_village(dataset, admin_code=p.admin_village_code)
            )
            if where is None:
                continue
            name = f"{p.township_name}卫生院" if centre else f"{p.admin_village_name}卫生室"
            rows.append(
                {
                    "id": _new_id(f"XM-{p.project_id}", taken),
                    "name": name,
                    "kind": "卫生院" if centre else "卫生室",
                    "admin_village_code": "" if centre else p.admin_village_code,
                    "township_code": p.township_code,
                    "doctors": assessment.settings.projects.health_centre_doctors
                    if centre
                    else int(p.doctors_added),
                    "serves_codes": "",
                    "status": "现状",
                    "source": f"项目库 {p.project_id}",
                }
            )
            geoms.append(where)
        if rows:
            add = gpd.GeoDataFrame(rows, geometry=geoms, crs=dataset["natural_villages"].crs)
            clinics = gpd.GeoDataFrame(
                pd.concat([clinics, add.to_crs(clinics.crs)], ignore_index=True), crs=clinics.crs
            )
        changes["clinics"] = clinics
    pipes_in = chosen.loc[chosen["kind"] == "pipe"]
    if len(pipes_in) and "water_nodes" in dataset and "water_pipes" in dataset:
        changes.update(_extend_pipes(dataset, pipes_in, assessment.settings))
    logger.info("what-if: %d projects applied to %s", len(chosen), sorted(changes))
    return dataset.replace_layers(**changes) if changes else dataset


@dataclass(frozen=True)
class PlanReview:
    """Before/after of a plan (:func:`review_plan`).

    Attributes
    ----------
    kpis : DataFrame
        :func:`geo.plan.compare_kpis` of the county KPIs (:attr:`Assessment.county_kpis`:
        one row per indicator of the table, then the water diagnostics).
    closed : DataFrame
        Items of the current 问题清单 that the plan would close (no longer found).
    remaining : DataFrame
        Items still found after the plan, as they are then (the problem may have changed,
        e.g. a village newly on the network but short of pressure).
    new : DataFrame
        Items the plan would create (found after, not before): should be empty.
    """

    kpis: pd.DataFrame
    closed: pd.DataFrame
    remaining: pd.DataFrame
    new: pd.DataFrame


def _kpis(a: Assessment, water: WaterResult | None) -> pd.DataFrame:
    """County KPI rows of ``a`` (:attr:`Assessment.county_kpis`), water rows from ``water``."""
    county = a.county_kpis
    if water is None:
        return county
    w = water.county.drop_duplicates("indicator").set_index("indicator")
    same = county["indicator"].isin(w.index).to_numpy()
    out = county.astype({"met": object}).copy()
    out.loc[same, "value"] = out.loc[same, "indicator"].map(w["value"]).to_numpy()
    out.loc[same, "met"] = out.loc[same, "indicator"].map(w["met"]).to_numpy()
    extra = water.county.loc[~water.county["indicator"].isin(set(county["indicator"]))]
    return pd.concat([out, extra], ignore_index=True)


def review_plan(
    before: Assessment,
    after: Assessment,
    before_items: pd.DataFrame,
    after_items: pd.DataFrame,
    *,
    water_before: WaterResult | None = None,
    water_after: WaterResult | None = None,
) -> PlanReview:
    """Compare the current state with a plan's: KPIs, and the problem items it closes.

    Parameters
    ----------
    before, after : Assessment
        Assessments of the current dataset and of the plan's (:func:`apply_projects`, or
        :func:`geo.plan.as_built` of a draft plan).
    before_items, after_items : DataFrame
        Their problem items (same indicators on both sides).
    water_before, water_after : WaterResult, optional
        Water coverage of both datasets (default: the assessments' own): their KPIs
        (农村自来水普及率 …) replace the assessments' own water rows.

    Returns
    -------
    PlanReview
    """
    kb, ka = set(before_items["key"]), set(after_items["key"])
    kpis = compare_kpis(_kpis(before, water_before), _kpis(after, water_after))
    return PlanReview(
        kpis=kpis,
        closed=before_items.loc[~before_items["key"].isin(ka)].reset_index(drop=True),
        remaining=after_items.loc[after_items["key"].isin(kb)].reset_index(drop=True),
        new=after_items.loc[~after_items["key"].isin(kb)].reset_index(drop=True),
    )
