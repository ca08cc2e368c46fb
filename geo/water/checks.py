"""Water-network checks before the solver: names, sizes, tanks, sources, connectivity.

Every problem is a :class:`layers.errors.Problem` with the file, layer, row or element and
field, in Chinese and English (the message table ``_TEXTS``). Errors stop
:func:`geo.water.run_hydraulics`; warnings are shown beside the results.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.sparse import csgraph

from layers.epanet import WaterProblemKind
from layers.errors import NetworkError, Problem, Severity

if TYPE_CHECKING:
    import wntr  # imported where used: it takes seconds and most runs have no water

__all__ = ["WaterNetworkError", "WaterProblemKind"]

_ID_OK = re.compile(r'^[^\s;"]+$')
_MAX_ID_BYTES = 31  # EPANET 2.2 MAXID


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
        "自然村记为“所接管网无水源”",
        "检查是否缺少连接管道或节点名写错；如确实未接通，请列入整改台账",
        "nodes {shown} have no path to any reservoir or tank; they are left out of the run "
        "and their villages are reported as disconnected (check for a missing pipe)",
    ),
    "unknown_water_node": (
        WaterProblemKind.UNKNOWN_WATER_NODE,
        "自然村 {name} 的供水节点“{node}”不是管网中可接水的用水节点，已改用 {snap:g} m 内"
        "最近的节点 {nearest}",
        "改正自然村图层的 water_node 字段（或村—节点对照表），填写管网中的用水节点名",
        "village {name}: water_node {node!r} is not a junction a village can draw from; the "
        "nearest junction within {snap:g} m ({nearest}) is used instead",
    ),
    "unknown_water_node_none": (
        WaterProblemKind.UNKNOWN_WATER_NODE,
        "自然村 {name} 的供水节点“{node}”不是管网中可接水的用水节点，{snap:g} m 内也没有"
        "用水节点，按未通自来水计",
        "改正自然村图层的 water_node 字段（或村—节点对照表），填写管网中的用水节点名",
        "village {name}: water_node {node!r} is not a junction a village can draw from and "
        "no junction lies within {snap:g} m; the village counts as off the network",
    ),
    "unknown_water_node_schematic": (
        WaterProblemKind.UNKNOWN_WATER_NODE,
        "自然村 {name} 的供水节点“{node}”不在模型中；示意图模型不按距离接入，按未通自来水计",
        "改正村—节点对照表中该村的节点名",
        "village {name}: node {node!r} is not a junction of the schematic model (which is "
        "linked by name only); the village counts as off the network",
    ),
    "not_linkable": (
        WaterProblemKind.NOT_LINKABLE,
        "自然村 {name} 的供水节点“{node}”是水源、水池或水泵吸水端，村庄不能直接从这里接水",
        "填写水泵出水侧或配水管网中的用水节点",
        "village {name}: node {node!r} is a reservoir, tank or pump suction node; villages "
        "draw from junctions of the distribution network",
    ),
    "unknown_table_village": (
        WaterProblemKind.NOT_LINKABLE,
        "村—节点对照表中的自然村 {shown} 不在自然村图层中，这些行未使用",
        "改正对照表中的自然村编码（应与自然村图层的编号一致）",
        "{n} villages of the village → node table ({shown}) are not in natural_villages; "
        "those rows are not used",
    ),
    "pipes_not_in_model": (
        WaterProblemKind.UNKNOWN_ELEMENT,
        "供水管道图层中的管道 {shown} 不在 EPANET 模型中，未参与水力计算（计算按水务局的"
        "模型；缺少端点节点、管径，或与模型差别太大，不能自动加入）",
        "规划或新建的管道请在 EPANET 模型中添加后重新导入模型；或改回按供水图层建模",
        "{n} pipes of the water_pipes layer ({shown}) are not in the EPANET model and are not "
        "simulated (the model runs as given); add them to the model",
    ),
    "schematic_unlinked": (
        WaterProblemKind.NOT_LINKABLE,
        "示意图模型（无真实坐标）没有村—节点对照表：只做水力计算，自来水普及率无法计算（无数据）",
        "上传村—节点对照表（自然村编码、供水节点两列），或重新导入并声明模型的真实坐标系",
        "schematic model without a village → node table: hydraulics only, no tap-water "
        "rate (add a table with village id and node columns)",
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
_WARNING_KEYS = frozenset(
    {
        "disconnected",
        "tanks_only",
        "unknown_water_node",
        "unknown_water_node_none",
        "unknown_water_node_schematic",
        "not_linkable",
        "schematic_unlinked",
        "unknown_table_village",
        "pipes_not_in_model",
    }
)


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


def _valid_id(names: pd.Series) -> np.ndarray:
    """Return True where a name is a legal EPANET ID (no blanks, ``;``, ``"``; ≤ 31 bytes)."""
    s = names.astype(str)
    ok = s.str.match(_ID_OK).to_numpy(dtype=bool)
    nbytes = s.map(lambda x: len(x.encode("utf-8"))).to_numpy(dtype=int)
    return ok & (nbytes <= _MAX_ID_BYTES)


def _summarise(problems: list[Problem], *, limit: int = 10) -> list[Problem]:
    """Return ``problems`` (all of one kind), or one record for them when over ``limit``.

    The summary keeps the location: the rows (first ones listed) and the first example.
    """
    if len(problems) <= limit:
        return problems
    first = problems[0]
    rows = [str(p.row) for p in problems if p.row is not None]
    shown = "、".join(rows[:8]) + (" 等" if len(rows) > 8 else "")
    return [
        Problem(
            kind=first.kind,
            file=first.file,
            layer=first.layer,
            row=None,
            feature_id=first.feature_id,
            field=first.field,
            message_zh=f"共 {len(problems)} 个自然村有此问题（第 {shown} 行），"
            f"例如：{first.message_zh}",
            fix_zh=first.fix_zh,
            message=f"{len(problems)} villages (rows {', '.join(rows[:8])} …), e.g. "
            f"{first.message}",
            severity=first.severity,
            value=str(len(problems)),
        )
    ]
