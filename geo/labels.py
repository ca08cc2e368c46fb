"""The Chinese labels of the analyses' result codes, per column.

Kept apart from :mod:`geo.report` (which imports :mod:`geo.assessment` and, through the
terrain analysis, rasterio) so that the indicator functions of a roll-up can use them
without importing the whole assessment. :data:`geo.report.VALUE_ZH` is this table plus
the water analysis' labels.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from geo.indicators.table import GROUP_ZH

__all__ = [
    "BEIJING",
    "CAUSE_ZH",
    "MISSING_ZH",
    "SECTION_ZH",
    "UNREACHABLE_ZH",
    "VALUE_ZH",
    "beijing_text",
    "cause_zh",
    "item_key_zh",
]

BEIJING = timezone(timedelta(hours=8), "北京时间")
"""Asia/Shanghai (UTC+8, no daylight saving): the time every table and workbook shows."""

MISSING_ZH = "—"
"""What a table shows in a cell with no value (NaN, None, not applicable)."""

UNREACHABLE_ZH = "不可达"
"""What a table shows for an infinite time or distance (no path on the network)."""

VALUE_ZH: dict[str, dict[str, str]] = {
    "status": {
        "connected": "已通硬化路",
        "not_connected": "未通硬化路",
        "below_threshold": "不足20户",
        "excluded": "不具备建设条件",
    },
    "reason": {
        "only_unpaved": "仅有砂石/土路连接",
        "unverified_surface": "路面类型未知（需核实）",
        "network_gap": "路网断头（未与干线连通）",
        "no_road": "附近无道路",
        "relocation_planned": "规划搬迁撤并",
        "terrain_too_steep": "地形不具备建设条件（连接线平均坡度超限）",
        "no_buildable_route": "地形不具备建设条件（无可建线路：陡坡或禁建区阻隔）",
        "": "",
    },
    "scope": {"target": "20户以上", "below_threshold": "不足20户", "excluded": "不具备建设条件"},
    "kind": {
        "harden": "路面硬化",
        "new": "新建道路",
        "dangle_gap": "疑似断头（数字化缺口）",
        "component": "孤立路网",
    },
    "unit_kind": {
        "relocation_site": "移民安置区",
        "natural_village": "自然村",
        "admin_village": "行政村",
        "township": "乡镇",
        "water_source": "水厂（水源）",
        "county": "县",
    },
    "group": dict(GROUP_ZH),
    "cl_status": {
        "ok": "达标",
        "no_clinic": "无卫生室",
        "no_doctor": "卫生室无医生",
        "short_of_doctors": "村医不足",
        "exempt_host": "豁免（乡镇卫生院所在村）",
        "exempt_shared": "豁免（联合设置）",
        "": "",
    },
    "comparison": {">=": "≥", "<=": "≤", ">": "＞", "<": "＜", "==": "＝"},
    "link": {"explicit": "指定节点", "nearest": "就近节点", "none": "未接入管网"},
    "route": {"straight": "直线", "least_cost": "沿地形最省路线", "none": "无可建线路"},
}
"""Chinese labels of result codes, per column."""

CAUSE_ZH: dict[str, str] = {
    **{k: v for k, v in VALUE_ZH["reason"].items() if k},
    **{k: v for k, v in VALUE_ZH["cl_status"].items() if k and k != "ok"},
    "ok": "达标",
    "below_threshold": "不足20户",
    "narrow": "路面宽度不足",
    "no_health_centre": "无乡镇卫生院",
    "off_network": "距道路超过吸附距离，无法计算路网距离",
    "unreachable": "路网不连通，无法到达",
    "no_facility": "全县无此类设施",
    "beyond_radius": "超出服务半径",
    "boarding": "由寄宿制学校服务",
    "beyond_limit": "超出时间要求",
    "below_population": "人口不足，不要求设置",
    "no_kindergarten": "无幼儿园",
    "no_elderly_care": "无养老服务设施",
    "outside_coverage": "不在5G覆盖范围内",
    "not_covered": "未通千兆光纤",
    "not_key_village": "非重点村（不纳入）",
    "key_village_unknown": "是否重点村未知",
    "not_treated": "生活污水未治理",
    "beyond_collection": "超出垃圾收运范围",
    "below_min": "低于最低要求",
    "below_target": "低于目标值",
    "unsafe_dwellings": "有危窑危房",
    "no_layer": "缺少该图层（无数据）",
    "no_data": "无数据",
}
"""Chinese text of the indicators' ``cause`` codes (outcome and problem rows).

A code's meaning can depend on the indicator (``off_network`` is 未通自来水 for water):
:func:`cause_zh` takes the indicator's own labels first."""

SECTION_ZH: dict[str, str] = {
    "": "方案",
    "indicators": "指标表",
    "network": "路网",
    "hard_road": "通硬化路",
    "services": "一刻钟生活圈",
    "clinics": "医疗卫生",
    "water": "供水",
    "projects": "项目库",
    "terrain": "地形",
    "server": "服务器",
    "region": "全区汇总",
    "targets": "目标值",
    "education": "教育",
    "elderly": "养老",
    "environment": "人居环境",
}
"""Chinese names of the settings sections (:meth:`geo.settings.Settings.as_records`)."""


def cause_zh(cause: str, *, own: Mapping[str, str] | None = None) -> str:
    """Return the Chinese text of a ``cause`` code (``missing:药店`` → 15分钟内缺少药店).

    Parameters
    ----------
    cause : str
        The code; several joined by ``;`` are translated one by one (joined by ``；``).
    own : mapping, optional
        The indicator's own labels, taken before :data:`CAUSE_ZH`.

    Returns
    -------
    str
        The text; an unknown code is returned as it is, ``""`` stays ``""``.
    """
    parts = []
    for code in str(cause).split(";"):
        if not code:
            continue
        if own is not None and code in own:
            parts.append(own[code])
        elif code.startswith("missing:"):
            parts.append(f"15分钟内缺少{code.removeprefix('missing:')}")
        else:
            parts.append(CAUSE_ZH.get(code, code))
    return "；".join(parts)


def item_key_zh(key: str, names_zh: Mapping[str, str]) -> str:
    """Return a problem key as people read it: the indicator's Chinese name, then the unit.

    ``hard_road:640324100203-03`` → ``20户以上自然村通硬化路·640324100203-03``,
    ``services:YM03:药店`` → ``一刻钟便民生活服务圈·YM03·药店``. Unique as the keys are
    (the indicator's name stands for its code); the stored key is unchanged.

    Parameters
    ----------
    key : str
        ``<indicator code>:<unit>[:<kind>]``.
    names_zh : mapping
        Indicator code → Chinese name (:attr:`geo.indicators.IndicatorTable.names_zh`).
    """
    code, sep, rest = str(key).partition(":")
    if not sep:
        return str(key)
    return f"{names_zh.get(code, code)}·{rest.replace(':', '·')}"


def beijing_text(value: Any, *, seconds: bool = False) -> str:
    """Return a moment as people here read it: ``2026-12-02 18:30`` in Beijing time.

    Parameters
    ----------
    value : str, datetime, pandas.Timestamp or None
        An ISO 8601 text (``2026-12-02T10:30:00+00:00``, as the stores keep it) or a
        datetime; one without a zone is taken as UTC (what the stores write).
    seconds : bool
        Keep the seconds (a ledger history, where two edits may fall in one minute).

    Returns
    -------
    str
        ``YYYY-MM-DD HH:MM`` (UTC+8); "—" for a missing value; a text that is not a time is
        returned unchanged.
    """
    if value is None or (isinstance(value, float) and value != value):
        return MISSING_ZH
    if isinstance(value, str):
        if not value.strip():
            return MISSING_ZH
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return value
    elif isinstance(value, datetime):  # pandas.Timestamp too
        if value != value:  # NaT
            return MISSING_ZH
        moment = value
    elif isinstance(value, date):
        return value.isoformat()
    else:
        return str(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return f"{moment.astimezone(BEIJING):%Y-%m-%d %H:%M{':%S' if seconds else ''}}"
