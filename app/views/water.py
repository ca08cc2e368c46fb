"""农村供水: piped coverage, pressures over the day (EPANET via WNTR), problem villages."""

from __future__ import annotations

import tempfile
from pathlib import Path

import streamlit as st
import wntr

from app.components import PRINT_CSS, show_map, zh_table
from app.maps.water import WATER_STATUS_ZH, build_water_map
from app.state import page_context, water_for
from layers.write import write_excel, write_layers

st.markdown(PRINT_CSS, unsafe_allow_html=True)
ctx = page_context()
if ctx is None:
    st.stop()
ws = ctx.assessment.settings.water
st.title(f"农村供水 · {ctx.township_name}")
if "water_nodes" not in ctx.dataset or "water_pipes" not in ctx.dataset:
    st.info("当前数据集没有供水管网图层（water_sources / water_nodes / water_pipes）。")
    st.stop()
model, run, result = water_for(ctx.scenario_dataset)
st.caption(
    f"规则：自来水入户人口 ÷ 农村人口 ≥ {ws.tap_rate_target_pct:g}%（2025 年目标）；"
    "节点最低服务水头"
    f" {ws.service_head_m:g} m（每多一层加 {ws.service_head_per_storey_m:g} m）；人均供水 ≥"
    f" {ws.demand_lpcd:g} L/人·日 达标、≥ {ws.demand_basic_lpcd:g} 基本达标。"
    f"水力计算：{run.simulator}，24 小时延时模拟，用时 {run.seconds:.1f} 秒。"
)
for p in model.problems:
    st.warning(f"管网问题：{p.message_zh}。{p.fix_zh}")
county = result.county.iloc[0]
villages = ctx.scope.select(result.villages)
c1, c2, c3, c4 = st.columns(4)
c1.metric(
    "农村自来水普及率",
    f"{county['value']:.2f}%",
    border=True,
    help=f"目标 ≥ {county['target']:g}%。依据：{county['source']}",
)
c2.metric("未通自来水自然村", int((villages["status"] == "off_network").sum()), border=True)
c3.metric("水压不足自然村", int((villages["status"] == "low_pressure").sum()), border=True)
low_pop = villages.loc[villages["status"] != "ok", "population"].sum()
c4.metric("供水有问题的人口", f"{int(low_pop):,}", border=True)

hours = list(run.pressure_m.index)
hour = st.select_slider(
    "查看时刻（节点水压）",
    options=hours,
    value=result.peak_hour,
    key="water_hour",
    format_func=lambda h: f"{h:g} 时" + ("（用水高峰）" if h == result.peak_hour else ""),
)
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
).rename(
    columns={
        "water_status": "供水状态",
        "node": "供水节点",
        "min_pressure_m": "日最低水压(m)",
        "required_head_m": "所需水头(m)",
        "supply_lpcd": "人均供水(L/人·日)",
    }
)
st.dataframe(table, hide_index=True, width="stretch", key="water_table")
st.subheader("乡镇汇总")
tw = result.rollup_townships
st.dataframe(
    tw.rename(
        columns={
            "code": "代码",
            "name": "乡镇",
            "rural_population": "农村人口",
            "population_on_pipe": "自来水入户人口",
            "tap_rate_pct": "普及率(%)",
            "population_low_pressure": "水压不足人口",
            "villages_off_network": "未通自然村",
            "villages_low_pressure": "水压不足自然村",
        }
    ),
    hide_index=True,
    width="stretch",
    key="water_townships",
)


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
            {"供水-自然村": table, "供水-乡镇": tw, "供水-行政村": result.rollup_admin_villages},
        )
        inp = Path(tmp) / "model.inp"
        wntr.network.write_inpfile(model.wn, str(inp))
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
