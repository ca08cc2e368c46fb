"""Every table a user sees reads Chinese: headers, coded values, no None/NaN/inf, no raw keys.

Over the sheets of report.xlsx (:func:`geo.report.report_sheets`), the tables the app builds
with functions (:func:`app.components.zh_table`, :func:`app.components.outcomes_table`,
the 一村一图 sheet, the ledger sheet) and every data frame of the app's pages (issue 17).
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from geo.labels import MISSING_ZH, SECTION_ZH, UNREACHABLE_ZH, cause_zh, item_key_zh

ROOT = Path(__file__).resolve().parents[1]
VIEWS = ROOT / "app" / "views"

CJK = re.compile(r"[\u3400-\u9fff]")
RAW_KEY = re.compile(r"^[a-z][a-z0-9_]*:\S")  # hard_road:640324100203-03, services:YM03:药店
CODE_WORD = re.compile(r"^[a-z]{2,}(_[a-z0-9]+)*$")  # only_unpaved, explicit, walk
BARE = {"None", "none", "nan", "NaN", "NaT", "<NA>", "inf", "-inf", "Infinity", "-Infinity"}
BARE |= {"ok", ">=", "<=", ">", "<", "True", "False", "true", "false"}

CODE_COLUMNS = {"代码", "图层名"}
"""Headers whose cells are codes by design (an indicator's code in 汇总, a township code;
the layer name a county's GeoPackage must use, on the 数据 page)."""
SETTINGS_COLUMNS = {"参数", "取值"}
"""参数设置: the profile's own keys and values (what a technician edits in the TOML)."""


def _bad_cells(
    frame: pd.DataFrame,
    *,
    code_columns: set[str] = CODE_COLUMNS,
    checkboxes: bool = False,
    screen: bool = False,
) -> list[str]:
    """Every header without Chinese and every cell a reader should not see, as text.

    ``checkboxes``: a boolean column is fine (st.dataframe draws it as ticks, not words).
    ``screen``: a NaN in a float column is fine (the table is shown with
    ``placeholder="—"``, which draws it "—"; the numbers sort as numbers); None and inf
    never are.
    """
    bad = [f"header {c!r}" for c in frame.columns if not CJK.search(str(c))]
    for col in frame.columns:
        if col in code_columns or (checkboxes and frame[col].dtype == bool):
            continue
        gaps_drawn = screen and pd.api.types.is_float_dtype(frame[col])
        for i, v in enumerate(frame[col].tolist()):
            if gaps_drawn and isinstance(v, float) and math.isnan(v):
                continue
            if v is None or (isinstance(v, float) and not math.isfinite(v)):
                bad.append(f"{col}[{i}] = {v!r}")
                continue
            if v is pd.NA or v is pd.NaT:
                bad.append(f"{col}[{i}] = {v!r}")
                continue
            text = str(v).strip()
            if text in BARE or RAW_KEY.match(text) or CODE_WORD.match(text):
                bad.append(f"{col}[{i}] = {text!r}")
    return bad


@pytest.fixture(scope="module")
def terrain_assessment(demo_dataset):
    """The demo county with its DEM: new links follow the terrain (route, slopes, buildable)."""
    from geo.assessment import assess
    from geo.settings import Settings
    from geo.terrain import read_dem

    settings = Settings()
    dataset = demo_dataset.with_dem(ROOT / "data" / "demo" / "tongxin_dem.tif")
    dem = read_dem(dataset.dem, resolution_m=settings.terrain.resolution_m)
    return assess(dataset, settings, dem=dem)


def test_every_report_sheet_reads_chinese(demo_assessment):
    from geo.report import report_sheets

    sheets = report_sheets(demo_assessment)
    assert len(sheets) >= 20
    problems = {}
    for name, sheet in sheets.items():
        codes = CODE_COLUMNS | (SETTINGS_COLUMNS if name == "参数设置" else set())
        if bad := _bad_cells(sheet, code_columns=codes):
            problems[name] = bad[:5]
    assert problems == {}
    # what used to read English: the water roll-up, comparisons, clinic states, keys
    assert "未通自来水人口" in sheets["供水-乡镇"].columns
    assert set(sheets["汇总"]["比较"]) <= {"≥", "≤", "＞", "＜"}
    assert "达标" in set(sheets["医疗-行政村"]["卫生室状态"])
    keys = sheets["问题清单"]["问题编号"]
    assert keys.str.startswith("20户以上自然村通硬化路·").any()
    assert set(sheets["参数设置"]["类别"]) <= set(SECTION_ZH.values())


def test_terrain_link_sheet_reads_chinese(terrain_assessment):
    from geo.report import report_sheets

    links = report_sheets(terrain_assessment)["缺失路段"]
    assert {"新建线路走向", "平均坡度(%)", "具备建设条件"} <= set(links.columns)
    assert _bad_cells(links) == []


def test_missing_and_infinite_numbers_and_codes_read_as_words():
    """A hand-built frame: NaN → —, inf → 不可达, codes → labels, booleans → 是/否/无数据."""
    from geo.report import zh_cells

    frame = pd.DataFrame(
        {
            "clinic_min": [3.14159, np.inf, np.nan],
            "households": [12.0, 30.0, 45.0],
            "comparison": [">=", "<=", ">"],
            "cause": ["only_unpaved", "missing:药店", ""],
            "width_ok": pd.array([True, False, None], dtype="boolean"),
            "name": ["甲", None, "丙"],
        }
    )
    out = zh_cells(frame, digits=2)
    assert out["clinic_min"].tolist() == [3.14, UNREACHABLE_ZH, MISSING_ZH]
    assert out["households"].dtype == float  # a column without gaps stays numeric
    assert out["comparison"].tolist() == ["≥", "≤", "＞"]
    assert out["cause"].tolist() == ["仅有砂石/土路连接", "15分钟内缺少药店", ""]
    assert out["width_ok"].tolist() == ["是", "否", "无数据"]
    assert out["name"].tolist() == ["甲", MISSING_ZH, "丙"]
    assert frame["clinic_min"].isna().sum() == 1  # the input is not changed
    text = zh_cells(frame, digits=2, text=True)
    assert text["clinic_min"].tolist() == ["3.14", UNREACHABLE_ZH, MISSING_ZH]  # inf: text
    gaps = zh_cells(frame.assign(clinic_min=[1.0, np.nan, 2.0]), digits=2, text=True)
    assert gaps["clinic_min"].dtype == float  # on screen: NaN, drawn "—", sorted as numbers
    # object columns as a database hands them over: numbers or flags with None among them
    stored = pd.DataFrame(
        {"n": pd.Series([1, None], dtype=object), "f": pd.Series([True, None], dtype=object)}
    )
    assert zh_cells(stored).to_dict("list") == {"n": [1, MISSING_ZH], "f": ["是", "无数据"]}
    assert zh_cells(stored, text=True)["n"].tolist() == ["1", MISSING_ZH]


def test_cause_and_key_labels():
    names = {"hard_road": "通硬化路", "services": "生活圈"}
    assert item_key_zh("hard_road:640324100203-03", names) == "通硬化路·640324100203-03"
    assert item_key_zh("services:YM03:药店", names) == "生活圈·YM03·药店"
    assert item_key_zh("custom:X1", names) == "custom·X1"  # unknown code: kept, still unique
    assert cause_zh("off_network") != cause_zh("off_network", own={"off_network": "未通自来水"})
    assert cause_zh("no_clinic;short_of_doctors") == "无卫生室；村医不足"
    assert cause_zh("something_new") == "something_new"


def test_app_tables_built_by_functions_read_chinese(demo_dataset, demo_assessment, tmp_path):
    from app.components import items_zh, outcomes_table, zh_table
    from app.sheet import village_sheet
    from geo.ledger import Ledger, problem_items
    from geo.ledger.xlsx import ledger_table
    from geo.report import COLUMN_ZH
    from layers.store.actors import Actor

    a = demo_assessment
    hr = a.hard_road.villages
    table = zh_table(hr, [c for c in hr.columns if c in COLUMN_ZH])
    assert _bad_cells(table, screen=True) == []
    clinics = a.clinics.villages
    assert _bad_cells(zh_table(clinics, list(clinics.columns)), screen=True) == []
    o = a.indicators.outcomes
    assert _bad_cells(outcomes_table(o, names_zh=a.indicators.table.names_zh), screen=True) == []
    worst = a.rollup.admin_villages.sort_values("problems")["code"].iloc[-1]
    sheet = village_sheet(demo_dataset, a, worst)
    for frame in (sheet.natural_villages, sheet.sites, sheet.indicators):
        assert _bad_cells(frame, screen=True) == []
    items = problem_items(a)
    assert _bad_cells(items_zh(items, names_zh=a.indicators.table.names_zh), screen=True) == []
    ledger = Ledger(tmp_path / "book")
    ledger.record_snapshot(
        items, actor=Actor.local(), dataset_hash=a.dataset_hash, settings=a.settings
    )
    sheet = ledger_table(ledger.items(), names_zh=a.indicators.table.names_zh)
    assert len(sheet) == len(items) and _bad_cells(sheet) == []


def _page_problems(at) -> list[list[str]]:
    return [
        _bad_cells(df.value, checkboxes=True, screen=df.proto.placeholder == MISSING_ZH)
        for df in at.dataframe
    ]


PAGES = [
    "overview", "hard_road", "services", "clinics", "water", "village", "indicators",
    "data_overview",
]  # fmt: skip


def _page(name: str, **state):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(VIEWS / f"{name}.py"), default_timeout=180)
    for k, v in state.items():
        at.session_state[k] = v
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.fixture(autouse=True)
def _private_ledger(tmp_path, monkeypatch):
    monkeypatch.setenv("GAPMAP_LEDGER_DIR", str(tmp_path / "ledger"))


@pytest.mark.parametrize("page", PAGES)
def test_every_table_of_a_page_reads_chinese(page):
    at = _page(page)
    assert len(at.dataframe) > 0
    bad = {i: b[:5] for i, b in enumerate(_page_problems(at)) if b}
    assert bad == {}
    if page == "hard_road":  # slopes of villages without a new link: NaN, drawn "—"
        drawn = [df for df in at.dataframe if df.proto.placeholder == MISSING_ZH]
        assert any(df.value.select_dtypes(float).isna().any().any() for df in drawn)


def test_ledger_and_projects_tables_read_chinese():
    at = _page("ledger")
    at.button(key="ledger_record").click().run()
    assert not at.exception
    tables = [df.value for df in at.dataframe]
    assert any("问题编号" in t.columns for t in tables)
    # 责任单位 and 完成时限 are blank until someone fills them in, never None
    bad = {i: b[:5] for i, b in enumerate(_page_problems(at)) if b}
    assert bad == {}
    at = _page("projects")
    bad = {i: b[:5] for i, b in enumerate(_page_problems(at)) if b}
    assert bad == {}


def test_times_in_tables_read_beijing_time():
    """Stored UTC times (ISO text, datetimes) read 2026-12-02 18:30, the zone in the header."""
    import datetime as dt

    from app.components import history_zh
    from geo.labels import beijing_text

    assert beijing_text("2026-12-02T10:30:00.123+00:00") == "2026-12-02 18:30"
    assert beijing_text("2026-12-02T10:30:00Z") == "2026-12-02 18:30"
    assert beijing_text(dt.datetime(2026, 12, 2, 16, 0)) == "2026-12-03 00:00"  # naive = UTC
    assert beijing_text(pd.Timestamp("2026-12-02 10:30", tz="UTC")) == "2026-12-02 18:30"
    assert beijing_text(None) == beijing_text(pd.NaT) == beijing_text(float("nan")) == MISSING_ZH
    assert beijing_text("昨天") == "昨天"  # not a time: unchanged
    hist = pd.DataFrame(
        {"at": ["2026-12-02T10:30:00+00:00"], "user_label": ["王明（乡镇填报员）"],
         "action_zh": ["修改"], "state_zh": [None], "changes_zh": ["责任单位：交通局"]}
    )  # fmt: skip
    shown = history_zh(hist)
    assert shown.columns[0] == "时间（北京时间）" and shown.iloc[0, 0] == "2026-12-02 18:30"
    assert _bad_cells(shown) == []


@pytest.mark.parametrize(
    ("crs", "declared"),
    [(None, "gcj02"), (None, "bd09"), (None, None), ("EPSG:4544", None), ("EPSG:3857", None),
     ("EPSG:4326", "gcj02"), ("EPSG:4490", None)],
)  # fmt: skip
def test_the_coordinate_handling_of_a_layer_reads_chinese(crs, declared):
    """What the 数据 page shows per layer (坐标处理), for the conversions the reader makes."""
    import geopandas as gpd
    import shapely

    from layers.coords import conversion_zh, to_wgs84

    lonlat = gpd.GeoSeries([shapely.Point(105.9, 36.98)], crs="EPSG:4326")
    geoms = lonlat.to_crs(crs) if crs not in (None, "EPSG:4326", "EPSG:4490") else lonlat
    geoms = geoms.set_crs(crs, allow_override=True)
    result = to_wgs84(geoms, declared)
    text = conversion_zh(result.conversion)
    assert CJK.search(text), (result.conversion, text)
    # left in Latin letters: EPSG codes, datum names and pyproj's own operation name
    english = set(re.findall(r"[A-Za-z]{4,}", text)) - {"EPSG", "pyproj", "CGCS", "WGS"}
    assert english <= {"Inverse", "Popular", "Visualisation", "Pseudo", "Mercator"}, text
