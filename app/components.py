"""Widgets shared by the pages: the map frame, KPI cards, Chinese tables, print styles."""

from __future__ import annotations

import time
from collections.abc import Mapping

import folium
import pandas as pd
import streamlit as st
from streamlit_folium import st_folium

from app.layout import PAGE_CSS
from app.maps.base import value_text
from app.maps.indicators import UNIT_KIND_ZH
from geo.assessment import Assessment
from geo.indicators import township_rows, with_previous
from geo.indicators.outcomes import OUTCOME_STATUS_ZH
from geo.labels import MISSING_ZH, beijing_text, item_key_zh
from geo.ledger.items import INDICATOR_ZH
from geo.report import COLUMN_ZH, VALUE_ZH, zh_cells
from layers.errors import Problem
from layers.schema import LAYERS

__all__ = [
    "KPI_CSS",
    "OUTCOMES_ZH",
    "PRINT_CSS",
    "kpi_cards",
    "kpi_rows",
    "outcomes_table",
    "problems_table",
    "show_map",
    "zh_table",
]

PRINT_CSS = PAGE_CSS
"""The tablet and print styles (:data:`app.layout.PAGE_CSS`; ``app/main.py`` adds them to every
page, a page run on its own adds them itself)."""


def show_map(m: folium.Map, *, key: str, height: int = 560, returned: tuple[str, ...] = ()) -> dict:
    """Render ``m`` with streamlit-folium; return only the requested interaction objects.

    The render time (Python side) is kept in ``st.session_state["_map_ms"][key]``.
    """
    t0 = time.perf_counter()
    out = st_folium(
        m,
        key=key,
        height=height,
        use_container_width=True,
        returned_objects=list(returned),
    )
    st.session_state.setdefault("_map_ms", {})[key] = round((time.perf_counter() - t0) * 1e3)
    return out or {}


KPI_CSS = """
<style>
/* KPI grid: long names wrap; numbers never cut (on a <= 1024 px screen two a row: app.layout) */
[class*="st-key-kpi_"] [data-testid="stMetricValue"] {font-size: 1.6rem;}
[class*="st-key-kpi_"] [data-testid="stMetricLabel"] p {font-size: 0.9rem;}
[class*="st-key-kpi_"] [data-testid="stMetricLabel"] p {white-space: normal !important;}
/* two lines of name in every card, so the cards of a row are of one height */
[class*="st-key-kpi_"] [data-testid="stMetricLabel"] {min-height: 2.9em; align-items: flex-start;}
/* 无数据: grey, never mistaken for a result */
[class*="st-key-kpi_nodata_"] [data-testid="stMetricValue"] {color: #8a8a8a;}
</style>
"""

_CMP_ZH = VALUE_ZH["comparison"]


def kpi_cards(
    county: pd.DataFrame,
    baseline: pd.DataFrame | None = None,
    *,
    per_row: int = 4,
    group_zh: Mapping[str, str] | None = None,
    key: str = "county",
) -> None:
    """County KPI cards in a grid that wraps, by group: value, target, verdict, change.

    Parameters
    ----------
    county : DataFrame
        County indicator rows: ``indicator`` (Chinese name), ``value`` (NaN = 无数据),
        ``unit``, ``target``, ``comparison`` (``>=``, ``<=``, ``>``), ``source``, ``met``
        (NA = 无数据); optional ``code`` (matches the baseline by code) and ``group``
        (a group's cards kept together, groups in order of first appearance, each card
        tagged with its group's name).
    baseline : DataFrame, optional
        The same rows for 现状 (plan review): each card shows the change as its delta.
    per_row : int
        Cards per row on a large screen; on a screen of at most 1024 px (a 1024×768
        tablet) a row of four wraps to 2×2 (:data:`app.layout.PAGE_CSS`).
    group_zh : mapping, optional
        Chinese heading of each ``group`` code (default: the code itself).
    key : str
        Part of the grid's and the cards' container keys (``kpigrid_<key>``,
        ``kpi_<key>_<n>``, ``kpi_nodata_<key>_<n>``): unique on the page.
    """
    st.markdown(KPI_CSS, unsafe_allow_html=True)
    by = "code" if "code" in county.columns else "indicator"
    base = None
    if baseline is not None and by in baseline.columns:
        base = baseline.set_index(by)
    grouped = "group" in county.columns
    if grouped:  # one group's cards together, groups in order of first appearance
        first = {g: i for i, g in enumerate(dict.fromkeys(county["group"]))}
        county = county.iloc[county["group"].map(first).to_numpy().argsort(kind="stable")]
    records = list(county.itertuples())
    grid = st.container(key=f"kpigrid_{key}")  # two a row on a tablet (app.layout)
    for start in range(0, len(records), per_row):
        cols = grid.columns(per_row)
        for n, (col, row) in enumerate(
            zip(cols, records[start : start + per_row], strict=False), start=start
        ):
            unit = str(row.unit)
            shown_unit = "%" if unit == "%" else f" {unit}"
            cmp = _CMP_ZH.get(str(row.comparison), str(row.comparison))
            missing = pd.isna(row.value)
            delta, change = None, 0.0
            ident = getattr(row, by)
            if base is not None and ident in base.index and not missing:
                before = pd.to_numeric(base.loc[ident, "value"], errors="coerce")
                if pd.notna(before):
                    change = round(row.value - float(before), 1)
                    delta = (
                        f"{change:+.1f}{shown_unit}（较现状）"
                        if change != 0
                        else "无变化（较现状）"
                    )
            target = f"目标 {cmp} {row.target:g}{shown_unit}"
            box = col.container(key=f"kpi_{'nodata_' if missing else ''}{key}_{n}")
            if grouped:
                box.caption(f":gray[{(group_zh or {}).get(row.group, row.group)}]")
            box.metric(
                row.indicator,
                value_text(row.value, unit),
                delta=delta,
                # no change: grey, no arrow (never a red arrow for a zero)
                delta_color="off"
                if change == 0
                else ("inverse" if str(row.comparison) == "<=" else "normal"),
                delta_arrow="off" if change == 0 else "auto",
                help=f"{target}。依据：{row.source}",
                border=True,
            )
            verdict = (
                ":gray[**无数据**]"
                if pd.isna(row.met)
                else (":green[**达标**]" if row.met else ":red[**未达标**]")
            )
            box.caption(f"{verdict}（{target}）")


def kpi_rows(
    a: Assessment, township_code: str | None, previous: pd.DataFrame | None
) -> pd.DataFrame:
    """The rows of :func:`kpi_cards`: the county's, or one township's (same indicators).

    Parameters
    ----------
    a : Assessment
    township_code : str or None
        The chosen township (None: the county; its 稳步提高 rows judged against
        ``previous``, :func:`geo.indicators.with_previous`).
    previous : DataFrame or None
        The ledger's previous county snapshot.
    """
    if township_code is None or a.indicators is None:
        return with_previous(a.rollup.county, previous)
    return township_rows(a.indicators, township_code)


def zh_table(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Select ``columns``; codes, booleans, NaN and inf as people read them; Chinese headers.

    The cells are :func:`geo.report.zh_cells`' (2 decimals, "—" for a missing value,
    不可达 for an infinite time; such a column is text), the headers
    :data:`geo.report.COLUMN_ZH`'s.
    """
    out = zh_cells(
        pd.DataFrame(frame[[c for c in columns if c in frame.columns]]), digits=2, text=True
    )
    return out.rename(columns={c: COLUMN_ZH.get(c, c) for c in out.columns})


_LAYER_ZH = {"inp": "EPANET 模型", "epanet": "EPANET 计算", "what_if": "方案修改", "": ""}


def problems_table(problems: list[Problem] | tuple[Problem, ...]) -> pd.DataFrame:
    """The validation report with Chinese headers, errors first."""
    rows = [
        {
            "级别": "错误" if p.severity == "error" else "提示",
            "文件": p.file,
            "图层": LAYERS[p.layer].title_zh
            if p.layer in LAYERS
            else _LAYER_ZH.get(p.layer, p.layer),
            "行": p.row,
            "编号": p.feature_id,
            "字段": p.field,
            "问题": p.message_zh,
            "修改方法": p.fix_zh,
        }
        for p in problems
    ]
    out = pd.DataFrame(rows)
    return out.sort_values("级别", ascending=False, kind="stable") if not out.empty else out


def metric_row(
    current: dict[str, float],
    baseline: dict[str, float] | None,
    *,
    formats: dict[str, str],
    lower_is_better: frozenset[str] = frozenset(),
) -> None:
    """One bordered st.metric per figure; in plan review, the change against 现状 as delta.

    Parameters
    ----------
    current, baseline : dict
        Figure name → value, for the shown scenario and (规划 review) for 现状.
    formats : dict
        Figure name → format string, e.g. ``"{:.1f}%"``.
    lower_is_better : frozenset
        Figures whose decrease is good (coloured green).
    """
    for col, (name, value) in zip(st.columns(len(current)), current.items(), strict=True):
        fmt = formats.get(name, "{:,.0f}")
        delta, zero = None, True
        if baseline is not None and name in baseline:
            delta = fmt.format(value - baseline[name]).replace("-", "−")
            zero = delta.lstrip("−+") == fmt.format(0)  # no change at the shown precision
            delta = delta if value - baseline[name] < 0 else f"+{delta}"
            delta = "无变化（较现状）" if zero else f"{delta}（较现状）"
        col.metric(
            name,
            fmt.format(value),
            delta=delta,
            delta_color="off" if zero else ("inverse" if name in lower_is_better else "normal"),
            delta_arrow="off" if zero else "auto",
            border=True,
        )


HISTORY_ZH = {
    "version": "版本",
    "at": "时间（北京时间）",
    "problem": "问题类型",
    "user_label": "操作人",  # the logged-in user and role, as the ledger recorded them
    "action_zh": "操作",
    "state_zh": "状态",
    "changes_zh": "修改内容",
}
"""Chinese headers of a ledger history (:meth:`geo.ledger.Ledger.history`)."""


def history_table(hist: pd.DataFrame, *, key: str) -> None:
    """Show ledger events (version or problem type, time, user, action, state, changes)."""
    st.dataframe(
        history_zh(hist), hide_index=True, width="stretch", key=key, placeholder=MISSING_ZH
    )


def history_zh(hist: pd.DataFrame) -> pd.DataFrame:
    """Return ledger events as :func:`history_table` shows them: times in Beijing time."""
    cols = [c for c in HISTORY_ZH if c in hist.columns]
    out = hist[cols].copy()
    if "at" in out:  # the ledger records UTC
        out["at"] = out["at"].map(beijing_text)
    return out.fillna("").rename(columns=HISTORY_ZH)


ITEMS_ZH = {
    "kind": "情况",
    "key": "问题编号",
    "township_name": "乡镇",
    "village_name": "自然村/安置区/行政村",
    "problem_type": "问题类型",
    "description": "问题描述",
}
"""Chinese headers of problem items in plan reviews."""


def items_table(
    items: pd.DataFrame,
    *,
    key: str,
    height: int = 200,
    names_zh: Mapping[str, str] | None = None,
) -> None:
    """Show problem items (those of :data:`ITEMS_ZH` that the frame has) with Chinese headers.

    问题编号 reads as :func:`geo.labels.item_key_zh` spells it, with ``names_zh`` (indicator
    code → Chinese name; default the default table's).
    """
    st.dataframe(
        items_zh(items, names_zh=names_zh),
        hide_index=True,
        width="stretch",
        height=height,
        key=key,
        placeholder=MISSING_ZH,
    )


def items_zh(items: pd.DataFrame, *, names_zh: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Return problem items as :func:`items_table` shows them (:data:`ITEMS_ZH` headers)."""
    names = INDICATOR_ZH if names_zh is None else names_zh
    cols = [c for c in ITEMS_ZH if c in items.columns]
    out = zh_cells(items[cols], digits=2, text=True)
    if "key" in out:
        out["key"] = [item_key_zh(k, names) for k in items["key"]]
    return out.rename(columns=ITEMS_ZH)


def access_mode(label: str, *, key: str, available: bool, container=st) -> str:
    """The 按路网 / 考虑地形 switch; disabled (with the reason) when there is no DEM."""
    return container.radio(
        label,
        ["network", "terrain"],
        format_func={"network": "按路网", "terrain": "考虑地形"}.get,
        horizontal=True,
        key=key,
        disabled=not available,
        help="考虑地形：按高程数据的坡度用 Tobler 步速公式计算，可走路网也可越野"
        "（越野步速 ×0.6）。"
        + ("" if available else "当前数据集没有高程数据（DEM），请在「数据」页上传。"),
    )


OUTCOMES_ZH = {
    "indicator_zh": "指标",
    "unit_zh": "单元",
    "township_name": "乡镇",
    "admin_village_name": "行政村",
    "village_name": "自然村/安置区",
    "status_zh": "结果",
    "value_text": "现值",
    "limit_text": "标准",
    "description": "说明",
    "measure": "整改措施",
}
"""Chinese headers of an outcome table (:func:`outcomes_table`)."""


def _measured(value: float, unit: str, status: str) -> str:
    if pd.isna(value):
        return "无数据" if status == "no_data" else "—"
    text = f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"
    return f"{text} {unit}".strip()


def outcomes_table(
    outcomes: pd.DataFrame, *, names_zh: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """Return outcome rows for display: Chinese headers, 无数据 spelt out, problems first.

    Parameters
    ----------
    outcomes : DataFrame
        Outcome rows (:data:`geo.indicators.outcomes.OUTCOME_COLUMNS`) of one or more
        indicators.
    names_zh : mapping, optional
        Indicator code → Chinese name; with it the table has an 指标 column.

    Returns
    -------
    DataFrame
        Columns of :data:`OUTCOMES_ZH` (指标 only with ``names_zh``); 现值 reads 无数据
        for a ``no_data`` row; rows sorted 未达标, 无数据, 达标, 不纳入, then by place.
    """
    order = {"problem": 0, "no_data": 1, "ok": 2, "exempt": 3}
    out = outcomes.assign(
        _order=outcomes["status"].map(order),
        status_zh=outcomes["status"].map(OUTCOME_STATUS_ZH),
        unit_zh=outcomes["unit_kind"].map(UNIT_KIND_ZH).fillna(outcomes["unit_kind"]),
        value_text=[
            _measured(v, u, s)
            for v, u, s in zip(
                outcomes["value"], outcomes["value_unit"], outcomes["status"], strict=True
            )
        ],
        limit_text=[
            _measured(v, u, "")
            for v, u in zip(outcomes["limit"], outcomes["value_unit"], strict=True)
        ],
    )
    if names_zh is not None:
        out["indicator_zh"] = out["indicator"].map(names_zh).fillna(out["indicator"])
    sort = ["_order", "township_code", "admin_village_code", "village_code", "key"]
    if names_zh is not None:
        out["_ind"] = out["indicator"].map({c: i for i, c in enumerate(names_zh)})
        sort = ["_ind", *sort]
    out = out.sort_values(sort, kind="stable")
    cols = [c for c in OUTCOMES_ZH if c in out.columns]
    return out[cols].rename(columns=OUTCOMES_ZH).reset_index(drop=True)
