"""农村供水: piped coverage, pressures over the day (EPANET via WNTR), problem villages."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd
import streamlit as st

from app.components import PRINT_CSS, problems_table, show_map, zh_table
from app.layout import data_table
from app.maps.water import WATER_STATUS_ZH, build_water_map
from app.state import page_context
from app.water_input import inp_upload_form, model_notes
from geo.labels import MISSING_ZH
from layers.epanet import write_inp
from layers.write import write_excel, write_layers

st.markdown(PRINT_CSS, unsafe_allow_html=True)
ctx = page_context()
if ctx is None:
    st.stop()
ws = ctx.assessment.settings.water
st.title(f"农村供水 · {ctx.township_name}")
water = ctx.assessment.water
with st.expander(
    "导入水务局的 EPANET 模型（.inp）", expanded=water is None or water.result is None
):
    inp_upload_form(ctx.name, ctx.dataset, key="water_inp")
if water is None:
    st.info(
        "当前数据集没有供水管网：请在上方导入 EPANET 模型，或在「数据」页上传供水图层"
        "（water_sources / water_nodes / water_pipes）。"
    )
    st.stop()
if water.result is None:
    st.error(water.error.zh if water.error is not None else "供水计算未能完成。")
    if water.problems:
        st.dataframe(
            problems_table(water.problems).fillna(""),
            hide_index=True,
            key="water_errors",
            placeholder=MISSING_ZH,
        )
    st.stop()
model, run, result = water.model, water.run, water.result
source = "供水图层" if model.source == "gis" else f"EPANET 模型 {model.source}"
st.caption(
    f"规则：自来水入户人口 ÷ 农村人口 ≥ {result.county['target'].iloc[0]:g}%（2025 年目标）；"
    "节点最低服务水头"
    f" {ws.service_head_m:g} m（每多一层加 {ws.service_head_per_storey_m:g} m）；人均供水 ≥"
    f" {ws.demand_lpcd:g} L/人·日 达标、≥ {ws.demand_basic_lpcd:g} 基本达标。"
    f"管网：{source}（{model.wn.num_junctions} 个节点、{model.wn.num_pipes} 条管道、"
    f"{model.wn.num_pumps} 台水泵、{model.wn.num_valves} 个阀门）。"
    f"水力计算：{run.simulator}，24 小时延时模拟，用时 {run.seconds:.2f} 秒。"
)
notes = model_notes(model.changes, list(water.problems))
if len(notes):
    warned = int((notes["类别"] != "GapMap 的修改").sum())
    with st.expander(
        f"模型提示 {warned} 条、GapMap 对模型的修改 {len(model.changes)} 处（含 EPANET 原文）",
        expanded=bool(run.warnings),
    ):
        st.dataframe(
            notes, hide_index=True, width="stretch", key="water_notes", placeholder=MISSING_ZH
        )
county = result.county.iloc[0]
villages = ctx.scope.select(result.villages)
unknown = bool((villages["status"] == "unlinked").all()) and len(villages) > 0


def _count(status: str) -> str:
    return "无数据" if unknown else f"{int((villages['status'] == status).sum())} 个"


row1, row2 = st.columns(2), st.columns(2)  # 2 × 2: nothing is cut on a 1024-px tablet
row1[0].metric(
    "农村自来水普及率",
    f"{county['value']:.2f}%" if pd.notna(county["value"]) else "无数据",
    border=True,
    help=f"目标 ≥ {county['target']:g}%。依据：{county['source']}",
)
row1[1].metric("未通自来水自然村", _count("off_network"), border=True)
row2[0].metric("水压不足自然村", _count("low_pressure"), border=True)
low_pop = villages.loc[~villages["status"].isin(["ok", "unlinked"]), "population"].sum()
row2[1].metric("供水有问题的人口", "无数据" if unknown else f"{int(low_pop):,} 人", border=True)

hours = list(run.pressure_m.index)
hour = st.select_slider(
    "查看时刻（节点水压）",
    options=hours,
    value=result.peak_hour,
    key="water_hour",
    format_func=lambda h: f"{h:g} 时" + ("（用水高峰）" if h == result.peak_hour else ""),
)
if model.schematic:
    st.info(
        f"{model.source} 是示意图模型（无真实坐标）：只做水力计算，不在地图上绘制；"
        "自然村按村—节点对照表接入。"
    )
    at = run.pressure_m.loc[hour].rename("水压(m)").to_frame().reset_index(names="节点")
    st.dataframe(
        at, hide_index=True, key="water_schematic_nodes", height=260, placeholder=MISSING_ZH
    )
else:
    m = build_water_map(
        ctx.scenario_dataset,
        result,
        options=ctx.options,
        pressure_m=run.pressure_m.loc[hour],
        hour=hour,
        service_head_m=ws.service_head_m,
        scope=ctx.scope,
    )
    show_map(m, key="water_map")

st.subheader("问题自然村")
bad = villages[villages["status"] != "ok"].copy()
bad["water_status"] = bad["status"].map(WATER_STATUS_ZH)
table = zh_table(
    bad,
    [
        "id",
        "name",
        "population",
        "water_status",
        "node",
        "min_pressure_m",
        "required_head_m",
        "supply_lpcd",
    ],
)
data_table(table, key="water_table")
st.subheader("乡镇汇总")
tw = zh_table(result.rollup_townships, list(result.rollup_townships.columns))
data_table(tw, key="water_townships")
av = zh_table(result.rollup_admin_villages, list(result.rollup_admin_villages.columns))


@st.cache_data(show_spinner="正在生成…", max_entries=4)
def _downloads(key: str) -> tuple[bytes, bytes, bytes]:
    with tempfile.TemporaryDirectory() as tmp:
        gpkg = write_layers(
            Path(tmp) / "water.gpkg",
            {
                "water_villages": result.villages,
                "water_nodes": result.nodes,
                "water_pipes": result.pipes,
            },
        )
        xlsx = write_excel(
            Path(tmp) / "water.xlsx",
            {"供水-自然村": table, "供水-乡镇": tw, "供水-行政村": av},
        )
        inp = write_inp(model.wn, Path(tmp) / "model.inp")
        return gpkg.read_bytes(), xlsx.read_bytes(), inp.read_bytes()


g, x, i = _downloads(f"{ctx.scenario_dataset.content_hash}:{ctx.scope}")
d1, d2, d3 = st.columns(3)
d1.download_button("下载供水结果（GPKG）", g, file_name="供水结果.gpkg", key="dl_water_gpkg")
d2.download_button(
    "下载供水问题清单（XLSX）", x, file_name="供水问题清单.xlsx", key="dl_water_xlsx"
)
d3.download_button(
    "下载本次计算的 EPANET 模型（.inp）", i, file_name="model.inp", key="dl_water_inp"
)
