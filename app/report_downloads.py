"""PDF report buttons: 生成 → a progress message → 下载 (the builders are :mod:`app.reports`).

A report is made when asked (a county report takes seconds, a township's batch of 一村一图
half a minute), kept in the session under its key (data version, scenario, ledger state,
what), so a rerun or a second download does not make it again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

import streamlit as st

from app.reports import (
    ReportError,
    ReportInputs,
    county_report,
    report_inputs,
    township_report,
    village_report,
    villages_report,
)
from app.state import PageContext, ledger

__all__ = ["area_report_button", "village_report_buttons"]

_KEPT = "_report_pdfs"
"""Session key of the PDFs made in this session (at most a few, the newest kept)."""


def _ledger_state() -> str:
    """A digest of the ledger's items (state, version), so an edited ledger makes a new PDF."""
    items = ledger().items()
    if items.empty:
        return "empty"
    text = "\n".join(f"{k}:{v}" for k, v in zip(items["key"], items["version"], strict=True))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _inputs(ctx: PageContext) -> ReportInputs:
    return report_inputs(ctx.scenario_dataset, ctx.assessment, ledger=ledger(), data_name=ctx.name)


def _offer(
    ctx: PageContext,
    *,
    what: str,
    file_name: str,
    make: Callable[[ReportInputs, Callable[[int, int, str], None]], bytes],
    label: str,
    key: str,
) -> None:
    """A 生成 button; once made, the 下载 button of the PDF (kept for this session)."""
    ctx_key = f"{key}:{what}"
    kept: dict[str, bytes] = st.session_state.setdefault(_KEPT, {})
    slot = st.empty()  # the 生成 button, then the progress, then the 下载 button
    if ctx_key not in kept:
        if not slot.button(f"生成{label}（PDF）", key=f"{key}_make"):
            return
        bar = slot.progress(0.0, text=f"正在生成{label}…")

        def progress(done: int, total: int, name: str) -> None:
            bar.progress(done / total, text=f"正在生成{label}：{name}（{done}/{total}）")

        try:
            pdf = make(_inputs(ctx), progress)
        except ReportError as err:
            slot.error(err.zh)
            return
        while len(kept) >= 4:  # a few PDFs per session at most
            kept.pop(next(iter(kept)))
        kept[ctx_key] = pdf
    pdf = kept[ctx_key]
    slot.download_button(
        f"下载{label}（PDF，{len(pdf) / 1e6:.1f} MB）",
        pdf,
        file_name=file_name,
        mime="application/pdf",
        key=f"{key}_download",
        on_click="ignore",  # a download needs no rerun (which would redraw the page under it)
        type="primary",
    )


def _what(ctx: PageContext, *parts: str) -> str:
    """The key of a report: data version, scenario, ledger state and what it covers."""
    text = ":".join((ctx.assessment.dataset_hash, ctx.scenario, _ledger_state(), *parts))
    return hashlib.sha256(text.encode()).hexdigest()


def village_report_buttons(ctx: PageContext, code: str, name: str, codes: Sequence[str]) -> None:
    """一村一图 PDF of this village, and of every village listed (the township's, the county's)."""
    _offer(
        ctx,
        what=_what(ctx, "village", code),
        file_name=f"一村一图_{name}_{code}.pdf",
        make=lambda inp, progress: village_report(inp, code),
        label=f"{name}一村一图",
        key="village_pdf",
    )
    place = ctx.township_name
    _offer(
        ctx,
        what=_what(ctx, "villages", *codes),
        file_name=f"一村一图_{place}_{len(codes)}个行政村.pdf",
        make=lambda inp, progress: villages_report(inp, list(codes), progress=progress),
        label=f"{place}全部 {len(codes)} 个行政村的一村一图",
        key="villages_pdf",
    )


def area_report_button(ctx: PageContext) -> None:
    """The 体检报告 PDF of the chosen township, or of the county."""
    code = ctx.scope.township_code
    place = ctx.township_name
    _offer(
        ctx,
        what=_what(ctx, "area", code or "county"),
        file_name=f"{place}_体检报告.pdf",
        make=(lambda inp, progress: township_report(inp, code))
        if code
        else (lambda inp, progress: county_report(inp)),
        label=f"{place}体检报告",
        key="area_pdf",
    )
