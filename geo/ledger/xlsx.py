"""The 整改台账 as an XLSX workbook in the county office's layout, and edits imported back.

Sheet ``整改台账``: 序号, 乡镇, 行政村, 自然村, 问题类型, 问题描述, 整改措施, 责任单位,
完成时限, 整改状态, 销号日期 (the office layout, in that order), then 关联项目, 备注, 原因说明,
系统提示, 问题编号, 版本. People edit 整改措施, 责任单位, 完成时限, 整改状态, 销号日期, 关联项目,
备注 and 原因说明; 问题编号 and 版本 tie a row to its item and to the version it was exported
at (optimistic locking across the round trip). 乡镇 … 问题描述 and 系统提示 come from the
analysis: edits there are not imported (a warning says so). A second sheet ``填写说明``
lists the states, the allowed changes and the snapshot the workbook was made from.

:func:`import_xlsx` checks every row first and applies nothing unless every row is right;
each problem names the Excel row, the column and what to do, in Chinese.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from geo.labels import beijing_text, item_key_zh
from geo.ledger import permissions
from geo.ledger.fields import parse_date
from geo.ledger.items import INDICATOR_ZH
from geo.ledger.permissions import Action, PermissionDeniedError
from geo.ledger.states import (
    REASON_REQUIRED,
    STATE_ZH,
    TRANSITIONS,
    ConflictError,
    IllegalTransitionError,
    LedgerError,
    State,
    beijing_time,
    parse_state,
)
from geo.ledger.store import Change, Ledger
from layers.errors import Problem, ProblemKind, Severity
from layers.store.actors import Actor
from layers.write import atomic_path, write_excel

__all__ = [
    "EXPORT_COLUMNS",
    "OFFICE_COLUMNS",
    "SHEET",
    "ImportResult",
    "check_import",
    "export_xlsx",
    "import_xlsx",
    "ledger_table",
    "read_xlsx",
]

logger = logging.getLogger(__name__)

SHEET = "整改台账"
"""Name of the ledger sheet."""

OFFICE_COLUMNS: tuple[str, ...] = (
    "序号",
    "乡镇",
    "行政村",
    "自然村",
    "问题类型",
    "问题描述",
    "整改措施",
    "责任单位",
    "完成时限",
    "整改状态",
    "销号日期",
)
"""The county office's ledger columns, in order."""

EXPORT_COLUMNS: tuple[str, ...] = (
    *OFFICE_COLUMNS,
    "关联项目",
    "备注",
    "原因说明",
    "系统提示",
    "问题编号",
    "版本",
)
"""Every column of the exported sheet."""

_EDITABLE = {
    "整改措施": "measure",
    "责任单位": "responsible_unit",
    "完成时限": "deadline",
    "销号日期": "closed_on",
    "关联项目": "project",
    "备注": "notes",
    "原因说明": "reason",
}
_READ_ONLY = {
    "乡镇": "township_name",
    "行政村": "admin_village_name",
    "自然村": "village_name",
    "问题类型": "problem_type",
    "问题描述": "description",
}
_REQUIRED = ("问题编号", "版本", "整改状态")


def ledger_table(items: pd.DataFrame, *, names_zh: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Return the ledger sheet (:data:`EXPORT_COLUMNS`) for a frame of :meth:`Ledger.items`.

    Parameters
    ----------
    items : DataFrame
        :meth:`Ledger.items` rows.
    names_zh : mapping, optional
        Indicator code → Chinese name (default: the default table's,
        :data:`geo.ledger.items.INDICATOR_ZH`): 问题编号 reads
        ``20户以上自然村通硬化路·640324100203-03`` (:func:`geo.labels.item_key_zh`), and
        :func:`check_import` reads it back to the item's key.
    """
    names = INDICATOR_ZH if names_zh is None else names_zh
    hint = []
    for n, close in zip(
        items["reopen_count"].fillna(0).astype(int), items["suggest_close"], strict=True
    ):
        parts = [f"销号后复发（第{n}次）"] if n else []
        parts += ["本期数据已不再发现，建议验收销号"] if close else []
        hint.append("；".join(parts))
    out = pd.DataFrame(
        {
            "序号": np.arange(1, len(items) + 1),
            "乡镇": items["township_name"].to_numpy(),
            "行政村": items["admin_village_name"].to_numpy(),
            "自然村": items["village_name"].to_numpy(),
            "问题类型": items["problem_type"].to_numpy(),
            "问题描述": items["description"].to_numpy(),
            "整改措施": items["measure"].to_numpy(),
            "责任单位": items["responsible_unit"].to_numpy(),
            "完成时限": items["deadline"].to_numpy(),
            "整改状态": items["state_zh"].to_numpy(),
            "销号日期": items["closed_on"].to_numpy(),
            "关联项目": items["project"].to_numpy(),
            "备注": items["notes"].to_numpy(),
            "原因说明": items["reason"].to_numpy(),
            "系统提示": hint,
            "问题编号": [item_key_zh(k, names) for k in items["key"]],
            "版本": items["version"].astype(int).to_numpy(),
        }
    )
    text = [c for c in out.columns if c not in ("序号", "版本")]
    out[text] = out[text].astype(object).where(out[text].notna(), "")
    return out


def _guide(ledger: Ledger) -> pd.DataFrame:
    snaps = ledger.snapshots()
    rows = [("整改状态", "、".join(STATE_ZH.values()))]
    for s, targets in TRANSITIONS.items():
        allowed = "、".join(STATE_ZH[t] for t in sorted(targets, key=list(State).index))
        need = "（暂缓/豁免须填写原因说明）" if targets & REASON_REQUIRED else ""
        if s is State.CLOSED:
            need = "（人工重新打开须填写原因说明；数据中复发的问题由系统自动重新打开）"
        rows.append((f"“{STATE_ZH[s]}”可改为", allowed + need))
    rows += [
        (
            "可填写的列",
            "整改措施、责任单位、完成时限、整改状态、销号日期、关联项目、备注、原因说明",
        ),
        ("不导入的列", "乡镇、行政村、自然村、问题类型、问题描述、系统提示（由分析结果生成）"),
        ("日期格式", "2026-06-30"),
        ("问题编号、版本", "请勿修改；导入时据此核对问题，并发现导出后他人所做的修改"),
        ("一次只改一步", "每次导入只能把状态改到下一步，例如“整改中”不能直接改为“已销号”"),
    ]
    if len(snaps):
        last = snaps.iloc[-1]
        rows += [
            (
                "分析快照",
                f"第 {last['id']} 次，{beijing_time(last['created_at'])}，{last['created_by']}",
            ),
            ("数据版本", str(last["dataset_hash"])),
            ("参数方案", str(last["settings_profile"])),
        ]
    return pd.DataFrame(rows, columns=["项目", "说明"])


TITLE_ROWS = 2
"""Rows above the header of the exported ledger sheet: the title, then county · township · date."""

_WIDTHS = {
    "序号": 5, "乡镇": 9, "行政村": 9, "自然村": 9, "问题类型": 12, "问题描述": 36,
    "整改措施": 26, "责任单位": 12, "完成时限": 11, "整改状态": 11, "销号日期": 11,
    "关联项目": 10, "备注": 14, "原因说明": 14, "系统提示": 16, "问题编号": 24, "版本": 5,
}  # fmt: skip
"""Column widths (characters) of the ledger sheet: on A4 landscape, 序号 … 原因说明 print."""
_WRAP = {"问题描述", "整改措施", "备注", "原因说明", "系统提示", "问题编号"}
_PRINTED = "原因说明"
"""The last printed column: 系统提示, 问题编号 and 版本 are for the round trip, not the page."""


def _title(items: pd.DataFrame, county: str | None, township: str | None, now: str) -> str:
    if township is None:
        place = "全部乡镇"
    else:
        names = items["township_name"].dropna().unique() if len(items) else []
        place = "、".join(map(str, names)) or str(township)
    return f"{county or ''}　乡镇：{place}　截至：{now}（北京时间）　共 {len(items)} 条".strip("　")


def _office_layout(ws: Any, n_rows: int, *, title: str, subtitle: str) -> None:
    """Title rows, header style, widths, borders, print setup of the ledger sheet (in place)."""
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.properties import PageSetupProperties

    n_cols = len(EXPORT_COLUMNS)
    last = get_column_letter(n_cols)
    ws.insert_rows(1, TITLE_ROWS)
    header_row = TITLE_ROWS + 1
    end_row = header_row + max(n_rows, 1)
    ws["A1"] = title
    ws["A1"].font = Font(bold=True, size=16)
    ws["A1"].alignment = Alignment(horizontal="center", vertical="center")
    ws["A2"] = subtitle
    ws["A2"].alignment = Alignment(horizontal="left", vertical="center")
    printed = get_column_letter(EXPORT_COLUMNS.index(_PRINTED) + 1)
    ws.merge_cells(f"A1:{printed}1")
    ws.merge_cells(f"A2:{printed}2")
    ws.row_dimensions[1].height = 28
    thin = Side(style="thin", color="808080")
    box = Border(left=thin, right=thin, top=thin, bottom=thin)
    head_fill = PatternFill("solid", fgColor="D9E1F2")
    for i, name in enumerate(EXPORT_COLUMNS, start=1):
        letter = get_column_letter(i)
        ws.column_dimensions[letter].width = _WIDTHS[name]
        cell = ws.cell(header_row, i)
        cell.font = Font(bold=True)
        cell.fill = head_fill
        cell.border = box
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        wrap = name in _WRAP
        for r in range(header_row + 1, end_row + 1):
            body = ws.cell(r, i)
            body.border = box
            body.alignment = Alignment(vertical="top", wrap_text=wrap)
    ws.row_dimensions[header_row].height = 30
    ws.freeze_panes = f"A{header_row + 1}"
    ws.auto_filter.ref = f"A{header_row}:{last}{end_row}"
    ws.print_title_rows = f"{header_row}:{header_row}"
    ws.print_area = f"A1:{printed}{end_row}"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0  # as many pages down as the rows need
    ws.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
    ws.print_options.horizontalCentered = True
    ws.page_margins.left = ws.page_margins.right = 0.4
    ws.page_margins.top = ws.page_margins.bottom = 0.6
    ws.oddFooter.center.text = "第 &P 页，共 &N 页"
    ws.oddHeader.right.text = "整改台账"


def export_xlsx(
    ledger: Ledger,
    path: str | os.PathLike[str],
    *,
    state: Any = None,
    township: str | None = None,
    indicator: str | Iterable[str] | None = None,
    inputs: Iterable[str | os.PathLike[str]] = (),
    names_zh: Mapping[str, str] | None = None,
    county: str | None = None,
    now: datetime | None = None,
) -> Path:
    """Write the ledger (or a filtered part, as :meth:`Ledger.items`) to an XLSX file.

    Laid out as a county office prints it: a title row and a row naming the county, the
    township(s) and the date (Beijing time), then the header (:data:`EXPORT_COLUMNS`,
    bold, wrapped, repeated on every printed page, filter buttons, frozen) and the rows;
    A4 landscape, fitted to the page width, page numbers in the footer. The 整改状态 column
    gets a drop-down list of the state labels. The write is atomic
    (:func:`layers.write.write_excel`); :func:`read_xlsx` finds the header below the title.

    Parameters
    ----------
    ledger : Ledger
    path : path-like
        Destination ``.xlsx``.
    state, township, indicator
        Filters, as :meth:`Ledger.items`.
    inputs : iterable of path-like
        Files that must not be overwritten.
    names_zh : mapping, optional
        Indicator code → Chinese name, for 问题编号 (:func:`ledger_table`).
    county : str, optional
        The county's name, for the title (同心县).
    now : datetime, optional
        The moment of the export (default: now), shown in Beijing time.

    Returns
    -------
    pathlib.Path
        The destination.
    """
    from openpyxl import load_workbook
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    items = ledger.items(state=state, township=township, indicator=indicator)
    table = ledger_table(items, names_zh=names_zh)
    guide = _guide(ledger)
    path = write_excel(path, {SHEET: table, "填写说明": guide}, inputs=inputs)
    stamp = beijing_text(now or datetime.now(UTC))
    with atomic_path(path) as tmp:
        wb = load_workbook(path)
        ws = wb[SHEET]
        _office_layout(
            ws,
            len(table),
            title=f"{county or ''}农村基础设施和公共服务问题整改台账",
            subtitle=_title(items, county, township, stamp),
        )
        first = TITLE_ROWS + 2
        col = get_column_letter(EXPORT_COLUMNS.index("整改状态") + 1)
        dv = DataValidation(
            type="list",
            formula1='"' + ",".join(STATE_ZH.values()) + '"',
            allow_blank=False,
            showErrorMessage=True,
            errorTitle="整改状态",
            error="请从下拉列表中选择整改状态",
        )
        dv.add(f"{col}{first}:{col}{max(len(table) + first - 1, first)}")
        ws.add_data_validation(dv)
        notes = wb["填写说明"]
        notes.column_dimensions["A"].width = 18
        notes.column_dimensions["B"].width = 90
        notes.page_setup.orientation = "landscape"
        notes.page_setup.paperSize = notes.PAPERSIZE_A4
        wb.save(tmp)
    logger.info("exported %d ledger items to %s", len(table), path)
    return path


def read_xlsx(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a ledger workbook: the ``整改台账`` sheet (or the first), cells as typed.

    The header is the first row (of the first ten) that has 问题编号: an exported sheet's
    title rows (:func:`export_xlsx`) are skipped, and so is a sheet without them.

    Returns
    -------
    DataFrame
        Indexed by the Excel row number; blank rows dropped.
    """
    sheets = pd.read_excel(path, sheet_name=None, dtype=object, engine="openpyxl", header=None)
    raw = sheets[SHEET] if SHEET in sheets else next(iter(sheets.values()))
    if raw.empty:
        return raw
    top = raw.head(10).map(lambda v: str(v).strip() if pd.notna(v) else "")
    found = [i for i in range(len(top)) if "问题编号" in set(top.iloc[i])]
    at = found[0] if found else 0
    frame = raw.iloc[at + 1 :].copy()
    frame.columns = (
        [str(c).strip() if pd.notna(c) else "" for c in raw.iloc[at]] if len(raw) else []
    )
    frame.index = frame.index + 1  # the Excel row number (pandas' first row is row 1)
    return frame.dropna(how="all")


@dataclass(frozen=True)
class ImportResult:
    """What an import found and did.

    Attributes
    ----------
    changes : tuple of Change
        The edits found (one per changed row).
    problems : tuple of Problem
        Row-level problems: ``row`` is the Excel row, ``field`` the column header,
        ``message_zh``/``fix_zh`` what is wrong and what to do. Errors block the import;
        warnings (edits to read-only columns) do not.
    applied : bool
        True when the changes were saved (all of them, in one transaction).
    rows : int
        Rows read.
    refused : tuple of Change
        Edits of rows the importing user may not change (another township's items, a
        state move its role may not make): not applied, each listed in ``problems`` and
        kept in the ledger's refusal audit.
    """

    changes: tuple[Change, ...]
    problems: tuple[Problem, ...]
    applied: bool
    rows: int
    refused: tuple[Change, ...] = ()

    @property
    def errors(self) -> tuple[Problem, ...]:
        """The problems that block the import."""
        return tuple(p for p in self.problems if p.severity is Severity.ERROR)


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return None if pd.isna(value) else value.date().isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value).strip()
    return text or None


def _key_alias(keys: Iterable[str], names_zh: Mapping[str, str] | None) -> dict[str, str]:
    """问题编号 as exported (:func:`ledger_table`) → the item's key; the key itself too."""
    alias: dict[str, str] = {}
    for names in (INDICATOR_ZH, *([names_zh] if names_zh is not None else [])):
        alias.update({item_key_zh(k, names): k for k in keys})
    alias.update({k: k for k in keys})
    return alias


def check_import(
    ledger: Ledger,
    source: str | os.PathLike[str] | pd.DataFrame,
    *,
    file: str = "",
    names_zh: Mapping[str, str] | None = None,
) -> ImportResult:
    """Check an edited workbook against the ledger; return the changes and the problems.

    Nothing is written. See :func:`import_xlsx`. 问题编号 is read in either form: as
    exported (the indicator's Chinese name, ``names_zh`` or the default table's) or the
    item's key.
    """
    if isinstance(source, pd.DataFrame):
        frame = source
    else:
        frame = read_xlsx(source)
        file = file or Path(source).name
    problems: list[Problem] = []

    def problem(
        kind: ProblemKind,
        row: int | None,
        key: str | None,
        col: str | None,
        zh: str,
        fix: str,
        en: str,
        value: Any = None,
        severity: Severity = Severity.ERROR,
    ) -> None:
        problems.append(
            Problem(
                kind=kind,
                file=file,
                layer=SHEET,
                row=row,
                feature_id=key,
                field=col,
                message_zh=zh,
                fix_zh=fix,
                message=en,
                severity=severity,
                value=None if value is None else str(value),
            )
        )

    missing = [c for c in _REQUIRED if c not in frame.columns]
    if missing:
        for col in missing:
            problem(
                ProblemKind.MISSING_FIELD,
                None,
                None,
                col,
                f"表中缺少“{col}”列",
                "请使用 GapMap 导出的台账表填写，不要删除或改名列",
                f"column {col!r} is missing; edit a workbook exported by GapMap",
            )
        return ImportResult((), tuple(problems), False, len(frame))

    current = ledger.items().set_index("key")
    alias = _key_alias(current.index, names_zh)
    changes: list[Change] = []
    rows_of: dict[str, list[int]] = {}
    for row, key in frame["问题编号"].map(_text).items():
        if key is not None:
            rows_of.setdefault(alias.get(key, key), []).append(int(row))
    for row, values in frame.iterrows():
        row = int(row)
        key = _text(values["问题编号"])
        key = alias.get(key, key) if key is not None else None
        if key is None:
            problem(
                ProblemKind.MISSING_VALUE,
                row,
                None,
                "问题编号",
                "问题编号为空",
                "请从导出的台账中复制该行，不要删除问题编号",
                "the item key is empty",
            )
            continue
        if len(rows_of[key]) > 1:
            others = "、".join(str(r) for r in rows_of[key])
            problem(
                ProblemKind.DUPLICATE_ID,
                row,
                key,
                "问题编号",
                f"问题编号 {key} 在第 {others} 行重复出现",
                "每个问题只保留一行",
                f"key {key} appears in rows {rows_of[key]}",
                key,
            )
            continue
        if key not in current.index:
            problem(
                ProblemKind.UNKNOWN_CODE,
                row,
                key,
                "问题编号",
                f"台账中没有问题编号 {key}",
                "请核对问题编号，或重新导出台账后填写",
                f"no ledger item with key {key}",
                key,
            )
            continue
        cur = current.loc[key]
        try:
            version = int(float(str(values["版本"]).strip()))
        except ValueError:
            problem(
                ProblemKind.WRONG_TYPE,
                row,
                key,
                "版本",
                f"版本“{values['版本']}”不是整数",
                "请勿修改版本列",
                f"version {values['版本']!r} is not an integer",
                values["版本"],
            )
            continue
        if version != int(cur["version"]):
            problem(
                ProblemKind.VALUE_NOT_ALLOWED,
                row,
                key,
                "版本",
                f"该问题在导出后已被 {cur['updated_by']} 修改（表中为第 {version} 版，"
                f"台账中为第 {int(cur['version'])} 版）",
                "请重新导出台账，在新表中填写本行的修改",
                f"{key} changed since export (version {version} in the sheet, "
                f"{int(cur['version'])} in the ledger)",
                version,
            )
            continue
        label = _text(values["整改状态"])
        if label is None:
            problem(
                ProblemKind.MISSING_VALUE,
                row,
                key,
                "整改状态",
                "整改状态为空",
                f"请填写：{'、'.join(STATE_ZH.values())}",
                "the state is empty",
            )
            continue
        try:
            to_state = parse_state(label)
        except LedgerError:
            problem(
                ProblemKind.VALUE_NOT_ALLOWED,
                row,
                key,
                "整改状态",
                f"无法识别的整改状态“{label}”",
                f"请从下拉列表中选择：{'、'.join(STATE_ZH.values())}",
                f"unknown state {label!r}",
                label,
            )
            continue
        from_state = State(cur["state"])
        cells: dict[str, str | None] = {}
        bad = False
        for col, name in _EDITABLE.items():
            if col not in frame.columns:
                continue
            value = values[col]
            if name in ("deadline", "closed_on"):
                try:
                    cells[name] = parse_date(value, field_name=name)
                except LedgerError:
                    problem(
                        ProblemKind.WRONG_TYPE,
                        row,
                        key,
                        col,
                        f"{col}“{value}”不是有效日期",
                        "请按 2026-06-30 的格式填写日期",
                        f"{col}: {value!r} is not a date",
                        value,
                    )
                    bad = True
            else:
                cells[name] = _text(value)
        if bad:
            continue
        for col, name in _READ_ONLY.items():
            if col in frame.columns and (_text(values[col]) or "") != (cur[name] or ""):
                problem(
                    ProblemKind.VALUE_NOT_ALLOWED,
                    row,
                    key,
                    col,
                    f"“{col}”由分析结果生成，表中的修改不会导入",
                    "如数据有误，请修改基础数据后重新分析",
                    f"{col} comes from the analysis; the edit is not imported",
                    values[col],
                    Severity.WARNING,
                )
        edits = {n: v for n, v in cells.items() if v != (cur[n] if pd.notna(cur[n]) else None)}
        if to_state is not from_state:
            if to_state not in TRANSITIONS[from_state]:
                allowed = "、".join(
                    STATE_ZH[s] for s in sorted(TRANSITIONS[from_state], key=list(State).index)
                )
                problem(
                    ProblemKind.VALUE_NOT_ALLOWED,
                    row,
                    key,
                    "整改状态",
                    f"整改状态不能从“{from_state.zh}”直接改为“{to_state.zh}”",
                    f"“{from_state.zh}”只能改为：{allowed}；请逐步办理",
                    f"cannot move from {from_state} to {to_state}",
                    label,
                )
                continue
            needs_reason = to_state in REASON_REQUIRED or from_state is State.CLOSED
            reason = cells.get("reason")
            if needs_reason and not reason:
                problem(
                    ProblemKind.MISSING_VALUE,
                    row,
                    key,
                    "原因说明",
                    f"改为“{to_state.zh}”必须填写原因说明",
                    "请在“原因说明”列写明原因",
                    f"moving to {to_state} needs a reason",
                )
                continue
            fields = {n: v for n, v in edits.items() if n not in ("reason", "closed_on")}
            fields["reason"] = reason if (needs_reason or "reason" in edits) else None
            if to_state is State.CLOSED:
                fields["closed_on"] = cells.get("closed_on")
            changes.append(Change(key, version, to_state, fields))
        else:
            if from_state is not State.CLOSED:
                edits.pop("closed_on", None)
            if "reason" in edits and from_state in REASON_REQUIRED and not edits["reason"]:
                problem(
                    ProblemKind.MISSING_VALUE,
                    row,
                    key,
                    "原因说明",
                    f"“{from_state.zh}”的问题必须保留原因说明",
                    "请在“原因说明”列写明原因",
                    f"a {from_state} item needs a reason",
                )
                continue
            if edits:
                changes.append(Change(key, version, None, edits))
    return ImportResult(tuple(changes), tuple(problems), False, len(frame))


def import_xlsx(
    ledger: Ledger,
    source: str | os.PathLike[str] | pd.DataFrame,
    *,
    actor: Actor,
    dry_run: bool = False,
    names_zh: Mapping[str, str] | None = None,
) -> ImportResult:
    """Import edits from a ledger workbook: all permitted rows or none.

    Parameters
    ----------
    ledger : Ledger
    source : path or DataFrame
        An XLSX exported by :func:`export_xlsx` and edited, or its :func:`read_xlsx` frame.
    actor : Actor
        Who imports (recorded on every event). A township or department user imports the
        rows of its own items only: an edited row of another item is refused (listed in
        :attr:`ImportResult.refused` and ``problems``, audited), the others are applied.
    dry_run : bool
        Only check.
    names_zh : mapping, optional
        The indicator names the workbook was exported with (:func:`ledger_table`).

    Returns
    -------
    ImportResult
        ``applied`` is False when any row has an error (nothing is written), when
        ``dry_run``, or when another user changed an item between the check and the save
        (that row then carries the problem).

    Raises
    ------
    PermissionDeniedError
        If the actor's role may not import at all (viewer, verifier); audited.
    """
    ledger._check(actor, Action.IMPORT)
    file = "" if isinstance(source, pd.DataFrame) else Path(source).name
    frame = source if isinstance(source, pd.DataFrame) else read_xlsx(source)
    result = check_import(ledger, frame, file=file, names_zh=names_zh)
    current = ledger.items().set_index("key")
    alias = _key_alias(current.index, names_zh)
    keys = (
        frame["问题编号"].map(_text).map(lambda t: alias.get(t, t) if t is not None else None)
        if ("问题编号" in frame.columns)
        else pd.Series(dtype=object)
    )
    row_of = {k: int(r) for r, k in keys.items() if k is not None}
    kept, refused, problems = [], [], list(result.problems)
    for change in result.changes:
        item = {"key": change.key, **current.loc[change.key].to_dict()}
        fields = {k for k, v in change.fields.items() if not (k == "reason" and v is None)}
        if not change.fields.get("closed_on"):
            fields.discard("closed_on")  # 销号 defaults to today: not an edit of the row
        why = permissions.refusal(
            actor, Action.IMPORT, item, to_state=change.to_state, fields=fields
        )
        if why is None:
            kept.append(change)
            continue
        refused.append(change)
        exc = PermissionDeniedError(actor, Action.IMPORT, change.key, *why)
        problems.append(
            Problem(
                kind=ProblemKind.VALUE_NOT_ALLOWED,
                file=file,
                layer=SHEET,
                row=row_of.get(change.key),
                feature_id=change.key,
                field="问题编号",
                message_zh=f"无权修改本行：{why[1]}，本行未导入",
                fix_zh="只填写本人负责的问题；其他问题请由负责的乡镇/部门或县级管理员办理",
                message=f"row refused: {why[0]}",
                severity=Severity.WARNING,
            )
        )
        if not dry_run:
            ledger._refuse(exc, to_state=change.to_state, fields=dict(change.fields))
    result = ImportResult(tuple(kept), tuple(problems), False, result.rows, tuple(refused))
    if result.errors or dry_run or not result.changes:
        return result
    try:
        ledger.apply_changes(result.changes, actor=actor, _action=Action.IMPORT)
    except (ConflictError, IllegalTransitionError, PermissionDeniedError) as exc:
        rows = keys.index[keys == exc.key]
        problem = Problem(
            kind=ProblemKind.VALUE_NOT_ALLOWED,
            file=file,
            layer=SHEET,
            row=int(rows[0]) if len(rows) else None,
            feature_id=exc.key,
            field="版本" if isinstance(exc, ConflictError) else "整改状态",
            message_zh=exc.zh,
            fix_zh="请重新导出台账后再填写本行",
            message=str(exc),
        )
        return ImportResult(
            result.changes, (*result.problems, problem), False, result.rows, result.refused
        )
    logger.info("imported %d ledger edits from %s", len(result.changes), file or "a frame")
    return ImportResult(result.changes, result.problems, True, result.rows, result.refused)
