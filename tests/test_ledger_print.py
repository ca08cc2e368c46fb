"""The exported 整改台账 prints as a county office prints it (issue 17).

Title rows (county, township, date in Beijing time), a bold wrapped header repeated on every
page, filter buttons, frozen panes, A4 landscape fitted to the width, and the import still
reads it back.
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess

import openpyxl
import pytest

from geo.ledger import Ledger, import_xlsx, problem_items
from geo.ledger.xlsx import EXPORT_COLUMNS, SHEET, TITLE_ROWS, export_xlsx, read_xlsx
from layers.store.actors import Actor

NOW = dt.datetime(2026, 12, 2, 10, 30, tzinfo=dt.UTC)  # 18:30 in Beijing


@pytest.fixture(scope="module")
def book(demo_assessment, tmp_path_factory):
    ledger = Ledger(tmp_path_factory.mktemp("ledger"))
    a = demo_assessment
    ledger.record_snapshot(
        problem_items(a), actor=Actor.local(), dataset_hash=a.dataset_hash, settings=a.settings
    )
    return ledger


def test_ledger_workbook_is_laid_out_for_print(book, tmp_path):
    n = len(book.items())
    path = export_xlsx(book, tmp_path / "台账.xlsx", county="同心县", now=NOW)
    ws = openpyxl.load_workbook(path)[SHEET]
    head = TITLE_ROWS + 1
    assert "同心县" in ws["A1"].value and "整改台账" in ws["A1"].value
    assert ws["A1"].font.bold
    assert "全部乡镇" in ws["A2"].value and "2026-12-02 18:30（北京时间）" in ws["A2"].value
    assert f"共 {n} 条" in ws["A2"].value
    assert [c.value for c in ws[head]] == list(EXPORT_COLUMNS)
    assert all(c.font.bold and c.alignment.wrap_text for c in ws[head])
    last = openpyxl.utils.get_column_letter(len(EXPORT_COLUMNS))
    assert ws.auto_filter.ref == f"A{head}:{last}{head + n}"
    assert ws.freeze_panes == f"A{head + 1}"
    assert ws.print_title_rows.replace("$", "") == f"{head}:{head}"
    assert ws.page_setup.orientation == "landscape"
    assert int(ws.page_setup.paperSize) == 9  # A4
    assert ws.sheet_properties.pageSetUpPr.fitToPage
    assert (int(ws.page_setup.fitToWidth), int(ws.page_setup.fitToHeight)) == (1, 0)
    assert "&P" in ws.oddFooter.center.text
    width = {c: ws.column_dimensions[openpyxl.utils.get_column_letter(i)].width
             for i, c in enumerate(EXPORT_COLUMNS, start=1)}  # fmt: skip
    assert width["问题描述"] >= 30 and width["序号"] <= 6 and width["整改状态"] >= 10
    # the long texts wrap, the state cell has its drop-down below the header
    assert ws.cell(head + 1, EXPORT_COLUMNS.index("问题描述") + 1).alignment.wrap_text
    (dv,) = ws.data_validations.dataValidation
    state = openpyxl.utils.get_column_letter(EXPORT_COLUMNS.index("整改状态") + 1)
    assert str(dv.sqref) == f"{state}{head + 1}:{state}{head + n}"


def test_a_townships_workbook_names_it_and_reads_back(book, tmp_path):
    town = book.items()["township_name"].iloc[0]
    path = export_xlsx(book, tmp_path / "乡镇.xlsx", township=town, county="同心县", now=NOW)
    ws = openpyxl.load_workbook(path)[SHEET]
    assert f"乡镇：{town}" in ws["A2"].value
    frame = read_xlsx(path)
    mine = book.items(township=town)
    assert len(frame) == len(mine) and frame.index[0] == TITLE_ROWS + 2  # Excel row numbers
    # an edit in the printed layout imports as before
    frame.loc[frame.index[0], "备注"] = "已现场核实"
    result = import_xlsx(book, frame, actor=Actor.local(), dry_run=True)
    assert result.errors == () and len(result.changes) == 1


@pytest.mark.skipif(shutil.which("libreoffice") is None, reason="libreoffice is not installed")
def test_ledger_workbook_renders_to_pdf(book, tmp_path):
    path = export_xlsx(book, tmp_path / "台账.xlsx", county="同心县", now=NOW)
    subprocess.run(
        ["libreoffice", "--headless", "--convert-to", "pdf", "--outdir", str(tmp_path), path],
        check=True,
        timeout=180,
        capture_output=True,
    )
    assert (tmp_path / "台账.pdf").stat().st_size > 10_000
