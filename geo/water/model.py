"""The water model: built from the GIS layers or read from the user's ``.inp``; what-if edits.

- **GIS build.** ``water_sources`` (reservoirs), ``water_nodes`` (junctions and tanks) and
  ``water_pipes`` (existing, ``status = 现状``) through WNTR's GIS conversion
  (:func:`wntr.network.from_gis`), in the CGCS2000 GK zone of the data; the linked villages'
  demand is put on their junctions with the rural diurnal pattern.
- **The user's model** (:class:`layers.epanet.InpModel`, on :attr:`Dataset.water_model`)
  runs as given: pumps, valves, controls, rules, patterns, curves, demands and options
  kept. What GapMap changes is listed in :attr:`WaterModel.changes`: the simulated
  duration (one day), water quality off, and the demand of villages linked later.
- **Links.** A natural village is supplied by the junction named in the model's village →
  node table or its ``water_node`` field; otherwise by the nearest junction within
  ``snap_max_m`` (never by a reservoir, tank or the suction node of a pump). A schematic
  model (no real coordinates) links only by name.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from geo.crs import metric_crs
from geo.settings import Settings, WaterSettings
from geo.water.checks import (
    WaterProblemKind,
    _flag,
    _graph_problems,
    _problem,
    _summarise,
    _valid_id,
    _value_problems,
)
from layers.dataset import Dataset
from layers.epanet import InpModel, extent_problems, model_problem
from layers.errors import NetworkError, Problem, Severity

if TYPE_CHECKING:
    import wntr  # imported where used: it takes seconds and most runs have no water

__all__ = ["ModelLayers", "WaterModel", "build_water_model", "model_layers", "with_changes"]

logger = logging.getLogger(__name__)

PATTERN_NAME = "gapmap_rural"
"""Name of the diurnal demand pattern GapMap adds to a model."""

DEMAND_CATEGORY = "gapmap_villages"
"""Demand category of the village demands GapMap puts on junctions."""

_PANDAS4 = getattr(pd.errors, "Pandas4Warning", FutureWarning)


@dataclass(frozen=True, eq=False)
class WaterModel:
    """A built water network, ready to run.

    Attributes
    ----------
    wn : wntr.network.WaterNetworkModel
        The full model (SI units; coordinates in :attr:`crs`). Treat it as read-only:
        :func:`with_changes` and :func:`run_hydraulics` work on copies.
    village_nodes : DataFrame
        One row per natural village, in layer order: ``id``, ``node`` (junction name or
        ``""``), ``link`` (``explicit`` from the ``water_node`` field, ``nearest`` within
        ``snap_max_m``, ``none``), ``snap_dist_m`` (village to its junction, metres),
        ``persons`` (see ``WaterSettings.demand_basis``), ``demand_lps`` (mean daily
        demand, L/s), ``demand_added`` (GapMap put this demand on the junction; False when
        an ``.inp``'s own demands cover the village or it is off the network),
        ``x_m``/``y_m`` (village position in ``attrs["metric_crs"]``). ``attrs`` also holds
        ``snap_max_m``.
    problems : tuple of Problem
        Network problems found before the solver (``kind`` a :class:`WaterProblemKind`).
        Errors stop :func:`run_hydraulics`; warnings do not.
    disconnected_nodes : frozenset of str
        Junctions with no path to any reservoir or tank.
    source : str
        ``"gis"``, or the file name of the user's ``.inp``.
    crs : str or None
        CRS of the coordinates in :attr:`wn` (metres for GIS builds); None for a
        schematic model (coordinates are a drawing: never mapped).
    source_capacity_m3d : mapping of str to float
        Capacity (m³/day) per reservoir name; NaN when unknown.
    changes : tuple of str
        What GapMap changed in the user's model, in Chinese (duration, quality, added
        patterns, demands, pipes, sources, tanks of a what-if). Empty for GIS builds.
    """

    wn: wntr.network.WaterNetworkModel
    village_nodes: pd.DataFrame
    problems: tuple[Problem, ...]
    disconnected_nodes: frozenset[str]
    source: str
    crs: str | None
    source_capacity_m3d: Mapping[str, float] = field(default_factory=dict)
    changes: tuple[str, ...] = ()

    @property
    def schematic(self) -> bool:
        """True when the model's coordinates are not a place (never drawn on a map)."""
        return self.crs is None

    @property
    def errors(self) -> tuple[Problem, ...]:
        """The problems that stop the hydraulic run."""
        return tuple(p for p in self.problems if p.severity is Severity.ERROR)


# ------------------------------------------------------------------------------ helpers


def _file_of(dataset: Dataset, layer: str) -> str:
    prov = dataset.provenance.get(layer, {})
    return str(prov.get("file", "")) if isinstance(prov, Mapping) else ""


def _pattern(ws: WaterSettings) -> np.ndarray:
    """Return the diurnal multipliers of the settings divided by their mean."""
    mult = np.asarray(ws.diurnal_pattern, dtype=float)
    if mult.size == 0 or not np.all(np.isfinite(mult)) or mult.min() < 0 or mult.mean() <= 0:
        raise ValueError("settings.water.diurnal_pattern needs non-negative finite multipliers")
    if 86400 % mult.size:
        raise ValueError(
            f"settings.water.diurnal_pattern has {mult.size} values; use a number that divides "
            "a day into whole seconds (24 hourly values)"
        )
    return mult / mult.mean()


def _pattern_for_step(mult: np.ndarray, step_s: int) -> np.ndarray:
    """Resample a one-day pattern of equal steps to ``step_s`` (mean over each step)."""
    step_s = max(int(step_s), 1)
    per_s = np.repeat(mult, 86400 // mult.size)
    n = math.ceil(86400 / step_s)
    return np.resize(per_s, n * step_s).reshape(n, step_s).mean(axis=1)


def _num(frame: pd.DataFrame, column: str, default: float = np.nan) -> np.ndarray:
    if column not in frame.columns:
        return np.full(len(frame), default, dtype=float)
    return pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)


def _columns(frame: gpd.GeoDataFrame, *names: str) -> gpd.GeoDataFrame:
    """Return ``frame`` with the text columns ``names`` (empty text where missing)."""
    missing = {n: "" for n in names if n not in frame.columns}
    return frame.assign(**missing) if missing else frame


@contextlib.contextmanager
def _quiet_wntr_gis() -> Iterator[None]:
    """Silence WNTR 1.5.0's known noise around ``from_gis``/``to_gis``, only inside the call.

    Under pandas 3.1 WNTR's GIS conversion uses pandas' deprecated ``inplace=`` (a
    ``Pandas4Warning``), and ``from_dict`` logs "Dictionary model missing key" for the
    model sections a set of GIS layers never has. Only that warning class and that log
    message are dropped.
    """

    class _Drop(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            return "Dictionary model missing key" not in record.getMessage()

    flt = _Drop()
    io_logger = logging.getLogger("wntr.network.io")
    io_logger.addFilter(flt)
    try:
        with warnings.catch_warnings():
            # WNTR 1.5.0 uses pandas' deprecated inplace= (Pandas4Warning under pandas 3.1)
            warnings.simplefilter("ignore", category=_PANDAS4)
            yield
    finally:
        io_logger.removeFilter(flt)


def _node_xy(wn: wntr.network.WaterNetworkModel, names: list[str]) -> np.ndarray:
    """Coordinates of the named nodes (NaN where a node has none)."""
    xy = np.full((len(names), 2), np.nan)
    for k, name in enumerate(names):
        c = wn.get_node(name).coordinates
        if c is not None and len(c) == 2:
            xy[k] = c
    return xy


def _transform_xy(xy: np.ndarray, src: str | CRS, dst: str | CRS) -> np.ndarray:
    """Transform an (n, 2) array between CRSs, keeping NaN rows."""
    if len(xy) == 0 or CRS.from_user_input(src) == CRS.from_user_input(dst):
        return xy.copy()
    out = np.full_like(xy, np.nan)
    ok = ~np.isnan(xy).any(axis=1)
    pts = gpd.GeoSeries(shapely.points(xy[ok]), crs=src).to_crs(dst)
    out[ok] = shapely.get_coordinates(pts.to_numpy())
    return out


# --------------------------------------------------------------------- GIS → model


def _gis_network(
    dataset: Dataset,
) -> tuple[dict[str, gpd.GeoDataFrame], list[Problem], CRS]:
    """Check the water layers; return the frames to build (metric CRS) and the problems."""
    if "water_nodes" not in dataset or "water_pipes" not in dataset:
        raise NetworkError(
            f"dataset {dataset.name!r} has no water network (layers water_nodes and "
            "water_pipes); add them or read an EPANET .inp file",
            zh="数据集中没有供水管网图层（water_nodes 供水节点、water_pipes 供水管道），"
            "请补充图层或导入 EPANET .inp 模型",
        )
    nodes = _columns(dataset["water_nodes"], "name", "node_type")
    sources = dataset.get("water_sources")
    if sources is None:
        sources = gpd.GeoDataFrame(geometry=[], crs=4326)
    sources = _columns(sources, "name")
    points = gpd.GeoSeries(
        pd.concat([nodes.geometry, sources.geometry], ignore_index=True), crs=nodes.crs
    )
    if len(points) == 0:
        raise NetworkError(
            "the water_nodes and water_sources layers are empty",
            zh="供水节点和水源图层都是空的，无法建立管网模型",
        )
    crs = metric_crs(points)
    f_nodes, f_src, f_pipes = (
        _file_of(dataset, n) for n in ("water_nodes", "water_sources", "water_pipes")
    )
    problems: list[Problem] = []

    # node names: unique across sources and nodes, legal EPANET IDs
    src = sources.assign(_row=np.arange(1, len(sources) + 1), name=sources["name"].astype(str))
    nod = nodes.assign(_row=np.arange(1, len(nodes) + 1), name=nodes["name"].astype(str))
    names = pd.concat([src["name"], nod["name"]], ignore_index=True)
    dup = names.duplicated(keep="first").to_numpy()
    bad = ~_valid_id(names) & ~dup
    n_src = len(src)
    for key, mask in (("dup_node", dup), ("bad_node_name", bad)):
        problems += _flag(
            key, mask[:n_src], src, layer="water_sources", file=f_src, field_name="name"
        )
        problems += _flag(
            key, mask[n_src:], nod, layer="water_nodes", file=f_nodes, field_name="name"
        )
    keep = ~(dup | bad)
    good_names = set(names[keep])
    src, nod = src.loc[keep[:n_src]], nod.loc[keep[n_src:]]

    # tanks: positive diameter, min ≤ init ≤ max, min < max
    tanks = nod.loc[nod["node_type"] == "Tank"]
    lo, init, hi, dia = (
        _num(tanks, c, 0.0)
        for c in ("min_level_m", "init_level_m", "max_level_m", "tank_diameter_m")
    )
    bad_tank = ~(dia > 0) | ~(lo <= init) | ~(init <= hi) | ~(lo < hi)
    problems += _flag(
        "bad_tank", bad_tank, tanks, layer="water_nodes", file=f_nodes,
        field_name="tank_diameter_m", dia=dia, lo=lo, init=init, hi=hi,
    )  # fmt: skip
    # WNTR refuses impossible levels: keep the (reported) tank with sorted placeholder levels
    levels = np.sort(np.nan_to_num(np.column_stack([lo, init, hi])), axis=1)
    nod.loc[tanks.index, ["min_level_m", "init_level_m", "max_level_m"]] = levels
    elev = _num(nod, "elevation_m")
    problems += _flag(
        "bad_elevation", ~np.isfinite(elev), nod, layer="water_nodes", file=f_nodes,
        field_name="elevation_m", value=elev, what="elevation", what_zh="高程",
    )  # fmt: skip
    head = _num(src, "head_m")
    problems += _flag(
        "bad_elevation", ~np.isfinite(head), src, layer="water_sources", file=f_src,
        field_name="head_m", value=head, what="total head", what_zh="总水头",
    )  # fmt: skip
    nod = nod.assign(elevation_m=np.nan_to_num(elev))
    src = src.assign(head_m=np.nan_to_num(head))

    # pipes: existing ones only; names, end nodes, positive sizes
    pipes = _columns(dataset["water_pipes"], "name", "start_node_name", "end_node_name")
    pipes = pipes.assign(_row=np.arange(1, len(pipes) + 1), name=pipes["name"].astype(str))
    if "status" in pipes.columns:
        pipes = pipes.loc[pipes["status"].fillna("现状").astype(str) != "规划"]
    start = pipes["start_node_name"].fillna("").astype(str).str.strip().to_numpy(dtype=object)
    end = pipes["end_node_name"].fillna("").astype(str).str.strip().to_numpy(dtype=object)
    length, diameter = _num(pipes, "length_m"), _num(pipes, "diameter_mm")
    rough = _num(pipes, "roughness", 130.0)
    pipe_checks = (
        ("dup_pipe", pipes["name"].duplicated(keep="first").to_numpy(), "name", {}),
        ("bad_pipe_name", ~_valid_id(pipes["name"]), "name", {}),
        ("missing_node", ~pd.Series(start).isin(good_names).to_numpy(), "start_node_name",
         {"node": start, "end": "start", "end_zh": "起点"}),
        ("missing_node", ~pd.Series(end).isin(good_names).to_numpy(), "end_node_name",
         {"node": end, "end": "end", "end_zh": "终点"}),
        ("self_loop", (start == end) & (start != ""), "end_node_name", {"node": start}),
        ("bad_diameter", ~(diameter > 0), "diameter_mm", {"value": diameter}),
        ("bad_length", ~(length > 0), "length_m", {"value": length}),
        ("bad_roughness", ~(rough > 0), "roughness", {"value": rough}),
    )  # fmt: skip
    drop = np.zeros(len(pipes), dtype=bool)
    for key, mask, fld, cols in pipe_checks:
        problems += _flag(
            key, mask, pipes, layer="water_pipes", file=f_pipes, field_name=fld, **cols
        )
        drop |= mask
    pipes = pipes.loc[~drop].assign(
        _start=start[~drop], _end=end[~drop], _length=length[~drop],
        _diameter=diameter[~drop], _rough=rough[~drop],
    )  # fmt: skip
    frames = {"sources": src.to_crs(crs), "nodes": nod.to_crs(crs), "pipes": pipes.to_crs(crs)}
    return frames, problems, crs


def _wn_from_frames(
    frames: dict[str, gpd.GeoDataFrame], demand_m3s: pd.Series, ws: WaterSettings
) -> wntr.network.WaterNetworkModel:
    """Build the WNTR model from checked frames through WNTR's GIS conversion."""
    from wntr.gis import WaterNetworkGIS

    src, nod, pipes = frames["sources"], frames["nodes"], frames["pipes"]
    crs = nod.crs or src.crs
    j = nod.loc[nod["node_type"] != "Tank"]
    t = nod.loc[nod["node_type"] == "Tank"]

    def gdf(data: dict, frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        index = pd.Index(frame["name"].to_numpy(), name="name")
        return gpd.GeoDataFrame(data, index=index, geometry=frame.geometry.to_numpy(), crs=crs)

    status = pipes.get("initial_status", pd.Series("Open", index=pipes.index))
    status = status.fillna("Open").astype(str).str.upper().to_numpy()
    gis = WaterNetworkGIS(
        {
            "junctions": gdf(
                {
                    "node_type": "Junction",
                    "elevation": _num(j, "elevation_m"),
                    "base_demand": j["name"].map(demand_m3s).fillna(0.0).to_numpy(dtype=float),
                    "pattern_name": PATTERN_NAME,
                    "demand_category": DEMAND_CATEGORY,
                },
                j,
            ),
            "tanks": gdf(
                {
                    "node_type": "Tank",
                    "elevation": _num(t, "elevation_m"),
                    "init_level": _num(t, "init_level_m", 0.0),
                    "min_level": _num(t, "min_level_m", 0.0),
                    "max_level": _num(t, "max_level_m", 0.0),
                    "diameter": _num(t, "tank_diameter_m", 0.0),
                },
                t,
            ),
            "reservoirs": gdf({"node_type": "Reservoir", "base_head": _num(src, "head_m")}, src),
            "pipes": gdf(
                {
                    "link_type": "Pipe",
                    "start_node_name": pipes["_start"].to_numpy(),
                    "end_node_name": pipes["_end"].to_numpy(),
                    "length": pipes["_length"].to_numpy(),
                    "diameter": pipes["_diameter"].to_numpy() / 1000.0,
                    "roughness": pipes["_rough"].to_numpy(),
                    "initial_status": np.where(status == "CLOSED", "CLOSED", "OPEN"),
                    "check_valve": status == "CV",
                },
                pipes,
            ),
        }
    )
    import wntr

    wn = wntr.network.WaterNetworkModel()
    wn.options.hydraulic.inpfile_units = "LPS"  # EPANET then reports pressure in m
    wn.options.hydraulic.headloss = "H-W"
    wn.add_pattern(PATTERN_NAME, _pattern(ws).round(6).tolist())
    with _quiet_wntr_gis():
        wntr.network.from_gis(gis, append=wn)
    return wn


def _set_times(wn: wntr.network.WaterNetworkModel, ws: WaterSettings, *, gis: bool) -> None:
    """Duration from the settings; a GIS build also takes the steps from them."""
    t = wn.options.time
    t.duration = round(ws.duration_h * 3600)
    if gis:
        t.hydraulic_timestep = int(ws.hydraulic_timestep_s)
        t.report_timestep = int(ws.hydraulic_timestep_s)
        t.pattern_timestep = 86400 // len(ws.diurnal_pattern)
        t.report_start = t.pattern_start = t.start_clocktime = 0
    wn.options.quality.parameter = "NONE"  # hydraulics only


# ------------------------------------------------------------------- village links


def _village_frame(dataset: Dataset) -> gpd.GeoDataFrame:
    nv = dataset.get("natural_villages")
    if nv is not None:
        return nv
    return gpd.GeoDataFrame(
        {"id": pd.Series(dtype=str), "households": pd.Series(dtype=float)}, geometry=[], crs=4326
    )


def _snap(
    vxy: np.ndarray, jxy: np.ndarray, max_m: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows of ``vxy`` with a point of ``jxy`` within ``max_m``, that point and the distance."""
    ok_v = np.flatnonzero(~np.isnan(vxy).any(axis=1))
    ok_j = np.flatnonzero(~np.isnan(jxy).any(axis=1))
    if not len(ok_v) or not len(ok_j):
        return np.array([], dtype=int), np.array([], dtype=int), np.array([])
    tree = shapely.STRtree(shapely.points(jxy[ok_j]))
    (qi, ti), d = tree.query_nearest(
        shapely.points(vxy[ok_v]), max_distance=max_m, return_distance=True, all_matches=False
    )
    return ok_v[qi], ok_j[ti], d


def _link_villages(
    villages: gpd.GeoDataFrame,
    jnames: np.ndarray,
    jxy: np.ndarray,
    jcrs: str | CRS | None,
    ws: WaterSettings,
    *,
    file: str,
    table: Mapping[str, str] | None = None,
    other_nodes: frozenset[str] = frozenset(),
) -> tuple[pd.DataFrame, list[Problem]]:
    """Link every natural village to a junction: explicit name, nearest, or none.

    ``jnames`` are the junctions a village may hang on; ``other_nodes`` the model's other
    nodes (reservoirs, tanks, pump suction nodes), which a village is never linked to. The
    explicit name comes from ``table`` (village id → node) or else the ``water_node``
    field. With ``jcrs`` None (a schematic model) villages are linked by name only.
    """
    n = len(villages)
    schematic = jcrs is None
    metric = metric_crs(villages) if n else (CRS.from_user_input(jcrs) if jcrs else None)
    vxy = np.full((n, 2), np.nan)
    if n:
        g = villages.to_crs(metric).geometry
        ok = (~g.is_empty & g.notna()).to_numpy()
        vxy[ok] = shapely.get_coordinates(g[ok].to_numpy())
    jxy = np.full_like(jxy, np.nan) if schematic else _transform_xy(jxy, jcrs, metric)
    ids = villages["id"].astype(str).to_numpy(dtype=object)
    explicit = (
        villages["water_node"].fillna("").astype(str).str.strip().to_numpy(dtype=object)
        if "water_node" in villages.columns
        else np.full(n, "", dtype=object)
    )
    stray: list[Problem] = []
    if table:
        listed = pd.Series(ids).map(dict(table)).to_numpy(dtype=object)
        explicit = np.where(pd.isna(listed), explicit, listed).astype(object)
        unknown_ids = sorted(set(table) - set(ids))
        if unknown_ids:  # a table row that names no village of the layer is not dropped silently
            shown = "、".join(unknown_ids[:5]) + (
                f" 等 {len(unknown_ids)} 个" if len(unknown_ids) > 5 else ""
            )
            stray.append(
                _problem("unknown_table_village", layer="inp", feature_id=unknown_ids[0],
                         shown=shown, n=len(unknown_ids))
            )  # fmt: skip
    jpos = pd.Series(np.arange(len(jnames)), index=pd.Index(jnames, dtype=object))
    jpos = jpos[~jpos.index.duplicated()]
    where = jpos.reindex(explicit).to_numpy(dtype=float)
    known = ~np.isnan(where)
    named = explicit != ""
    not_linkable = named & ~known & pd.Series(explicit).isin(other_nodes).to_numpy()
    unknown = named & ~known & ~not_linkable
    node = np.where(known, explicit, "").astype(object)
    link = np.where(known, "explicit", "none").astype(object)
    dist = np.full(n, np.nan)
    kk = where[known].astype(int)
    dist[known] = np.hypot(*(vxy[known] - jxy[kk]).T)
    rest = np.flatnonzero(~known)
    rows, nearest, d = _snap(vxy[rest], jxy, ws.snap_max_m)
    rows = rest[rows]
    node[rows], link[rows], dist[rows] = np.asarray(jnames, dtype=object)[nearest], "nearest", d
    snapped = link == "nearest"
    frame = villages.assign(_row=np.arange(1, n + 1), name=ids)
    flag = {"layer": "natural_villages", "file": file, "field_name": "water_node"}
    fmt = {"node": explicit, "nearest": node, "snap": ws.snap_max_m}
    missed = (unknown | not_linkable) & ~snapped
    if schematic and not (known | snapped).any():
        missed = np.zeros(n, dtype=bool)  # nothing linked at all: one "no table" note says it
    problems = [
        problem
        for key, mask in (
            ("not_linkable", not_linkable),
            ("unknown_water_node", (unknown | not_linkable) & snapped),
            ("unknown_water_node_schematic" if schematic else "unknown_water_node_none", missed),
        )
        for problem in _summarise(_flag(key, mask, frame, **flag, **fmt))
    ] + stray
    persons = np.nan_to_num(_num(villages, "households", 0.0) * ws.persons_per_household)
    if ws.demand_basis == "population":
        population = np.nan_to_num(_num(villages, "population", 0.0))
        persons = np.where(population > 0, population, persons)
    elif ws.demand_basis != "households":
        raise ValueError(
            f"settings.water.demand_basis must be 'population' or 'households', not "
            f"{ws.demand_basis!r}"
        )
    out = pd.DataFrame(
        {
            "id": ids,
            "node": node.astype(str),
            "link": link.astype(str),
            "snap_dist_m": dist,
            "persons": persons,
            "demand_lps": persons * ws.demand_lpcd / 86400.0,
            "demand_added": np.zeros(n, dtype=bool),
            "x_m": vxy[:, 0],
            "y_m": vxy[:, 1],
        }
    )
    out.attrs["metric_crs"] = CRS.from_user_input(metric).to_string() if metric else None
    out.attrs["snap_max_m"] = float(ws.snap_max_m)
    out.attrs["schematic"] = schematic
    return out, problems


# ----------------------------------------------------------------------------- build


def _inp_network(
    inp: InpModel, ws: WaterSettings
) -> tuple[wntr.network.WaterNetworkModel, list[Problem], list[str]]:
    """Parse the user's model afresh and make GapMap's few edits (listed in Chinese)."""
    wn = inp.network()
    problems = [*inp.problems, *_value_problems(wn, inp.name)]
    changes = []
    before = wn.options.time.duration
    if round(before) != round(ws.duration_h * 3600):
        was = "稳态单时段" if before == 0 else f"{before / 3600:g} 小时"
        changes.append(f"模拟时长：模型为 {was}，按一天评估供水改为 {ws.duration_h:g} 小时")
    quality = str(wn.options.quality.parameter or "NONE").upper()
    if quality != "NONE":
        changes.append(f"水质计算（{quality}）已关闭，只做水力计算")
    _set_times(wn, ws, gis=False)
    if PATTERN_NAME not in wn.pattern_name_list:  # for villages linked by with_changes
        step = wn.options.time.pattern_timestep
        wn.add_pattern(PATTERN_NAME, _pattern_for_step(_pattern(ws), step).round(6).tolist())
        changes.append(
            f"添加了用水模式 {PATTERN_NAME}（只用于方案中新接入的村庄；模型原有的需水量、"
            "模式、水泵、阀门和控制规则不变）"
        )
    return wn, problems, changes


def _add_village_demand(
    wn: wntr.network.WaterNetworkModel, links: pd.DataFrame, mask: np.ndarray
) -> list[str]:
    """Put the demand of the villages in ``mask`` on their (new) junctions; say so.

    ``links`` (a :attr:`WaterModel.village_nodes` frame) is updated in place:
    ``demand_added`` becomes True for those villages.
    """
    links.loc[mask, "demand_added"] = True
    changes = []
    for jn, group in links.loc[mask].groupby("node"):
        q = float(group["demand_lps"].sum())
        wn.get_node(jn).add_demand(q / 1000.0, PATTERN_NAME, DEMAND_CATEGORY)
        changes.append(
            f"在新节点 {jn} 上添加村庄用水量 {q:.2f} L/s（按模式 {PATTERN_NAME}，"
            f"{'、'.join(group['id'].astype(str))}）"
        )
    return changes


_NEW_PIPES_MAX_SHARE = 0.2
"""Above this share of the layer's pipes missing from the model, the layers are another
network (an old GIS, say), not a plan on the model: nothing is added, it is reported."""


def _layer_pipes_into(
    wn: wntr.network.WaterNetworkModel, dataset: Dataset, crs: str | None, file: str
) -> tuple[set[str], list[str], list[Problem]]:
    """Add the built water-layer pipes that the user's model lacks (a plan's or a project's).

    Their new end nodes come from ``water_nodes`` (elevation, position). Returns the new
    junctions, the changes (Chinese) and the problems (pipes that could not be added).
    """
    pipes = dataset.get("water_pipes")
    if pipes is None or not len(pipes) or "name" not in pipes.columns:
        return set(), [], []
    if "status" in pipes.columns:  # 规划 pipes are not built yet
        pipes = pipes.loc[pipes["status"].fillna("现状").astype(str) != "规划"]
    missing = pipes.loc[~pipes["name"].astype(str).isin(set(wn.link_name_list))]
    if missing.empty:
        return set(), [], []
    names = missing["name"].astype(str).tolist()
    shown = "、".join(names[:5]) + (f" 等 {len(names)} 条" if len(names) > 5 else "")
    if len(missing) > _NEW_PIPES_MAX_SHARE * len(pipes):
        return set(), [], [
            _problem("pipes_not_in_model", layer="water_pipes", file=file, feature_id=names[0],
                     shown=shown, n=len(names))
        ]  # fmt: skip
    nodes = dataset.get("water_nodes")
    by_name = nodes.set_index(nodes["name"].astype(str)) if nodes is not None else None
    added: set[str] = set()
    changes: list[str] = []
    skipped: list[str] = []
    metric = metric_crs(missing)
    for (_, row), length in zip(
        missing.iterrows(), missing.to_crs(metric).length.to_numpy(), strict=True
    ):
        ends = [str(row.get(k) or "").strip() for k in ("start_node_name", "end_node_name")]
        ok = True
        for node in ends:
            if node in wn.node_name_list:
                continue
            if by_name is None or node not in by_name.index or not _valid_id(pd.Series([node]))[0]:
                ok = False
                break
            at = by_name.loc[[node]].iloc[0]
            xy = None
            if crs is not None and at.geometry is not None and not at.geometry.is_empty:
                g = gpd.GeoSeries([at.geometry], crs=nodes.crs).to_crs(crs).iloc[0]
                xy = (g.x, g.y)
            wn.add_junction(node, elevation=_cell(at, "elevation_m", 0.0), coordinates=xy)
            added.add(node)
        dia = _cell(row, "diameter_mm")
        if not ok or not dia > 0 or ends[0] == ends[1]:
            skipped.append(str(row["name"]))
            continue
        pipe_len = _cell(row, "length_m", float(length))
        wn.add_pipe(
            str(row["name"]), ends[0], ends[1], length=pipe_len, diameter=dia / 1000.0,
            roughness=_cell(row, "roughness", 130.0),
        )  # fmt: skip
        changes.append(
            f"按供水管道图层加入模型中没有的管道 {row['name']}：{ends[0]} → {ends[1]}，"
            f"DN{dia:g}，长 {pipe_len:.0f} m（规划或项目的新管道）"
        )
    problems = []
    if skipped:
        shown = "、".join(skipped[:5]) + (f" 等 {len(skipped)} 条" if len(skipped) > 5 else "")
        problems.append(
            _problem("pipes_not_in_model", layer="water_pipes", file=file,
                     feature_id=skipped[0], shown=shown, n=len(skipped))
        )  # fmt: skip
    return added, changes, problems


def build_water_model(
    dataset: Dataset,
    settings: Settings,
    *,
    inp: InpModel | None = None,
) -> WaterModel:
    """Build the water model from the GIS layers, or take the user's EPANET model.

    Parameters
    ----------
    dataset : Dataset
        ``water_sources``, ``water_nodes``, ``water_pipes`` (GIS build; only ``现状``
        pipes) and ``natural_villages`` to link. When the dataset has a
        :attr:`~layers.Dataset.water_model` (or ``inp`` is given) that model is used and
        the water layers are not, except ``water_sources``'s ``capacity_m3d`` matched by
        reservoir name.
    settings : Settings
        ``settings.water``: demand, pattern, times, snap distance.
    inp : InpModel, optional
        An EPANET model read by :func:`layers.epanet.read_inp` (default: the dataset's).
        It runs as given (demands, patterns, pumps, valves, controls, time steps); the
        duration becomes ``duration_h`` and water quality is switched off, both listed in
        :attr:`WaterModel.changes`. A model given here that is not the dataset's is also
        checked against the county boundary.

    Returns
    -------
    WaterModel
        With every network problem found; errors stop :func:`run_hydraulics`.

    Raises
    ------
    NetworkError
        A GIS build on a dataset without water layers.
    """
    ws = settings.water
    _pattern(ws)  # a bad pattern setting fails here, not inside the solver
    villages = _village_frame(dataset)
    nv_file = _file_of(dataset, "natural_villages")
    sources = dataset.get("water_sources")
    capacity: dict[str, float] = {}
    if sources is not None and len(sources):
        capacity = dict(
            zip(sources["name"].astype(str), _num(sources, "capacity_m3d"), strict=True)
        )
    given = inp
    inp = inp if inp is not None else dataset.water_model
    changes: list[str] = []
    if inp is not None:
        wn, problems, changes = _inp_network(inp, ws)
        model_crs, file, layer, source = inp.crs, inp.name, "inp", inp.name
        if given is not None and given is not dataset.water_model:
            xy = _node_xy(wn, list(wn.node_name_list))
            problems += extent_problems(xy, inp.crs, dataset.get("county"), file=file)
        new_nodes, more, not_added = _layer_pipes_into(wn, dataset, model_crs, file)
        changes += more
        suction = {wn.get_link(p).start_node_name for p in wn.pump_name_list}
        jnames = np.asarray([j for j in wn.junction_name_list if j not in suction], dtype=object)
        others = frozenset({*wn.reservoir_name_list, *wn.tank_name_list, *suction})
        links, link_problems = _link_villages(
            villages, jnames, _node_xy(wn, list(jnames)), model_crs, ws, file=nv_file,
            table=inp.village_nodes, other_nodes=others,
        )  # fmt: skip
        if model_crs is None and not (links["node"] != "").any() and len(links):
            link_problems.append(_problem("schematic_unlinked", layer="inp", file=file))
        link_problems += not_added
        # villages hung on a new junction were not in the model's demands: add theirs
        changes += _add_village_demand(wn, links, links["node"].isin(new_nodes).to_numpy())
    else:
        frames, problems, metric = _gis_network(dataset)
        model_crs = metric.to_string()
        file, layer, source = _file_of(dataset, "water_pipes"), "water_pipes", "gis"
        # link to the checked junctions first, to build the model with their demands
        j = frames["nodes"].loc[frames["nodes"]["node_type"] != "Tank"]
        jxy = np.full((len(j), 2), np.nan)
        ok = (~j.geometry.is_empty & j.geometry.notna()).to_numpy()
        jxy[ok] = shapely.get_coordinates(j.geometry[ok].to_numpy())
        tanks = frames["nodes"].loc[frames["nodes"]["node_type"] == "Tank", "name"]
        others = frozenset({*frames["sources"]["name"], *tanks})
        links, link_problems = _link_villages(
            villages, j["name"].to_numpy(dtype=object), jxy, metric, ws, file=nv_file,
            other_nodes=others,
        )  # fmt: skip
        links["demand_added"] = (links["node"] != "").to_numpy()
        demand_m3s = links.loc[links["demand_added"]].groupby("node")["demand_lps"].sum() / 1e3
        wn = _wn_from_frames(frames, demand_m3s, ws)
        _set_times(wn, ws, gis=True)
    graph_problems, disconnected = _graph_problems(wn, file, layer)
    problems = [*problems, *graph_problems, *link_problems]
    logger.info(
        "water model (%s): %d junctions, %d tanks, %d reservoirs, %d links, %d villages "
        "linked; %d problems (%d errors), %d disconnected junctions",
        source,
        wn.num_junctions,
        wn.num_tanks,
        wn.num_reservoirs,
        wn.num_links,
        int((links["node"] != "").sum()),
        len(problems),
        sum(p.severity is Severity.ERROR for p in problems),
        len(disconnected),
    )
    return WaterModel(
        wn=wn,
        village_nodes=links,
        problems=tuple(problems),
        disconnected_nodes=disconnected,
        source=source,
        crs=model_crs,
        source_capacity_m3d=MappingProxyType(
            {r: float(capacity.get(r, np.nan)) for r in wn.reservoir_name_list}
        ),
        changes=tuple(changes),
    )


# ------------------------------------------------------------------------- what-if


def _cell(row: pd.Series, column: str, default: float = np.nan) -> float:
    v = pd.to_numeric(pd.Series([row.get(column, default)]), errors="coerce").iloc[0]
    return float(v) if pd.notna(v) else default


def with_changes(
    model: WaterModel,
    *,
    add_pipes: gpd.GeoDataFrame | None = None,
    raise_tank_m: Mapping[str, float] | None = None,
    add_sources: gpd.GeoDataFrame | None = None,
) -> WaterModel:
    """Return a copy of ``model`` with new sources, new pipes or raised tanks (what-if).

    Parameters
    ----------
    model : WaterModel
        Not modified.
    add_pipes : GeoDataFrame, optional
        New pipes (any CRS): ``name``, ``start_node_name``, ``end_node_name``,
        ``diameter_mm``; optional ``roughness`` (Hazen-Williams C, default 130) and
        ``length_m`` (default: the line's length in metres). An end node that does not
        exist yet becomes a new junction at that end of the line, at the ground elevation
        given in ``start_elevation_m``/``end_elevation_m``. Villages that were off the
        network are linked to the nearest new junction within the model's ``snap_max_m``
        and their demand is added to it.
    raise_tank_m : mapping of str to float, optional
        Tank name → metres to raise the tank's floor (a taller stand or higher site).
    add_sources : GeoDataFrame, optional
        New reservoirs (any CRS): ``name``, ``head_m`` (total head, m), optional
        ``capacity_m3d``.

    Returns
    -------
    WaterModel
        A new model, re-checked; problems of the change are added to its problems.
    """
    wn = copy.deepcopy(model.wn)
    changes = list(model.changes)
    keep = (WaterProblemKind.NO_SOURCE, WaterProblemKind.DISCONNECTED)
    problems = [p for p in model.problems if p.kind not in keep]
    capacity = dict(model.source_capacity_m3d)
    vn = model.village_nodes.copy()
    vn.attrs = dict(model.village_nodes.attrs)
    layer = "what_if"
    if add_sources is not None and len(add_sources):
        s = add_sources.to_crs(model.crs) if model.crs else add_sources
        for (_, row), g in zip(s.iterrows(), s.geometry, strict=True):
            name = str(row["name"])
            if name in wn.node_name_list or not _valid_id(pd.Series([name]))[0]:
                problems.append(_problem("new_source", layer=layer, feature_id=name, name=name))
                continue
            xy = (g.x, g.y) if model.crs else None
            wn.add_reservoir(name, base_head=_cell(row, "head_m"), coordinates=xy)
            capacity[name] = _cell(row, "capacity_m3d")
            changes.append(f"方案新增水源 {name}（总水头 {_cell(row, 'head_m'):g} m）")
    new_junctions: list[str] = []
    if add_pipes is not None and len(add_pipes):
        p = add_pipes.to_crs(model.crs) if model.crs else add_pipes
        metric = vn.attrs.get("metric_crs") or model.crs
        lengths = add_pipes.to_crs(metric).length.to_numpy() if metric else np.full(len(p), 0.0)
        for k, (_, row) in enumerate(p.iterrows()):
            name = str(row.get("name") or f"WHATIF-{k + 1:03d}")
            coords = shapely.get_coordinates(row.geometry)
            ends = []
            for end, end_zh, xy in (("start", "起点", coords[0]), ("end", "终点", coords[-1])):
                node = str(row.get(f"{end}_node_name") or "").strip()
                elev = _cell(row, f"{end}_elevation_m")
                if node in wn.node_name_list:
                    ends.append(node)
                elif node and _valid_id(pd.Series([node]))[0] and np.isfinite(elev):
                    at = (xy[0], xy[1]) if model.crs else None
                    wn.add_junction(node, elevation=elev, coordinates=at)
                    new_junctions.append(node)
                    ends.append(node)
                else:
                    bad = _problem(
                        "new_node", layer=layer, feature_id=name, field_name=f"{end}_node_name",
                        name=name, node=node, end=end, end_zh=end_zh,
                    )  # fmt: skip
                    problems.append(bad)
            dia = _cell(row, "diameter_mm")
            if len(ends) < 2:
                continue
            if name in wn.link_name_list or not dia > 0 or ends[0] == ends[1]:
                problems.append(
                    _problem("bad_new_pipe", layer=layer, feature_id=name, name=name, value=dia)
                )
                continue
            length = _cell(row, "length_m", float(lengths[k]))
            wn.add_pipe(
                name, ends[0], ends[1], length=length, diameter=dia / 1000.0,
                roughness=_cell(row, "roughness", 130.0),
            )  # fmt: skip
            if model.crs:
                wn.get_link(name).vertices = [tuple(c) for c in coords[1:-1]]
            changes.append(
                f"方案新增管道 {name}：{ends[0]} → {ends[1]}，DN{dia:g}，长 {length:.0f} m"
            )
    for tank, dz in (raise_tank_m or {}).items():
        if tank in wn.tank_name_list:
            wn.get_node(tank).elevation += float(dz)
            changes.append(f"方案把水池 {tank} 抬高 {float(dz):g} m")
        else:
            problems.append(_problem("unknown_tank", layer=layer, feature_id=str(tank), name=tank))
    if new_junctions and (vn["node"] == "").any() and model.crs:
        off = np.flatnonzero((vn["node"] == "").to_numpy())
        jxy = _transform_xy(_node_xy(wn, new_junctions), model.crs, vn.attrs["metric_crs"])
        rows, nearest, d = _snap(
            vn[["x_m", "y_m"]].to_numpy()[off], jxy, float(vn.attrs["snap_max_m"])
        )
        idx = vn.index[off[rows]]
        vn.loc[idx, "node"] = np.asarray(new_junctions, dtype=object)[nearest]
        vn.loc[idx, "link"] = "nearest"
        vn.loc[idx, "snap_dist_m"] = d
        changes += _add_village_demand(wn, vn, vn.index.isin(idx))
    file = "" if model.source == "gis" else Path(model.source).name
    graph_problems, disconnected = _graph_problems(wn, file, layer)
    return replace(
        model,
        wn=wn,
        village_nodes=vn,
        problems=(*problems, *graph_problems),
        disconnected_nodes=disconnected,
        source_capacity_m3d=MappingProxyType(capacity),
        changes=tuple(changes),
    )


@dataclass(frozen=True)
class ModelLayers:
    """Result of :func:`model_layers`.

    Attributes
    ----------
    layers : dict of str to GeoDataFrame
        ``water_sources``, ``water_nodes`` and ``water_pipes`` (EPSG:4326).
    lost : tuple of Problem
        Every part of the model the layers cannot hold (pumps, valves, controls,
        patterns, curves, demands), one warning each, for the user to see.
    """

    layers: dict[str, gpd.GeoDataFrame]
    lost: tuple[Problem, ...]


def _lost(model: WaterModel) -> list[Problem]:
    """Return what converting ``model`` to GapMap's water layers would drop."""
    wn = model.wn
    demand_lps = 1000.0 * sum(
        d.base_value for _, j in wn.junctions() for d in j.demand_timeseries_list
    )
    patterns = [p for p in wn.pattern_name_list if p != PATTERN_NAME]
    controls = len(wn.control_name_list)
    parts = [
        (wn.num_pumps, f"{wn.num_pumps} 台水泵", f"{wn.num_pumps} pumps"),
        (wn.num_valves, f"{wn.num_valves} 个阀门", f"{wn.num_valves} valves"),
        (controls, f"{controls} 条控制规则", f"{controls} controls/rules"),
        (len(patterns), f"{len(patterns)} 个用水模式", f"{len(patterns)} patterns"),
        (wn.num_curves, f"{wn.num_curves} 条曲线", f"{wn.num_curves} curves"),
        (
            demand_lps > 0,
            f"节点需水量共 {demand_lps:.1f} L/s（图层按自然村人口重新计算需水量）",
            f"{demand_lps:.1f} L/s of junction demand (layers take demand from villages)",
        ),
    ]
    file = Path(model.source).name if model.source != "gis" else ""
    return [
        model_problem(
            WaterProblemKind.LOSSY_CONVERSION,
            file=file,
            zh=f"转换为 GIS 图层时会丢失模型中的{zh}",
            fix_zh="需要完整计算时请直接使用 EPANET 模型（.inp），不要用转换后的图层",
            en=f"converting to GIS layers drops {en}; run the .inp itself instead",
        )
        for count, zh, en in parts
        if count
    ]


def model_layers(model: WaterModel) -> ModelLayers:
    """Return the model as GapMap water layers (EPSG:4326), via WNTR's GIS conversion.

    Use it to turn an ``.inp`` into ``water_sources``, ``water_nodes`` and
    ``water_pipes`` layers with the schema's field names. What the layers cannot hold
    (pumps, valves, controls, patterns, curves, demands) is listed in
    :attr:`ModelLayers.lost`; ``capacity_m3d`` is NaN where unknown and ``kind`` is
    ``其他`` for sources read from an ``.inp``.

    Raises
    ------
    NetworkError
        The model is schematic: its coordinates are not a place.
    """
    if model.crs is None:
        raise NetworkError(
            f"{model.source}: a schematic model has no real coordinates and cannot become "
            "GIS layers; declare its coordinate system",
            zh=f"{model.source} 是示意图模型（无真实坐标），不能转换为 GIS 图层；"
            "如有真实坐标，请重新导入并声明坐标系",
        )
    import wntr

    with _quiet_wntr_gis():
        gis = wntr.network.to_gis(model.wn, crs=model.crs)
    src = gis.reservoirs.reset_index()
    j = gis.junctions.reset_index()
    t = gis.tanks.reset_index()

    def col(frame: pd.DataFrame, name: str) -> np.ndarray:
        return frame[name].to_numpy(dtype=float) if name in frame else np.zeros(len(frame))

    sources = gpd.GeoDataFrame(
        {
            "name": src["name"].astype(str) if len(src) else pd.Series(dtype=str),
            "title": "",
            "kind": "其他",
            "head_m": col(src, "base_head"),
            "capacity_m3d": [model.source_capacity_m3d.get(n, np.nan) for n in src.get("name", [])],
        },
        geometry=src.geometry.to_numpy() if len(src) else [],
        crs=model.crs,
    )
    names = [*j.get("name", pd.Series(dtype=str)), *t.get("name", pd.Series(dtype=str))]
    geoms = [*j.geometry.to_numpy(), *t.geometry.to_numpy()] if len(j) + len(t) else []
    nodes = gpd.GeoDataFrame(
        {
            "name": [str(n) for n in names],
            "node_type": ["Junction"] * len(j) + ["Tank"] * len(t),
            "elevation_m": np.concatenate([col(j, "elevation"), col(t, "elevation")]),
            "init_level_m": np.concatenate([np.zeros(len(j)), col(t, "init_level")]),
            "min_level_m": np.concatenate([np.zeros(len(j)), col(t, "min_level")]),
            "max_level_m": np.concatenate([np.zeros(len(j)), col(t, "max_level")]),
            "tank_diameter_m": np.concatenate([np.zeros(len(j)), col(t, "diameter")]),
        },
        geometry=geoms,
        crs=model.crs,
    )
    p = gis.pipes.reset_index()
    status = p["initial_status"].astype(str).str.title() if len(p) else pd.Series(dtype=str)
    if len(p) and "check_valve" in p:
        status = status.where(~p["check_valve"].fillna(False).astype(bool), "CV")
    pipes = gpd.GeoDataFrame(
        {
            "name": p["name"].astype(str) if len(p) else pd.Series(dtype=str),
            "start_node_name": p["start_node_name"].astype(str) if len(p) else [],
            "end_node_name": p["end_node_name"].astype(str) if len(p) else [],
            "length_m": col(p, "length"),
            "diameter_mm": col(p, "diameter") * 1000.0,
            "roughness": col(p, "roughness"),
            "initial_status": status.to_numpy(),
            "status": "现状",
        },
        geometry=p.geometry.to_numpy() if len(p) else [],
        crs=model.crs,
    )
    layers = {
        "water_sources": sources.to_crs(4326),
        "water_nodes": nodes.to_crs(4326),
        "water_pipes": pipes.to_crs(4326),
    }
    return ModelLayers(layers=layers, lost=tuple(_lost(model)))
