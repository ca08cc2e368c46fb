"""PDF reports (一村一图, 乡镇/县 体检报告): text, numbers, fonts and pages of the real PDFs.

The PDFs are read back with poppler's own tools (``pdftotext``, ``pdffonts``, ``pdfinfo``,
``pdftoppm``), not with the library that wrote them; the numbers they must carry are
computed here from the analysis frames by hand (counts and shares), not by the report code.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from app.reports import (
    ReportError,
    county_report,
    data_source,
    report_inputs,
    township_report,
    village_report,
    villages_report,
)
from app.reports.pdf import cell_text, cjk_font
from geo.indicators import township_rows
from geo.ledger import Ledger
from geo.ledger.progress import overdue, snapshot_progress, state_counts
from layers.store.actors import Actor

POPPLER = ("pdftotext", "pdffonts", "pdfinfo", "pdftoppm")


@pytest.fixture(autouse=True, scope="module")
def _poppler() -> None:
    """The PDFs are read back by poppler's tools (Debian poppler-utils; scripts/test.sh)."""
    missing = [t for t in POPPLER if shutil.which(t) is None]
    if missing:
        pytest.fail(f"{', '.join(missing)} not found: apt-get install poppler-utils")


def _text(pdf: bytes, tmp_path: Path, name: str = "r.pdf") -> str:
    path = tmp_path / name
    path.write_bytes(pdf)
    out = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, check=True)
    return out.stdout.decode("utf-8")


def _pages(pdf: bytes, tmp_path: Path) -> int:
    path = tmp_path / "p.pdf"
    path.write_bytes(pdf)
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, check=True, text=True)
    return int(re.search(r"^Pages:\s+(\d+)", info.stdout, re.M).group(1))


def _flat(text: str) -> str:
    """The text with every run of white space removed (table cells wrap across lines)."""
    return re.sub(r"\s+", "", text)


@pytest.fixture(scope="module")
def inputs(demo_dataset, demo_assessment):
    return report_inputs(
        demo_dataset,
        demo_assessment,
        ledger=None,
        data_name="演示数据",
        generated_at=dt.datetime(2026, 12, 2, 2, 30, tzinfo=dt.UTC),
    )


@pytest.fixture(scope="module")
def worst_village(demo_assessment) -> str:
    av = demo_assessment.rollup.admin_villages
    return str(av.sort_values(["problems", "code"], ascending=[False, True])["code"].iloc[0])


def test_village_sheet_text_fonts_and_pages(
    inputs, demo_dataset, demo_assessment, worst_village, tmp_path
):
    pdf = village_report(inputs, worst_village)
    assert pdf.startswith(b"%PDF-")
    text = _text(pdf, tmp_path)
    flat = _flat(text)
    av = demo_dataset["admin_villages"].set_index("code").loc[worst_village]
    township = demo_dataset["townships"].set_index("code").loc[av["township_code"], "name"]
    assert f"一村一图：{av['name']}" in text
    assert township in text and worst_village in text
    # the title block: Beijing time, data version, synthetic data said so
    assert "2026-12-0210:30（北京时间）" in flat
    assert demo_assessment.dataset_hash[:12] in text
    assert "模拟数据" in text
    # every natural village of the village, by name and households
    hr = demo_assessment.hard_road.villages
    mine = hr.loc[hr["admin_village_code"] == worst_village]
    assert len(mine) >= 3
    for name, hh in zip(mine["name"], mine["households"], strict=True):
        assert name in text
        assert re.search(rf"{re.escape(name)}\s+{int(hh)}\b", text), name
    # its problems: the number on the title block, and each problem's description
    o = demo_assessment.indicators.outcomes
    probs = o.loc[(o["admin_village_code"] == worst_village) & (o["status"] == "problem")]
    n = int(demo_assessment.rollup.admin_villages.set_index("code").loc[worst_village, "problems"])
    assert len(probs) == n > 0
    assert f"问题数{n}" in flat
    for desc in probs["description"]:
        assert _flat(desc) in flat, desc
    # fonts: every one embedded (a subset), the CJK one among them
    path = tmp_path / "v.pdf"
    path.write_bytes(pdf)
    fonts = subprocess.run(["pdffonts", str(path)], capture_output=True, check=True, text=True)
    rows = fonts.stdout.strip().splitlines()[2:]
    assert rows and all(r.split()[-5] == "yes" for r in rows), fonts.stdout
    assert any("CJK" in r for r in rows)
    assert 1 <= _pages(pdf, tmp_path) <= 3


def test_village_sheet_map_is_drawn(inputs, worst_village, tmp_path):
    """Page 1 rendered (pdftoppm): the map has the village status colours and a legend."""
    path = tmp_path / "v.pdf"
    path.write_bytes(village_report(inputs, worst_village))
    subprocess.run(
        ["pdftoppm", "-r", "60", "-png", "-f", "1", "-l", "1", str(path), str(tmp_path / "pg")],
        check=True,
    )
    png = next(tmp_path.glob("pg*.png"))
    im = np.asarray(Image.open(png).convert("RGB")).astype(int)
    h, w, _ = im.shape
    assert abs(w - 496) <= 1 and abs(h - 702) <= 1  # A4 portrait at 60 dpi
    middle = im[int(h * 0.3) : int(h * 0.75)]
    green = (np.abs(middle - np.array([0x2E, 0x7D, 0x32])).sum(axis=2) < 60).sum()
    ink = (middle.sum(axis=2) < 600).mean()
    assert green > 20  # 已通硬化路 villages on the map
    assert 0.01 < ink < 0.6  # drawn, not blank, not a solid block
    artifacts = Path("test-artifacts")
    artifacts.mkdir(exist_ok=True)
    shutil.copy(png, artifacts / "report_village_p1.png")


def test_township_report_numbers(inputs, demo_dataset, demo_assessment, tmp_path):
    a = demo_assessment
    tw = a.rollup.townships.sort_values("code")
    code = str(tw["code"].iloc[1])
    name = str(tw["name"].iloc[1])
    pdf = township_report(inputs, code)
    text = _text(pdf, tmp_path)
    flat = _flat(text)
    assert f"{name}农村基础设施短板体检报告" in text
    # 20户以上自然村通硬化路率 of the township, by hand from the village rows
    hr = a.hard_road.villages
    target = hr.loc[(hr["township_code"] == code) & (hr["scope"] == "target")]
    rate = 100.0 * target["connected"].sum() / len(target)
    assert f"20户以上自然村通硬化路率{rate:.1f}%≥100%" in flat
    # every admin village of the township is ranked, with its problem count
    av = a.rollup.admin_villages
    av = av.loc[av["township_code"] == code]
    for n, p in zip(av["name"], av["problems"], strict=True):
        assert re.search(rf"\d+\s+{re.escape(n)}\s+{int(p)}\b", text), n
    # the problem list: as many rows as the township's problem rows
    o = a.indicators.outcomes
    n_prob = int(((o["township_code"] == code) & (o["status"] == "problem")).sum())
    assert f"问题清单（{n_prob}个）" in flat
    assert "尚未把分析结果记入整改台账" in flat  # no ledger given
    assert _pages(pdf, tmp_path) >= 3


def test_county_report_numbers(inputs, demo_dataset, demo_assessment, tmp_path):
    a = demo_assessment
    pdf = county_report(inputs)
    text = _text(pdf, tmp_path)
    flat = _flat(text)
    assert "同心县农村基础设施短板体检报告" in text
    for name in demo_dataset["townships"]["name"]:
        assert name in text
    o = a.indicators.outcomes
    problems = o.loc[o["status"] == "problem"]
    assert f"问题清单（{len(problems)}个）" in flat
    hr = a.hard_road.villages
    target = hr.loc[hr["scope"] == "target"]
    rate = 100.0 * target["connected"].sum() / len(target)
    assert f"20户以上自然村通硬化路率{rate:.1f}%≥100%未达标" in flat
    # 项目库: the total of the open problems' projects
    total = float(np.nansum(inputs.projects["cost_wan"]))
    assert f"估算投资合计{total:,.1f}万元" in flat
    # an indicator map per indicator with problems: its caption
    for row in a.rollup.county.itertuples():
        if row.problems > 0:
            assert f"{row.indicator}：现值" in flat, row.indicator
    assert "≥" in text and ">=" not in text  # comparisons printed as a reader writes them
    for bad in ("None", "nan", "inf", "Infinity"):
        assert not re.search(rf"\b{bad}\b", text), bad


def test_township_rows_by_hand(demo_assessment):
    """A township's rows: each share by hand from its outcome rows; problems add up."""
    res = demo_assessment.indicators
    o = res.outcomes
    total = pd.Series(0, index=res.county["code"])
    for code in demo_assessment.rollup.townships["code"]:
        rows = township_rows(res, code).set_index("code")
        mine = o.loc[o["township_code"] == code]
        hr = mine.loc[mine["indicator"] == "hard_road"]
        judged = hr["status"].isin(["ok", "problem"])
        if judged.any():
            expect = 100.0 * (hr["status"] == "ok").sum() / judged.sum()
            assert rows.loc["hard_road", "value"] == pytest.approx(expect)
        else:
            assert np.isnan(rows.loc["hard_road", "value"])
        met = rows["value"].notna() & rows["status"].eq("达标")
        assert (rows.loc[met, "value"] >= 0).all()
        total += rows["problems"]
    in_townships = o.loc[o["township_code"] != ""]
    expect = in_townships.loc[in_townships["status"] == "problem"].groupby("indicator").size()
    assert total.to_dict() == expect.reindex(total.index, fill_value=0).to_dict()


def test_village_batch_and_errors(inputs, demo_dataset, tmp_path):
    av = demo_dataset["admin_villages"]
    tw = str(av["township_code"].iloc[0])
    codes = list(av.loc[av["township_code"] == tw, "code"])[:3]
    seen = []
    pdf = villages_report(inputs, codes, progress=lambda i, n, name: seen.append((i, n, name)))
    assert [s[:2] for s in seen] == [(1, 3), (2, 3), (3, 3)]
    names = dict(zip(av["code"], av["name"], strict=True))
    assert [s[2] for s in seen] == [names[c] for c in codes]
    text = _text(pdf, tmp_path)
    for c in codes:
        assert f"一村一图：{names[c]}" in text
    with pytest.raises(ReportError) as err:
        villages_report(inputs, [codes[0], "640324999999"])
    assert "640324999999" in err.value.zh and "一村一图" in err.value.zh
    with pytest.raises(ReportError) as err:
        township_report(inputs, "640324999")
    assert "640324999" in err.value.zh and "本县的乡镇" in err.value.zh


def test_ledger_sections(demo_dataset, demo_assessment, tmp_path):
    """Snapshots, states and an overdue item from a real ledger reach the township report."""
    a = demo_assessment
    admin = Actor.of("管理员", "admin")
    with Ledger(tmp_path / "ledger") as book:
        book.record_snapshot(a, actor=admin)
        items = book.items()
        code = str(a.rollup.townships.sort_values("problems")["code"].iloc[-1])
        mine = items.loc[items["township_code"] == code]
        key = str(mine["key"].iloc[0])
        book.transition(
            key,
            "整改中",
            actor=admin,
            expected_version=1,
            deadline="2026-06-30",
            responsible_unit="交通局",
        )
        inputs = report_inputs(
            demo_dataset,
            a,
            ledger=book,
            data_name="演示数据",
            generated_at=dt.datetime(2026, 12, 2, tzinfo=dt.UTC),
        )
    text = _text(township_report(inputs, code), tmp_path)
    flat = _flat(text)
    assert f"待整改{len(mine) - 1}项" in flat and "整改中1项" in flat
    assert "逾期未完成1项" in flat and "逾期未完成的问题（1项）" in flat
    assert "交通局" in text and "2026-06-30" in text
    assert f"台账合计{len(mine)}项" in flat
    # the snapshot row: everything found is new
    assert re.search(rf"1\s+2026-\S+\s+\S*\s*{len(mine)}\s+{len(mine)}\s+0", text), text[-2000:]


def test_progress_by_hand():
    snaps = pd.DataFrame({"id": [1, 2, 3], "created_at": ["a", "b", "c"]})
    found = {
        1: pd.DataFrame({"key": ["x", "y", "z"], "township_code": ["t1", "t1", "t2"]}),
        2: pd.DataFrame({"key": ["y", "w"], "township_code": ["t1", "t2"]}),
        3: pd.DataFrame(columns=["key", "township_code"]),
    }
    p = snapshot_progress(snaps, found)
    assert p[["found", "new", "gone"]].values.tolist() == [[3, 3, 0], [2, 1, 2], [0, 0, 2]]
    p1 = snapshot_progress(snaps, found, township_code="t1")
    assert p1[["found", "new", "gone"]].values.tolist() == [[2, 2, 0], [1, 0, 1], [0, 0, 1]]
    items = pd.DataFrame(
        {
            "state": ["open", "in_progress", "closed", "open", "deferred"],
            "deadline": ["2026-01-01", "2027-01-01", "2026-01-01", "", "2026-01-01"],
        }
    )
    assert overdue(items, today=dt.date(2026, 12, 2)).tolist() == [True, False, False, False, False]
    # the store may give dates or datetimes (NaT where none), not only text
    as_dates = items.assign(deadline=pd.to_datetime(items["deadline"].replace("", None)))
    assert overdue(as_dates, today=dt.date(2026, 12, 2)).tolist() == [
        True,
        False,
        False,
        False,
        False,
    ]
    as_objects = items.assign(deadline=[dt.date(2026, 1, 1), None, dt.date(2026, 1, 1), None, None])
    assert overdue(as_objects, today=dt.date(2026, 12, 2)).tolist() == [
        True,
        False,
        False,
        False,
        False,
    ]
    counts = state_counts(items).set_index("state")["items"]
    assert counts.to_dict() == {
        "open": 2,
        "in_progress": 1,
        "awaiting_acceptance": 0,
        "closed": 1,
        "deferred": 1,
        "exempt": 0,
    }


def test_cell_text_never_none_nan_or_inf():
    assert [cell_text(v) for v in (None, np.nan, pd.NA, float("inf"), -np.inf)] == [
        "—",
        "—",
        "—",
        "不可达",
        "—",
    ]
    assert cell_text(True) == "是" and cell_text(np.False_) == "否"
    assert cell_text(1234) == "1,234" and cell_text(12.0) == "12" and cell_text(2.345) == "2.3"
    assert cell_text("nan") == "—" and cell_text("  ") == "—" and cell_text("韦州镇") == "韦州镇"


def test_data_source(demo_dataset):
    text, synthetic = data_source(demo_dataset)
    assert synthetic
    n_sim = sum(
        1 for f in demo_dataset.layers.values() if "source" in f and (f["source"] == "模拟").any()
    )
    assert f"模拟（{n_sim} 个图层）" in text


def test_missing_font_says_how_to_fix(monkeypatch):
    cjk_font.cache_clear()
    monkeypatch.setenv("GAPMAP_CJK_FONT", "/nonexistent/font.ttf")
    try:
        with pytest.raises(ReportError) as err:
            cjk_font()
        assert "GAPMAP_CJK_FONT" in err.value.zh and "/nonexistent/font.ttf" in err.value.zh
    finally:
        cjk_font.cache_clear()


def test_cli_village_and_bad_code(tmp_path, capsys, worst_village):
    from scripts.report import main

    out = tmp_path / "村.pdf"
    rc = main(
        [
            "--data",
            "data/demo/tongxin.gpkg",
            "--village",
            worst_village,
            "--out",
            str(out),
            "--no-ledger",
            "-q",
        ]
    )
    assert rc == 0 and out.read_bytes().startswith(b"%PDF-")
    assert "报告" in capsys.readouterr().out
    bad = tmp_path / "bad.pdf"
    rc = main(
        [
            "--data",
            "data/demo/tongxin.gpkg",
            "--township",
            "640324999",
            "--out",
            str(bad),
            "--no-ledger",
            "-q",
        ]
    )
    assert rc == 2 and not bad.exists()
    assert "数据中没有乡镇代码 640324999" in capsys.readouterr().err
    assert not list(tmp_path.glob(".bad*"))  # no temporary file left


def test_village_sheet_size(inputs, worst_village):
    """Indexed PNG maps: a village sheet stays well under half a megabyte."""
    assert len(village_report(inputs, worst_village)) < 500_000


def test_font_installed_after_matplotlib_cached_its_list(monkeypatch):
    """A CJK font missing from matplotlib's cached list is found among the system's files."""
    from matplotlib import font_manager

    kept = [f for f in font_manager.fontManager.ttflist if "CJK" not in f.name]
    monkeypatch.setattr(font_manager.fontManager, "ttflist", kept)
    monkeypatch.delenv("GAPMAP_CJK_FONT", raising=False)
    cjk_font.cache_clear()
    try:
        font = cjk_font()
        assert font.family == "Noto Sans CJK SC" and font.regular.is_file()
        assert any(f.name == "Noto Sans CJK SC" for f in font_manager.fontManager.ttflist)
    finally:
        cjk_font.cache_clear()


def test_static_map_legends_have_no_lookalike_colours(demo_dataset, demo_assessment):
    """The printed maps follow the web maps' rule (app.maps.palette): one colour, one meaning."""
    from app.maps.palette import legend_clashes
    from app.reports.maps import area_map_figure, legend_rows, village_map_figure

    a = demo_assessment
    sites = a.services.units
    with_site = str(sites["admin_village_code"].iloc[0])
    hr = a.hard_road.villages
    by_status = [
        str(hr.loc[hr["status"] == s, "admin_village_code"].iloc[0])
        for s in ("not_connected", "below_threshold", "excluded")
    ]
    for code in (with_site, *by_status):
        rows = legend_rows(village_map_figure(demo_dataset, a, code))
        labels = [label for _, label in rows]
        assert "缺失路段：新建道路" in labels and "缺失路段：路面硬化" in labels
        assert legend_clashes(rows) == [], code
        if code == with_site:  # the sites share the villages' status rows
            assert any("安置区达标" in label for label in labels)
    fig = area_map_figure(demo_dataset, a.rollup.townships, column="problems", title="t")
    rows = legend_rows(fig)
    assert len(rows) == 5 and legend_clashes(rows) == []
