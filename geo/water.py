"""农村供水覆盖: the county's water network as an EPANET model, a 24 h run, village coverage.

Rules (``../shared/STANDARDS.md`` §4, thresholds in :class:`geo.settings.WaterSettings`):

- **Model.** Built from the GIS layers ``water_sources`` (reservoirs), ``water_nodes``
  (junctions and tanks) and ``water_pipes`` (existing, ``status = 现状``, pipes) through
  WNTR's GIS conversion (:func:`wntr.network.from_gis`), or read from an EPANET ``.inp``
  file. Coordinates in the model are metres: the CGCS2000 GK zone of the data
  (:func:`geo.crs.metric_crs`) for GIS builds, the file's own CRS for an ``.inp``
  (default EPSG:4544).
- **Links.** A natural village is supplied by the junction named in its ``water_node``
  field; without one (or with a name that is not a junction) by the nearest junction
  within ``snap_max_m``; otherwise it is off the network.
- **Demand.** persons × ``demand_lpcd``, following the rural diurnal pattern
  ``diurnal_pattern`` (24 hourly multipliers, mean 1). Persons are the village's recorded
  population (常住人口; ``demand_basis = "population"``, the default), or households ×
  ``persons_per_household`` where none is recorded or with ``demand_basis =
  "households"``. A GIS build puts the linked villages' demand on their junctions; an
  ``.inp`` keeps its own demands (it is the engineer's complete model) and only villages
  linked later by :func:`with_changes` add theirs.
- **Checks before the solver.** Pipes whose end nodes do not exist, zero or negative
  diameters, lengths or roughness, tanks with impossible levels, duplicate or
  EPANET-illegal names, and a network with neither a reservoir nor a tank are errors:
  :func:`run_hydraulics` refuses to run and lists them (Chinese and English). Parts of
  the network with no path to a reservoir or tank are *disconnected*: reported as a
  warning, left out of the simulated copy, and their villages get status
  ``disconnected``. A network with tanks but no reservoir is a warning. EPANET's own
  errors never reach the user.
- **Run.** A ``duration_h`` (24 h) extended-period simulation with EPANET 2.2
  (:class:`wntr.sim.EpanetSimulator`); if EPANET fails, WNTR's own solver is tried.
- **Coverage per village.** Minimum and mean pressure over the day at its junction;
  required head = ``service_head_m`` + ``service_head_per_storey_m`` × (storeys − 1).
  Supply per capita: every connected part of the network (through any pipe, pump or
  valve, open or closed) pools the ``capacity_m3d`` of the reservoirs in it and shares it
  over the persons of the villages linked to that part: ``supply_lpcd`` = pooled
  capacity ÷ persons (L/person/day). This is the connected-component choice: in a looped
  network fed by several sources the hydraulics, not the nearest source, decide which
  source feeds a node, so the sources of one part are treated as one supply. Tanks only
  buffer the daily cycle and add no capacity. ``supply_class``: ``ok`` ≥ ``demand_lpcd``
  (达标), ``basic`` ≥ ``demand_basic_lpcd`` (基本达标), else ``short``; ``unknown`` when a
  reservoir of the part has no known capacity (an ``.inp`` without a ``water_sources``
  layer).
- **Status** (first that applies): ``off_network``, ``disconnected``, ``low_pressure``,
  ``capacity_short`` (supply below ``demand_lpcd``), ``ok``; ``reason`` lists every code
  that applies, separated by ``;``.
- **Roll-up.** 农村自来水普及率 = population of villages on a connected part of the
  network ÷ population of all natural villages, per admin village, township and county,
  against ``tap_rate_target_pct`` (98 %).
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import os
import re
import tempfile
import time
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import wntr
from pyproj import CRS
from scipy import sparse
from scipy.sparse import csgraph

from geo.crs import metric_crs
from geo.settings import Settings, WaterSettings
from layers.dataset import Dataset
from layers.errors import LayerReadError, NetworkError, Problem, Severity

__all__ = [
    "REASONS_ZH",
    "STATUSES",
    "SUPPLY_CLASSES",
    "WaterModel",
    "WaterNetworkError",
    "WaterProblemKind",
    "WaterResult",
    "WaterRun",
    "assess_water",
    "build_water_model",
    "model_layers",
    "run_hydraulics",
    "water_coverage",
    "water_rollup",
    "with_changes",
]

logger = logging.getLogger(__name__)

INP_CRS_DEFAULT = "EPSG:4544"
"""CRS of ``.inp`` coordinates unless told otherwise (CGCS2000 GK CM 105°E, metres)."""

PATTERN_NAME = "gapmap_rural"
"""Name of the diurnal demand pattern GapMap adds to a model."""

DEMAND_CATEGORY = "gapmap_villages"
"""Demand category of the village demands GapMap puts on junctions."""

STATUSES = ("ok", "off_network", "disconnected", "low_pressure", "capacity_short")
"""Village status codes, in the order they take precedence (``ok`` last)."""

SUPPLY_CLASSES = ("ok", "basic", "short", "unknown")
"""Supply classes: 达标, 基本达标, 不达标, capacity unknown."""

REASONS_ZH: Mapping[str, str] = MappingProxyType(
    {
        "ok": "达标",
        "off_network": "未通自来水",
        "disconnected": "所接管网无水源",
        "low_pressure": "水压不足",
        "capacity_short": "水源水量不足",
        "basic": "基本达标",
        "short": "不达标",
        "unknown": "水源供水能力未知",
    }
)
"""Chinese labels for the status, reason and supply-class codes (for the app)."""

_PANDAS4 = getattr(pd.errors, "Pandas4Warning", FutureWarning)
_ID_OK = re.compile(r'^[^\s;"]+$')
_MAX_ID_BYTES = 31  # EPANET 2.2 MAXID


class WaterProblemKind(StrEnum):
    """Kinds of water-network problem found before the solver runs.

    ``layers.errors.ProblemKind`` lists the layer-validation kinds; these are the network
    kinds, used as :attr:`layers.errors.Problem.kind` of the water problems.
    """

    MISSING_NODE = "missing_node"
    BAD_DIAMETER = "bad_diameter"
    BAD_LENGTH = "bad_length"
    BAD_ROUGHNESS = "bad_roughness"
    SELF_LOOP = "self_loop"
    DUPLICATE_NAME = "duplicate_name"
    BAD_NAME = "bad_name"
    BAD_TANK = "bad_tank"
    BAD_ELEVATION = "bad_elevation"
    NO_SOURCE = "no_source"
    DISCONNECTED = "disconnected"
    UNKNOWN_WATER_NODE = "unknown_water_node"
    UNKNOWN_ELEMENT = "unknown_element"
    INP_WARNING = "inp_warning"


class WaterNetworkError(NetworkError):
    """The water network has errors that stop the hydraulic run.

    Parameters
    ----------
    problems : sequence of Problem
        The blocking problems (and any warnings found with them).
    """

    def __init__(self, problems: tuple[Problem, ...] | list[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        errors = [p for p in self.problems if p.severity is Severity.ERROR]
        head = "\n".join(f"  - {p}" for p in errors[:20])
        head_zh = "\n".join(
            f"  - {p.file or p.layer}"
            + (f" 第 {p.row} 行" if p.row is not None else "")
            + f"：{p.message_zh}（{p.fix_zh}）"
            for p in errors[:20]
        )
        more = f"\n  ... and {len(errors) - 20} more" if len(errors) > 20 else ""
        super().__init__(
            f"{len(errors)} water-network error(s) stop the hydraulic run; fix them in the "
            f"network data and run again:\n{head}{more}",
            zh=f"供水管网有 {len(errors)} 处错误，无法进行水力计算，请修改管网数据后重新计算：\n"
            f"{head_zh}",
        )


# ------------------------------------------------------------------------------ results


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
        ``"gis"``, or the path of the ``.inp`` file read.
    crs : str
        CRS of the coordinates in :attr:`wn` (metres for GIS builds).
    source_capacity_m3d : mapping of str to float
        Capacity (m³/day) per reservoir name; NaN when unknown.
    """

    wn: wntr.network.WaterNetworkModel
    village_nodes: pd.DataFrame
    problems: tuple[Problem, ...]
    disconnected_nodes: frozenset[str]
    source: str
    crs: str = INP_CRS_DEFAULT
    source_capacity_m3d: Mapping[str, float] = field(default_factory=dict)

    @property
    def errors(self) -> tuple[Problem, ...]:
        """The problems that stop the hydraulic run."""
        return tuple(p for p in self.problems if p.severity is Severity.ERROR)


@dataclass(frozen=True, eq=False)
class WaterRun:
    """Result of :func:`run_hydraulics`: time series indexed by hour (0 … 24).

    Attributes
    ----------
    pressure_m : DataFrame
        Pressure (m) per node name; NaN for nodes left out of the run (disconnected).
    flow_lps : DataFrame
        Flow (L/s) per link name, positive from start to end node.
    velocity_ms : DataFrame
        Velocity (m/s) per link name.
    simulator : str
        ``"EPANET 2.2"`` or ``"WNTRSimulator"``.
    seconds : float
        Wall time of the solve (writing, solving, reading), seconds.
    demand_lps : DataFrame
        Demand (L/s) delivered per node (reservoirs and tanks: negative = supply).
    """

    pressure_m: pd.DataFrame
    flow_lps: pd.DataFrame
    velocity_ms: pd.DataFrame
    simulator: str
    seconds: float
    demand_lps: pd.DataFrame = field(default_factory=pd.DataFrame)


@dataclass(frozen=True, eq=False)
class WaterResult:
    """Result of :func:`water_coverage` (frames in EPSG:4326).

    Attributes
    ----------
    villages : GeoDataFrame
        Natural villages: ``id``, ``name``, ``admin_village_code``, ``township_code``,
        ``population``, ``households``, ``storeys``, ``on_network`` (linked to a
        junction), ``node``, ``link``, ``snap_dist_m``, ``min_pressure_m`` and
        ``mean_pressure_m`` (over the day at the node, m), ``required_head_m``,
        ``pressure_ok``, ``supply_lpcd`` (pooled source capacity per person,
        L/person/day; 0 off the network), ``supply_class`` (``ok``/``basic``/``short``/
        ``unknown``), ``status`` (:data:`STATUSES`), ``reason`` (codes joined by ``;``).
    nodes : GeoDataFrame
        Junctions, tanks and reservoirs: ``name``, ``node_type``, ``elevation_m``
        (reservoirs: total head), ``min_pressure_m``, ``mean_pressure_m``,
        ``peak_pressure_m`` (at :attr:`peak_hour`), ``disconnected``, ``sources``
        (reservoirs of its connected part, ``;``-joined).
    pipes : GeoDataFrame
        Links: ``name``, ``link_type``, ``start_node_name``, ``end_node_name``,
        ``diameter_mm``, ``length_m``, ``roughness``, ``peak_flow_lps`` (signed, at
        :attr:`peak_hour`), ``peak_velocity_ms``, ``max_velocity_ms``, ``disconnected``.
    rollup_townships, rollup_admin_villages : DataFrame
        See :func:`water_rollup`.
    county : DataFrame
        Indicator rows: ``indicator``, ``value``, ``unit``, ``target``, ``comparison``,
        ``source``, ``met``; the first row is 农村自来水普及率.
    peak_hour : float
        Hour of the largest total demand.
    """

    villages: gpd.GeoDataFrame
    nodes: gpd.GeoDataFrame
    pipes: gpd.GeoDataFrame
    rollup_townships: pd.DataFrame
    rollup_admin_villages: pd.DataFrame
    county: pd.DataFrame
    peak_hour: float


# ------------------------------------------------------------------------------ problems

_FIX_NAME_ZH = "改用简短的字母数字编号（如 J001、P001），并同步修改引用它的管道"
_TEXTS: dict[str, tuple[WaterProblemKind, str, str, str]] = {
    # key: (kind, message_zh, fix_zh, message (English, says how to fix it))
    "dup_node": (
        WaterProblemKind.DUPLICATE_NAME,
        "节点名“{name}”重复（水源和供水节点的名称必须各不相同）",
        "给重复的节点改一个唯一的名称，并同步修改相连管道的起点/终点节点",
        "node name {name!r} is used twice (sources and nodes share one namespace); rename "
        "one and update the pipes that use it",
    ),
    "bad_node_name": (
        WaterProblemKind.BAD_NAME,
        "节点名“{name}”不能用于 EPANET（不能为空、不能含空格或分号，最长 31 字节，"
        "一个汉字占 3 字节）",
        _FIX_NAME_ZH,
        "node name {name!r} is not a legal EPANET ID (no blanks or ';', at most 31 bytes); "
        "use a short code such as J001",
    ),
    "bad_tank": (
        WaterProblemKind.BAD_TANK,
        "水池“{name}”的参数不合理（直径 {dia:g} m，最低/初始/最高水位 {lo:g}/{init:g}/{hi:g} m）",
        "填写水池直径（大于 0），并使最低水位 ≤ 初始水位 ≤ 最高水位，且最低 < 最高",
        "tank {name!r}: diameter {dia:g} m, min/init/max level {lo:g}/{init:g}/{hi:g} m; the "
        "diameter must be > 0 and min ≤ init ≤ max with min < max",
    ),
    "bad_elevation": (
        WaterProblemKind.BAD_ELEVATION,
        "节点“{name}”的{what_zh}缺失或不是数值（{value}）",
        "填写{what_zh}（米）",
        "node {name!r}: {what} is missing or not a number ({value}); enter it in metres",
    ),
    "dup_pipe": (
        WaterProblemKind.DUPLICATE_NAME,
        "管道名“{name}”重复",
        "给重复的管道改一个唯一的名称",
        "pipe name {name!r} is used twice; rename one",
    ),
    "bad_pipe_name": (
        WaterProblemKind.BAD_NAME,
        "管道名“{name}”不能用于 EPANET（不能为空、不能含空格或分号，最长 31 字节）",
        _FIX_NAME_ZH,
        "pipe name {name!r} is not a legal EPANET ID (no blanks or ';', at most 31 bytes); "
        "use a short code such as P001",
    ),
    "missing_node": (
        WaterProblemKind.MISSING_NODE,
        "管道“{name}”的{end_zh}节点“{node}”不存在",
        "在供水节点或水源图层中补上该节点，或改正管道的{end_zh}节点名",
        "pipe {name!r}: {end} node {node!r} does not exist; add the node to water_nodes or "
        "water_sources, or correct the name",
    ),
    "self_loop": (
        WaterProblemKind.SELF_LOOP,
        "管道“{name}”的起点和终点是同一个节点“{node}”",
        "改正管道的起点或终点节点名",
        "pipe {name!r} starts and ends at node {node!r}; correct one end",
    ),
    "bad_diameter": (
        WaterProblemKind.BAD_DIAMETER,
        "管道“{name}”的管径为 {value:g} mm（必须大于 0）",
        "填写实际管径（毫米），例如 DN110 填 110",
        "pipe {name!r}: diameter {value:g} mm must be > 0; enter the real diameter in mm",
    ),
    "bad_length": (
        WaterProblemKind.BAD_LENGTH,
        "管道“{name}”的管长为 {value:g} m（必须大于 0）",
        "填写实际管长（米），可按管线的几何长度填写",
        "pipe {name!r}: length {value:g} m must be > 0; enter the real length in metres",
    ),
    "bad_roughness": (
        WaterProblemKind.BAD_ROUGHNESS,
        "管道“{name}”的海曾-威廉系数为 {value:g}（必须大于 0）",
        "填写海曾-威廉系数 C：PE 管一般取 140，旧钢管约 100",
        "pipe {name!r}: Hazen-Williams C {value:g} must be > 0 (PE about 140)",
    ),
    "no_source": (
        WaterProblemKind.NO_SOURCE,
        "管网中没有水源（水库、水厂、机井等）",
        "在水源图层 water_sources 中添加至少一个水源，并用管道把它与管网相连",
        "the network has no source (reservoir); add one to water_sources and connect it "
        "with a pipe",
    ),
    "tanks_only": (
        WaterProblemKind.NO_SOURCE,
        "管网中没有水源，只有水池：水池只会放空，不会补水",
        "在水源图层 water_sources 中添加给水池补水的水源，并用管道相连",
        "the network has tanks but no source (reservoir): the tanks only drain; add the "
        "source that fills them",
    ),
    "disconnected": (
        WaterProblemKind.DISCONNECTED,
        "节点 {shown_zh} 与任何水源和水池都不连通，已从水力计算中剔除，接在这些节点上的"
        "自然村记为“管网不连通”",
        "检查是否缺少连接管道或节点名写错；如确实未接通，请列入整改台账",
        "nodes {shown} have no path to any reservoir or tank; they are left out of the run "
        "and their villages are reported as disconnected (check for a missing pipe)",
    ),
    "unknown_water_node": (
        WaterProblemKind.UNKNOWN_WATER_NODE,
        "自然村 {name} 的供水节点“{node}”不是管网中的用水节点，已改用 {snap:g} m 内最近的节点",
        "改正自然村图层的 water_node 字段，填写供水节点图层中的节点名",
        "village {name}: water_node {node!r} is not a junction of the network; the nearest "
        "junction within {snap:g} m is used instead (correct the water_node field)",
    ),
    "inp_warning": (
        WaterProblemKind.INP_WARNING,
        "读取 EPANET 模型时的提示：{text}",
        "一般不影响计算；如有疑问请在 EPANET 中检查",
        "note while reading the .inp: {text}",
    ),
    "new_node": (
        WaterProblemKind.MISSING_NODE,
        "新增管道“{name}”的{end_zh}节点“{node}”不存在，也没有给出新节点的地面高程",
        "填写已有节点名，或填写新节点名和 {end}_elevation_m（米）",
        "new pipe {name!r}: {end} node {node!r} does not exist and no {end}_elevation_m is "
        "given for a new junction",
    ),
    "bad_new_pipe": (
        WaterProblemKind.BAD_DIAMETER,
        "新增管道“{name}”不合法（名称已被占用、管径 {value:g} mm 或首尾是同一节点）",
        "使用唯一的名称、大于 0 的管径，并连接两个不同的节点",
        "new pipe {name!r}: name taken, diameter {value:g} mm, or both ends at one node",
    ),
    "new_source": (
        WaterProblemKind.DUPLICATE_NAME,
        "新增水源名“{name}”已被占用或不能用于 EPANET",
        "换一个唯一的简短名称",
        "new source name {name!r} is taken or not a legal EPANET ID; choose another",
    ),
    "unknown_tank": (
        WaterProblemKind.UNKNOWN_ELEMENT,
        "要抬高的水池“{name}”不存在",
        "填写供水节点图层中的水池名",
        "tank {name!r} to raise does not exist; use a tank name from water_nodes",
    ),
}
_WARNING_KEYS = frozenset({"disconnected", "tanks_only", "unknown_water_node", "inp_warning"})


def _problem(
    key: str,
    *,
    layer: str,
    file: str = "",
    row: int | None = None,
    feature_id: str | None = None,
    field_name: str | None = None,
    value: object = None,
    **fmt: object,
) -> Problem:
    """Return one water-network :class:`Problem` from the message table ``_TEXTS``."""
    kind, zh, fix_zh, en = _TEXTS[key]
    fmt = {"value": value, **fmt}
    return Problem(
        kind=kind,  # type: ignore[arg-type]  # a network kind, see WaterProblemKind
        file=file,
        layer=layer,
        row=row,
        feature_id=feature_id,
        field=field_name,
        message_zh=zh.format(**fmt),
        fix_zh=fix_zh.format(**fmt),
        message=en.format(**fmt),
        severity=Severity.WARNING if key in _WARNING_KEYS else Severity.ERROR,
        value=None if value is None else str(value),
    )


def _flag(
    key: str,
    mask: np.ndarray,
    frame: pd.DataFrame,
    *,
    layer: str,
    file: str,
    field_name: str | None,
    **columns: object,
) -> list[Problem]:
    """Return problems for the rows of ``frame`` where ``mask`` holds (``_row``: 1-based).

    ``columns`` are message values: arrays aligned with ``frame``, or one value for all.
    """
    out = []
    for k in np.flatnonzero(mask):
        fmt = {
            c: (v if isinstance(v, str) or np.ndim(v) == 0 else np.asarray(v, dtype=object)[k])
            for c, v in columns.items()
        }
        name = str(frame["name"].iloc[k])
        out.append(
            _problem(
                key,
                layer=layer,
                file=file,
                row=int(frame["_row"].iloc[k]),
                feature_id=name,
                field_name=field_name,
                name=name,
                **fmt,
            )
        )
    return out


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


def _valid_id(names: pd.Series) -> np.ndarray:
    """Return True where a name is a legal EPANET ID (no blanks, ``;``, ``"``; ≤ 31 bytes)."""
    s = names.astype(str)
    ok = s.str.match(_ID_OK).to_numpy(dtype=bool)
    nbytes = s.map(lambda x: len(x.encode("utf-8"))).to_numpy(dtype=int)
    return ok & (nbytes <= _MAX_ID_BYTES)


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


# ---------------------------------------------------------------------- .inp reading

_EN_ERRORS_ZH = {
    201: "语法错误（无法识别的节或行）",
    202: "数值不合法",
    203: "引用了未定义的节点",
    204: "引用了未定义的管段",
    205: "引用了未定义的时间模式",
    206: "引用了未定义的曲线",
    207: "不能控制止回阀或通用阀",
    209: "节点属性值不合法",
    211: "管段属性值不合法",
    213: "选项值无效",
    214: "行内容太长",
    215: "ID 重复",
    216: "引用了未定义的水泵",
    217: "水泵没有特性曲线或功率",
    219: "阀门不能直接连接水池或水源",
    220: "阀门不能与另一个阀门相连",
    221: "规则控制的子句位置不对",
    222: "管段的起点和终点是同一个节点",
    223: "节点太少",
    224: "没有水池或水源",
    225: "水池水位上下限不合理",
    226: "水泵没有特性曲线或功率",
    227: "水泵特性曲线不合法",
    230: "曲线的 x 值不是递增的",
    233: "有孤立节点",
    234: "有孤立节点",
}


def _inp_error(path: Path, exc: BaseException) -> LayerReadError:
    """Return a located, bilingual error for an ``.inp`` that WNTR could not read."""
    chain: list[BaseException] = []
    e: BaseException | None = exc
    while e is not None and e not in chain:
        chain.append(e)
        e = e.__cause__ or e.__context__
    code, line_no, line_text, detail = 0, None, None, ""
    for e in chain:  # the outermost EPANET error says "error 200"; prefer a located one
        text = e.args[0] if e.args and isinstance(e.args[0], str) else str(e)
        m = re.match(r"\(Error (\d+)\) (.*)", text, re.S)
        if not m or int(m.group(1)) == 200:
            continue
        at = re.search(r", at line (\d+)(?::\n\s*(.*))?$", m.group(2), re.S)
        if line_no is None:
            code = int(m.group(1))
            detail = re.sub(r", at line \d+.*$", "", m.group(2), flags=re.S).strip()
        if at and line_no is None:
            line_no, line_text = int(at.group(1)), (at.group(2) or "").strip() or None
    if line_no is None:  # not located by WNTR: find the line its reader was on
        tb = chain[-1].__traceback__
        while tb is not None:
            loc = tb.tb_frame.f_locals
            if "wntr" in tb.tb_frame.f_code.co_filename and isinstance(loc.get("lnum"), int):
                line_no, line_text = loc["lnum"], str(loc.get("line", "")).strip() or None
            tb = tb.tb_next
    if not detail:
        deepest = chain[-1]
        detail = f"{type(deepest).__name__}: {deepest}".replace(str(path.parent), "").strip()
    where = f"{path.name}, line {line_no}" if line_no else path.name
    where_zh = f"{path.name} 第 {line_no} 行" if line_no else path.name
    what_zh = _EN_ERRORS_ZH.get(code, "内容无法解析")
    return LayerReadError(
        f"{where}: not a valid EPANET .inp file ({detail})"
        + (f": {line_text}" if line_text else "")
        + ". Open the file in EPANET, fix this line and load it again.",
        zh=f"{where_zh}：EPANET 模型文件有错误——{what_zh}（{detail}）"
        + (f"：{line_text}" if line_text else "")
        + "。请用 EPANET 打开该文件，修改这一行后重新导入。",
    )


def _read_inp(path: str | os.PathLike[str]) -> tuple[wntr.network.WaterNetworkModel, list[Problem]]:
    """Read an ``.inp`` (UTF-8, or GB18030 as Chinese EPANET editions save it)."""
    path = Path(path)
    if not path.is_file():
        raise LayerReadError(f"EPANET file not found: {path}", zh=f"找不到 EPANET 模型文件：{path}")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = raw.decode("gb18030")
        except UnicodeDecodeError:
            raise LayerReadError(
                f"{path.name}: text encoding not recognised; save it as UTF-8 and load it again",
                zh=f"{path.name} 的文字编码无法识别，请另存为 UTF-8 后重新导入",
            ) from None
    with tempfile.TemporaryDirectory(prefix="gapmap-inp-") as tmp:
        src = Path(tmp) / path.name
        src.write_text(text, encoding="utf-8")
        # the reader's warnings (duplicated controls, unused curves) become Problems
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                wn = wntr.network.WaterNetworkModel(str(src))
            except Exception as exc:  # any reader failure becomes one located LayerReadError
                logger.debug("WNTR could not read %s", path, exc_info=True)
                raise _inp_error(src, exc) from None
    wn.name = path.name
    problems = [
        _problem("inp_warning", layer="inp", file=path.name, text=str(w.message).replace(tmp, ""))
        for w in caught
    ]
    return wn, problems


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


# ------------------------------------------------------------------- network checks


def _value_problems(wn: wntr.network.WaterNetworkModel, file: str) -> list[Problem]:
    """Zero or negative pipe sizes and impossible tanks in a model read from an ``.inp``."""
    problems: list[Problem] = []
    for name, pipe in wn.pipes():
        for key, value in (
            ("bad_diameter", pipe.diameter * 1000.0),
            ("bad_length", pipe.length),
            ("bad_roughness", pipe.roughness),
        ):
            if not value > 0:
                problems.append(
                    _problem(key, layer="inp", file=file, feature_id=name, name=name, value=value)
                )
    for name, tank in wn.tanks():
        lo, init, hi, dia = tank.min_level, tank.init_level, tank.max_level, tank.diameter
        if not ((dia > 0 or tank.vol_curve_name) and lo <= init <= hi and lo < hi):
            bad = _problem(
                "bad_tank", layer="inp", file=file, feature_id=name, name=name,
                dia=dia, lo=lo, init=init, hi=hi,
            )  # fmt: skip
            problems.append(bad)
    return problems


def _components(wn: wntr.network.WaterNetworkModel) -> tuple[list[str], np.ndarray]:
    """Node names and the label of the connected part each is in (through every link)."""
    names = list(wn.node_name_list)
    index = {n: k for k, n in enumerate(names)}
    ends = np.array(
        [(index[lk.start_node_name], index[lk.end_node_name]) for _, lk in wn.links()],
        dtype=int,
    ).reshape(-1, 2)
    n = len(names)
    m = sparse.coo_array((np.ones(len(ends)), (ends[:, 0], ends[:, 1])), shape=(n, n))
    _, labels = csgraph.connected_components(m, directed=False)
    return names, labels


def _graph_problems(
    wn: wntr.network.WaterNetworkModel, file: str, layer: str
) -> tuple[list[Problem], frozenset[str]]:
    """Return source problems and the junctions with no path to a reservoir or tank.

    No reservoir and no tank is an error (EPANET cannot run); tanks without a reservoir,
    and parts of the network with neither, are warnings (the parts are disconnected).
    """
    problems: list[Problem] = []
    if wn.num_reservoirs == 0:
        key = "tanks_only" if wn.num_tanks else "no_source"
        problems.append(_problem(key, layer=layer, file=file))
    names, labels = _components(wn)
    if not names:
        return problems, frozenset()
    named = np.asarray(names, dtype=object)
    fixed = pd.Series(named).isin({*wn.reservoir_name_list, *wn.tank_name_list}).to_numpy()
    fed = np.zeros(labels.max() + 1, dtype=bool)
    fed[labels[fixed]] = True
    cut = ~fed[labels]
    for part in np.unique(labels[cut]):
        members = sorted(named[labels == part].tolist())
        more = len(members) > 5
        problems.append(
            _problem(
                "disconnected",
                layer=layer,
                file=file,
                feature_id=members[0],
                shown_zh="、".join(members[:5]) + (f" 等 {len(members)} 个" if more else ""),
                shown=", ".join(members[:5]) + (f" … ({len(members)})" if more else ""),
            )
        )
    return problems, frozenset(named[cut].tolist())


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
    jcrs: str | CRS,
    ws: WaterSettings,
    *,
    file: str,
) -> tuple[pd.DataFrame, list[Problem]]:
    """Link every natural village to a junction: explicit field, nearest, or none."""
    n = len(villages)
    metric = metric_crs(villages) if n else CRS.from_user_input(jcrs)
    vxy = np.full((n, 2), np.nan)
    if n:
        g = villages.to_crs(metric).geometry
        ok = (~g.is_empty & g.notna()).to_numpy()
        vxy[ok] = shapely.get_coordinates(g[ok].to_numpy())
    jxy = _transform_xy(jxy, jcrs, metric)
    ids = villages["id"].astype(str).to_numpy(dtype=object)
    explicit = (
        villages["water_node"].fillna("").astype(str).str.strip().to_numpy(dtype=object)
        if "water_node" in villages.columns
        else np.full(n, "", dtype=object)
    )
    jpos = pd.Series(np.arange(len(jnames)), index=pd.Index(jnames, dtype=object))
    jpos = jpos[~jpos.index.duplicated()]
    where = jpos.reindex(explicit).to_numpy(dtype=float)
    known = ~np.isnan(where)
    unknown = (explicit != "") & ~known
    frame = villages.assign(_row=np.arange(1, n + 1), name=ids)
    problems = _flag(
        "unknown_water_node", unknown, frame, layer="natural_villages", file=file,
        field_name="water_node", node=explicit, snap=ws.snap_max_m,
    )  # fmt: skip
    node = np.where(known, explicit, "").astype(object)
    link = np.where(known, "explicit", "none").astype(object)
    dist = np.full(n, np.nan)
    kk = where[known].astype(int)
    dist[known] = np.hypot(*(vxy[known] - jxy[kk]).T)
    rest = np.flatnonzero(~known)
    rows, nearest, d = _snap(vxy[rest], jxy, ws.snap_max_m)
    rows = rest[rows]
    node[rows], link[rows], dist[rows] = np.asarray(jnames, dtype=object)[nearest], "nearest", d
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
    out.attrs["metric_crs"] = CRS.from_user_input(metric).to_string()
    out.attrs["snap_max_m"] = float(ws.snap_max_m)
    return out, problems


# ----------------------------------------------------------------------------- build


def build_water_model(
    dataset: Dataset,
    settings: Settings,
    *,
    inp_path: str | os.PathLike[str] | None = None,
    crs: str | int = INP_CRS_DEFAULT,
) -> WaterModel:
    """Build the water model from the GIS layers, or read it from an EPANET ``.inp``.

    Parameters
    ----------
    dataset : Dataset
        ``water_sources``, ``water_nodes``, ``water_pipes`` (GIS build; only ``现状``
        pipes) and ``natural_villages`` to link. With ``inp_path`` the water layers are
        not used, except ``water_sources``'s ``capacity_m3d`` matched by reservoir name.
    settings : Settings
        ``settings.water``: demand, pattern, times, snap distance.
    inp_path : path-like, optional
        An EPANET ``.inp`` file (UTF-8 or GB18030). Its demands, patterns, controls and
        time steps are kept; the duration becomes ``duration_h`` and water quality is
        switched off.
    crs : str or int, optional
        CRS of the ``.inp`` coordinates (default EPSG:4544, CGCS2000 GK CM 105°E, metres).

    Returns
    -------
    WaterModel
        With every network problem found; errors stop :func:`run_hydraulics`.

    Raises
    ------
    LayerReadError
        The ``.inp`` is missing or malformed (the message names the file and line).
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
    if inp_path is not None:
        wn, problems = _read_inp(inp_path)
        model_crs = CRS.from_user_input(crs).to_string()
        file, layer, source = Path(inp_path).name, "inp", str(inp_path)
        problems += _value_problems(wn, file)
        _set_times(wn, ws, gis=False)
        if PATTERN_NAME not in wn.pattern_name_list:  # for villages linked by with_changes
            step = wn.options.time.pattern_timestep
            wn.add_pattern(PATTERN_NAME, _pattern_for_step(_pattern(ws), step).round(6).tolist())
        jnames = np.asarray(wn.junction_name_list, dtype=object)
        links, link_problems = _link_villages(
            villages, jnames, _node_xy(wn, list(jnames)), model_crs, ws, file=nv_file
        )
    else:
        frames, problems, metric = _gis_network(dataset)
        model_crs = metric.to_string()
        file, layer, source = _file_of(dataset, "water_pipes"), "water_pipes", "gis"
        # link to the checked junctions first, to build the model with their demands
        j = frames["nodes"].loc[frames["nodes"]["node_type"] != "Tank"]
        jxy = np.full((len(j), 2), np.nan)
        ok = (~j.geometry.is_empty & j.geometry.notna()).to_numpy()
        jxy[ok] = shapely.get_coordinates(j.geometry[ok].to_numpy())
        links, link_problems = _link_villages(
            villages, j["name"].to_numpy(dtype=object), jxy, metric, ws, file=nv_file
        )
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
    keep = (WaterProblemKind.NO_SOURCE, WaterProblemKind.DISCONNECTED)
    problems = [p for p in model.problems if p.kind not in keep]
    capacity = dict(model.source_capacity_m3d)
    vn = model.village_nodes.copy()
    vn.attrs = dict(model.village_nodes.attrs)
    layer = "what_if"
    if add_sources is not None and len(add_sources):
        s = add_sources.to_crs(model.crs)
        for (_, row), g in zip(s.iterrows(), s.geometry, strict=True):
            name = str(row["name"])
            if name in wn.node_name_list or not _valid_id(pd.Series([name]))[0]:
                problems.append(_problem("new_source", layer=layer, feature_id=name, name=name))
                continue
            wn.add_reservoir(name, base_head=_cell(row, "head_m"), coordinates=(g.x, g.y))
            capacity[name] = _cell(row, "capacity_m3d")
    new_junctions: list[str] = []
    if add_pipes is not None and len(add_pipes):
        p = add_pipes.to_crs(model.crs)
        lengths = p.to_crs(vn.attrs.get("metric_crs") or model.crs).length.to_numpy()
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
                    wn.add_junction(node, elevation=elev, coordinates=(xy[0], xy[1]))
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
            wn.get_link(name).vertices = [tuple(c) for c in coords[1:-1]]
    for tank, dz in (raise_tank_m or {}).items():
        if tank in wn.tank_name_list:
            wn.get_node(tank).elevation += float(dz)
        else:
            problems.append(_problem("unknown_tank", layer=layer, feature_id=str(tank), name=tank))
    if new_junctions and (vn["node"] == "").any():
        off = np.flatnonzero((vn["node"] == "").to_numpy())
        jxy = _transform_xy(_node_xy(wn, new_junctions), model.crs, vn.attrs["metric_crs"])
        rows, nearest, d = _snap(
            vn[["x_m", "y_m"]].to_numpy()[off], jxy, float(vn.attrs["snap_max_m"])
        )
        idx = vn.index[off[rows]]
        vn.loc[idx, "node"] = np.asarray(new_junctions, dtype=object)[nearest]
        vn.loc[idx, "link"] = "nearest"
        vn.loc[idx, "snap_dist_m"] = d
        vn.loc[idx, "demand_added"] = True
        for jn, q in vn.loc[idx].groupby("node")["demand_lps"].sum().items():
            wn.get_node(jn).add_demand(q / 1000.0, PATTERN_NAME, DEMAND_CATEGORY)
    file = "" if model.source == "gis" else Path(model.source).name
    graph_problems, disconnected = _graph_problems(wn, file, layer)
    return replace(
        model,
        wn=wn,
        village_nodes=vn,
        problems=(*problems, *graph_problems),
        disconnected_nodes=disconnected,
        source_capacity_m3d=MappingProxyType(capacity),
    )


# ------------------------------------------------------------------------------- run


def _simulated_copy(model: WaterModel, ws: WaterSettings) -> wntr.network.WaterNetworkModel:
    """Return the model to solve: disconnected parts removed, duration set."""
    duration = round(ws.duration_h * 3600)
    if not model.disconnected_nodes and model.wn.options.time.duration == duration:
        return model.wn  # the solvers only read the model
    wn = copy.deepcopy(model.wn)
    wn.options.time.duration = duration
    cut = model.disconnected_nodes
    for name, link in list(wn.links()):
        if link.start_node_name in cut or link.end_node_name in cut:
            wn.remove_link(name, with_control=True, force=True)
    for name in cut:
        wn.remove_node(name, with_control=True, force=True)
    return wn


def _run_epanet(wn: wntr.network.WaterNetworkModel) -> wntr.sim.SimulationResults:
    with tempfile.TemporaryDirectory(prefix="gapmap-epanet-") as tmp:
        sim = wntr.sim.EpanetSimulator(wn)
        return sim.run_sim(file_prefix=str(Path(tmp) / "model"), convergence_error=True)


def _run_wntr(wn: wntr.network.WaterNetworkModel) -> wntr.sim.SimulationResults:
    # WNTR's own solver changes the model's state as it runs: give it a copy
    return wntr.sim.WNTRSimulator(copy.deepcopy(wn)).run_sim(convergence_error=True)


_SIMULATORS = {"epanet": ("EPANET 2.2", _run_epanet), "wntr": ("WNTRSimulator", _run_wntr)}


def run_hydraulics(model: WaterModel, settings: Settings) -> WaterRun:
    """Run the ``duration_h`` extended-period simulation (EPANET 2.2; WNTR as fallback).

    Parameters
    ----------
    model : WaterModel
        From :func:`build_water_model` or :func:`with_changes`; not modified.
    settings : Settings
        ``settings.water.duration_h`` and ``simulator``.

    Returns
    -------
    WaterRun
        Series per node and link indexed by hour; nodes and links left out of the run
        (disconnected) are NaN.

    Raises
    ------
    WaterNetworkError
        The model has errors (:attr:`WaterModel.errors`); nothing is run.
    NetworkError
        Neither solver could solve the network (the message says what to check).
    """
    ws = settings.water
    if model.errors:
        raise WaterNetworkError(model.problems)
    wn = _simulated_copy(model, ws)
    order = ["wntr"] if ws.simulator == "wntr" else ["epanet", "wntr"]
    failures: list[str] = []
    results, label, seconds = None, "", 0.0
    for key in order:
        label, solve = _SIMULATORS[key]
        t0 = time.perf_counter()
        try:
            results = solve(wn)
        except Exception as exc:  # EPANET/WNTR failures become one NetworkError below
            logger.warning("%s failed on %s: %s", label, model.source, exc, exc_info=True)
            failures.append(f"{label}: {exc}")
            continue
        seconds = time.perf_counter() - t0
        break
    if results is None:
        raise NetworkError(
            "the hydraulic solvers could not solve the network ("
            + "; ".join(failures)
            + "); check pumps and valves, pipe sizes and tank levels",
            zh="水力计算未能求解（EPANET 和 WNTR 均未收敛）。请检查水泵和阀门的设置、"
            "管径是否过小、水池水位是否合理，以及是否有管段把高、低压区直接连通",
        )
    duration = round(ws.duration_h * 3600)

    def frame(df: pd.DataFrame, names: list[str], scale: float = 1.0) -> pd.DataFrame:
        df = df.loc[df.index <= duration]
        out = df.reindex(columns=names) * scale
        out.index = pd.Index(df.index.to_numpy(dtype=float) / 3600.0, name="hour")
        out.columns.name = None
        return out

    nodes, links = list(model.wn.node_name_list), list(model.wn.link_name_list)
    run = WaterRun(
        pressure_m=frame(results.node["pressure"], nodes),
        flow_lps=frame(results.link["flowrate"], links, 1000.0),
        velocity_ms=frame(results.link["velocity"], links),
        simulator=label,
        seconds=seconds,
        demand_lps=frame(results.node["demand"], nodes, 1000.0),
    )
    logger.info("%s: %d time steps in %.2f s", label, len(run.pressure_m), seconds)
    return run


# -------------------------------------------------------------------------- coverage


def _supply(
    model: WaterModel, vn: pd.DataFrame, served: np.ndarray
) -> tuple[np.ndarray, pd.Series]:
    """Pooled source capacity per person (L/person/day) per village; reservoirs per node."""
    names, labels = _components(model.wn)
    label_of = pd.Series(labels, index=names)
    reservoirs = pd.Series(
        [n for n in names if model.wn.get_node(n).node_type == "Reservoir"], dtype=object
    )
    cap = reservoirs.map(lambda r: model.source_capacity_m3d.get(r, np.nan)).astype(float)
    res_label = label_of.reindex(reservoirs).to_numpy()
    cap_part = pd.Series(cap.to_numpy(), index=res_label).groupby(level=0).sum(min_count=1)
    unknown = pd.Series(cap.isna().to_numpy(), index=res_label).groupby(level=0).any()
    v_label = label_of.reindex(vn["node"]).to_numpy()
    persons = (
        pd.Series(np.where(served, vn["persons"].to_numpy(), 0.0))
        .groupby(pd.Series(v_label).fillna(-1).to_numpy())
        .sum()
    )
    part = pd.Series(v_label)
    cap_v = part.map(cap_part).to_numpy(dtype=float)
    unk_v = part.map(unknown).fillna(False).to_numpy(dtype=bool)
    per = part.map(persons).to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        lpcd = np.where(per > 0, np.nan_to_num(cap_v, nan=0.0) * 1000.0 / per, np.inf)
    lpcd = np.where(unk_v, np.nan, lpcd)
    lpcd = np.where(served, lpcd, 0.0)
    by_part = (
        pd.Series(reservoirs.to_numpy(), index=res_label)
        .groupby(level=0)
        .agg(lambda s: ";".join(sorted(s)))
    )
    node_sources = label_of.map(by_part).fillna("")
    return lpcd, node_sources


def _peak_hour(run: WaterRun, model: WaterModel) -> float:
    d = run.demand_lps.reindex(columns=model.wn.junction_name_list)
    total = d.clip(lower=0).sum(axis=1)
    if total.empty:
        return float(run.pressure_m.index[0]) if len(run.pressure_m) else 0.0
    return float(total.idxmax())


def _node_stats(p: pd.DataFrame, duration_h: float) -> tuple[pd.Series, pd.Series]:
    day = p.loc[p.index < duration_h] if duration_h > 0 and (p.index < duration_h).any() else p
    return p.min(axis=0, skipna=True), day.mean(axis=0, skipna=True)


def water_coverage(
    dataset: Dataset, model: WaterModel, run: WaterRun, settings: Settings
) -> WaterResult:
    """Piped coverage, pressure and per-capita supply per natural village, rolled up.

    Parameters
    ----------
    dataset : Dataset
        ``natural_villages`` (the ones the model was built with), ``admin_villages`` and
        ``townships`` for the roll-up; the water layers give the node and pipe geometry
        of a GIS-built model.
    model : WaterModel
    run : WaterRun
        :func:`run_hydraulics` of ``model``.
    settings : Settings
        ``settings.water``: service heads, per-capita standards, the tap-rate target.

    Returns
    -------
    WaterResult
        Frames in EPSG:4326; see the module docstring for the rules.
    """
    ws = settings.water
    vn = model.village_nodes.reset_index(drop=True)
    nv = _village_frame(dataset).reset_index(drop=True)
    if len(nv) != len(vn) or not (nv["id"].astype(str).to_numpy() == vn["id"].to_numpy()).all():
        raise ValueError("the model was built from other natural villages; rebuild it")
    duration_h = ws.duration_h
    pmin, pmean = _node_stats(run.pressure_m, duration_h)
    peak = _peak_hour(run, model)

    on = (vn["node"] != "").to_numpy()
    cut = vn["node"].isin(model.disconnected_nodes).to_numpy()
    served = on & ~cut
    storeys = (
        pd.to_numeric(nv.get("storeys", pd.Series(1, index=nv.index)), errors="coerce")
        .fillna(1)
        .clip(lower=1)
        .to_numpy()
    )
    required = ws.service_head_m + ws.service_head_per_storey_m * (storeys - 1)
    vmin = np.where(served, pmin.reindex(vn["node"]).to_numpy(dtype=float), np.nan)
    vmean = np.where(served, pmean.reindex(vn["node"]).to_numpy(dtype=float), np.nan)
    pressure_ok = served & (vmin >= required)
    lpcd, node_sources = _supply(model, vn, served)
    supply_class = np.select(
        [np.isnan(lpcd), lpcd >= ws.demand_lpcd, lpcd >= ws.demand_basic_lpcd],
        ["unknown", "ok", "basic"],
        default="short",
    )
    flags = {
        "off_network": ~on,
        "disconnected": on & cut,
        "low_pressure": served & ~pressure_ok,
        "capacity_short": served & np.isin(supply_class, ("basic", "short")),
    }
    status = np.select(list(flags.values()), list(flags.keys()), default="ok")
    reason = np.full(len(vn), "", dtype=object)
    for code, mask in flags.items():
        reason = reason + np.where(mask, code + ";", "")
    reason = pd.Series(reason, dtype=object).str.rstrip(";").to_numpy()
    admin = dataset.get("admin_villages")
    av_code = nv["admin_village_code"].astype(str) if "admin_village_code" in nv else None
    if av_code is not None and admin is not None:
        township = av_code.map(admin.set_index("code")["township_code"]).fillna(av_code.str[:9])
    elif av_code is not None:
        township = av_code.str[:9]
    else:
        township = pd.Series("", index=nv.index)
    villages = gpd.GeoDataFrame(
        {
            "id": vn["id"],
            "name": nv.get("name", pd.Series("", index=nv.index)),
            "admin_village_code": av_code if av_code is not None else "",
            "township_code": township.to_numpy(),
            "population": nv.get("population", pd.Series(0, index=nv.index)),
            "households": nv["households"],
            "storeys": storeys.astype(int),
            "on_network": on,
            "node": vn["node"],
            "link": vn["link"],
            "snap_dist_m": vn["snap_dist_m"],
            "min_pressure_m": vmin,
            "mean_pressure_m": vmean,
            "required_head_m": required.astype(float),
            "pressure_ok": pressure_ok,
            "supply_lpcd": lpcd,
            "supply_class": supply_class,
            "status": status,
            "reason": reason,
        },
        geometry=nv.geometry.to_numpy() if len(nv) else [],
        crs=nv.crs or 4326,
    ).to_crs(4326)

    nodes = _node_frame(dataset, model, run, pmin, pmean, peak, node_sources)
    pipes = _pipe_frame(dataset, model, run, peak)
    townships, admin_villages, county = water_rollup(dataset, villages, settings)
    for frame in (villages, nodes, pipes, townships, admin_villages, county):
        frame.attrs["settings_profile"] = settings.profile
        frame.attrs["dataset_hash"] = dataset.content_hash
        frame.attrs["model_crs"] = model.crs
        frame.attrs["simulator"] = run.simulator
    logger.info(
        "water coverage: %d villages, %d off network, %d disconnected, %d low pressure, "
        "%d capacity short; tap rate %.2f %%",
        len(villages),
        int(flags["off_network"].sum()),
        int(flags["disconnected"].sum()),
        int(flags["low_pressure"].sum()),
        int(flags["capacity_short"].sum()),
        float(county["value"].iloc[0]) if len(county) else float("nan"),
    )
    return WaterResult(
        villages=villages,
        nodes=nodes,
        pipes=pipes,
        rollup_townships=townships,
        rollup_admin_villages=admin_villages,
        county=county,
        peak_hour=peak,
    )


def _layer_geometry(dataset: Dataset, layers: tuple[str, ...]) -> pd.Series:
    parts = [
        pd.Series(dataset[name].geometry.to_numpy(), index=dataset[name]["name"].astype(str))
        for name in layers
        if name in dataset and len(dataset[name])
    ]
    if not parts:
        return pd.Series(dtype=object)
    s = pd.concat(parts)
    return s[~s.index.duplicated()]


def _node_frame(
    dataset: Dataset,
    model: WaterModel,
    run: WaterRun,
    pmin: pd.Series,
    pmean: pd.Series,
    peak: float,
    node_sources: pd.Series,
) -> gpd.GeoDataFrame:
    wn = model.wn
    names = list(wn.node_name_list)
    types = [wn.get_node(n).node_type for n in names]
    elev = [
        wn.get_node(n).base_head if t == "Reservoir" else wn.get_node(n).elevation
        for n, t in zip(names, types, strict=True)
    ]
    xy = _transform_xy(_node_xy(wn, names), model.crs, "EPSG:4326")
    geom = shapely.points(xy)
    if model.source == "gis":
        own = _layer_geometry(dataset, ("water_nodes", "water_sources")).reindex(names)
        have = own.notna().to_numpy()
        geom[have] = own.to_numpy()[have]
    at_peak = run.pressure_m.loc[peak] if peak in run.pressure_m.index else pd.Series(np.nan)
    return gpd.GeoDataFrame(
        {
            "name": names,
            "node_type": types,
            "elevation_m": np.asarray(elev, dtype=float),
            "min_pressure_m": pmin.reindex(names).to_numpy(dtype=float),
            "mean_pressure_m": pmean.reindex(names).to_numpy(dtype=float),
            "peak_pressure_m": at_peak.reindex(names).to_numpy(dtype=float),
            "disconnected": pd.Series(names).isin(model.disconnected_nodes).to_numpy(),
            "sources": node_sources.reindex(names).fillna("").to_numpy(),
        },
        geometry=geom,
        crs=4326,
    )


def _pipe_frame(
    dataset: Dataset, model: WaterModel, run: WaterRun, peak: float
) -> gpd.GeoDataFrame:
    wn = model.wn
    names = list(wn.link_name_list)
    links = [wn.get_link(n) for n in names]
    nodes = list(wn.node_name_list)
    pos = {n: k for k, n in enumerate(nodes)}
    nxy = _node_xy(wn, nodes)
    lines = [
        np.asarray(
            [nxy[pos[lk.start_node_name]], *lk.vertices, nxy[pos[lk.end_node_name]]], dtype=float
        ).reshape(-1, 2)
        for lk in links
    ]
    geom = np.full(len(links), None, dtype=object)
    ok = np.array([not np.isnan(c).any() for c in lines], dtype=bool)
    if ok.any():
        sizes = np.array([len(c) for c, keep in zip(lines, ok, strict=True) if keep])
        flat = np.vstack([c for c, keep in zip(lines, ok, strict=True) if keep])
        made = shapely.linestrings(flat, indices=np.repeat(np.arange(len(sizes)), sizes))
        geom[ok] = gpd.GeoSeries(made, crs=model.crs).to_crs(4326).to_numpy()
    if model.source == "gis":
        own = _layer_geometry(dataset, ("water_pipes",)).reindex(names)
        have = own.notna().to_numpy()
        geom[have] = own.to_numpy()[have]
    flow = run.flow_lps.loc[peak] if peak in run.flow_lps.index else pd.Series(np.nan)
    vel = run.velocity_ms.loc[peak] if peak in run.velocity_ms.index else pd.Series(np.nan)
    cut = model.disconnected_nodes
    return gpd.GeoDataFrame(
        {
            "name": names,
            "link_type": [lk.link_type for lk in links],
            "start_node_name": [lk.start_node_name for lk in links],
            "end_node_name": [lk.end_node_name for lk in links],
            "diameter_mm": [
                lk.diameter * 1000.0 if hasattr(lk, "diameter") else np.nan for lk in links
            ],
            "length_m": [getattr(lk, "length", np.nan) for lk in links],
            "roughness": [getattr(lk, "roughness", np.nan) for lk in links],
            "peak_flow_lps": flow.reindex(names).to_numpy(dtype=float),
            "peak_velocity_ms": vel.reindex(names).to_numpy(dtype=float),
            "max_velocity_ms": run.velocity_ms.reindex(columns=names).abs().max().to_numpy(),
            "disconnected": [lk.start_node_name in cut or lk.end_node_name in cut for lk in links],
        },
        geometry=geom,
        crs=4326,
    )


# --------------------------------------------------------------------------- roll-up

_ROLLUP_COLUMNS = [
    "villages",
    "rural_population",
    "population_on_pipe",
    "population_off_network",
    "population_low_pressure",
    "villages_off_network",
    "villages_disconnected",
    "villages_low_pressure",
    "villages_capacity_short",
    "problems",
]


def water_rollup(
    dataset: Dataset, villages: pd.DataFrame, settings: Settings
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Roll village water coverage up to admin villages, townships and the county.

    Parameters
    ----------
    dataset : Dataset
        ``townships`` and ``admin_villages`` for names (optional).
    villages : DataFrame
        :attr:`WaterResult.villages`.
    settings : Settings
        ``settings.water.tap_rate_target_pct`` and the per-capita standard.

    Returns
    -------
    townships : DataFrame
        ``code``, ``name``, ``villages``, ``rural_population`` (all natural villages),
        ``population_on_pipe`` (villages on a connected part of the network),
        ``tap_rate_pct`` (自来水普及率), ``population_off_network``,
        ``population_low_pressure``, ``villages_off_network``, ``villages_disconnected``,
        ``villages_low_pressure``, ``villages_capacity_short``, ``problems`` (villages
        whose status is not ``ok``); in layer order.
    admin_villages : DataFrame
        The same per admin village, with ``township_code``.
    county : DataFrame
        ``indicator``, ``value``, ``unit``, ``target``, ``comparison``, ``source``,
        ``met``: 农村自来水普及率 (first), 水压不足的自然村, 人均供水不达标的自然村.
    """
    ws = settings.water
    v = pd.DataFrame(villages.drop(columns="geometry", errors="ignore"))
    pop = pd.to_numeric(v["population"], errors="coerce").fillna(0.0)
    status = v["status"].astype(str)
    reason = v["reason"].astype(str)
    served = v["on_network"].astype(bool) & (status != "disconnected")
    low = reason.str.contains("low_pressure", regex=False)
    short = reason.str.contains("capacity_short", regex=False)
    flags = pd.DataFrame(
        {
            "villages": 1.0,
            "rural_population": pop,
            "population_on_pipe": np.where(served, pop, 0.0),
            "population_off_network": np.where(status == "off_network", pop, 0.0),
            "population_low_pressure": np.where(low, pop, 0.0),
            "villages_off_network": (status == "off_network").astype(float),
            "villages_disconnected": (status == "disconnected").astype(float),
            "villages_low_pressure": low.astype(float),
            "villages_capacity_short": short.astype(float),
            "problems": (status != "ok").astype(float),
        }
    )

    def rate(frame: pd.DataFrame) -> pd.DataFrame:
        with np.errstate(divide="ignore", invalid="ignore"):
            frame["tap_rate_pct"] = np.where(
                frame["rural_population"] > 0,
                100.0 * frame["population_on_pipe"] / frame["rural_population"],
                np.nan,
            )
        return frame

    def table(keys: pd.Series, units: pd.DataFrame) -> pd.DataFrame:
        sums = flags.groupby(keys.to_numpy()).sum()
        out = units.set_index("code").join(sums, how="outer")
        out[_ROLLUP_COLUMNS] = out[_ROLLUP_COLUMNS].fillna(0.0)
        counts = [c for c in _ROLLUP_COLUMNS if c == "problems" or c.startswith("villages")]
        out[counts] = out[counts].astype(int)
        out = rate(out.rename_axis("code").reset_index())
        return out[[*units.columns, *_ROLLUP_COLUMNS[:3], "tap_rate_pct", *_ROLLUP_COLUMNS[3:]]]

    admin = dataset.get("admin_villages")
    av_units = (
        pd.DataFrame(
            {
                "code": admin["code"].astype(str).to_numpy(),
                "name": admin["name"].astype(str).to_numpy(),
                "township_code": admin["township_code"].astype(str).to_numpy(),
            }
        )
        if admin is not None
        else pd.DataFrame({"code": [], "name": [], "township_code": []}, dtype=object)
    )
    codes = v["admin_village_code"].astype(str)
    extra = sorted(set(codes) - set(av_units["code"]))
    if extra:
        more = pd.DataFrame({"code": extra, "name": "", "township_code": [c[:9] for c in extra]})
        av_units = pd.concat([av_units, more], ignore_index=True)
    admin_villages = table(codes, av_units)
    admin_villages["township_code"] = admin_villages["township_code"].fillna("")

    tw = dataset.get("townships")
    tw_units = (
        pd.DataFrame(
            {"code": tw["code"].astype(str).to_numpy(), "name": tw["name"].astype(str).to_numpy()}
        )
        if tw is not None
        else pd.DataFrame({"code": [], "name": []}, dtype=object)
    )
    tcodes = v["township_code"].astype(str)
    extra = sorted(set(tcodes) - set(tw_units["code"]))
    if extra:
        tw_units = pd.concat(
            [tw_units, pd.DataFrame({"code": extra, "name": ""})], ignore_index=True
        )
    townships = table(tcodes, tw_units)

    total = flags.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        tap = (
            100.0 * total["population_on_pipe"] / total["rural_population"]
            if total.get("rural_population", 0) > 0
            else float("nan")
        )
    county = pd.DataFrame(
        [
            {
                "indicator": "农村自来水普及率",
                "value": float(tap),
                "unit": "%",
                "target": ws.tap_rate_target_pct,
                "comparison": ">=",
                "source": f"宁夏衔接“十四五”规划指标表（预期性）：2025年{ws.tap_rate_target_pct:g}%"
                f"（2020年{ws.tap_rate_2020_pct:g}%）",
            },
            {
                "indicator": "供水水压不足的自然村",
                "value": float(total.get("villages_low_pressure", 0.0)),
                "unit": "个",
                "target": 0.0,
                "comparison": "<=",
                "source": f"最小服务水头 {ws.service_head_m:g} m，每多一层加 "
                f"{ws.service_head_per_storey_m:g} m（村镇供水工程技术规范 SL 310 及设计惯例）",
            },
            {
                "indicator": f"人均供水不足{ws.demand_lpcd:g}升/日的自然村",
                "value": float(total.get("villages_capacity_short", 0.0)),
                "unit": "个",
                "target": 0.0,
                "comparison": "<=",
                "source": "农村饮水安全评价准则 T/CHES 18-2018（干旱地区 ≥ "
                f"{ws.demand_lpcd:g} 升/人·日达标，≥ {ws.demand_basic_lpcd:g} 基本达标）",
            },
        ]
    )
    county["met"] = np.where(
        county["comparison"] == ">=",
        county["value"] >= county["target"],
        county["value"] <= county["target"],
    )
    return townships, admin_villages, county


# ------------------------------------------------------------------------ conveniences


def assess_water(
    dataset: Dataset,
    settings: Settings,
    *,
    inp_path: str | os.PathLike[str] | None = None,
    crs: str | int = INP_CRS_DEFAULT,
) -> tuple[WaterModel, WaterRun, WaterResult]:
    """Build, run and assess in one call (see :func:`build_water_model`).

    Raises
    ------
    WaterNetworkError
        The network has errors (``exc.problems`` lists them).
    """
    model = build_water_model(dataset, settings, inp_path=inp_path, crs=crs)
    run = run_hydraulics(model, settings)
    return model, run, water_coverage(dataset, model, run, settings)


def model_layers(model: WaterModel) -> dict[str, gpd.GeoDataFrame]:
    """Return the model as GapMap water layers (EPSG:4326), via WNTR's GIS conversion.

    Use it to turn an ``.inp`` into ``water_sources``, ``water_nodes`` and
    ``water_pipes`` layers with the schema's field names. Pumps and valves have no
    GapMap layer and are left out (logged); ``capacity_m3d`` is NaN where unknown and
    ``kind`` is ``其他`` for sources read from an ``.inp``.
    """
    with _quiet_wntr_gis():
        gis = wntr.network.to_gis(model.wn, crs=model.crs)
    if len(gis.pumps) or len(gis.valves):
        logger.warning(
            "%d pumps and %d valves have no GapMap layer and are left out",
            len(gis.pumps),
            len(gis.valves),
        )
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
    return {
        "water_sources": sources.to_crs(4326),
        "water_nodes": nodes.to_crs(4326),
        "water_pipes": pipes.to_crs(4326),
    }
