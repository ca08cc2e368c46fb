"""EPANET ``.inp`` files: read with a declared coordinate system, write atomically.

A water bureau's model is a first-class input. :func:`read_inp` (or :func:`inp_from_bytes`
for an upload) reads it once, checks that EPANET's reader accepts it and keeps its text, so
the model GapMap runs is exactly the model the user gave: pumps, valves, controls, rules,
patterns, curves, demands and options. The coordinate system of its ``[COORDINATES]`` is
*declared* by the user (a GK zone, CGCS2000, an EPSG code) or the model is declared
:data:`SCHEMATIC` (no real coordinates: simulated and reported, never drawn as geographic,
villages linked only by an explicit village → node table). Nothing is assumed.

Errors of EPANET's reader become one located :class:`~layers.errors.LayerReadError` that
names the file, the line and its section (``[PIPES]``, ``[TIMES]`` …) in Chinese and
English; the reader's notes and the solver's warnings (:func:`epanet_warnings`) become
:class:`~layers.errors.Problem` records with EPANET's original text beside the Chinese.
:func:`extent_problems` refuses a network that lies outside the county, and suggests the
coordinate system under which it would fall inside.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS
from pyproj.exceptions import CRSError as ProjCRSError

from layers.errors import CRSError, LayerReadError, Problem, Severity
from layers.write import atomic_path

if TYPE_CHECKING:
    import wntr  # imported where used: it takes seconds and most runs have no water

__all__ = [
    "CRS_CHOICES",
    "EPANET_ERRORS_ZH",
    "SCHEMATIC",
    "InpModel",
    "WaterProblemKind",
    "epanet_warnings",
    "extent_problems",
    "inp_from_bytes",
    "model_problem",
    "parse_inp_crs",
    "read_inp",
    "read_village_nodes",
    "write_inp",
]

logger = logging.getLogger(__name__)

SCHEMATIC = "schematic"
"""Declaration of a model whose coordinates are a drawing, not a place (EPANET's Net3)."""

CRS_CHOICES: Mapping[str, str] = MappingProxyType(
    {
        "EPSG:4544": "CGCS2000 3度带 中央经线105°，不带带号（EPSG:4544，同心县等宁夏中部）",
        "EPSG:4523": "CGCS2000 3度带 第35带（中央经线105°），带带号（EPSG:4523，X 为 8 位数）",
        "EPSG:4543": "CGCS2000 3度带 中央经线102°，不带带号（EPSG:4543）",
        "EPSG:4545": "CGCS2000 3度带 中央经线108°，不带带号（EPSG:4545，盐池县东部）",
        "EPSG:4524": "CGCS2000 3度带 第36带（中央经线108°），带带号（EPSG:4524）",
        "EPSG:4507": "CGCS2000 6度带 中央经线105°，不带带号（EPSG:4507）",
        "EPSG:4496": "CGCS2000 6度带 第18带（中央经线105°），带带号（EPSG:4496）",
        "EPSG:4490": "CGCS2000 经纬度（EPSG:4490）",
        "EPSG:4326": "WGS84 经纬度（EPSG:4326）",
        SCHEMATIC: "无真实坐标（示意图模型）：只做水力计算，不上地图，按村—节点对照表接入",
    }
)
"""Coordinate systems offered for an ``.inp`` (any other EPSG code is accepted too)."""

_SCHEMATIC_WORDS = frozenset({SCHEMATIC, "none", "无坐标", "示意图", "示意"})


class WaterProblemKind(StrEnum):
    """Kinds of water-network problem (``Problem.kind`` of the water problems).

    ``layers.errors.ProblemKind`` lists the layer-validation kinds; these are the network
    kinds: found before the solver, by EPANET itself, or when the model meets the county.
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
    INP_ERROR = "inp_error"
    EPANET_WARNING = "epanet_warning"
    OUTSIDE_COUNTY = "outside_county"
    NO_COORDINATES = "no_coordinates"
    NOT_LINKABLE = "not_linkable"
    LOSSY_CONVERSION = "lossy_conversion"


def model_problem(
    kind: WaterProblemKind,
    *,
    file: str,
    zh: str,
    fix_zh: str,
    en: str,
    severity: Severity = Severity.WARNING,
    layer: str = "inp",
    field: str | None = None,
    value: str | None = None,
) -> Problem:
    """Return a Problem about a whole model (no row, no feature): file, section, texts."""
    return Problem(
        kind=kind,  # type: ignore[arg-type]  # a network kind, see WaterProblemKind
        file=file,
        layer=layer,
        row=None,
        feature_id=None,
        field=field,
        message_zh=zh,
        fix_zh=fix_zh,
        message=en,
        severity=severity,
        value=value,
    )


# ------------------------------------------------------------------- EPANET's texts

EPANET_ERRORS_ZH: Mapping[int, str] = MappingProxyType(
    {
        200: "输入文件有错误",
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
)
"""Chinese for EPANET 2.2's input error codes (the original text is always kept beside)."""

_WARNINGS_ZH = (
    # (pattern of EPANET's warning text, Chinese, what to check), first match wins
    (r"negative pressure", "出现负压（供水水头不足）", "检查高处节点、水源水头和管径"),
    (r"system unbalanced", "水力计算未收敛（系统不平衡）", "检查水泵、阀门的设置和过小的管径"),
    (
        r"maximum trials|hydraulically unstable",
        "超过最大迭代次数，系统可能水力不稳定",
        "检查控制规则是否互相冲突、阀门设定是否合理",
    ),
    (
        r"additional nodes disconnected",
        "另有多个节点与水源断开",
        "检查关闭的管道、阀门或缺少的连接管",
    ),
    (r"node disconnected", "节点与水源断开", "检查关闭的管道、阀门或缺少的连接管"),
    (r"system disconnected", "管网因某条管段关闭而断开", "检查该管段的状态和控制规则"),
    (r"exceeds maximum flow", "水泵流量超过其特性曲线的最大流量", "检查水泵特性曲线和下游用水"),
    (r"cannot deliver head", "水泵扬程不足", "检查水泵特性曲线和控制规则"),
    (r"cannot deliver (flow|pressure)", "阀门达不到设定的流量或压力", "检查阀门设定值"),
    (r"pumps? cannot deliver", "水泵无法提供所需的流量或扬程", "检查水泵特性曲线和控制规则"),
    (r"valves? cannot deliver", "阀门无法提供所需的流量", "检查阀门设定值"),
)
_ELEMENT = re.compile(
    r"\b(Pump|Valve|PRV|PSV|PBV|FCV|TCV|GPV|Node|Link|Junction|Tank|Reservoir)\s+(\S+)"
)
_TIME = re.compile(r"\s*at\s+(\d+:\d\d:\d\d)\s*hrs")


# ----------------------------------------------------------------------- the model


@dataclass(frozen=True, eq=False)
class InpModel:
    """An EPANET model as the user gave it, with its declared coordinate system.

    Attributes
    ----------
    name : str
        File name (``Net3.inp``).
    text : str
        The file's text (decoded from UTF-8 or GB18030).
    crs : str or None
        Declared CRS of ``[COORDINATES]`` (``"EPSG:4544"``); None for a schematic model.
    encoding : str
        The encoding the file was decoded from.
    problems : tuple of Problem
        Notes of EPANET's reader (warnings; a file with errors is never an InpModel).
    village_nodes : mapping of str to str
        Explicit natural village id → junction name (the only links of a schematic model;
        for a geographic model they take precedence over the nearest junction).
    """

    name: str
    text: str
    crs: str | None
    encoding: str = "utf-8"
    problems: tuple[Problem, ...] = ()
    village_nodes: Mapping[str, str] = field(default_factory=dict)

    @property
    def schematic(self) -> bool:
        """True when the model has no real coordinates."""
        return self.crs is None

    @cached_property
    def sha256(self) -> str:
        """SHA-256 of the text, the declared CRS and the village → node table."""
        h = hashlib.sha256(self.text.encode("utf-8"))
        h.update(f"\0{self.crs}\0".encode())
        for k in sorted(self.village_nodes):
            h.update(f"{k}\t{self.village_nodes[k]}\n".encode())
        return h.hexdigest()

    @cached_property
    def node_xy(self) -> np.ndarray:
        """Node coordinates as written in ``[COORDINATES]``, shape (n, 2); NaN where none."""
        wn = self.network()
        xy = np.full((wn.num_nodes, 2), np.nan)
        for k, (_, node) in enumerate(wn.nodes()):
            c = node.coordinates
            if c is not None and len(c) == 2:
                xy[k] = c
        return xy

    def network(self) -> wntr.network.WaterNetworkModel:
        """Parse the text into a new WNTR model (a fresh copy on every call)."""
        wn, _ = _parse(self.text, self.name)
        return wn

    def with_village_nodes(self, table: Mapping[str, str]) -> InpModel:
        """Return a copy with an explicit village id → junction name table."""
        clean = {str(k).strip(): str(v).strip() for k, v in table.items() if str(v).strip()}
        return replace(self, village_nodes=MappingProxyType(clean))


def parse_inp_crs(crs: str | int | None, *, file: str = "") -> str | None:
    """Return the canonical declaration: ``"EPSG:n"``, or None for a schematic model.

    Raises
    ------
    CRSError
        Nothing was declared, or the declaration is not a coordinate system.
    """
    where = f"{file}：" if file else ""
    if crs is None or (isinstance(crs, str) and not crs.strip()):
        raise CRSError(
            f"{file or 'the .inp'}: declare the coordinate system of its [COORDINATES] "
            "(e.g. EPSG:4544 for CGCS2000 GK CM 105°E, or 'schematic' for a model without "
            "real coordinates); GapMap never assumes one",
            zh=f"{where}请声明 EPANET 模型 [COORDINATES] 的坐标系（如 CGCS2000 3度带 "
            "EPSG:4544；示意图模型选「无真实坐标」）。GapMap 不会替您假定坐标系",
        )
    if isinstance(crs, str) and crs.strip().lower() in _SCHEMATIC_WORDS:
        return None
    try:
        parsed = CRS.from_user_input(int(crs) if str(crs).strip().isdigit() else crs)
    except (ProjCRSError, TypeError, ValueError):
        raise CRSError(
            f"{file or 'the .inp'}: {crs!r} is not a coordinate system; give an EPSG code "
            "such as EPSG:4544",
            zh=f"{where}“{crs}”不是有效的坐标系，请填写 EPSG 代码（如 EPSG:4544）",
        ) from None
    epsg = parsed.to_epsg()
    return f"EPSG:{epsg}" if epsg else parsed.to_wkt()


def _decode(raw: bytes, name: str) -> tuple[str, str]:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(encoding), "utf-8" if encoding == "utf-8-sig" else encoding
        except UnicodeDecodeError:
            continue
    raise LayerReadError(
        f"{name}: text encoding not recognised; save it as UTF-8 and load it again",
        zh=f"{name} 的文字编码无法识别，请另存为 UTF-8 后重新导入",
    )


def _section_of(text: str, line_no: int) -> str | None:
    """Return the ``[SECTION]`` that line ``line_no`` (1-based) of ``text`` belongs to."""
    section = None
    for line in text.splitlines()[:line_no]:
        m = re.match(r"\s*\[([A-Za-z_]+)\]", line)
        if m:
            section = m.group(1).upper()
    return section


def _inp_error(name: str, text: str, exc: BaseException, tmp: str) -> LayerReadError:
    """Return a located, bilingual error for an ``.inp`` that EPANET's reader refused."""
    chain: list[BaseException] = []
    e: BaseException | None = exc
    while e is not None and e not in chain:
        chain.append(e)
        e = e.__cause__ or e.__context__
    code, line_no, line_text, detail = 0, None, None, ""
    for e in chain:  # the outermost EPANET error says "error 200"; prefer a located one
        msg = e.args[0] if e.args and isinstance(e.args[0], str) else str(e)
        m = re.match(r"\(Error (\d+)\) (.*)", msg, re.S)
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
        detail = f"{type(deepest).__name__}: {deepest}"
    detail = " ".join(detail.replace(tmp, "").split())  # no temp paths, tabs or newlines
    line_text = " ".join(line_text.split()) if line_text else None
    detail = re.sub(r"\s*\(?%[sd]\)?", "", detail).strip()  # WNTR leaves "(%s)" unfilled
    section = _section_of(text, line_no) if line_no else None
    where = name + (f", line {line_no}" if line_no else "") + (f" [{section}]" if section else "")
    where_zh = (
        name + (f" 第 {line_no} 行" if line_no else "") + (f"（[{section}] 节）" if section else "")
    )
    what_zh = EPANET_ERRORS_ZH.get(code, "内容无法解析")
    return LayerReadError(
        f"{where}: not a valid EPANET .inp file ({detail})"
        + (f": {line_text}" if line_text else "")
        + ". Open the file in EPANET, fix this line and load it again.",
        zh=f"{where_zh}：EPANET 模型文件有错误——{what_zh}（原文：{detail}）"
        + (f"：{line_text}" if line_text else "")
        + "。请用 EPANET 打开该文件，修改这一行后重新导入。",
    )


def _parse(text: str, name: str) -> tuple[wntr.network.WaterNetworkModel, list[Problem]]:
    """Parse ``text`` with WNTR's reader; return the model and the reader's notes."""
    import wntr

    with tempfile.TemporaryDirectory(prefix="gapmap-inp-") as tmp:
        src = Path(tmp) / "model.inp"
        src.write_text(text, encoding="utf-8")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                wn = wntr.network.WaterNetworkModel(str(src))
            except Exception as exc:  # any reader failure becomes one located LayerReadError
                logger.debug("WNTR could not read %s", name, exc_info=True)
                raise _inp_error(name, text, exc, str(src)) from None
        notes = [" ".join(str(w.message).replace(str(src), name).split()) for w in caught]
    wn.name = name
    problems = [
        model_problem(
            WaterProblemKind.INP_WARNING,
            file=name,
            zh=f"读取 EPANET 模型时的提示（原文：{note}）",
            fix_zh="一般不影响计算；如有疑问请在 EPANET 中检查",
            en=f"note while reading the .inp: {note}",
        )
        for note in notes
    ]
    return wn, problems


def inp_from_bytes(data: bytes, name: str, *, crs: str | int | None) -> InpModel:
    """Read an ``.inp`` from its bytes (an upload); see :func:`read_inp`."""
    name = Path(name).name
    declared = parse_inp_crs(crs, file=name)
    text, encoding = _decode(data, name)
    _, problems = _parse(text, name)
    return InpModel(name=name, text=text, crs=declared, encoding=encoding, problems=tuple(problems))


def read_inp(path: str | os.PathLike[str], *, crs: str | int | None) -> InpModel:
    """Read an EPANET ``.inp`` file (UTF-8, or GB18030 as Chinese EPANET editions save it).

    Parameters
    ----------
    path : path-like
        The ``.inp`` file.
    crs : str or int
        The coordinate system of its ``[COORDINATES]``: an EPSG code (``"EPSG:4544"``,
        ``4524``) or :data:`SCHEMATIC` for a model without real coordinates. Required.

    Returns
    -------
    InpModel

    Raises
    ------
    LayerReadError
        The file is missing, undecodable, or EPANET's reader refuses it (file, line,
        section and EPANET's text in the message).
    CRSError
        No coordinate system declared, or not a valid one.
    """
    path = Path(path)
    if not path.is_file():
        raise LayerReadError(f"EPANET file not found: {path}", zh=f"找不到 EPANET 模型文件：{path}")
    return inp_from_bytes(path.read_bytes(), path.name, crs=crs)


def write_inp(
    wn: wntr.network.WaterNetworkModel,
    path: str | os.PathLike[str],
    *,
    inputs: tuple[Path, ...] = (),
) -> Path:
    """Write ``wn`` as an EPANET 2.2 ``.inp`` (SI units of the model), atomically."""
    import wntr

    units = wn.options.hydraulic.inpfile_units or "LPS"
    with atomic_path(Path(path), inputs=inputs) as tmp:
        wntr.network.write_inpfile(wn, str(tmp), units=units, version=2.2)
    return Path(path)


_VILLAGE_COLS = ("id", "village_id", "自然村编码", "自然村编号", "自然村代码", "编号", "编码")
_NODE_COLS = ("node", "water_node", "节点", "供水节点", "节点编号", "节点名")


def read_village_nodes(path: str | os.PathLike[str]) -> dict[str, str]:
    """Read a village → junction table (CSV or XLSX: a village id column and a node column).

    Columns are recognised by name: ``id``/``自然村编码``… and ``node``/``供水节点``….

    Raises
    ------
    LayerReadError
        The file cannot be read, a column is missing, or a village appears twice (row named).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in {".csv", ".txt", ".xlsx"}:
        raise LayerReadError(
            f"{path.name}: a village → node table must be a CSV or XLSX file",
            zh=f"{path.name} 不是 CSV 或 XLSX 文件：请把村—节点对照表另存为 XLSX 或 UTF-8 CSV",
        )
    try:
        if suffix == ".xlsx":
            frame = pd.read_excel(path, dtype=str, engine="openpyxl")
        else:
            try:
                frame = pd.read_csv(path, dtype=str, encoding="utf-8-sig")
            except UnicodeDecodeError:
                frame = pd.read_csv(path, dtype=str, encoding="gb18030")
    except (OSError, ValueError, UnicodeDecodeError, KeyError) as exc:
        raise LayerReadError(
            f"{path.name}: cannot be read as a village → node table ({exc})",
            zh=f"{path.name} 无法读取为村—节点对照表：文件可能已损坏，请重新另存为 XLSX 或 "
            "UTF-8 CSV 后上传",
        ) from exc
    cols = {str(c).strip(): c for c in frame.columns}
    vcol = next((cols[c] for c in _VILLAGE_COLS if c in cols), None)
    ncol = next((cols[c] for c in _NODE_COLS if c in cols), None)
    if vcol is None or ncol is None:
        raise LayerReadError(
            f"{path.name}: needs a village id column (id/自然村编码) and a node column "
            f"(node/供水节点); found {list(cols)}",
            zh=f"{path.name} 需要「自然村编码」和「供水节点」两列，现有列：{list(cols)}",
        )
    ids = frame[vcol].fillna("").astype(str).str.strip()
    dup = ids.duplicated(keep="first") & (ids != "")
    if dup.any():
        row = int(np.flatnonzero(dup.to_numpy())[0]) + 2  # header is row 1
        raise LayerReadError(
            f"{path.name}, row {row}: village {ids[dup].iloc[0]!r} appears twice; keep one row",
            zh=f"{path.name} 第 {row} 行：自然村 {ids[dup].iloc[0]} 重复出现，请只保留一行",
        )
    nodes = frame[ncol].fillna("").astype(str).str.strip()
    keep = (ids != "") & (nodes != "")
    return dict(zip(ids[keep], nodes[keep], strict=True))


# --------------------------------------------------------------- solver warnings


def epanet_warnings(report: str, *, file: str) -> list[Problem]:
    """Group the ``WARNING:`` lines of an EPANET report into one Problem per kind.

    Parameters
    ----------
    report : str
        The text of EPANET's ``.rpt`` file.
    file : str
        The model's file name, for the records.

    Returns
    -------
    list of Problem
        Warnings with the Chinese meaning, the times they occurred and EPANET's own line.
    """
    found: dict[str, list[str]] = {}
    lines: dict[str, str] = {}
    elements: dict[str, list[str]] = {}
    for line in report.splitlines():
        if "WARNING:" not in line:
            continue
        text = " ".join(line.split("WARNING:", 1)[1].split())
        at = _TIME.search(text)
        key = _TIME.sub("", text).rstrip(".")
        named = [f"{kind} {name}" for kind, name in _ELEMENT.findall(key)]
        key = re.sub(r"\b\d+\b", "N", _ELEMENT.sub(r"\1", key))  # one record per kind
        found.setdefault(key, []).append(at.group(1) if at else "")
        lines.setdefault(key, " ".join(line.split()))
        elements.setdefault(key, [])
        elements[key] += [e for e in named if e not in elements[key]]
    problems = []
    for key, times in found.items():
        zh, fix = next(
            ((z, f) for pat, z, f in _WARNINGS_ZH if re.search(pat, key, re.I)),
            ("EPANET 警告", "请在 EPANET 中打开模型检查"),
        )
        shown = [t for t in times if t]
        when = (
            f"，共 {len(times)} 次（{shown[0]} 至 {shown[-1]}）"
            if len(shown) > 1
            else (f"，于 {shown[0]}" if shown else "")
        )
        names = elements[key]
        who = (
            "，涉及 " + "、".join(names[:5]) + (f" 等 {len(names)} 个" if len(names) > 5 else "")
            if names
            else ""
        )
        problems.append(
            model_problem(
                WaterProblemKind.EPANET_WARNING,
                file=file,
                layer="epanet",
                zh=f"EPANET 计算警告：{zh}{who}{when}（原文：{lines[key]}）",
                fix_zh=fix,
                en=f"EPANET warning ({len(times)}×): {lines[key]}",
                value=str(len(times)),
            )
        )
    return problems


# ------------------------------------------------------------------ place checks


def _inside_share(xy: np.ndarray, crs: str, area: shapely.Geometry) -> float:
    """Share of the points (any CRS) that fall inside ``area`` (EPSG:4326)."""
    try:
        pts = gpd.GeoSeries(shapely.points(xy), crs=crs).to_crs(4326)
    except (ProjCRSError, ValueError):
        return 0.0
    ok = np.isfinite(shapely.get_coordinates(pts.to_numpy())).all(axis=1)
    if not ok.any():
        return 0.0
    return float(shapely.contains_xy(area, *shapely.get_coordinates(pts.to_numpy()[ok]).T).mean())


def extent_problems(
    xy: np.ndarray,
    crs: str | None,
    county: gpd.GeoDataFrame | None,
    *,
    file: str,
    buffer_m: float = 5000.0,
    inside_min_share: float = 0.5,
) -> list[Problem]:
    """Check a model's node coordinates against the county in its declared CRS.

    Parameters
    ----------
    xy : ndarray of shape (n, 2)
        Node coordinates as written in ``[COORDINATES]`` (NaN where a node has none).
    crs : str or None
        The declared CRS (None: schematic, nothing to check).
    county : GeoDataFrame or None
        The county boundary (EPSG:4326); without it nothing is checked.
    file : str
        The model's file name, for the records.
    buffer_m : float, optional
        Tolerance around the boundary (metres); intakes often lie outside it.
    inside_min_share : float, optional
        Share of nodes that must fall inside the buffered county.

    Returns
    -------
    list of Problem
        An error when the network lies outside the county (with the share inside, and
        the declared systems under which it would fall inside); a warning when nodes have
        no coordinates.
    """
    if crs is None or county is None or county.empty:
        return []
    has = np.isfinite(xy).all(axis=1) if len(xy) else np.zeros(0, dtype=bool)
    out: list[Problem] = []
    if len(xy) and not has.all():
        out.append(
            model_problem(
                WaterProblemKind.NO_COORDINATES,
                file=file,
                field="[COORDINATES]",
                zh=f"模型中有 {int((~has).sum())} 个节点没有坐标，这些节点不上地图、"
                "不按距离接入自然村",
                fix_zh="在 EPANET 中补齐 [COORDINATES]，或用村—节点对照表接入",
                en=f"{int((~has).sum())} nodes have no coordinates in [COORDINATES]",
            )
        )
    if not has.any():
        return out
    from layers.crs import metric_crs

    metric = county.to_crs(metric_crs(county))
    area = gpd.GeoSeries(metric.union_all().buffer(buffer_m), crs=metric.crs).to_crs(4326)
    area = area.iloc[0]
    shapely.prepare(area)
    share = _inside_share(xy[has], crs, area)
    if share >= inside_min_share:
        return out
    hints = []
    for cand in CRS_CHOICES:
        for swapped in (False, True):  # survey exports often write X = northing first
            if cand == SCHEMATIC or (cand == crs and not swapped):
                continue
            s = _inside_share(xy[has][:, ::-1] if swapped else xy[has], cand, area)
            if s >= inside_min_share:
                hints.append((s, cand + ("，但 X、Y 写反了，需在模型中交换" if swapped else "")))
    hints.sort(reverse=True)
    hint_zh = (
        "；按 " + "、".join(f"{c}（{s:.0%} 落在县内）" for s, c in hints[:3]) + " 解释则在县内"
        if hints
        else "；常见的宁夏坐标系都对不上，请向建模单位确认坐标系，示意图模型请选「无真实坐标」"
    )
    hint_en = (
        "; it would fall inside as " + ", ".join(f"{c} ({s:.0%})" for s, c in hints[:3])
        if hints
        else "; no usual Ningxia system fits: ask who built the model, or declare it schematic"
    )
    x0, y0 = np.nanmin(xy[has], axis=0)
    x1, y1 = np.nanmax(xy[has], axis=0)
    county_name = str(county["name"].iloc[0]) if "name" in county.columns else "本县"
    out.append(
        model_problem(
            WaterProblemKind.OUTSIDE_COUNTY,
            file=file,
            field="[COORDINATES]",
            zh=f"按声明的坐标系 {crs}，模型只有 {share:.0%} 的节点落在{county_name}"
            f"（含 {buffer_m / 1000:g} 公里缓冲）内：坐标范围 X {x0:.0f}–{x1:.0f}、"
            f"Y {y0:.0f}–{y1:.0f}{hint_zh}",
            fix_zh="重新选择正确的坐标系后再导入；模型不会被当作本县管网使用",
            en=f"as {crs} only {share:.0%} of the nodes fall inside the county "
            f"(+{buffer_m / 1000:g} km): X {x0:.0f}–{x1:.0f}, Y {y0:.0f}–{y1:.0f}{hint_en}",
            severity=Severity.ERROR,
            value=f"{share:.3f}",
        )
    )
    return out
