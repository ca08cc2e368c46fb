"""总览: county KPIs against the Ningxia targets, a township map to drill down, a ranking."""

from __future__ import annotations

import streamlit as st

from app.components import PRINT_CSS, kpi_cards, kpi_rows, show_map, zh_table
from app.layout import data_table
from app.maps.builders import build_overview_map
from app.report_downloads import area_report_button
from app.state import drill_down, ledger, page_context
from geo.indicators.table import GROUP_ZH
from geo.labels import MISSING_ZH

st.markdown(PRINT_CSS, unsafe_allow_html=True)
ctx = page_context()
if ctx is None:
    st.stop()
a = ctx.assessment
st.title(f"总览 · {ctx.township_name}")
if ctx.scenario == "planned":
    st.info(
        "当前为「规划」方案：状态为「规划」的道路、卫生室、商店和供水管道按已建成计算，"
        "括号内为较现状的变化。"
    )
# one card per indicator of the table (农村自来水普及率 among them), grouped; 卫生厕所普及率
# (稳步提高) against the ledger's previous snapshot of another data version, where there is one
# a chosen township: the same cards over its units only (geo.indicators.township_rows)
previous = ledger().previous_indicators(dataset_hash=a.dataset_hash)
kpi_cards(
    kpi_rows(a, ctx.scope.township_code, previous),
    kpi_rows(ctx.baseline, ctx.scope.township_code, None) if ctx.baseline else None,
    group_zh=GROUP_ZH,
    key=ctx.scope.township_code or "county",
)

st.subheader("乡镇问题分布（点击乡镇进入该乡镇）")
m = build_overview_map(ctx.scenario_dataset, a, options=ctx.options, scope=ctx.scope)
out = show_map(m, key="overview_map", returned=("last_active_drawing",))
clicked = (out.get("last_active_drawing") or {}).get("properties", {})
code = clicked.get("code")
if code and len(str(code)) == 9 and code != ctx.scope.township_code:
    drill_down(str(code))

st.subheader("乡镇排名（按问题数）")
tw = a.rollup.townships
if ctx.scope.township_code:
    place = int((tw["code"] == ctx.scope.township_code).to_numpy().argmax()) + 1  # most first
    st.caption(f"{ctx.township_name}：问题数全县第 {place} 位（共 {len(tw)} 个乡镇）")
    tw = tw[tw["code"] == ctx.scope.township_code]
cols = [
    "name",
    "code",
    "problems",
    "hr_target",
    "hr_not_connected",
    "hr_rate_pct",
    "hr_cost_wan",
    "sv_sites",
    "sv_not_ok",
    "cl_township_blank",
    "cl_blank_admin_villages",
    "cl_short_of_doctors",
]
data_table(zh_table(tw, cols), key="township_table")
if ctx.scope.township_code:
    st.subheader("行政村")
    av = a.rollup.admin_villages
    av = av[av["township_code"] == ctx.scope.township_code].sort_values("problems", ascending=False)
    data_table(
        zh_table(
            av,
            ["name", "code", "problems", "hr_target", "hr_not_connected", "sv_not_ok", "cl_status"],
        ),
        key="admin_village_table",
        placeholder=MISSING_ZH,
    )

st.subheader("体检报告（PDF，A4，可打印）")
st.caption(
    "指标与目标、问题分布图和分指标图、排名、问题清单、整改台账进展和项目库；"
    "在侧栏选择乡镇即生成该乡镇的报告。"
)
area_report_button(ctx)
