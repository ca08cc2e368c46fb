"""问题清单 / 整改台账: record an analysis run, track each problem to 销号, export/import XLSX."""

from __future__ import annotations

import datetime as dt
import tempfile
import time
from pathlib import Path

import pandas as pd
import streamlit as st

from app.auth import current_actor
from app.components import PRINT_CSS, history_table, problems_table, show_map
from app.layout import data_table
from app.maps.base import LegendItem, base_map, finish_map, point_layer
from app.maps.builders import add_outlines, view_bounds
from app.state import (
    accepted_dataset,
    assessment_for,
    dataset_store,
    ledger,
    ledger_place,
    page_context,
)
from geo.ledger import (
    STATE_ZH,
    TRANSITIONS,
    ConflictError,
    IllegalTransitionError,
    LedgerError,
    State,
    export_xlsx,
    import_xlsx,
    indicator_names,
)
from geo.ledger.permissions import Action, allowed_fields, allowed_transitions, may, refusal
from geo.ledger.xlsx import ledger_table

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
NOTICE_S = 15.0  # how long the 已保存 message stays on the page (seconds)
book = ledger()
st.title(f"问题清单 · 整改台账 · {ctx.township_name}")
actor = current_actor()  # every write carries the logged-in user, never a typed name
# shown for a few seconds, on every run: a rerun right after the save (the map reporting its
# view) would otherwise take the message away before anyone read it
notice = st.session_state.get("ledger_notice")
if notice and time.monotonic() - notice[1] < NOTICE_S:
    st.success(notice[0])
elif notice:
    del st.session_state["ledger_notice"]
st.caption(
    f"操作人：{actor.label}　·　台账数据库：{ledger_place()}（只追加、不删除；每次修改都留痕）"
)


def _snapshot_section() -> None:
    """Record the county's 现状 as a snapshot (a county-level action of the administrator)."""
    with st.expander(
        "把本次分析结果记入台账（全县现状快照，县级操作）", expanded=book.items().empty
    ):
        st.markdown(
            "按当前数据和参数运行的各项检查，全县每个不达标的自然村/安置区/行政村/乡镇成为一条"
            "问题（与侧栏所选乡镇无关）；同一问题下次分析仍是同一条（编号 = 指标 + 单位代码）。"
            "已销号的问题再次出现会被标为复发。"
        )
        # a snapshot is an observation of the county as it is: never of a plan (a planned
        # road must not close a real ledger item); a plan's effect is the plan review
        observed = ctx.baseline if ctx.scenario == "planned" and ctx.baseline else ctx.assessment
        store = dataset_store()
        if store is not None:  # server mode: the county's accepted dataset, nothing else
            county = accepted_dataset()
            if county is None:
                st.warning(
                    "服务器模式下快照只记录已采纳的本县数据：请先在「数据」页的「数据版本」中"
                    "保存并采纳本县数据。"
                )
                return
            observed = assessment_for(county)
            st.caption(
                f"快照记录已采纳的本县数据（第 {store.accepted_version()} 版）的现状，"
                "与侧栏所选的数据集无关。"
            )
        if ctx.scenario == "planned":
            st.info(
                "侧栏选择了「规划」：快照只记录全县的现状数据，不记录规划；规划的效果请在"
                "「项目库与方案」页对比查看。"
            )
        if st.button("记入台账（全县现状）", key="ledger_record", type="primary"):
            try:
                diff = book.record_snapshot(observed, actor=actor, note=f"{ctx.name}（现状）")
            except LedgerError as exc:
                st.error(exc.zh)
                return
            st.success(
                f"已记入全县快照：新增 {len(diff.new)}，持续 {len(diff.persisting)}，"
                f"本次未再出现 {len(diff.disappeared)}（建议验收销号），"
                f"复发 {len(diff.reopened)}。"
            )


if may(actor, Action.SNAPSHOT):
    _snapshot_section()

items = book.items(township=ctx.scope.township_code)
if items.empty:
    st.info("台账为空：先把本次分析结果记入台账。")
    st.stop()
# the table's indicators (a county's own profile indicators among them), then any code
# the ledger holds that the table no longer has
names = indicator_names(ctx.assessment)
names.update({c: c for c in items["indicator"].unique() if c not in names})
c1, c2 = st.columns(2)
indicators = c1.multiselect(
    "指标",
    list(names),
    format_func=names.get,
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


def _edit_form(row: pd.Series, current: State, options: list[str], editable: frozenset) -> None:
    """The edit form of one item: only the states and fields the actor's role may set."""
    key = row["key"]
    with st.form(f"edit_{key}"):
        to = st.selectbox(
            "整改状态", options, format_func=lambda s: STATE_ZH[State(s)], key="ledger_to"
        )
        admin_only = "reason" not in editable
        reason = st.text_input(
            "原因说明（暂缓、豁免、重新打开时必填）",
            value=row.get("reason") or "",
            disabled=admin_only,
        )
        unit = st.text_input(
            "责任单位",
            value=row.get("responsible_unit") or "",
            disabled="responsible_unit" not in editable,
        )
        measure = st.text_area(
            "整改措施",
            value=row.get("measure") or row["suggested_measure"] or "",
            disabled="measure" not in editable,
        )
        deadline = st.date_input(
            "完成时限",
            value=dt.date.fromisoformat(row["deadline"]) if row.get("deadline") else None,
            disabled="deadline" not in editable,
        )
        notes = st.text_area("备注", value=row.get("notes") or "")
        save = st.form_submit_button("保存", type="primary")
    if not save:
        return
    typed = {
        "responsible_unit": unit or None,
        "measure": measure or None,
        "deadline": deadline.isoformat() if deadline else None,
        "notes": notes or None,
        "reason": reason or None,
    }
    # only what the user changed is sent (a role may not even resend a field it cannot set)
    before = {**{f: row.get(f) or None for f in typed}, "measure": row.get("measure") or None}
    fields = {f: v for f, v in typed.items() if v != before[f] and (f in editable or f == "notes")}
    try:
        if to != current.value:
            fields.pop("reason", None)
            reason_arg = typed["reason"] if "reason" in editable else None
            book.transition(
                key,
                to,
                actor=actor,
                expected_version=int(row["version"]),
                reason=reason_arg,
                **fields,
            )
        else:
            book.update(key, actor=actor, expected_version=int(row["version"]), **fields)
    except (ConflictError, IllegalTransitionError, LedgerError) as exc:
        st.error(getattr(exc, "zh", "") or str(exc))
    else:
        # the rerun below redraws the page with the new version: say so on that run
        st.session_state["ledger_notice"] = (
            f"已保存：{row['problem_type']} · {key}",
            time.monotonic(),
        )
        st.rerun()


# what a reader needs first; 问题编号 (long, a reference) and 版本 at the end
LEDGER_PAGE_COLUMNS = ("乡镇", "行政村", "自然村", "问题类型", "问题描述", "整改状态")
table = ledger_table(shown, names_zh=names)[
    [*LEDGER_PAGE_COLUMNS, "责任单位", "完成时限", "问题编号", "版本"]
]
st.subheader(f"问题（{len(shown)} 条；选中一行可修改）")
event = data_table(
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
    moves = allowed_transitions(actor, row)  # only the moves this role may make on this item
    options = [current.value, *sorted(s.value for s in moves & TRANSITIONS[current])]
    editable = allowed_fields(actor)
    denied = refusal(actor, Action.UPDATE, row, fields=editable or {"notes"})
    if len(options) == 1 and denied is not None:
        st.info(f"您（{actor.label}）对该问题只能查看：{denied[1]}。")
    else:
        _edit_form(row, current, options, editable)
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
    if may(actor, Action.EVIDENCE, row):
        proof = st.file_uploader(
            "上传佐证材料",
            type=["jpg", "jpeg", "png", "webp", "pdf", "docx", "xlsx"],
            # a new key after each upload empties the box, so a file is not attached twice
            key=f"ledger_evidence_{key}_{st.session_state.get('evidence_uploads', 0)}",
        )
        if proof is not None and st.button("添加到该问题", key="ledger_evidence_go"):
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / Path(proof.name).name
                path.write_bytes(proof.getbuffer())
                try:
                    book.attach_evidence(
                        key, path, actor=actor, expected_version=int(row["version"])
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
    out = export_xlsx(
        book,
        Path(tmp) / "整改台账.xlsx",
        township=ctx.scope.township_code,
        names_zh=names,
        county=str(ctx.dataset["county"]["name"].iloc[0]),
    )
    data = out.read_bytes()
st.download_button("下载整改台账（XLSX）", data, file_name="整改台账.xlsx", key="ledger_export")
if may(actor, Action.IMPORT):  # a township or department imports only its own rows
    up = st.file_uploader("上传修改后的台账（XLSX）", type=["xlsx"], key="ledger_import")
    if up is not None and st.button("检查并导入", key="ledger_import_go"):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / Path(up.name).name
            path.write_bytes(up.getbuffer())
            result = import_xlsx(book, path, actor=actor, names_zh=names)
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
