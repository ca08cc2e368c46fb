"""问题清单 / 整改台账: record an analysis run, track each problem to 销号, export/import XLSX."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

import pandas as pd
import streamlit as st

from app.components import PRINT_CSS, history_table, problems_table, show_map
from app.maps.base import LegendItem, base_map, finish_map, point_layer
from app.maps.builders import add_outlines, view_bounds
from app.state import ledger, ledger_dir, page_context
from geo.ledger import (
    INDICATOR_ZH,
    STATE_ZH,
    TRANSITIONS,
    ConflictError,
    IllegalTransitionError,
    LedgerError,
    State,
    export_xlsx,
    import_xlsx,
)
from layers.store.actors import Actor

STATE_COLORS = {
    "open": "#d32f2f",
    "in_progress": "#f57c00",
    "awaiting_acceptance": "#fbc02d",
    "closed": "#2e7d32",
    "deferred": "#757575",
    "exempt": "#9e9e9e",
}

st.markdown(PRINT_CSS, unsafe_allow_html=True)
ctx = page_context()
if ctx is None:
    st.stop()
book = ledger()
st.title(f"问题清单 · 整改台账 · {ctx.township_name}")
st.caption(f"台账数据库：{ledger_dir()}（只追加、不删除；每次修改都留痕）")
user = st.text_input("填报人", key="ledger_user", placeholder="姓名或单位（记入修改记录）")

with st.expander("把本次分析结果记入台账（生成快照）", expanded=book.items().empty):
    st.markdown(
        "按当前数据和参数运行的各项检查，每个不达标的自然村/安置区/行政村/乡镇成为一条问题；"
        "同一问题下次分析仍是同一条（编号 = 指标 + 单位代码）。已销号的问题再次出现会被标为复发。"
    )
    # a snapshot is an observation of the county as it is: never of a plan (a planned road
    # must not close a real ledger item); a plan's effect is the 项目库与方案 plan review
    observed = ctx.baseline if ctx.scenario == "planned" and ctx.baseline else ctx.assessment
    if ctx.scenario == "planned":
        st.info(
            "侧栏选择了「规划」：快照只记录全县的现状数据，不记录规划；规划的效果请在"
            "「项目库与方案」页对比查看。"
        )
    if st.button("记入台账（全县现状）", key="ledger_record", type="primary", disabled=not user):
        # the assessment itself (not its items): the ledger refuses a 规划 one
        diff = book.record_snapshot(observed, actor=Actor.local(), note=f"{ctx.name}（现状）")
        st.success(
            f"已记入快照：新增 {len(diff.new)}，持续 {len(diff.persisting)}，"
            f"本次未再出现 {len(diff.disappeared)}（建议验收销号），复发 {len(diff.reopened)}。"
        )
    if not user:
        st.caption("请先填写填报人。")

items = book.items(township=ctx.scope.township_code)
if items.empty:
    st.info("台账为空：先把本次分析结果记入台账。")
    st.stop()
c1, c2 = st.columns(2)
indicators = c1.multiselect(
    "指标",
    list(INDICATOR_ZH),
    format_func=INDICATOR_ZH.get,
    key="ledger_indicators",
    placeholder="全部指标",
)
states = c2.multiselect(
    "状态",
    [s.value for s in State],
    format_func=lambda s: STATE_ZH[State(s)],
    key="ledger_states",
    placeholder="全部状态",
)
shown = items
if indicators:
    shown = shown[shown["indicator"].isin(indicators)]
if states:
    shown = shown[shown["state"].isin(states)]
counts = items["state_zh"].value_counts()
cols = st.columns(len(State))
for col, s in zip(cols, State, strict=True):
    col.metric(STATE_ZH[s], int(counts.get(STATE_ZH[s], 0)), border=True)

pts = shown.dropna(subset=["lon", "lat"])
if not pts.empty:
    import geopandas as gpd

    frame = gpd.GeoDataFrame(pts, geometry=gpd.points_from_xy(pts["lon"], pts["lat"]), crs=4326)
    m = base_map(view_bounds(ctx.dataset, ctx.scope), ctx.options)
    add_outlines(m, ctx.dataset, ctx.options)
    point_layer(
        frame,
        name="问题",
        labels={
            "village_name": "自然村",
            "admin_village_name": "行政村",
            "problem_type": "问题类型",
            "description": "问题描述",
            "state_zh": "状态",
        },
        color=frame["state"].map(STATE_COLORS),
        radius_px=6,
        tooltip_field="problem_type",
    ).add_to(m)
    legend = [LegendItem(STATE_COLORS[s.value], STATE_ZH[s]) for s in State]
    show_map(finish_map(m, legend, title="问题整改状态"), key="ledger_map", height=460)

table = pd.DataFrame(
    {
        "问题编号": shown["key"],
        "乡镇": shown["township_name"],
        "行政村": shown["admin_village_name"],
        "自然村": shown["village_name"],
        "问题类型": shown["problem_type"],
        "问题描述": shown["description"],
        "整改状态": shown["state_zh"],
        "责任单位": shown["responsible_unit"],
        "完成时限": shown["deadline"],
        "版本": shown["version"],
    }
)
st.subheader(f"问题（{len(shown)} 条；选中一行可修改）")
event = st.dataframe(
    table,
    hide_index=True,
    width="stretch",
    key="ledger_table",
    on_select="rerun",
    selection_mode="single-row",
    height=300,
)
if event.selection.rows:
    row = shown.iloc[event.selection.rows[0]]
    key = row["key"]
    st.subheader(
        f"修改：{row['problem_type']} · {row['village_name'] or row['admin_village_name']}"
    )
    st.caption(row["description"])
    current = State(row["state"])
    options = [current.value, *sorted(s.value for s in TRANSITIONS[current])]
    with st.form(f"edit_{key}"):
        to = st.selectbox(
            "整改状态", options, format_func=lambda s: STATE_ZH[State(s)], key="ledger_to"
        )
        reason = st.text_input(
            "原因说明（暂缓、豁免、重新打开时必填）", value=row.get("reason") or ""
        )
        unit = st.text_input("责任单位", value=row.get("responsible_unit") or "")
        measure = st.text_area(
            "整改措施", value=row.get("measure") or row["suggested_measure"] or ""
        )
        deadline = st.date_input(
            "完成时限",
            value=dt.date.fromisoformat(row["deadline"]) if row.get("deadline") else None,
        )
        notes = st.text_area("备注", value=row.get("notes") or "")
        save = st.form_submit_button("保存", type="primary", disabled=not user)
    if save:
        fields = {
            "responsible_unit": unit,
            "measure": measure,
            "deadline": deadline.isoformat() if deadline else None,
            "notes": notes,
        }
        try:
            if to != current.value:
                book.transition(
                    key,
                    to,
                    actor=Actor.local(),
                    expected_version=int(row["version"]),
                    reason=reason or None,
                    **fields,
                )
            else:
                book.update(
                    key,
                    actor=Actor.local(),
                    expected_version=int(row["version"]),
                    reason=reason,
                    **fields,
                )
        except (ConflictError, IllegalTransitionError, LedgerError) as exc:
            st.error(getattr(exc, "zh", "") or str(exc))
        else:
            st.success("已保存。")
            st.rerun()
    st.markdown("**佐证材料**（整改前后照片、验收单等）")
    evidence = [e for e in str(row.get("evidence") or "").splitlines() if e]
    root = book.evidence_dir.parent if book.evidence_dir is not None else None
    for rel in evidence:
        path = (root / rel).resolve() if root is not None else None
        name = Path(rel).name.split("_", 1)[-1]
        # only files inside the evidence folder are offered (never the database beside it)
        inside = path is not None and path.is_relative_to(book.evidence_dir.resolve())
        if inside and path.is_file():
            if path.suffix.lower() in {".jpg", ".jpeg", ".png", ".webp"}:
                st.image(str(path), caption=name, width=320)
            else:
                st.download_button(
                    f"下载 {name}", path.read_bytes(), file_name=name, key=f"ev_{rel}"
                )
        else:
            st.caption(f"{name}（文件不在台账文件夹中）")
    proof = st.file_uploader(
        "上传佐证材料",
        type=["jpg", "jpeg", "png", "webp", "pdf", "docx", "xlsx"],
        # a new key after each upload empties the box, so a file is not attached twice
        key=f"ledger_evidence_{key}_{st.session_state.get('evidence_uploads', 0)}",
    )
    if proof is not None and st.button("添加到该问题", key="ledger_evidence_go", disabled=not user):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / Path(proof.name).name
            path.write_bytes(proof.getbuffer())
            try:
                book.attach_evidence(
                    key, path, actor=Actor.local(), expected_version=int(row["version"])
                )
            except (ConflictError, LedgerError) as exc:
                st.error(getattr(exc, "zh", "") or str(exc))
            else:
                st.session_state["evidence_uploads"] = (
                    st.session_state.get("evidence_uploads", 0) + 1
                )
                st.toast(f"已添加佐证材料：{proof.name}")
                st.rerun()
    st.markdown("**修改记录**")
    history_table(book.history(key), key="ledger_history")

st.subheader("导出与导入（县级台账格式）")
with tempfile.TemporaryDirectory() as tmp:
    out = export_xlsx(book, Path(tmp) / "整改台账.xlsx", township=ctx.scope.township_code)
    data = out.read_bytes()
st.download_button("下载整改台账（XLSX）", data, file_name="整改台账.xlsx", key="ledger_export")
up = st.file_uploader("上传修改后的台账（XLSX）", type=["xlsx"], key="ledger_import")
if up is not None and st.button("检查并导入", key="ledger_import_go", disabled=not user):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / Path(up.name).name
        path.write_bytes(up.getbuffer())
        result = import_xlsx(book, path, actor=Actor.local())
    if result.applied:
        st.success(f"已导入 {len(result.changes)} 处修改。")
    else:
        st.error("台账有错误，未导入任何修改：请按下表逐行修正后重新上传。")
    if result.problems:
        st.dataframe(
            problems_table(result.problems),
            hide_index=True,
            width="stretch",
            key="ledger_import_problems",
        )
