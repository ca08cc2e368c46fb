"""A leader's 1024×768 tablet and paper (issue 17), in Debian's headless Chromium.

On the small tablet the sidebar starts collapsed (its toggle opens it), the KPI cards are
two a row with no number cut off, the title is one line; printed (print media), the
sidebar and widgets are gone, the map is as wide as the page and every table row is there.
The township link, the cards following it and the natural-village search are checked
under AppTest (tests/test_layout.py).
"""

from __future__ import annotations

import pytest

from app.layout import PRINT_MAP_WIDTH_PX
from tests.e2e.conftest import ARTIFACTS, block_remote, wait_for_app

pytestmark = pytest.mark.e2e

MAP_FRAME = "iframe[title*='st_folium']"


def _page(browser, url: str, *, width: int, height: int):
    page = browser.new_page(viewport={"width": width, "height": height}, has_touch=True)
    block_remote(page)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    wait_for_app(page, timeout_ms=120_000)
    page.locator("[data-testid='stMetricValue'], [data-testid='stSelectbox']").first.wait_for(
        timeout=120_000
    )
    return page, errors


def _collapsed(page) -> str | None:
    return page.locator("[data-testid='stSidebar']").get_attribute("data-collapsed")


def test_small_tablet_sidebar_kpi_cards_and_title_then_print(app_url, browser):
    page, errors = _page(browser, f"{app_url}/?township=640324102", width=1024, height=768)
    page.wait_for_function(
        "() => document.querySelector('[data-testid=\"stSidebar\"]')"
        "?.getAttribute('data-collapsed') === 'true'",
        timeout=10_000,
    )
    assert "韦州镇" in page.locator("h1").first.inner_text()  # the link's township
    cards = page.locator("[class*='st-key-kpigrid_'] [data-testid='stMetric']")
    cards.nth(3).wait_for(timeout=60_000)
    wait_for_app(page)
    page.locator(MAP_FRAME).first.wait_for(timeout=60_000)
    cut = page.evaluate(
        '() => [...document.querySelectorAll(\'[data-testid="stMetricValue"],'
        ' [data-testid="stMetricValue"] *\')]'
        ".filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.innerText)"
    )
    assert cut == []  # no "98.1…"
    boxes = [cards.nth(i).bounding_box() for i in range(3)]
    assert abs(boxes[0]["y"] - boxes[1]["y"]) < 2 and boxes[2]["y"] > boxes[0]["y"] + 20  # 2×2
    assert boxes[0]["width"] > 400  # half the page each, not a quarter
    title = page.locator("h1").first
    line = title.evaluate("e => parseFloat(getComputedStyle(e).lineHeight)")
    text_height = title.evaluate(
        "e => { const r = document.createRange(); r.selectNodeContents(e);"
        " return r.getBoundingClientRect().height; }"
    )
    assert text_height < 1.5 * line  # one line
    page.screenshot(path=ARTIFACTS / "tablet_overview_1024x768.png")
    # the toggle opens the sidebar again
    page.get_by_test_id("stExpandSidebarButton").click()
    page.wait_for_function(
        "() => document.querySelector('[data-testid=\"stSidebar\"]')"
        "?.getAttribute('data-collapsed') === 'false'",
        timeout=10_000,
    )
    # printed: no sidebar or widgets, the map page-wide, every township of the ranking
    page.emulate_media(media="print")
    hidden = page.evaluate(
        "() => ['stSidebar', 'stHeader', 'stSelectbox', 'stTextInput', 'stButton']"
        '.flatMap(t => [...document.querySelectorAll(`[data-testid="${t}"]`)])'
        ".filter(e => e.getBoundingClientRect().height > 0).length"
    )
    assert hidden == 0
    shown = page.evaluate(  # every card printed (a card's help icon hides, not the card)
        "() => [...document.querySelectorAll('[data-testid=\"stMetric\"]')]"
        ".filter(e => e.getBoundingClientRect().height > 0).length"
    )
    assert shown == cards.count()
    head = page.locator(".gapmap-print-head")
    assert head.is_visible() and "总览" in head.inner_text() and "北京时间" in head.inner_text()
    assert "韦州镇" in head.inner_text()
    main = page.locator("[data-testid='stMainBlockContainer']").bounding_box()
    frame = page.locator(MAP_FRAME).first.bounding_box()
    assert frame["width"] >= 0.95 * main["width"]
    # before printing, the map takes the paper's width and still shows all it showed
    fit = page.evaluate(
        "() => { const f = document.querySelector(\"iframe[title*='st_folium']\");"
        " const m = f.contentWindow.map; const before = m.getBounds();"
        " window.dispatchEvent(new Event('beforeprint'));"
        " const out = [m.getSize().x, m.getBounds().contains(before)];"
        " window.dispatchEvent(new Event('afterprint')); return out; }"
    )
    assert abs(fit[0] - PRINT_MAP_WIDTH_PX) < 5 and fit[1], fit
    assert not page.locator(
        ".st-key-ptable_township_table [data-testid='stDataFrame']"
    ).is_visible()
    rows = page.locator(".st-key-ptable_admin_village_table table tbody tr")
    assert rows.count() > 10 and rows.first.is_visible()  # every admin village, not a grid's 10
    page.screenshot(path=ARTIFACTS / "tablet_overview_print.png", full_page=True)
    page.pdf(path=ARTIFACTS / "overview_print.pdf", format="A4")
    assert errors == []
    page.close()


def test_large_screen_keeps_the_sidebar_and_county_ranking_prints_whole(app_url, browser):
    page, errors = _page(browser, f"{app_url}/", width=1366, height=900)
    assert _collapsed(page) == "false"
    page.emulate_media(media="print")
    from layers.dataset import read_dataset
    from tests.e2e.conftest import ROOT

    n = len(read_dataset(ROOT / "data" / "demo" / "tongxin.gpkg")["townships"])
    rows = page.locator(".st-key-ptable_township_table table tbody tr")
    assert rows.count() == n and rows.last.is_visible()
    assert errors == []
    page.close()


def test_village_sheet_prints_without_search_and_without_cut_columns(app_url, browser):
    page, errors = _page(browser, f"{app_url}/village", width=1024, height=768)
    page.locator(MAP_FRAME).first.wait_for(timeout=60_000)
    page.emulate_media(media="print")
    assert not page.get_by_placeholder("如：红城水村、王家庄 或 640324").is_visible()
    assert not page.locator("[data-testid='stSelectbox']").first.is_visible()
    tables = page.locator(".gapmap-print-only table.gapmap-table")
    assert tables.count() >= 2
    wide = page.evaluate(
        "() => [...document.querySelectorAll('.gapmap-print-only table.gapmap-table')]"
        ".filter(t => t.getBoundingClientRect().right >"
        " document.querySelector('[data-testid=\"stMainBlockContainer\"]')"
        ".getBoundingClientRect().right + 1).length"
    )
    assert wide == 0  # every column on the page
    page.screenshot(path=ARTIFACTS / "village_print.png", full_page=True)
    page.pdf(path=ARTIFACTS / "village_print.pdf", format="A4")
    assert errors == []
    page.close()
