"""一村一图 PDF: one sheet per admin village — title block, map, every check, ledger items."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import date

import pandas as pd

from app.reports.inputs import ReportInputs
from app.reports.maps import village_map_png
from app.reports.pdf import ReportDocument
from app.sheet import village_sheet
from geo.ledger.progress import overdue

__all__ = ["LEDGER_COLUMNS_ZH", "ledger_table", "village_report", "villages_report"]

logger = logging.getLogger(__name__)

LEDGER_COLUMNS_ZH = {
    "township_name": "乡镇",
    "admin_village_name": "行政村",
    "village_name": "自然村/安置区",
    "problem_type": "问题类型",
    "description": "问题描述",
    "state_zh": "整改状态",
    "responsible_unit": "责任单位",
    "deadline": "完成时限",
    "overdue": "逾期",
}
"""The ledger columns a report prints, in order, with their headers."""


def ledger_table(items: pd.DataFrame, *, today: date, columns: Sequence[str]) -> pd.DataFrame:
    """The ledger items as printed: Chinese headers, 逾期 是/否, problems still open first."""
    if items.empty:
        return pd.DataFrame(columns=[LEDGER_COLUMNS_ZH[c] for c in columns])
    out = items.assign(overdue=overdue(items, today=today))
    closed = out["state"].isin(["closed", "exempt"])
    out = out.assign(_closed=closed).sort_values(
        ["_closed", "township_code", "admin_village_code", "key"], kind="stable"
    )
    return out[list(columns)].rename(columns=LEDGER_COLUMNS_ZH).reset_index(drop=True)


def _village_pages(doc: ReportDocument, inputs: ReportInputs, code: str) -> None:
    """Add one admin village's sheet (starting on a new page) to ``doc``."""
    av = inputs.admin_village(code)
    ds, a = inputs.dataset, inputs.assessment
    sheet = village_sheet(ds, a, code)
    doc.add_page()
    doc.start_section(f"{sheet.township} · {sheet.name}", level=0)
    facts = [(k, v) for k, v in sheet.facts.items() if k not in {"行政村", "乡镇"}]
    doc.title_block(
        f"一村一图：{sheet.name}",
        [
            ("县", inputs.meta.county),
            ("乡镇", sheet.township),
            ("行政村", f"{av['name']}（{code}）"),
            *facts,
        ],
    )
    doc.image_png(
        village_map_png(ds, a, code),
        caption="图：本村自然村的通硬化路情况、道路路面、缺失路段、医疗机构和移民安置区"
        "（CGCS2000 高斯-克吕格投影，上为北）。",
    )
    doc.heading("自然村检查", level=2)
    nv = sheet.natural_villages
    doc.data_table(nv, flag=nv["状态"].eq("未通硬化路") if "状态" in nv else None, font_size=7.5)
    if not sheet.sites.empty:
        doc.heading("移民安置区（一刻钟便民生活服务圈）", level=2)
        doc.data_table(sheet.sites, flag=sheet.sites["是否达标"].eq("否"), font_size=8)
    ind = sheet.indicators
    if not ind.empty:
        bad = ind.loc[ind["结果"].isin(["未达标", "无数据"])]
        n_ok = int((ind["结果"] == "达标").sum())
        doc.heading(f"各项指标：未达标和无数据的检查（另有 {n_ok} 项检查达标）", level=2)
        doc.data_table(
            bad.drop(columns=["现值", "标准"]) if not bad.empty else bad,
            flag=bad["结果"].eq("未达标"),
            font_size=7.5,
            empty_text="本村各项检查均达标。",
        )
    doc.heading("整改台账", level=2)
    items = inputs.items
    mine = items.loc[items["admin_village_code"] == code] if not items.empty else items
    if mine.empty:
        doc.paragraph("台账中没有本村的问题（或尚未把分析结果记入台账）。", size=9)
    else:
        table = ledger_table(
            mine,
            today=inputs.meta.generated_at.date(),
            columns=[
                "village_name",
                "problem_type",
                "description",
                "state_zh",
                "responsible_unit",
                "deadline",
                "overdue",
            ],
        )
        doc.data_table(table, flag=table["逾期"], font_size=7.5)


def village_report(inputs: ReportInputs, code: str) -> bytes:
    """The 一村一图 PDF of one admin village (A4, one to three pages).

    Parameters
    ----------
    inputs : ReportInputs
    code : str
        The admin village's 12-digit code.

    Returns
    -------
    bytes
        The PDF.

    Raises
    ------
    ReportError
        For a code the data does not have.
    """
    return villages_report(inputs, [code])


def villages_report(
    inputs: ReportInputs,
    codes: Sequence[str],
    *,
    progress: Callable[[int, int, str], None] | None = None,
) -> bytes:
    """One PDF with the 一村一图 sheet of every admin village in ``codes``, in that order.

    Parameters
    ----------
    inputs : ReportInputs
    codes : sequence of str
        Admin village codes (every village of a township, or of the county).
    progress : callable, optional
        ``progress(done, total, name)`` after each village (a progress bar).

    Returns
    -------
    bytes
        The PDF, with one outline entry (bookmark) per village.
    """
    for code in codes:  # every code checked before any work
        inputs.admin_village(code)
    title = "一村一图" if len(codes) == 1 else f"一村一图（{len(codes)} 个行政村）"
    doc = ReportDocument(title=f"{inputs.meta.county} {title}", meta=inputs.meta)
    t0 = time.perf_counter()
    for i, code in enumerate(codes, start=1):
        _village_pages(doc, inputs, code)
        if progress is not None:
            progress(i, len(codes), str(inputs.admin_village(code)["name"]))
    out = doc.to_bytes()
    logger.info(
        "一村一图: %d village(s), %d pages, %.1f s",
        len(codes),
        doc.pages_count,
        time.perf_counter() - t0,
    )
    return out
