"""更多指标 in headless Chromium, with every remote request blocked, on two tablet sizes."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import ARTIFACTS, block_remote, wait_for_app

pytestmark = pytest.mark.e2e

MAP_FRAME = "iframe[title*='st_folium']"


@pytest.mark.parametrize("size", [(1366, 1024), (1024, 768)], ids=["1366x1024", "1024x768"])
def test_indicators_page_maps_offline_with_a_legend(app_url, browser, size):
    width, height = size
    page = browser.new_page(viewport={"width": width, "height": height}, has_touch=True)
    blocked = block_remote(page)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{app_url}/indicators")
    wait_for_app(page, timeout_ms=120_000)
    assert "更多指标" in page.locator("h1").first.inner_text()
    frame = page.frame_locator(MAP_FRAME).first
    frame.locator(".leaflet-container").wait_for(timeout=60_000)
    frame.locator("path.leaflet-interactive").first.wait_for(timeout=60_000)
    assert frame.locator("path.leaflet-interactive").count() > 10  # outlines and units
    legend = frame.locator(".gapmap-legend")
    assert legend.count() == 1
    box = legend.locator("details")
    # closed on the small tablet (its title only: it would cover the map), open on the large
    assert box.evaluate("d => d.open") == (width > 1024)
    if width <= 1024:
        assert "无数据" not in legend.inner_text()
        page.screenshot(path=ARTIFACTS / f"indicators_{width}x{height}_legend_closed.png")
        legend.locator("summary").click()  # a tap opens it
        assert box.evaluate("d => d.open")
    text = legend.inner_text()
    assert "达标" in text and "未达标" in text and "无数据" in text
    page.locator("[data-testid='stDataFrame']").first.wait_for(timeout=60_000)
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    page.screenshot(path=ARTIFACTS / f"indicators_{width}x{height}_offline.png", full_page=True)
    assert errors == []
    assert all("127.0.0.1" not in u for u in blocked)
    page.close()
