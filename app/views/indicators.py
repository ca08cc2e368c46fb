"""更多指标: any indicator of the table — its county value, a map of its units, every outcome."""

from __future__ import annotations

import streamlit as st

from app.components import PRINT_CSS, kpi_cards, outcomes_table, show_map
from app.maps.builders import Scope
from app.maps.indicators import STATUS_ORDER, build_indicator_map, unit_outcomes
from app.state import page_context
from geo.indicators.outcomes import OUTCOME_STATUS_ZH
from geo.indicators.table import GROUP_ZH
from geo.labels import MISSING_ZH

# These have a page of their own (road links, isochrones, hydraulics): listed there.
OWN_PAGE = {"hard_road": "通硬化路", "services": "一刻钟生活圈", "clinics": "医疗空白点",
            "water": "农村供水"}  # fmt: skip

st.markdown(PRINT_CSS, unsafe_allow_html=True)
ctx = page_context()
if ctx is None:
    st.stop()
a = ctx.assessment
results = a.indicators
if results is None:
    st.info("当前分析没有计算指标表。")
    st.stop()
county = results.county
st.title(f"更多指标 · {ctx.township_name}")
st.caption(
    "指标表中的其余指标（教育、养老、通信、人居环境、住房、供水保障、移民安置区配套和本县自定义"
    "指标）。缺少图层或属性的单元显示为「无数据」，既不算达标，也不算零。"
    + "通硬化路、一刻钟生活圈、医疗、农村供水见各自的页面。"
)
shown = county.loc[~county["code"].isin(OWN_PAGE)]
if shown.empty:
    st.info("指标表中没有其他指标。")
    st.stop()
# the page's own order: the seed indicators first, the county's own last
PAGE_GROUPS = ("education", "elderly", "telecom", "environment", "housing", "water",
               "relocation", "custom")  # fmt: skip
order = {g: i for i, g in enumerate(dict.fromkeys((*PAGE_GROUPS, *GROUP_ZH)))}
shown = shown.assign(_g=shown["group"].map(order).fillna(len(order))).sort_values(
    "_g", kind="stable"
)
names = dict(zip(shown["code"], shown["indicator"], strict=True))
groups = dict(zip(shown["code"], shown["group"], strict=True))
code = st.selectbox(
    "指标（按类别）",
    list(names),
    key="indicator_code",
    format_func=lambda c: f"{GROUP_ZH.get(groups[c], groups[c])} · {names[c]}",
)
row = shown.loc[shown["code"] == code]
base = ctx.baseline.indicators.county if ctx.baseline is not None else None
left, right = st.columns([2, 5], vertical_alignment="top")
with left:
    kpi_cards(row, base, per_row=1, group_zh=GROUP_ZH, key="indicator")

outcomes = results.of(code)
mine = outcomes
if ctx.scope.township_code is not None:
    above = mine["unit_kind"].isin(["water_source", "county"])
    mine = mine.loc[above | (mine["township_code"] == ctx.scope.township_code)]


def _counts(frame) -> dict[str, int]:
    # per unit, as on the map: a site judged per facility kind counts once
    status = unit_outcomes(frame)["status"]
    return {
        "判定单元": len(status),
        "达标": int((status == "ok").sum()),
        "未达标": int((status == "problem").sum()),
        "无数据": int((status == "no_data").sum()),
        "不纳入": int((status == "exempt").sum()),
    }


before = None
if ctx.baseline is not None:
    prev = ctx.baseline.indicators.of(code)
    if ctx.scope.township_code is not None:
        above = prev["unit_kind"].isin(["water_source", "county"])
        prev = prev.loc[above | (prev["township_code"] == ctx.scope.township_code)]
    before = _counts(prev)
# a line of counts, not cards: it wraps on a 1024-px tablet instead of cutting numbers
now = _counts(mine)
parts = []
for label, color in (
    ("达标", "green"),
    ("未达标", "red"),
    ("无数据", "gray"),
    ("不纳入", "violet"),
):
    change = ""
    if before is not None and now[label] != before[label]:
        change = f"（较现状 {now[label] - before[label]:+d}）"
    parts.append(f":{color}[{label} **{now[label]:,}**{change}]")
with right.container(border=True, key="indicator_counts"):
    st.markdown(
        "**按单元统计**"
        + (f"（{ctx.township_name}）" if ctx.scope.township_code else "")
        + f"：共 **{now['判定单元']:,}** 个单元  \n"
        + " · ".join(parts)
    )
    st.caption(
        "同一单元判定多项（如安置区的各类设施）时：有一项未达标即为未达标；否则有一项无数据即为"
        "无数据（不能确认配齐，不计入全县数值）；各项都达标才为达标。"
    )

st.subheader("分布图")
m = build_indicator_map(
    ctx.scenario_dataset,
    outcomes,
    title=names[code],
    options=ctx.options,
    scope=ctx.scope if ctx.scope.township_code is not None else Scope(),
)
show_map(m, key="indicator_map", height=520)

st.subheader("逐单元结果")
pick = st.multiselect(
    "显示",
    list(STATUS_ORDER),
    default=list(STATUS_ORDER),
    format_func=OUTCOME_STATUS_ZH.get,
    key="indicator_status",
)
table = outcomes_table(mine.loc[mine["status"].isin(pick)])
st.dataframe(
    table,
    hide_index=True,
    width="stretch",
    height=360,
    key="indicator_table",
    placeholder=MISSING_ZH,
)
st.caption(f"共 {len(table)} 行（{names[code]}）。")
