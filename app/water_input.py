"""The EPANET model upload (数据 and 农村供水 pages): file, declared CRS, village → node table."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd
import streamlit as st

from app.components import problems_table
from app.state import set_water_model
from layers.dataset import Dataset
from layers.epanet import CRS_CHOICES, inp_from_bytes, read_village_nodes
from layers.errors import GapMapError

__all__ = ["inp_upload_form", "model_notes"]

_ASK = "（请选择：必须声明，GapMap 不会替您假定）"


def _crs_label(code: str) -> str:
    return _ASK if code == "" else CRS_CHOICES.get(code, code)


def inp_upload_form(name: str, dataset: Dataset, *, key: str) -> None:
    """Draw the upload of a water bureau's ``.inp`` for the dataset ``name``.

    The model is used only after it reads cleanly and lies inside the county (or is
    declared schematic); every refusal is a located Chinese message.
    """
    if f"{key}_done" in st.session_state:
        st.success(st.session_state.pop(f"{key}_done"))
    if dataset.water_model is not None:
        m = dataset.water_model
        where = "示意图（无真实坐标）" if m.schematic else m.crs
        st.caption(
            f"当前使用的供水模型：{m.name}（坐标系 {where}"
            + (f"，村—节点对照 {len(m.village_nodes)} 条" if m.village_nodes else "")
            + "）"
        )
        if st.button("改回按供水图层建模", key=f"{key}_drop"):
            set_water_model(name, dataset, None)
            st.rerun()
    up = st.file_uploader("EPANET 模型文件（.inp，UTF-8 或 GB18030）", type=None, key=f"{key}_file")
    choice = st.selectbox(
        "模型 [COORDINATES] 的坐标系",
        ["", *CRS_CHOICES],
        format_func=_crs_label,
        key=f"{key}_crs",
        help="打开 .inp 看坐标：X 为 8 位数一般是带带号的高斯投影，6 位数为不带带号；"
        "没有真实坐标（示意图）时选最后一项。",
    )
    other = st.text_input("或填写其他 EPSG 代码", key=f"{key}_epsg", placeholder="如 EPSG:4523")
    table_up = st.file_uploader(
        "村—节点对照表（可选；CSV/XLSX，两列：自然村编码、供水节点）", type=None, key=f"{key}_table"
    )
    if up is None or not st.button("检查并使用该模型", key=f"{key}_go", type="primary"):
        return
    if Path(up.name).suffix.lower() != ".inp":
        st.error(
            f"{up.name} 不是 EPANET 模型文件：请上传扩展名为 .inp 的文件（EPANET「另存为」）。"
        )
        return
    crs = other.strip() or choice
    try:
        model = inp_from_bytes(bytes(up.getbuffer()), up.name, crs=crs or None)
        if table_up is not None:
            with tempfile.TemporaryDirectory(prefix="gapmap-upload-") as tmp:
                path = Path(tmp) / Path(table_up.name).name
                path.write_bytes(table_up.getbuffer())
                model = model.with_village_nodes(read_village_nodes(path))
    except GapMapError as exc:
        st.error(exc.zh)
        return
    candidate = dataset.with_water_model(model)
    refused = [p for p in candidate.errors if p.layer in ("inp", "epanet")]
    if refused:
        st.error(f"{model.name} 没有被采用：")
        st.dataframe(problems_table(refused).fillna(""), hide_index=True, key=f"{key}_refused")
        return
    set_water_model(name, dataset, model)
    st.session_state[f"{key}_done"] = (
        f"已为「{name}」使用 EPANET 模型 {model.name}：水泵、阀门、控制规则和需水量按原模型计算。"
    )
    st.rerun()  # every page now runs the new model; the message shows after the rerun


def model_notes(changes: tuple[str, ...], problems: list) -> pd.DataFrame:
    """Return one table of what GapMap changed in a model and every water problem."""
    rows = [{"类别": "GapMap 的修改", "内容": c, "处理": "模型文件本身不变"} for c in changes]
    rows += [
        {
            "类别": "错误" if str(p.severity) == "error" else "提示",
            "内容": p.message_zh,
            "处理": p.fix_zh,
        }
        for p in problems
    ]
    return pd.DataFrame(rows, columns=["类别", "内容", "处理"])
