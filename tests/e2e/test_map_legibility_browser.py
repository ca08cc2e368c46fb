"""In Chromium: problems drawn above met villages, names shown without hover, Chinese titles.

One map file each (no app server): the tiny county's 通硬化路 map and a region map with six
tiny districts beside a large county (issue 17).
"""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from app.maps import builders as b
from app.maps.assets import self_contained_html
from app.maps.base import CONTROL_TITLES_ZH, MET_PANE, PROBLEM_PANE, MapOptions
from app.maps.region import build_region_map
from geo.assessment import assess
from geo.settings import load_settings
from layers import Dataset
from tests.e2e.conftest import ARTIFACTS
from tests.fixtures import tiny_county as tc

pytestmark = pytest.mark.e2e

_MAP = "Object.keys(window).filter(k => k.startsWith('map_')).map(k => window[k])[0]"


def _open(browser, html: str, name: str):
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"legibility_{name}.html"
    path.write_text(html, encoding="utf-8")
    page = browser.new_page(viewport={"width": 1024, "height": 768}, has_touch=True)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(path.as_uri())
    page.locator("path.leaflet-interactive").first.wait_for(timeout=30_000)
    # the opening fitBounds animates: a zoom set before it ends is undone by it
    page.wait_for_function(f"() => {{ const m = {_MAP}; return m && !m._animatingZoom; }}")
    page.wait_for_timeout(300)
    return page, errors


def _zoom(page, zoom: float) -> None:
    page.evaluate(f"() => {{ const m = {_MAP}; m.setZoom({zoom}, {{animate: false}}); }}")
    page.wait_for_timeout(400)


def _shown_labels(page) -> list[dict]:
    return page.evaluate(
        """() => [...document.querySelectorAll('.gapmap-label')]
            .filter(e => e.style.visibility !== 'hidden' && e.offsetParent !== null)
            .map(e => { const r = e.getBoundingClientRect();
                        return {text: e.textContent, cls: e.className,
                                l: r.left, r: r.right, t: r.top, b: r.bottom}; })"""
    )


def test_hard_road_map_layers_names_and_titles_in_the_browser(browser):
    dataset = Dataset.from_frames(tc.build(), name="tiny")
    a = assess(dataset, load_settings())
    page, errors = _open(
        browser,
        self_contained_html(b.build_hard_road_map(dataset, a, options=MapOptions())),
        "hard_road",
    )
    z = page.evaluate(
        f"""() => [{MET_PANE!r}, {PROBLEM_PANE!r}].map(n =>
            +getComputedStyle(document.querySelector('.leaflet-' + n + '-pane')).zIndex)"""
    )
    assert z[1] > z[0] > 400
    red = page.evaluate(
        f"""() => document.querySelectorAll('.leaflet-{PROBLEM_PANE}-pane path[fill="'
            + {b.HARD_ROAD_COLORS["not_connected"]!r} + '"]').length"""
    )
    hr = a.hard_road.villages
    assert red == int((hr["status"] == "not_connected").sum()) > 0
    # Chinese titles on every control
    for selector, title in CONTROL_TITLES_ZH.items():
        assert page.locator(selector).first.get_attribute("title") == title
    assert page.locator(".leaflet-control-zoom-fullscreen").get_attribute("title") == "全屏"
    assert page.locator(".leaflet-control-locate a").get_attribute("title").startswith("定位")
    # problem villages named at every zoom; every village from zoom 13 on
    _zoom(page, b.VILLAGE_LABEL_ZOOM - 2)
    shown = _shown_labels(page)
    bad = set(hr.loc[hr["status"] == "not_connected", "name"])
    assert {s["text"] for s in shown if "problem" in s["cls"]} <= bad
    assert not [s for s in shown if "village" in s["cls"]]
    _zoom(page, b.VILLAGE_LABEL_ZOOM + 1)
    assert [s for s in _shown_labels(page) if "village" in s["cls"]]
    page.screenshot(path=ARTIFACTS / "legibility_hard_road_z14.png")
    assert errors == []
    page.close()


def test_region_labels_never_overlap(browser):
    boxes = [shapely.box(105.0, 36.0, 106.0, 37.0)]
    boxes += [shapely.box(106.0 + 0.02 * i, 36.5, 106.02 + 0.02 * i, 36.52) for i in range(6)]
    codes = [f"6401{i:02d}" for i in range(7)]
    boundaries = gpd.GeoDataFrame(
        {
            "level": "county",
            "code": codes,
            "name": ["同心县", "兴庆区", "西夏区", "金凤区", "永宁县", "贺兰县", "灵武市"],
            "parent_code": "640100",
            "key": [True] + [False] * 6,
        },
        geometry=boxes,
        crs=4326,
    )
    rows = pd.DataFrame(
        {
            "code": codes,
            "value": 99.0,
            "target": 100.0,
            "comparison": ">=",
            "met": pd.array([False] * 7, dtype="boolean"),
            "status": "未达标",
            "problems": 1,
            "value_unit": "%",
        }
    )
    m = build_region_map(boundaries, rows, options=MapOptions(), title="通硬化路率")
    page, errors = _open(browser, self_contained_html(m), "region")
    shown = _shown_labels(page)
    assert "★同心县99.0%" in {s["text"] for s in shown}  # the largest county always named
    assert 1 < len(shown) < 7  # some small districts wait for a closer zoom
    for i, p in enumerate(shown):
        for q in shown[i + 1 :]:
            apart = p["r"] <= q["l"] or q["r"] <= p["l"] or p["b"] <= q["t"] or q["b"] <= p["t"]
            assert apart, (p["text"], q["text"])
    _zoom(page, 13)
    page.evaluate(f"() => {{ const m = {_MAP}; m.panTo([36.51, 106.06], {{animate: false}}); }}")
    page.wait_for_timeout(400)
    assert len(_shown_labels(page)) == 6  # zoomed in on the districts: each one named
    page.screenshot(path=ARTIFACTS / "legibility_region_z13.png")
    assert errors == []
    page.close()
