"""Atomic writes: the destination is whole or untouched; inputs are never overwritten."""

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
import shapely

from layers import LayerReadError, atomic_path, write_layers
from layers.store.actors import Actor


def frame(n):
    return gpd.GeoDataFrame(
        {"id": [f"P{i}" for i in range(n)]},
        geometry=[shapely.Point(105.9, 36.9 + i / 1000) for i in range(n)],
        crs=4326,
    )


def test_write_layers_round_trip(tmp_path):
    out = write_layers(tmp_path / "r.gpkg", {"a": frame(3), "b": frame(5)})
    assert [n for n, _ in pyogrio.list_layers(out)] == ["a", "b"]
    assert len(gpd.read_file(out, layer="b")) == 5
    assert [p.name for p in tmp_path.iterdir()] == ["r.gpkg"]  # no temp files left


def test_failed_write_leaves_the_old_file(tmp_path):
    path = tmp_path / "r.gpkg"
    write_layers(path, {"a": frame(2)})
    before = path.read_bytes()
    with pytest.raises(RuntimeError), atomic_path(path) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("crash mid-write")
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["r.gpkg"]


def test_refuses_to_overwrite_an_input(tmp_path):
    path = tmp_path / "input.gpkg"
    write_layers(path, {"a": frame(2)})
    before = path.read_bytes()
    with pytest.raises(LayerReadError, match="overwrite the input") as info:
        write_layers(tmp_path / "." / "input.gpkg", {"a": frame(9)}, inputs=[path])
    assert "不能覆盖输入文件" in info.value.zh
    assert path.read_bytes() == before


INJECTIONS = ['=HYPERLINK("http://example.invalid","点这里")', "=1+1", "+1+1", "-2+3", "@SUM(A1)"]


def test_excel_texts_never_become_formulas(tmp_path):
    """Names and notes that start with = + - @ are stored as text and read back unchanged."""
    import openpyxl

    from layers.write import write_excel

    frame = pd.DataFrame({"名称": INJECTIONS, "户数": range(len(INJECTIONS))})
    path = write_excel(tmp_path / "r.xlsx", {"表": frame})
    ws = openpyxl.load_workbook(path)["表"]
    cells = [ws.cell(row=r, column=1) for r in range(2, len(INJECTIONS) + 2)]
    assert [c.data_type for c in cells] == ["s"] * len(INJECTIONS)
    assert [c.value for c in cells] == INJECTIONS
    assert ws.cell(row=2, column=2).data_type == "n"  # numbers stay numbers
    back = pd.read_excel(path, sheet_name="表")
    assert back["名称"].tolist() == INJECTIONS


def test_report_and_ledger_exports_escape_formulas(tmp_path):
    """The CLI's report.xlsx and the ledger's XLSX, with a village named like a formula."""
    import openpyxl

    from geo.assessment import assess
    from geo.ledger import Ledger, problem_items
    from geo.ledger.xlsx import export_xlsx
    from geo.report import report_sheets
    from geo.settings import Settings
    from layers import Dataset
    from layers.write import write_excel
    from tests.fixtures import tiny_county

    frames = tiny_county.build()
    frames["natural_villages"]["name"] = INJECTIONS[0]
    a = assess(Dataset.from_frames(frames), Settings())
    report = write_excel(tmp_path / "report.xlsx", report_sheets(a))
    ledger = Ledger(tmp_path / "ledger")
    ledger.record_snapshot(problem_items(a), actor=Actor.local(), dataset_hash=a.dataset_hash,
                           settings=a.settings)  # fmt: skip
    book = export_xlsx(ledger, tmp_path / "ledger.xlsx")
    for path in (report, book):
        wb = openpyxl.load_workbook(path)
        formulas = [c.coordinate for ws in wb for row in ws.iter_rows() for c in row
                    if c.data_type == "f"]  # fmt: skip
        names = [c.value for ws in wb for row in ws.iter_rows() for c in row
                 if c.value == INJECTIONS[0]]  # fmt: skip
        assert formulas == [] and names, path.name
