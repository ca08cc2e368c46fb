"""Tablet and paper (issue 17): township KPIs, shared links, natural-village search, times.

The browser checks (sidebar collapsed at 1024 px, numbers not cut, print media) are in
tests/e2e/test_tablet_print.py; these run the pages under AppTest and the pure parts alone.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
from streamlit.proto.Metric_pb2 import Metric
from streamlit.testing.v1 import AppTest

from app.clock import beijing_now_text
from app.maps.base import value_text
from app.sheet import matching_villages
from geo.indicators import COUNTY_COLUMNS, township_rows
from geo.labels import beijing_text

ROOT = Path(__file__).resolve().parents[1]
VIEWS = ROOT / "app" / "views"
TIMEOUT = 180


@pytest.fixture(autouse=True)
def _private_ledger(tmp_path, monkeypatch):
    monkeypatch.setenv("GAPMAP_LEDGER_DIR", str(tmp_path / "ledger"))


def test_township_rows_agree_with_the_rollups_township_counts(demo_assessment):
    """Each township's card values are its roll-up row's (an independent count)."""
    a = demo_assessment
    tw = a.rollup.townships.set_index("code")
    assert len(tw) == 11
    for code, row in tw.iterrows():
        rows = township_rows(a.indicators, code)
        assert list(rows.columns) == [*COUNTY_COLUMNS, "problems"]
        assert rows["code"].tolist() == a.rollup.county["code"].tolist()
        rows = rows.set_index("code")
        np.testing.assert_allclose(rows.loc["hard_road", "value"], row["hr_rate_pct"])
        np.testing.assert_equal(rows.loc["services", "value"], row["sv_rate_pct"])  # NaN: none
        assert rows.loc["clinics", "value"] == row["problems_clinics"]
        assert rows.loc["unsafe_housing", "value"] == row["problems_unsafe_housing"]
        for c in a.rollup.county["code"]:  # each indicator's problem rows in the township
            assert rows.loc[c, "problems"] == row[f"problems_{c}"], c
        # judged again against the county's targets; 无数据 is never 达标
        nodata = rows["value"].isna()
        assert (rows.loc[nodata, "status"] == "无数据").all()
        assert rows.loc[~nodata, "status"].isin(["达标", "未达标"]).all()
    # a township's cards differ from the county's (else the cards did not follow it)
    first = township_rows(a.indicators, tw.index[0])
    assert not np.allclose(first["value"].fillna(-1), a.rollup.county["value"].fillna(-1))


def test_natural_village_search_finds_its_admin_village(demo_dataset):
    av, nv = demo_dataset["admin_villages"], demo_dataset["natural_villages"]
    one = nv.iloc[0]
    found = matching_villages(av, nv, f" {one['name']} ")
    assert one["admin_village_code"] in found.index
    assert one["name"] in found[one["admin_village_code"]].split("、")
    by_code = matching_villages(av, nv, "640324100")
    assert len(by_code) == int(av["code"].str.startswith("640324100").sum()) > 0
    assert len(matching_villages(av, nv, "")) == len(av)
    assert matching_villages(av, nv, "没有这个村").empty


def test_times_read_in_beijing_time():
    values = ["2026-12-02T18:30:05+00:00", "2026-12-02 01:00:00", None, "不是时间"]
    shown = [beijing_text(v) for v in values]
    assert shown == ["2026-12-03 02:30", "2026-12-02 09:00", "—", "不是时间"]
    assert beijing_text("2026-12-02T18:30:05Z", seconds=True).endswith("02:30:05")
    now = dt.datetime(2026, 6, 30, 17, 5, tzinfo=dt.UTC)
    assert beijing_now_text(now=now) == "2026-07-01 01:05（北京时间）"


def _run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_overview_link_opens_a_township_and_its_cards_follow(demo_assessment):
    a = demo_assessment
    codes = sorted(a.rollup.townships["code"])
    at = AppTest.from_file(str(VIEWS / "overview.py"), default_timeout=TIMEOUT)
    at.query_params["township"] = codes[2]
    _run(at)
    assert at.sidebar.selectbox(key="township").value == codes[2]
    name = a.rollup.townships.set_index("code").loc[codes[2], "name"]
    assert name in at.title[0].value
    expected = township_rows(a.indicators, codes[2])
    shown = {m.label: m.value for m in at.metric}
    for row in expected.itertuples():
        assert shown[row.indicator] == value_text(row.value, row.unit), row.indicator
    hard_road = expected.set_index("code").loc["hard_road", "value"]
    assert hard_road != a.rollup.county.set_index("code").loc["hard_road", "value"]
    # choosing another township writes the link; 全县 takes it away again
    at.sidebar.selectbox(key="township").set_value(codes[5])
    _run(at)
    assert at.query_params["township"] == [codes[5]] or at.query_params["township"] == codes[5]
    assert name not in at.title[0].value
    at.sidebar.selectbox(key="township").set_value("")
    _run(at)
    assert "township" not in at.query_params
    county = {m.label: m.value for m in at.metric}
    for row in a.rollup.county.itertuples():
        if row.code != "toilets":  # 稳步提高: against the ledger's previous snapshot
            assert county[row.indicator] == value_text(row.value, row.unit)


def test_an_unknown_township_in_a_link_opens_the_county():
    at = AppTest.from_file(str(VIEWS / "overview.py"), default_timeout=TIMEOUT)
    at.query_params["township"] = "999999999"
    _run(at)
    assert at.sidebar.selectbox(key="township").value == ""
    assert "township" not in at.query_params


def test_village_link_and_natural_village_search(demo_dataset):
    av, nv = demo_dataset["admin_villages"], demo_dataset["natural_villages"]
    target = sorted(av["code"])[7]
    at = AppTest.from_file(str(VIEWS / "village.py"), default_timeout=TIMEOUT)
    at.query_params["village"] = target
    _run(at)
    assert at.selectbox(key="village_code").value == target
    # a natural village's name selects its admin village and says which one matched
    one = next(  # a natural village whose name finds one admin village, not the linked one
        v
        for v in nv.itertuples()
        if v.admin_village_code != target and len(matching_villages(av, nv, v.name)) == 1
    )
    at.text_input(key="village_query").input(one.name)
    _run(at)
    assert at.selectbox(key="village_code").value == one.admin_village_code
    assert at.query_params["village"] in (one.admin_village_code, [one.admin_village_code])
    assert any(c.value.startswith(f"查到的自然村：{one.name}（属") for c in at.caption)


@pytest.mark.parametrize("page", ["overview", "hard_road"])
def test_a_zero_change_is_grey_without_an_arrow(page):
    """In 规划 review a figure the plan does not change is no red arrow (cards and rows)."""
    at = AppTest.from_file(str(VIEWS / f"{page}.py"), default_timeout=TIMEOUT)
    _run(at)
    at.sidebar.radio(key="scenario").set_value("planned")
    _run(at)
    metrics = [m.proto for m in at.metric if m.value != "无数据"]
    same = [m for m in metrics if m.delta.startswith("无变化")]
    moved = [m for m in metrics if not m.delta.startswith("无变化")]
    assert same and moved  # the demo's planned roads change some indicators, not all
    assert all(m.color == Metric.MetricColor.GRAY for m in same)
    assert all(m.direction == Metric.MetricDirection.NONE for m in same)
    assert all(m.direction != Metric.MetricDirection.NONE for m in moved)


def _readme_links() -> list[tuple[str, dict[str, str]]]:
    """The shared links the README's 应用页面 section gives: (path, query parameters)."""
    import re
    from urllib.parse import parse_qsl, urlsplit

    text = (ROOT / "README.md").read_text(encoding="utf-8").split("## 应用页面", 1)[1]
    text = text.split("\n## ", 1)[0]
    links = []
    for link in re.findall(r"`(/[^`\s]*\?[^`\s]+)`", text):
        parts = urlsplit(link)
        links.append((parts.path, dict(parse_qsl(parts.query))))
    return links


def _view_of(path: str) -> Path:
    """The view file the app serves at ``path`` (``app/main.py``'s st.Page calls)."""
    import ast

    tree = ast.parse((ROOT / "app" / "main.py").read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "Page":
            kw = {k.arg: k.value for k in node.keywords}
            served = "/" if "default" in kw else "/" + ast.literal_eval(kw["url_path"])
            if served == path:
                return VIEWS / ast.literal_eval(node.args[0].right)
    raise AssertionError(f"the app serves no page at {path}")


def test_every_shared_link_in_the_readme_opens_its_township_and_village(demo_dataset):
    links = _readme_links()
    assert len(links) >= 3 and {p for p, _ in links} >= {"/", "/village"}
    av = demo_dataset["admin_villages"]
    names = dict(zip(av["code"], av["name"], strict=True))
    for path, params in links:
        at = AppTest.from_file(str(_view_of(path)), default_timeout=TIMEOUT)
        for k, v in params.items():
            at.query_params[k] = v
        _run(at)
        if "township" in params:
            assert at.sidebar.selectbox(key="township").value == params["township"], path
        if "village" in params:
            assert at.selectbox(key="village_code").value == params["village"], path
            assert any(names[params["village"]] in h.value for h in at.subheader), path
