"""数据: the active dataset's layers and validation report; upload county data or a draft plan."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd
import streamlit as st

from app.auth import current_actor
from app.components import problems_table
from app.delivery import delivery_tab
from app.state import (
    ACCEPTED_NAME,
    DEMO_PATH,
    ROOT,
    add_upload,
    dataset_store,
    datasets,
    dem_for,
    dem_resolution_m,
    set_dem,
)
from app.water_input import inp_upload_form
from geo.labels import beijing_text
from geo.plan import PLAN_LAYERS, merge_plan, planned_counts
from geo.terrain import read_dem
from layers.coords import conversion_zh
from layers.dataset import Dataset, read_dataset
from layers.errors import GapMapError
from layers.raster import keep_bytes
from layers.schema import LAYER_ORDER, LAYERS
from layers.store.actors import Role
from layers.store.datasets import DatasetStore
from layers.write import write_layers

T = TypeVar("T")

# Where uploaded DEMs are kept (<sha256>.tif, once per content); not the system /tmp.
# (A comment, not a docstring: Streamlit's "magic" printed the bare string on the page.)
UPLOAD_DIR = Path(os.environ.get("GAPMAP_UPLOAD_DIR", ROOT / "out" / "uploads"))

COORDS = {
    "": "按文件自带坐标系（无则按 WGS84 经纬度）",
    "wgs84": "WGS84 经纬度（GPS）",
    "cgcs2000": "CGCS2000 经纬度（天地图、国土调查）",
    "gcj02": "GCJ-02（高德、腾讯地图坐标）",
    "bd09": "BD-09（百度地图坐标）",
    "EPSG:4544": "CGCS2000 3度带 中央经线105°（EPSG:4544，同心县等宁夏中部）",
    "EPSG:4543": "CGCS2000 3度带 中央经线102°（EPSG:4543）",
    "EPSG:4545": "CGCS2000 3度带 中央经线108°（EPSG:4545，盐池县东部）",
}
TYPES = ["gpkg", "zip", "geojson", "json", "kml", "kmz", "xlsx", "csv", "gdb"]


def _read_upload(upload, read: Callable[[Path], T]) -> T:
    """Write an upload to a private temporary folder, read it, and remove the folder."""
    with tempfile.TemporaryDirectory(prefix="gapmap-upload-") as tmp:
        path = Path(tmp) / Path(upload.name).name
        path.write_bytes(upload.getbuffer())
        return read(path)


def _coords_value(choice: str) -> str | None:
    return choice or None


st.title("数据")
available = datasets()
name = st.session_state.get("dataset_name") or (next(iter(available)) if available else None)
dataset: Dataset | None = available.get(name) if name else None
if dataset is None and not DEMO_PATH.exists():
    st.warning(
        "未找到演示数据 data/demo/tongxin.gpkg：运行 `python -m scripts.build_demo` 生成，"
        "或在下方上传数据。"
    )

store = dataset_store()  # server mode on PostgreSQL: the county's versions in PostGIS
tabs = st.tabs(
    [
        "当前数据",
        "上传县级数据",
        "上传整县资料包",
        "上传规划方案",
        "从 OpenStreetMap 导入",
        "高程数据（DEM）",
        "供水模型（EPANET）",
        *(["数据版本（服务器）"] if store is not None else []),
    ]
)
tab_info, tab_upload, tab_delivery, tab_plan, tab_osm, tab_dem, tab_inp = tabs[:7]

VERSIONS_ZH = {
    "version": "版本",
    "name": "数据集",
    "uploaded_by_label": "上传人",
    "uploaded_at": "上传时间（北京时间）",
    "note": "说明",
    "layers": "图层数",
    "features": "要素数",
    "accepted": "本县数据",
    "accepted_by": "采纳人",
    "accepted_at": "采纳时间（北京时间）",
}


def _versions_tab(store: DatasetStore, dataset: Dataset | None, name: str | None) -> None:
    """The county's dataset versions: kept, never overwritten; the administrator accepts one."""
    actor = current_actor()
    st.markdown(
        "服务器上保存的每一版数据都原样保留（不覆盖、不删除）；县级管理员采纳的那一版是全县的"
        "「本县数据」：问题清单的快照只记录它的现状。"
    )
    versions = store.versions()
    if versions.empty:
        st.info("服务器上还没有数据版本。")
    else:
        shown = versions[list(VERSIONS_ZH)].copy()
        for col in ("uploaded_at", "accepted_at"):
            shown[col] = shown[col].map(beijing_text)
        shown = shown.fillna("").rename(columns=VERSIONS_ZH)
        shown["本县数据"] = shown["本县数据"].map({True: "✔ 已采纳", False: ""})
        st.dataframe(shown, hide_index=True, width="stretch", key="versions_table")
    if actor.role is not Role.ADMIN:
        st.caption(f"保存和采纳数据版本由县级管理员办理；您是{actor.label}。")
        return
    if dataset is not None and name != ACCEPTED_NAME:
        note = st.text_input("版本说明", key="version_note", placeholder="如：2026年二季度数据更新")
        if st.button(f"把当前数据集「{name}」保存为新版本", key="version_put"):
            try:
                version = store.put(dataset, by=actor, note=note)
            except GapMapError as exc:
                st.error(exc.zh)
            else:
                st.success(f"已保存为第 {version} 版（尚未采纳）。")
                st.rerun()
    if not versions.empty:
        pending = versions.loc[~versions["accepted"], "version"].tolist()
        if pending:
            chosen = st.selectbox(
                "采纳哪一版为本县数据",
                pending,
                format_func=lambda v: f"第 {v} 版",
                key="version_choice",
            )
            if st.button("采纳为本县数据", key="version_accept", type="primary"):
                try:
                    store.accept(int(chosen), by=actor)
                except GapMapError as exc:
                    st.error(exc.zh)
                else:
                    st.session_state["dataset_name"] = ACCEPTED_NAME
                    st.rerun()


if store is not None:
    with tabs[7]:
        _versions_tab(store, dataset, name)

with tab_delivery:
    delivery_tab()

with tab_inp:
    st.markdown(
        "水务局的 EPANET 模型（.inp）按原样计算：水泵、阀门、控制规则、用水模式和需水量都保留，"
        "GapMap 只把模拟时长设为一天并关闭水质计算（页面列出每一处修改）。"
        "导入时必须声明模型坐标系；不在本县范围内的模型会被拒绝并提示可能的坐标系。"
    )
    if dataset is not None:
        inp_upload_form(name, dataset, key="data_inp")

with tab_dem:
    st.markdown(
        "高程数据用于：新建连接线按地形选线（最大纵坡、坡度超限的「不具备建设条件」）、"
        "一刻钟生活圈和到卫生室的「考虑地形」步行时间（Tobler 坡度步速）、地图上的坡度晕渲。"
        "上传单波段 GeoTIFF（任意坐标系，如 30 米 SRTM/ASTER/哥白尼 DEM），按分析网格重采样。"
    )
    current = dem_for(dataset) if dataset is not None else None
    if current is not None:
        z = current.data[np.isfinite(current.data)]
        st.caption(
            f"当前数据集已有高程数据：{current.shape[1]} × {current.shape[0]} 个 "
            f"{current.res_m:g} 米网格（{current.crs.name}），高程 {z.min():.0f}–{z.max():.0f} 米。"
        )
    dem_up = st.file_uploader("高程文件（GeoTIFF）", type=["tif", "tiff"], key="dem_upload")
    if dem_up is not None and dataset is not None and st.button("检查并使用", key="dem_go"):
        # kept once per content under the managed uploads folder (never the system /tmp)
        path = keep_bytes(bytes(dem_up.getbuffer()), folder=UPLOAD_DIR, suffix=".tif")
        try:
            grid = read_dem(path, resolution_m=dem_resolution_m())
        except GapMapError as exc:
            path.unlink(missing_ok=True)  # a rejected file is not kept
            st.error(getattr(exc, "zh", "") or str(exc))
        else:
            if not np.isfinite(grid.data).any():
                path.unlink(missing_ok=True)
                st.error("高程文件没有有效数值（全部为无数据值），请检查文件。")
            else:
                set_dem(name, dataset, str(path))
                st.success(f"已为「{name}」使用高程数据 {dem_up.name}。")
with tab_info:
    if dataset is not None:
        st.subheader(f"图层 · {name}")
        rows = []
        for layer in LAYER_ORDER:
            frame = dataset.get(layer)
            if frame is None:
                continue
            sources = sorted(
                {str(s) for s in frame.get("source", pd.Series(dtype=str)).unique() if s}
            )
            prov = dataset.provenance.get(layer, {})
            rows.append(
                {
                    "图层": LAYERS[layer].title_zh,
                    "图层名": layer,
                    "要素数": len(frame),
                    "规划要素": int((frame["status"] == "规划").sum()) if "status" in frame else 0,
                    "来源": "；".join(sources),
                    "坐标处理": conversion_zh(prov.get("conversion", prov.get("coords", ""))),
                }
            )
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", key="layers_table")
        st.subheader("数据检查")
        errors = [p for p in dataset.problems if p.severity == "error"]
        warnings = [p for p in dataset.problems if p.severity != "error"]
        if errors:
            st.error(
                f"发现 {len(errors)} 个数据错误（{len(warnings)} 条提示）："
                "请按「修改方法」修正后重新上传。"
            )
        else:
            st.success(f"全部图层通过检查（{len(warnings)} 条提示）")
        if dataset.problems:
            st.dataframe(
                problems_table(dataset.problems),
                hide_index=True,
                width="stretch",
                key="problems_table",
            )

with tab_upload:
    st.markdown(
        "上传整县数据（GeoPackage，或包含 FileGDB 的 zip），或单个图层（zip 压缩的 Shapefile、"
        "GeoJSON、KML/KMZ、带经纬度列的 XLSX/CSV）替换当前数据集中的对应图层。"
        "上传的文件只在本次会话中使用，不会覆盖任何原始文件。"
    )
    up = st.file_uploader("选择文件", type=TYPES, key="county_upload")
    kind = st.radio(
        "文件内容",
        ["dataset", "layer"],
        horizontal=True,
        key="upload_kind",
        format_func={"dataset": "整县数据（多图层）", "layer": "单个图层"}.get,
    )
    layer = None
    if kind == "layer":
        layer = st.selectbox(
            "图层类型", LAYER_ORDER, format_func=lambda n: LAYERS[n].title_zh, key="upload_layer"
        )
    coords = st.selectbox("坐标系", list(COORDS), format_func=COORDS.get, key="upload_coords")
    if up is not None and st.button("读取并检查", key="upload_go", type="primary"):
        try:
            if kind == "dataset":
                new = _read_upload(up, lambda p: read_dataset(p, coords=_coords_value(coords)))
            else:
                if dataset is None:
                    st.error("请先上传整县数据或使用演示数据，再替换单个图层。")
                    st.stop()
                from layers.read import load

                loaded = _read_upload(
                    up, lambda p: load(p, layer=layer, coords=_coords_value(coords))
                )
                new = dataset.replace_layers(**{layer: loaded.frame})
                new = (
                    Dataset(
                        layers=new.layers,
                        problems=(*loaded.problems, *new.problems),
                        provenance={**dict(new.provenance), layer: loaded.provenance.as_dict()},
                        name=new.name,
                        inputs=new.inputs,
                    )
                    if loaded.problems
                    else new
                )
        except GapMapError as exc:
            st.error(getattr(exc, "zh", "") or str(exc))
        else:
            label = f"上传：{up.name}"
            add_upload(label, new)
            n_err = len(new.errors)
            if n_err:
                st.error(f"{up.name}：发现 {n_err} 个错误，分析前请修正。")
                st.dataframe(
                    problems_table(new.problems),
                    hide_index=True,
                    width="stretch",
                    key="upload_problems",
                )
            else:
                st.success(f"{up.name} 已读取，已切换到该数据集。")

with tab_plan:
    st.markdown(
        "上传规划方案图层（规划道路、卫生室或商店；缺少「状态」字段时按「规划」处理）。"
        "加载后各页面可在侧边栏切换「现状 / 规划」，查看规划实施后各项指标的变化。"
    )
    if dataset is not None and planned_counts(dataset):
        counts = planned_counts(dataset)
        st.info(
            "当前数据集已含规划要素："
            + "，".join(f"{LAYERS[k].title_zh} {v} 个" for k, v in counts.items())
        )
    plan_up = st.file_uploader("规划图层文件", type=TYPES, key="plan_upload")
    plan_layer = st.selectbox(
        "规划内容", list(PLAN_LAYERS), format_func=lambda n: LAYERS[n].title_zh, key="plan_layer"
    )
    plan_coords = st.selectbox("坐标系", list(COORDS), format_func=COORDS.get, key="plan_coords")
    if plan_up is not None and dataset is not None and st.button("加载规划方案", key="plan_go"):
        from layers.read import load

        try:
            loaded = _read_upload(
                plan_up, lambda p: load(p, layer=plan_layer, coords=_coords_value(plan_coords))
            )
        except GapMapError as exc:
            st.error(getattr(exc, "zh", "") or str(exc))
        else:
            errs = [p for p in loaded.problems if p.severity == "error"]
            if errs:
                st.error(f"{plan_up.name}：发现 {len(errs)} 个错误，规划方案未加载。")
                st.dataframe(
                    problems_table(errs), hide_index=True, width="stretch", key="plan_problems"
                )
            else:
                try:
                    merged = merge_plan(dataset, {plan_layer: loaded.frame})
                except GapMapError as exc:
                    st.error(getattr(exc, "zh", "") or str(exc))
                    st.stop()
                if merged.errors:
                    st.error(f"叠加规划后数据有 {len(merged.errors)} 个错误，规划方案未加载。")
                    st.dataframe(
                        problems_table(merged.errors),
                        hide_index=True,
                        width="stretch",
                        key="plan_merge_problems",
                    )
                    st.stop()
                add_upload(f"{name} + 规划：{plan_up.name}", merged)
                st.success(
                    f"已加载规划方案（{len(loaded.frame)} 个要素），侧边栏可切换「现状 / 规划」。"
                )

with tab_osm:
    st.markdown(
        "没有数字化道路和设施图层的乡镇，可以从 OpenStreetMap 文件（`.osm` 或 `.osm.pbf`）生成"
        "道路、便民设施、医疗机构和自然村图层（`source = OSM`）。按当前数据集的县界裁剪、按乡镇"
        "统计完整性：缺路面标记的道路按「未知」处理，不算硬化路；自然村缺户数需实地补充。"
    )
    osm_up = st.file_uploader("OSM 文件", type=["osm", "pbf", "bz2", "xml"], key="osm_upload")
    if osm_up is not None and dataset is not None and st.button("导入并检查", key="osm_go"):
        from layers.osm import import_osm

        try:
            imported = _read_upload(
                osm_up,
                lambda p: import_osm(
                    p,
                    boundary=dataset["county"],
                    townships=dataset["townships"],
                    admin_villages=dataset.get("admin_villages"),
                ),
            )
        except GapMapError as exc:
            st.error(getattr(exc, "zh", "") or str(exc))
            st.stop()
        st.session_state["osm_import"] = (osm_up.name, imported)
    if "osm_import" in st.session_state and dataset is not None:
        osm_name, imported = st.session_state["osm_import"]
        counts = {LAYERS[k].title_zh: len(v) for k, v in imported.frames.items()}
        st.write("生成的图层：" + "，".join(f"{k} {v} 个" for k, v in counts.items()))
        empty = not any(counts.values())
        if empty:
            st.warning(
                "该文件在本县范围内没有任何要素：请确认 OSM 文件覆盖本县（如宁夏的区域文件）。"
            )
        st.subheader("完整性报告（实地调查前请先看）")
        st.dataframe(imported.report, hide_index=True, width="stretch", key="osm_report")
        use = [k for k in ("roads", "service_points", "clinics") if k in imported.frames]
        st.caption(
            "「使用」把当前数据集中的道路、便民设施和医疗机构换成 OSM 图层（自然村仍用县里的数据；"
            "OSM 自然村缺户数，请下载后补充再上传）。"
        )
        if st.button("使用 OSM 道路和设施", key="osm_use", disabled=empty):
            merged = dataset.replace_layers(**{k: imported.frames[k] for k in use})
            if merged.errors:
                st.error(f"合并后有 {len(merged.errors)} 个错误，未使用。")
                st.dataframe(
                    problems_table(merged.errors),
                    hide_index=True,
                    width="stretch",
                    key="osm_problems",
                )
            else:
                add_upload(f"{name} + OSM：{osm_name}", merged)
                st.success("已切换到合并 OSM 图层后的数据集。")
        with tempfile.TemporaryDirectory() as tmp:
            gpkg = write_layers(Path(tmp) / "osm_layers.gpkg", dict(imported.frames))
            data = gpkg.read_bytes()
        st.download_button(
            "下载 OSM 图层（GPKG，可在 QGIS 中补充户数和路面后上传）",
            data,
            file_name=f"{Path(osm_name).stem}_gapmap.gpkg",
            key="osm_download",
        )
