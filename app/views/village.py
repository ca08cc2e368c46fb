"""一村一图: one admin village — every check, one map, printable and downloadable offline."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app.components import PRINT_CSS, history_table, show_map
from app.layout import data_table
from app.maps.builders import build_village_map
from app.report_downloads import village_report_buttons
from app.sheet import VillageSheet, matching_villages, village_sheet, village_sheet_html
from app.state import follow_link, ledger, page_context, share_link
from geo.assessment import Assessment
from geo.labels import MISSING_ZH

st.markdown(PRINT_CSS, unsafe_allow_html=True)
ctx = page_context()
if ctx is None:
    st.stop()
a = ctx.assessment
av = ctx.dataset["admin_villages"].sort_values("code")
if ctx.scope.township_code:
    av = av[av["township_code"] == ctx.scope.township_code]
in_scope = list(av["code"])  # the PDF batch: every village of the township (or county)
st.title("一村一图")
query = st.text_input(
    "按名称或代码查找行政村（也可输入自然村名称）",
    key="village_query",
    placeholder="如：红城水村、王家庄 或 640324",
)
found = matching_villages(av, ctx.dataset["natural_villages"], query)
av = av[av["code"].isin(found.index)] if query.strip() else av
if av.empty:
    st.warning("没有符合条件的行政村或自然村。")
    st.stop()
labels = dict(zip(av["code"], av["name"], strict=True))
# Problems first, so a leader sees the villages that need a visit at the top.
problems = a.rollup.admin_villages.set_index("code")["problems"]
codes = sorted(labels, key=lambda c: (-int(problems.get(c, 0)), c))
linked = follow_link("village", "village_code", codes)  # a shared link's village
code = st.selectbox(
    "行政村（按问题数排序）",
    codes,
    key="village_code",
    format_func=lambda c: (
        f"{labels[c]}（{c}）· 问题 {int(problems.get(c, 0))}"
        + (f" · 自然村 {found[c]}" if found.get(c) else "")
    ),
)
share_link("village", code, linked=linked)
if found.get(code):
    st.caption(f"查到的自然村：{found[code]}（属{labels[code]}）")
sheet = village_sheet(ctx.scenario_dataset, a, code)
st.subheader(f"{sheet.name} · {sheet.township}")
facts = list(sheet.facts.items())
for start in range(0, len(facts), 4):  # four per row: readable on a 1024-px tablet
    for col, (k, v) in zip(st.columns(4), facts[start : start + 4], strict=False):
        col.markdown(f"**{k}**  \n{v}")
m = build_village_map(ctx.scenario_dataset, a, options=ctx.options, admin_village_code=code)
show_map(m, key="village_map", height=520)
st.markdown("**自然村检查**")
data_table(sheet.natural_villages, key="village_nv_table")
if not sheet.sites.empty:
    st.markdown("**移民安置区**")
    data_table(sheet.sites, key="village_sites_table")
if not sheet.indicators.empty:
    st.markdown("**各项指标**（本村、所属自然村和安置区，以及所在乡镇的乡镇级指标）")
    data_table(sheet.indicators, key="village_indicator_table")

items = ledger().items()
items = items[items["admin_village_code"] == code] if not items.empty else items
st.markdown("**整改台账**")
if items.empty:
    st.caption("台账中没有本村的问题（或尚未把分析结果记入台账：见「问题清单·整改台账」页）。")
else:
    data_table(
        items[
            [
                "village_name",
                "problem_type",
                "description",
                "state_zh",
                "responsible_unit",
                "deadline",
                "version",
                "reopen_count",
            ]
        ]
        .rename(
            columns={
                "village_name": "自然村",
                "problem_type": "问题类型",
                "description": "问题描述",
                "state_zh": "整改状态",
                "responsible_unit": "责任单位",
                "deadline": "完成时限",
                "version": "修改次数",
                "reopen_count": "复发次数",
            }
        )
        .fillna(""),  # not filled in yet: blank, as in the office's ledger
        key="village_ledger",
        placeholder=MISSING_ZH,
    )
    with st.expander(f"本村问题的修改记录（{int(items['version'].sum())} 条）"):
        book = ledger()
        hist = pd.concat(
            [
                book.history(k).assign(problem=t)
                for k, t in zip(items["key"], items["problem_type"], strict=True)
            ],
            ignore_index=True,
        ).sort_values("at", kind="stable")
        history_table(hist.drop(columns="version"), key="village_ledger_history")


@st.cache_data(show_spinner="正在生成…", max_entries=16)
def _sheet_html(key: str, _sheet: VillageSheet, _a: Assessment, code: str) -> bytes:
    # The file is for a tablet with no network: no remote tiles, no 天地图 key inside.
    offline = build_village_map(
        ctx.scenario_dataset, _a, options=ctx.options.for_file(), admin_village_code=code
    )
    return village_sheet_html(_sheet, offline).encode("utf-8")


st.download_button(
    "下载本村一村一图（单个 HTML 文件，离线可打开、可打印）",
    _sheet_html(f"{a.dataset_hash}:{code}", sheet, a, code),
    file_name=f"一村一图_{sheet.name}_{code}.html",
    mime="text/html",
    key="village_download",
)
st.caption("打印：使用浏览器的「打印」功能，侧边栏和按钮不会被打印。")

st.subheader("一村一图 PDF（A4，可打印，离线可用）")
village_report_buttons(ctx, code, sheet.name, in_scope)
