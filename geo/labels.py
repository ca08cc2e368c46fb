"""The Chinese labels of the analyses' result codes, per column.

Kept apart from :mod:`geo.report` (which imports :mod:`geo.assessment` and, through the
terrain analysis, rasterio) so that the indicator functions of a roll-up can use them
without importing the whole assessment. :data:`geo.report.VALUE_ZH` is this table plus
the water analysis' labels.
"""

from __future__ import annotations

from geo.indicators.table import GROUP_ZH

__all__ = ["VALUE_ZH"]

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
}
"""Chinese labels of result codes, per column."""
