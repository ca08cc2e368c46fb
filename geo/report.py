"""Turn an :class:`geo.assessment.Assessment` into result layers and report sheets.

``result_layers`` gives the GeoPackage layers (English field names, EPSG:4326);
``report_sheets`` gives the XLSX sheets with Chinese headers and values, a roll-up sheet
and the settings used on their own sheet. The Chinese labels of result codes live here,
in one place, so that the CLI report and the app say the same words.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from geo.assessment import Assessment
from geo.indicators import (
    BUILTIN_CODES,
    OUTCOME_COLUMNS_ZH,
    OUTCOME_STATUS_ZH,
    IndicatorTable,
)
from geo.labels import MISSING_ZH, SECTION_ZH, UNREACHABLE_ZH, cause_zh, item_key_zh
from geo.labels import VALUE_ZH as ANALYSIS_VALUE_ZH
from geo.water import REASONS_ZH

__all__ = [
    "COLUMN_ZH",
    "VALUE_ZH",
    "indicator_sheet_name",
    "outcome_sheet",
    "problem_sheet",
    "report_sheets",
    "result_layers",
    "zh_cells",
]

VALUE_ZH: dict[str, dict[str, str]] = {
    **ANALYSIS_VALUE_ZH,
    "water_status": dict(REASONS_ZH),  # the water labels live with the water analysis
    "supply_class": dict(REASONS_ZH),
    "severity": {"error": "错误", "warning": "提示"},
}
"""Chinese labels of result codes, per column (:data:`geo.labels.VALUE_ZH` and water's)."""

COLUMN_ZH: dict[str, str] = {
    "id": "编号",
    "name": "名称",
    "code": "代码",
    "admin_village_code": "行政村代码",
    "township_code": "乡镇代码",
    "households": "户数",
    "population": "人口",
    "scope": "范围",
    "connected": "是否通硬化路",
    "status": "状态",
    "reason": "原因",
    "snap_dist_m": "距最近道路(米)",
    "trunk_dist_m": "硬化路网距干线(米)",
    "harden_km": "需硬化(公里)",
    "new_km": "需新建(公里)",
    "cost_wan": "估算投资(万元)",
    "link_mean_slope_pct": "新建连接线平均坡度(%)",
    "min_width_m": "路径最窄路面(米)",
    "width_ok": "路面宽度达标",
    "village_id": "自然村编号",
    "kind": "类别",
    "length_km": "长度(公里)",
    "road_ids": "涉及道路编号",
    "unit_id": "单元编号",
    "unit_kind": "单元类型",
    "on_network": "是否接入路网",
    "missing_kinds": "15分钟内缺少的设施",
    "ok": "是否达标",
    "facility_id": "设施编号",
    "facility_name": "设施名称",
    "minutes": "步行时间(分钟)",
    "distance_m": "路网距离(米)",
    "limit_min": "时间要求(分钟)",
    "reach_km": "可达道路(公里)",
    "n_health_centres": "卫生院数",
    "doctors": "医生数",
    "blank": "是否空白点",
    "n_clinics": "卫生室数",
    "doctors_required": "应配医生数",
    "served_by": "联合设置服务机构",
    "clinic_min": "到卫生室时间(分钟)",
    "clinic_id": "最近卫生室",
    "health_centre_min": "到卫生院时间(分钟)",
    "health_centre_id": "最近卫生院",
    "clinic_ok": "卫生室可达",
    "health_centre_ok": "卫生院可达",
    "hr_target": "20户以上自然村数",
    "hr_connected": "已通硬化路数",
    "hr_not_connected": "未通硬化路数",
    "hr_rate_pct": "通硬化路率(%)",
    "hr_households_not_connected": "未通户数",
    "hr_population_not_connected": "未通人口",
    "hr_below_threshold": "不足20户自然村数",
    "hr_excluded": "不具备条件自然村数",
    "hr_narrow": "路面宽度不足数",
    "hr_harden_km": "需硬化(公里)",
    "hr_new_km": "需新建(公里)",
    "hr_cost_wan": "估算投资(万元)",
    "sv_sites": "移民安置区数",
    "sv_ok": "生活圈达标数",
    "sv_not_ok": "生活圈未达标数",
    "sv_rate_pct": "生活圈达标率(%)",
    "sv_population_not_ok": "未达标安置人口",
    "cl_status": "卫生室状态",
    "cl_blank_admin_villages": "空白行政村数",
    "cl_short_of_doctors": "村医不足行政村数",
    "cl_population_clinic_beyond": "超时到卫生室人口",
    "cl_population_centre_beyond": "超时到卫生院人口",
    "cl_township_blank": "乡镇卫生院空白",
    "problems": "问题数",
    "indicator": "指标",
    "value": "现值",
    "unit": "单位",
    "target": "目标值",
    "comparison": "比较",
    "met": "是否达标",
    "source": "依据",
    "group": "分组",
    "department": "行业部门",
    "section": "类别",
    "gap_m": "缺口(米)",
    "component": "连通分量",
    "n_edges": "路段数",
    "node": "节点",
    "water_status": "供水状态",
    "water_reason": "供水问题",
    "link": "接入方式",
    "storeys": "层数",
    "min_pressure_m": "日最低水压(米)",
    "mean_pressure_m": "日平均水压(米)",
    "required_head_m": "所需服务水头(米)",
    "pressure_ok": "水压达标",
    "supply_lpcd": "人均供水(升/人·日)",
    "supply_class": "人均供水等级",
    "villages": "自然村数",
    "rural_population": "农村人口",
    "population_on_pipe": "自来水入户人口",
    "tap_rate_pct": "自来水普及率(%)",
    "population_off_network": "未通自来水人口",
    "population_low_pressure": "水压不足人口",
    "villages_off_network": "未通自来水自然村数",
    "villages_disconnected": "所接管网无水源自然村数",
    "villages_low_pressure": "水压不足自然村数",
    "villages_capacity_short": "水源水量不足自然村数",
    "severity": "级别",
    "file": "文件",
    "layer": "图层",
    "row": "行号",
    "feature_id": "要素",
    "field": "字段",
    "message_zh": "问题",
    "fix_zh": "修改方法",
    "surface_unverified": "路面类型待核实",
    "route": "新建线路走向",
    "straight_km": "直线距离(公里)",
    "ground_km": "地面长度(公里)",
    "mean_slope_pct": "平均坡度(%)",
    "max_slope_pct": "最大坡度(%)",
    "buildable": "具备建设条件",
    "x_weight": "计入普及率人口",
    "x_served": "通自来水人口",
    "x_children": "超出服务半径学龄儿童数",
    "x_households": "危窑危房户数",
}
"""Chinese headers for report columns."""

_KIND_SUFFIX = {"_min": "步行时间(分钟)", "_id": "最近设施", "_ok": "15分钟内"}


def result_layers(a: Assessment) -> dict[str, pd.DataFrame]:
    """Return the layers of ``results.gpkg`` (EPSG:4326 frames and roll-up tables)."""
    return {
        "hard_road_villages": a.hard_road.villages,
        "hard_road_links": a.hard_road.links,
        "service_units": a.services.units,
        "service_nearest": a.services.nearest,
        "service_isochrones": a.isochrones,
        "clinic_townships": a.clinics.townships,
        "clinic_admin_villages": a.clinics.admin_villages,
        "clinic_villages": a.clinics.villages,
        "road_network_problems": a.diagnostics,
        "rollup_townships": a.rollup.townships,
        "rollup_admin_villages": a.rollup.admin_villages,
        "rollup_county": a.rollup.county,
        **_water_frames(a),
    }


def zh_cells(frame: pd.DataFrame, *, digits: int = 3, text: bool = False) -> pd.DataFrame:
    """Return ``frame``'s cells as a table shows them: codes in Chinese, no NaN, no inf.

    Coded values of the columns of :data:`VALUE_ZH` become their labels, ``cause``
    codes their text (:func:`geo.labels.cause_zh`), booleans 是/否 (NA: 无数据), floats are
    rounded to ``digits``; an infinite number reads 不可达 and a missing value "—"
    (:data:`geo.labels.MISSING_ZH`). Headers are kept; the input is not changed.

    Parameters
    ----------
    frame : DataFrame
        Result rows (a geometry column is dropped).
    digits : int
        Decimals kept of a float.
    text : bool
        For a table on screen (``st.dataframe(..., placeholder="—")``, which draws a
        missing number as "—" and sorts the numbers as numbers): a float column keeps its
        NaN, and only a column with an infinite number becomes text throughout (numbers
        written with at most ``digits`` decimals, 不可达, "—"), as the screen needs one type
        per column; an object column's gaps read "—". Without it (a workbook) the numbers
        stay numbers beside "—" and 不可达 text (Excel sums the numbers).

    Returns
    -------
    DataFrame
        Same columns; see ``text`` for where a missing or infinite number went.
    """
    out = pd.DataFrame(frame.drop(columns="geometry", errors="ignore")).copy()
    for col, labels in VALUE_ZH.items():
        if col in out:
            out[col] = out[col].map(lambda v, lab=labels: lab.get(v, v))
    if "cause" in out:
        water = out["indicator"] == "water" if "indicator" in out else False
        out["cause"] = [
            cause_zh(c, own=REASONS_ZH if w else None) if isinstance(c, str) else c
            for c, w in zip(out["cause"], np.broadcast_to(water, len(out)), strict=True)
        ]
    for col in out.columns:
        values = out[col]
        if values.dtype == bool:
            out[col] = np.where(values, "是", "否")
        elif isinstance(values.dtype, pd.BooleanDtype):  # NA: no data, neither yes nor no
            out[col] = values.map({True: "是", False: "否"}).astype(object).fillna("无数据")
        elif pd.api.types.is_float_dtype(values):
            numbers = values.astype(float).round(digits)
            infinite = np.isinf(numbers.to_numpy())
            if text and not infinite.any():
                out[col] = numbers  # gaps stay NaN: the screen table draws them "—"
            elif infinite.any() or numbers.isna().any():
                cells = numbers.astype(object)
                cells[np.isinf(numbers.to_numpy())] = UNREACHABLE_ZH
                cells[numbers.isna().to_numpy()] = MISSING_ZH
                if text:
                    cells = cells.map(lambda v: v if isinstance(v, str) else _number(v, digits))
                out[col] = cells
            else:
                out[col] = numbers
        elif values.dtype == object and values.map(_is_flag).all() and values.notna().any():
            out[col] = values.map({True: "是", False: "否"}).astype(object).fillna("无数据")
        elif (values.dtype == object or pd.api.types.is_string_dtype(values)) and (
            values.isna().any()
        ):
            cells = values.astype(object).where(values.notna(), MISSING_ZH)
            if text:  # one type per column on screen
                cells = cells.map(_cell_text, digits=digits)
            out[col] = cells
    return out


def _is_flag(value: object) -> bool:
    """Tell a boolean or a missing value (an object column of yes/no with gaps)."""
    return (
        isinstance(value, bool | np.bool_)
        or value is None
        or value is pd.NA
        or (isinstance(value, float) and np.isnan(value))
    )


def _cell_text(value: object, *, digits: int) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return _number(value, digits)
    return str(value)


def _number(value: float, digits: int) -> str:
    """``12.50`` → ``12.5``, ``3.0`` → ``3``: at most ``digits`` decimals, no trailing zeros."""
    return f"{value:.{digits}f}".rstrip("0").rstrip(".") if digits > 0 else f"{value:.0f}"


def _zh(frame: pd.DataFrame) -> pd.DataFrame:
    out = zh_cells(frame)
    rename = {}
    for col in out.columns:
        if col in COLUMN_ZH:
            rename[col] = COLUMN_ZH[col]
        else:
            for suffix, label in _KIND_SUFFIX.items():
                if str(col).endswith(suffix):
                    rename[col] = f"{str(col)[: -len(suffix)]}{label}"
    return out.rename(columns=rename)


def _water_frames(a: Assessment) -> dict[str, pd.DataFrame]:
    """Return the water result as result layers (none without a water network)."""
    w = a.water
    if w is None or w.result is None:
        return {}
    r = w.result
    return {
        "water_villages": r.villages,
        "water_nodes": r.nodes,
        "water_pipes": r.pipes,
        "water_townships": r.rollup_townships,
        "water_admin_villages": r.rollup_admin_villages,
        "water_county": r.county,
    }


def _water_sheets(a: Assessment) -> dict[str, pd.DataFrame]:
    """Return the water sheets of ``report.xlsx``: villages, townships, problems, changes."""
    w = a.water
    if w is None:
        return {}
    rows = [p.as_dict() for p in w.problems]
    notes = pd.DataFrame(
        rows or None,
        columns=["severity", "file", "layer", "row", "feature_id", "field", "message_zh", "fix_zh"],
    )[["severity", "file", "layer", "row", "feature_id", "field", "message_zh", "fix_zh"]]
    changes = list(w.model.changes) if w.model is not None else []
    if changes:
        notes = pd.concat(
            [notes, pd.DataFrame({"severity": "warning", "message_zh": changes,
                                  "fix_zh": "GapMap 对模型所做的修改（模型文件本身不变）"})],
            ignore_index=True,
        )  # fmt: skip
    sheets = {"供水-模型问题与修改": _zh(notes)}
    if w.result is not None:
        v = w.result.villages.rename(columns={"status": "water_status", "reason": "water_reason"})
        v["water_reason"] = v["water_reason"].map(
            lambda codes: "；".join(REASONS_ZH.get(c, c) for c in str(codes).split(";") if c)
        )
        sheets = {
            "供水-自然村": _zh(v.sort_values(["water_status", "township_code", "id"])),
            "供水-乡镇": _zh(w.result.rollup_townships),
            **sheets,
        }
    return sheets


def indicator_sheet_name(table: IndicatorTable, code: str) -> str:
    """Return the report sheet name of one indicator's outcome rows (≤ 31 characters)."""
    return f"指标-{table.get(code).problem_zh}"[:31]


def outcome_sheet(a: Assessment, code: str) -> pd.DataFrame:
    """Return one indicator's outcome rows as a sheet: Chinese headers and statuses.

    Every unit the indicator judged (达标 / 未达标 / 无数据 / 不纳入), with the value, the
    limit, the description and, for problems, the measure and cost.
    """
    if a.indicators is None or code not in a.indicators.table:
        return pd.DataFrame(columns=list(OUTCOME_COLUMNS_ZH.values()))
    rows = a.indicators.of(code)
    # the x_* columns of the other indicators are all NaN here
    rows = rows.drop(columns=[c for c in rows if c.startswith("x_") and rows[c].isna().all()])
    order = rows["status"].map({"problem": 0, "no_data": 1, "ok": 2, "exempt": 3})
    rows = rows.iloc[np.lexsort((rows["key"].to_numpy(), order.to_numpy()))]
    out = _items_zh(a, rows).assign(status=rows["status"].map(OUTCOME_STATUS_ZH).to_numpy())
    x_cols = {c: COLUMN_ZH.get(c, c) for c in out.columns if str(c).startswith("x_")}
    return out.rename(columns={**OUTCOME_COLUMNS_ZH, **x_cols}).reset_index(drop=True)


def _items_zh(a: Assessment, rows: pd.DataFrame) -> pd.DataFrame:
    """Outcome or item rows with Chinese cells: key, indicator, unit kind, cause, no NaN."""
    names = a.indicators.table.names_zh if a.indicators is not None else {}
    out = zh_cells(rows)
    return out.assign(
        key=[item_key_zh(k, names) for k in rows["key"]],
        indicator=rows["indicator"].map(names).fillna(rows["indicator"]).to_numpy(),
    )


def problem_sheet(a: Assessment) -> pd.DataFrame:
    """Return the 问题清单 of every indicator of the table (Chinese headers and cells)."""
    from geo.ledger.items import ITEM_COLUMNS_ZH, problem_items

    return _items_zh(a, problem_items(a)).rename(columns=dict(ITEM_COLUMNS_ZH))


def _problem_headers(table: IndicatorTable) -> dict[str, str]:
    return {f"problems_{i.code}": f"问题数-{i.problem_zh}" for i in table}


def report_sheets(a: Assessment) -> dict[str, pd.DataFrame]:
    """Return the sheets of ``report.xlsx``: Chinese headers and values; inf = blank.

    Derived from the assessment's indicator table: the county sheet (汇总) has one row per
    indicator (then the water diagnostics), the 问题清单 the problem rows of every
    indicator, the roll-up sheets a problem count per indicator; the detail sheets of a
    built-in indicator (通硬化路, 一刻钟生活圈, 医疗, 供水) and one outcome sheet per other
    indicator (``指标-<name>``) appear when the table has the indicator.
    """
    table = a.table
    codes = set(table.codes) if table is not None else set(BUILTIN_CODES)
    settings = pd.DataFrame(a.settings.as_records())
    settings.loc[len(settings)] = {"section": "", "name": "dataset_hash", "value": a.dataset_hash}
    county = a.county_kpis if "water" in codes else a.rollup.county
    headers = _problem_headers(table) if table is not None else {}
    sheets: dict[str, pd.DataFrame] = {
        "汇总": _zh(county),
        "乡镇汇总": _zh(a.rollup.townships).rename(columns=headers),
        "行政村汇总": _zh(a.rollup.admin_villages).rename(columns=headers),
    }
    if table is not None:
        sheets["问题清单"] = problem_sheet(a)
    if "hard_road" in codes:
        hr = a.hard_road.villages
        sheets["通硬化路"] = _zh(hr.sort_values(["status", "township_code", "id"]))
        sheets["缺失路段"] = _zh(a.hard_road.links)
    if "services" in codes:
        sheets["一刻钟生活圈"] = _zh(a.services.units)
        sheets["生活圈最近设施"] = _zh(a.services.nearest)
    if "clinics" in codes:
        sheets["医疗-乡镇"] = _zh(a.clinics.townships)
        sheets["医疗-行政村"] = _zh(
            a.clinics.admin_villages.rename(columns={"status": "cl_status"})
        )
        sheets["医疗-可达性"] = _zh(a.clinics.villages)
    sheets["路网拓扑问题"] = _zh(a.diagnostics)
    if "water" in codes:
        sheets.update(_water_sheets(a))
    if table is not None:
        for code in table.codes:
            if code not in BUILTIN_CODES:
                sheets[indicator_sheet_name(table, code)] = outcome_sheet(a, code)
    settings["section"] = settings["section"].map(SECTION_ZH).fillna(settings["section"])
    sheets["参数设置"] = settings.rename(
        columns={"section": "类别", "name": "参数", "value": "取值"}
    )
    return sheets
