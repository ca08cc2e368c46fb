"""导出: results.gpkg, report.xlsx and an offline map package (one self-contained HTML file)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import streamlit as st

from app.maps.assets import self_contained_html
from app.maps.builders import build_package_map
from app.state import page_context
from geo.assessment import Assessment
from geo.report import report_sheets, result_layers
from layers.write import write_excel, write_layers

ctx = page_context()
if ctx is None:
    st.stop()
a = ctx.assessment
county = ctx.dataset["county"]
county_name = str(county["name"].iloc[0]) if not county.empty else "county"
suffix = "_规划" if ctx.scenario == "planned" else ""
st.title("导出")
st.caption(f"数据集：{ctx.name}；方案：{'规划' if ctx.scenario == 'planned' else '现状'}。")


@st.cache_data(show_spinner="正在生成…", max_entries=4)
def _gpkg(key: str, _a: Assessment) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "results.gpkg"
        write_layers(path, {k: v for k, v in result_layers(_a).items() if len(v.columns)})
        return path.read_bytes()


@st.cache_data(show_spinner="正在生成…", max_entries=4)
def _xlsx(key: str, _a: Assessment) -> tuple[bytes, tuple[str, ...]]:
    # the sheets come from geo.report: one per indicator of the table, among others
    sheets = report_sheets(_a)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "report.xlsx"
        write_excel(path, sheets)
        return path.read_bytes(), tuple(sheets)


@st.cache_data(show_spinner="正在生成离线地图包…", max_entries=4)
def _package(key: str, _a: Assessment) -> bytes:
    m = build_package_map(ctx.scenario_dataset, _a, options=ctx.options.for_file())
    return self_contained_html(m).encode("utf-8")


key = f"{a.dataset_hash}:{ctx.scenario}"
c1, c2, c3 = st.columns(3)
with c1:
    st.markdown(
        "**分析结果 GeoPackage**  \n各项分析的结果图层（EPSG:4326），可在 QGIS/ArcGIS 中打开。"
    )
    st.download_button(
        "下载 results.gpkg",
        _gpkg(key, a),
        file_name=f"{county_name}_results{suffix}.gpkg",
        mime="application/geopackage+sqlite3",
        key="dl_gpkg",
    )
xlsx, sheet_names = _xlsx(key, a)
with c2:
    st.markdown(
        "**问题清单 Excel**  \n汇总、乡镇、行政村、每项指标的逐单元结果和参数设置（中文表头）。"
    )
    st.download_button(
        "下载 report.xlsx",
        xlsx,
        file_name=f"{county_name}_问题清单{suffix}.xlsx",
        mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        key="dl_xlsx",
    )
with c3:
    st.markdown(
        "**离线地图包**  \n单个 HTML 文件，内含地图程序和全部图层，平板无网络时可直接打开。"
    )
    st.download_button(
        "下载离线地图包（HTML）",
        _package(key, a),
        file_name=f"{county_name}_一张图{suffix}.html",
        mime="text/html",
        key="dl_html",
    )
with st.expander(f"report.xlsx 的 {len(sheet_names)} 张工作表"):
    st.markdown("、".join(sheet_names))
