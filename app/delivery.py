"""The 「上传整县资料包」 tab of the 数据 page: a county's delivery → the county's GeoPackage.

Upload a zip (or several files) → every file proposed for a layer, with GapMap's detection
(name, fields, geometry, encoding, coordinates and the evidence) → the user confirms the
layer, coordinate system and field mapping per file → 「检查」 reads and validates → 「保存为
本县 GeoPackage」 writes it atomically and makes it the active dataset; the manifest (the
choices, for next year's delivery and ``python -m scripts.ingest``) can be downloaded.

The work is :mod:`layers.delivery`; this module only arranges widgets and session state.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from pathlib import Path

import pandas as pd
import streamlit as st

from app.components import problems_table
from app.state import ROOT, add_upload
from layers.dataset import read_dataset
from layers.delivery import (
    DEM,
    README,
    ROLE_ZH,
    ROLES,
    WATER_MODEL,
    DeliveryScan,
    FileProposal,
    Manifest,
    ManifestEntry,
    read_delivery,
    read_manifest,
    scan_delivery,
    suggest_fields,
)
from layers.epanet import CRS_CHOICES
from layers.errors import GapMapError
from layers.schema import LAYERS
from layers.write import atomic_path, write_layers

__all__ = ["delivery_tab", "saved_dir"]

COORDS_ZH = {
    "": "按文件自带坐标系",
    "wgs84": "WGS84 经纬度（GPS）",
    "cgcs2000": "CGCS2000 经纬度（天地图、国土调查）",
    "gcj02": "GCJ-02（高德、腾讯地图拾取）",
    "bd09": "BD-09（百度地图拾取）",
    "EPSG:4544": "CGCS2000 3度带 105°E 不带带号（EPSG:4544）",
    "EPSG:4523": "CGCS2000 3度带 105°E 带带号 35（EPSG:4523）",
    "EPSG:4545": "CGCS2000 3度带 108°E 不带带号（EPSG:4545）",
    "EPSG:4524": "CGCS2000 3度带 108°E 带带号 36（EPSG:4524）",
    "EPSG:4507": "CGCS2000 6度带 105°E 不带带号（EPSG:4507）",
    "EPSG:4543": "CGCS2000 3度带 102°E 不带带号（EPSG:4543）",
}
"""Coordinate choices offered per file (detected codes not listed here are added)."""
_ASK_INP = "（请声明模型坐标系：.inp 文件本身没有坐标系）"

UPLOAD_TYPES = [
    "zip", "geojson", "json", "shp", "shx", "dbf", "prj", "cpg", "xlsx", "csv", "kml",
    "kmz", "gpkg", "inp", "tif", "tiff", "txt", "md",
]  # fmt: skip
_STATE = "delivery"


def saved_dir() -> Path:
    """Where saved county GeoPackages go: ``GAPMAP_DATASET_DIR``, else ``out/datasets``."""
    return Path(os.environ.get("GAPMAP_DATASET_DIR", ROOT / "out" / "datasets"))


def _server_root() -> Path | None:
    """Folder whose deliveries may be opened by path (``GAPMAP_DELIVERY_ROOT``), or None."""
    root = os.environ.get("GAPMAP_DELIVERY_ROOT")
    return Path(root).resolve() if root else None


UPLOADS = Path(os.environ.get("GAPMAP_UPLOAD_DIR", ROOT / "out" / "uploads")) / "delivery"
"""Where a session's uploaded delivery files are kept while it works on them."""
KEEP_S = 24 * 3600
"""Uploaded deliveries older than this (seconds) are removed when another one is uploaded."""


def _save_uploads(uploads: list) -> Path:
    """Write uploads into a private folder kept for the session; return the delivery path.

    The session's previous upload folder is removed, and so is any other older than
    :data:`KEEP_S` (a session that ended without cleaning up): nothing piles up on disk.
    """
    UPLOADS.mkdir(parents=True, exist_ok=True)
    previous = st.session_state.pop("_delivery_folder", None)
    now = time.time()
    for old in UPLOADS.iterdir():
        if old.is_dir() and (str(old) == previous or now - old.stat().st_mtime > KEEP_S):
            shutil.rmtree(old, ignore_errors=True)
    folder = Path(tempfile.mkdtemp(prefix="upload-", dir=UPLOADS))
    st.session_state["_delivery_folder"] = str(folder)
    for up in uploads:
        (folder / Path(up.name).name).write_bytes(up.getbuffer())
    zips = [p for p in folder.iterdir() if p.suffix.lower() == ".zip"]
    if len(uploads) == 1 and len(zips) == 1:
        return zips[0]
    return folder


def _scan(source: Path, previous: Manifest | None) -> None:
    scan = scan_delivery(source)
    st.session_state[_STATE] = {
        "source": str(source),
        "scan": scan,
        "previous": previous,
        "result": None,
    }
    for key in [k for k in st.session_state if str(k).startswith("dl_")]:
        del st.session_state[key]  # widgets of an earlier delivery


def _defaults(p: FileProposal, previous: Manifest | None) -> tuple[str, str, dict[str, str]]:
    """Role, coords and field renames to pre-fill: last year's manifest, else the proposal."""
    entry = previous.entry(p.path, p.sublayer) if previous is not None else None
    if entry is not None:
        return entry.layer, entry.coords or "", dict(entry.fields)
    return p.role, p.coords or "", p.field_mapping


def _evidence(p: FileProposal) -> str:
    parts = []
    if p.coords_check is not None:
        parts += list(p.coords_check.findings_zh[:1])
        best = p.coords_check.best
        if best is not None and best.fit_zh():
            parts.append(f"按 {best.label_zh}：{best.fit_zh()}")
    if p.coords_hint:
        parts.append(f"数据说明：{p.coords_hint}")
    return "；".join(parts)


def _proposal_table(scan: DeliveryScan) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "文件": p.path + (f"（{p.sublayer}）" if p.sublayer else ""),
                "建议图层": ROLE_ZH[p.role],
                "依据": p.reason_zh,
                "要素数": p.feature_count,
                "编码": p.encoding or "",
                "文件坐标系": p.source_crs or "无",
                "建议坐标系": COORDS_ZH.get(p.coords or "", p.coords or ""),
                "坐标检测": _evidence(p),
                "提示": "；".join(p.warnings_zh)
                or ("坐标系由数值检测得出，请确认" if p.coords_detected else ""),
            }
            for p in scan.files
        ]
    )


def _field_editor(i: int, p: FileProposal, layer: str, renames: dict[str, str]) -> dict[str, str]:
    """Columns, suggestions and sample values; returns the renames the user confirmed."""
    suggestions, _ = suggest_fields(p, layer)
    schema = LAYERS[layer]
    options = ["", *schema.field_names]
    rows = []
    for s in suggestions:
        chosen = renames.get(s.column, s.field or "")
        rows.append(
            {
                "列名": s.column,
                "示例值": "、".join(s.samples),
                "对应字段": chosen if chosen in options else "",
                "说明": s.reason_zh,
            }
        )
    table = pd.DataFrame(rows, columns=["列名", "示例值", "对应字段", "说明"])
    edited = st.data_editor(
        table,
        key=f"dl_fields_{i}_{layer}",
        hide_index=True,
        width="stretch",
        disabled=["列名", "示例值", "说明"],
        column_config={
            "对应字段": st.column_config.SelectboxColumn(
                "对应字段",
                options=options,
                help="GapMap 字段名；" + "、".join(f"{f.name}={f.title_zh}" for f in schema.fields),
            )
        },
    )
    auto = {s.column: s.field for s in suggestions if s.reason in ("name", "alias")}
    out = {
        str(r["列名"]): str(r["对应字段"])
        for r in edited.to_dict("records")
        if r["对应字段"] and auto.get(str(r["列名"])) != r["对应字段"]
    }
    covered = {str(r["对应字段"]) for r in edited.to_dict("records") if r["对应字段"]}
    missing = [f for f in schema.required if f not in covered]
    if missing:
        st.warning(
            "仍缺少必填字段："
            + "、".join(f"{schema.field(f).title_zh}（{f}）" for f in missing)
            + "。请在「对应字段」中选择对应的列，或在源文件中补充后重新上传。"
        )
    return out


def _file_block(i: int, p: FileProposal, previous: Manifest | None) -> ManifestEntry:
    role0, coords0, renames = _defaults(p, previous)
    title = f"{p.path}{'（' + p.sublayer + '）' if p.sublayer else ''} → {ROLE_ZH[role0]}"
    warn = bool(p.needs_confirmation or p.missing_fields)
    with st.expander(("⚠ " if warn else "") + title, expanded=warn or bool(p.field_mapping)):
        role = st.selectbox(
            "图层",
            ROLES,
            index=ROLES.index(role0),
            format_func=ROLE_ZH.get,
            key=f"dl_role_{i}",
        )
        coords = ""
        if role in LAYERS or role == WATER_MODEL:
            # an .inp has no CRS of its own and may be a drawing: EPANET's own choices
            options = {"": _ASK_INP, **CRS_CHOICES} if role == WATER_MODEL else dict(COORDS_ZH)
            for c in p.coords_check.candidates if p.coords_check else ():
                options.setdefault(c.coords, c.coords)
            options.setdefault(coords0, coords0)
            best = p.coords_check.best if p.coords_check else None
            coords = st.selectbox(
                "坐标系",
                list(options),
                index=list(options).index(coords0),
                format_func=lambda c: (
                    options[c]
                    + ("（GapMap 检测建议）" if best is not None and c == best.coords else "")
                ),
                key=f"dl_coords_{i}",
            )
            if p.coords_check is not None:
                st.caption("坐标检测：" + "；".join(p.coords_check.findings_zh))
                cands = [
                    f"{c.label_zh}：{c.fit_zh()}" for c in p.coords_check.candidates if c.fit_zh()
                ]
                if cands:
                    st.caption("各候选坐标系的吻合程度：" + "；".join(cands))
            for w in p.warnings_zh:
                st.warning(w)
            if p.coords_detected and not p.warnings_zh:
                st.info(
                    f"坐标系「{options.get(p.coords or '', p.coords)}」由 GapMap 根据坐标数值"
                    "检测得出（文件和数据说明都没有写明），请核对后确认。"
                )
        if role in LAYERS:
            if role != p.role or p.missing_fields or renames:
                renames = _field_editor(i, p, role, renames)
            else:
                st.caption("字段均可自动对应：" + "、".join(
                    f"{s.column}→{s.field}" for s in p.fields if s.field
                ))  # fmt: skip
        elif role in (README, DEM) and p.text:
            st.text(p.text[:800])
        return ManifestEntry(
            path=p.path,
            layer=role,
            coords=coords or None,
            encoding=p.encoding if p.encoding_source.startswith("detected") else None,
            sublayer=p.sublayer,
            fields=renames if role in LAYERS else {},
        )


def delivery_tab() -> None:
    """Draw the 「上传整县资料包」 tab."""
    st.markdown(
        "上传县里交来的整套资料（一个 zip，或多个文件一起选）：县界/乡镇 GeoJSON、行政村 XLSX、"
        "自然村 Shapefile、道路 FileGDB（zip）、高德/百度拾取的设施表、供水管网 .inp、DEM、"
        "数据说明等。GapMap 逐个文件建议图层、坐标系和字段对应并给出依据，请逐项确认后「检查」，"
        "通过后「保存为本县 GeoPackage」。坐标系不会被自动改变：检测与声明不符时会提示。"
    )
    ups = st.file_uploader(
        "资料包（zip）或多个文件", type=UPLOAD_TYPES, accept_multiple_files=True, key="dl_upload"
    )
    prev_up = st.file_uploader(
        "上一年的清单（可选，.toml）：按其中的选择预填", type=["toml"], key="dl_prev_manifest"
    )
    root = _server_root()
    server_path = ""
    if root is not None:
        server_path = st.text_input(
            f"或输入服务器上的资料包路径（{root} 之下）", key="delivery_path"
        )
    if st.button("识别文件", key="delivery_scan", type="primary"):
        try:
            previous = None
            if prev_up is not None:
                folder = Path(tempfile.mkdtemp(prefix="gapmap-manifest-"))
                path = folder / Path(prev_up.name).name
                path.write_bytes(prev_up.getbuffer())
                previous = read_manifest(path)
            if server_path:
                source = Path(server_path).resolve()
                if root is None or not source.is_relative_to(root):
                    st.error(f"只能打开 {root} 之下的资料包。")
                    return
            elif ups:
                source = _save_uploads(list(ups))
            else:
                st.error("请先上传资料包或文件。")
                return
            with st.spinner("正在识别每个文件的图层、坐标系和字段…"):
                _scan(source, previous)
        except GapMapError as exc:
            st.error(exc.zh)
            return
    state = st.session_state.get(_STATE)
    if not state:
        return
    scan: DeliveryScan = state["scan"]
    st.subheader(f"识别结果 · {len(scan.files)} 个文件")
    st.dataframe(
        _proposal_table(scan),
        hide_index=True,
        width="stretch",
        height=36 * (len(scan.files) + 1) + 3,
        key="dl_proposals",
    )
    if scan.readme:
        with st.expander("数据说明"):
            st.text(scan.readme)
    entries = [_file_block(i, p, state["previous"]) for i, p in enumerate(scan.files)]
    county = st.text_input("县名（数据集名称）", value=scan.name, key="dl_county")
    manifest = Manifest(entries=tuple(entries), county=county, notes=scan.manifest().notes)
    warned = [p for p in scan.files if p.needs_confirmation]
    confirmed = True
    if warned:
        confirmed = st.checkbox(
            f"我已核对 {len(warned)} 个文件的坐标系（"
            + "、".join(p.path for p in warned)
            + "），按所选坐标系读取",
            key="dl_confirm",
        )
    col1, col2 = st.columns(2)
    check = col1.button("检查", key="delivery_check", disabled=not confirmed, type="primary")
    col2.download_button(
        "下载清单（manifest.toml，明年一条命令导入）",
        manifest.to_toml().encode("utf-8"),
        file_name=f"{county or 'county'}.manifest.toml",
        key="dl_manifest_download",
    )
    if check:
        extras = Path(tempfile.mkdtemp(prefix="gapmap-delivery-extras-"))
        try:
            with st.spinner("正在读取并检查…"):
                state["result"] = read_delivery(state["source"], manifest, extras_dir=extras)
        except GapMapError as exc:
            state["result"] = None
            st.error(exc.zh)
    result = state.get("result")
    if result is None:
        return
    ds = result.dataset
    errors = ds.errors
    if errors:
        st.error(
            f"发现 {len(errors)} 个错误：请按「修改方法」修正源文件或上面的选择后重新「检查」。"
        )
    else:
        st.success(
            f"全部 {len(ds.layers)} 个图层通过检查（{len(ds.problems)} 条提示）："
            + "、".join(f"{LAYERS[k].title_zh} {len(v)}" for k, v in ds.layers.items())
        )
    if ds.problems:
        st.dataframe(problems_table(ds.problems), hide_index=True, width="stretch",
                     key="dl_problems")  # fmt: skip
    extras = []
    if result.water_model is not None:
        coords = result.water_model_coords or "未声明"
        extras.append(f"供水管网模型 {result.water_model.name}（{coords}）")
    if result.dem is not None:
        extras.append(f"高程数据 {result.dem.name}（{result.dem_crs or '未声明'}）")
    if extras:
        st.caption("另有：" + "；".join(extras))
    if st.button("保存为本县 GeoPackage", key="delivery_save", disabled=bool(errors)):
        _save(result, county or scan.name)


def _save(result, county: str) -> None:
    folder = saved_dir()
    county = re.sub(r'[\\/:*?"<>|\s]+', "_", county).strip("._") or "county"  # a file name
    gpkg = folder / f"{county}.gpkg"
    try:
        write_layers(gpkg, dict(result.dataset.layers), inputs=result.dataset.inputs)
        for src, name in ((result.water_model, f"{county}.inp"), (result.dem, f"{county}_dem.tif")):
            if src is not None:
                with atomic_path(folder / name, inputs=result.dataset.inputs) as tmp:
                    shutil.copyfile(src, tmp)
        saved = read_dataset(gpkg).with_water_model(result.dataset.water_model)
    except GapMapError as exc:
        st.error(exc.zh)
        return
    if result.dem is not None:
        saved = saved.with_dem(folder / f"{county}_dem.tif")
    label = f"资料包：{county}"
    add_upload(label, saved)
    st.success(f"已保存 {gpkg}，并切换到数据集「{label}」。")
    st.download_button(
        "下载本县 GeoPackage", gpkg.read_bytes(), file_name=gpkg.name, key="dl_gpkg_download"
    )
