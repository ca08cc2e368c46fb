"""通硬化路: natural villages by status, missing links, filters, and a table synced with the map."""

from __future__ import annotations

import streamlit as st

from app.components import PRINT_CSS, metric_row, show_map, zh_table
from app.layout import data_table
from app.maps.builders import REASON_ZH, build_hard_road_map
from app.maps.terrain import slope_legend, slope_overlay
from app.state import page_context
from geo.assessment import Assessment
from geo.labels import MISSING_ZH

st.markdown(PRINT_CSS, unsafe_allow_html=True)
ctx = page_context()
if ctx is None:
    st.stop()
a = ctx.assessment
hs = a.settings.hard_road
st.title(f"20户以上自然村通硬化路 · {ctx.township_name}")
st.caption(
    f"规则：常住 {hs.households_min} 户以上的自然村经沥青/水泥路连通干线路网"
    "（国道/省道/县道/乡道）；不足的给出需硬化或新建的最短路段、长度和估算投资。"
)


def _figures(result: Assessment) -> dict[str, float]:
    v = ctx.scope.select(result.hard_road.villages)
    target = v[v["scope"] == "target"]
    bad = int((target["status"] == "not_connected").sum())
    return {
        "20户以上自然村": len(target),
        "未通硬化路": bad,
        "通硬化路率": 100 * (1 - bad / len(target)) if len(target) else 100.0,
        "估算投资(万元)": float(v["cost_wan"].sum()),
    }


metric_row(
    _figures(a),
    _figures(ctx.baseline) if ctx.baseline else None,
    formats={"通硬化路率": "{:.1f}%", "估算投资(万元)": "{:,.0f}"},
    lower_is_better=frozenset({"未通硬化路", "估算投资(万元)"}),
)
villages = ctx.scope.select(a.hard_road.villages)

present = [r for r in REASON_ZH if (villages["reason"] == r).any()]
reasons = st.multiselect(
    "按原因筛选（不选 = 全部）",
    present,
    format_func=REASON_ZH.get,
    key="hr_reasons",
    placeholder="全部原因",
)
below = st.checkbox("同时列出不足20户和规划搬迁撤并的自然村", key="hr_below")
shown = (
    villages[villages["status"] == "not_connected"]
    if not below
    else villages[villages["status"] != "connected"]
)
if reasons:
    shown = shown[shown["reason"].isin(reasons)]
shown = shown.sort_values(["cost_wan", "households"], ascending=False)
map_slot = st.container()  # the map comes first on screen, but needs the table's selection
st.subheader(f"问题自然村（{len(shown)} 个；在表格中选中行，地图定位到该村）")
table = zh_table(
    shown,
    [
        "id",
        "name",
        "households",
        "population",
        "status",
        "reason",
        "harden_km",
        "new_km",
        "cost_wan",
        "snap_dist_m",
        *(["link_mean_slope_pct"] if "link_mean_slope_pct" in shown.columns else []),
    ],
)
event = data_table(
    table,
    hide_index=True,
    width="stretch",
    # The selection survives data changes under one key: tie the key to what is shown.
    key=f"hr_table:{ctx.scope.township_code}:{','.join(reasons)}:{below}:{ctx.scenario}",
    on_select="rerun",
    selection_mode="multi-row",
    height=260,
    placeholder=MISSING_ZH,
)
rows = [r for r in event.selection.rows if r < len(shown)]
picked = tuple(shown["id"].iloc[rows])
overlays = []
if a.terrain is not None and st.checkbox("显示坡度与地形晕渲", key="hr_slope"):
    overlays.append(
        (
            slope_overlay(a.terrain.dem, a.terrain.slope_pct, clip=ctx.dataset["county"]),
            slope_legend(),
        )
    )
m = build_hard_road_map(
    ctx.scenario_dataset,
    a,
    options=ctx.options,
    scope=ctx.scope,
    reasons=tuple(reasons) or None,
    focus_ids=picked,
    overlays=overlays,
)
with map_slot:
    show_map(m, key="hard_road_map")
st.download_button(
    "下载问题自然村（CSV）",
    table.to_csv(index=False).encode("utf-8-sig"),
    file_name="通硬化路问题清单.csv",
    mime="text/csv",
    key="hr_download",
)
