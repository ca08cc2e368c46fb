"""No request leaves the machine on any page; the 地形晕渲 basemap and a user's tiles draw.

A leader's tablet on a site inspection has no network: every page is visited in Chromium at
1024×768 with every request to a host other than this machine recorded (and aborted).
"""

from __future__ import annotations

import io
import re
import sqlite3
from pathlib import Path
from urllib.parse import urlparse

import pyogrio
import pytest
from PIL import Image

from layers.tiles import tile_range
from tests.e2e.conftest import (
    ARTIFACTS,
    LOCAL_HOSTS,
    ROOT,
    WORKER,
    open_sidebar,
    serve_app,
    wait_for_app,
)

pytestmark = pytest.mark.e2e

MAP_FRAME = "iframe[title*='st_folium']"
MAP_PAGES = {"", "hard-road", "services", "clinics", "water", "indicators", "village", "projects"}
"""The pages that open on a map (the default page, 总览, at the root)."""
TILE_ZOOMS = range(7, 12)
TILE_RGB = (80, 120, 200)


def _pages() -> list[str]:
    """Every page's address, from the app's st.Page calls (the default page is at the root)."""
    text = (ROOT / "app" / "main.py").read_text(encoding="utf-8")
    paths = re.findall(r'url_path="([^"]+)"', text)
    default = re.search(r'url_path="([^"]+)",\s*default=True', text).group(1)
    return ["" if p == default else p for p in paths if p != "region"]


def _county_mbtiles(path: Path) -> int:
    """Blue tiles over the demo county's extent at zooms 7–11, in an MBTiles file."""
    info = pyogrio.read_info(ROOT / "data" / "demo" / "tongxin.gpkg", layer="county")
    bounds = tuple(float(v) for v in info["total_bounds"])
    buf = io.BytesIO()
    Image.new("RGB", (256, 256), TILE_RGB).save(buf, format="PNG")
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE metadata (name TEXT, value TEXT)")
    con.execute(
        "CREATE TABLE tiles (zoom_level INT, tile_column INT, tile_row INT, tile_data BLOB)"
    )
    con.executemany("INSERT INTO metadata VALUES (?, ?)", [("name", "县级瓦片"), ("format", "png")])
    n = 0
    for z in TILE_ZOOMS:
        x0, x1, y0, y1 = tile_range(bounds, z)
        rows = [
            (z, x, 2**z - 1 - y, buf.getvalue())
            for x in range(x0 - 1, x1 + 2)
            for y in range(y0 - 1, y1 + 2)
        ]
        con.executemany("INSERT INTO tiles VALUES (?, ?, ?, ?)", rows)
        n += len(rows)
    con.commit()
    con.close()
    return n


@pytest.fixture(scope="module")
def offline_app(tmp_path_factory) -> str:
    """The app with a user's tile cache (``GAPMAP_TILES``): its own server."""
    cache = tmp_path_factory.mktemp("tiles") / "county.mbtiles"
    assert _county_mbtiles(cache) > 20
    with serve_app(env={"GAPMAP_TILES": str(cache)}, tag=f"offline-{WORKER}") as url:
        yield url


def _offline_context(browser):
    """A 1024×768 tablet context; every request off the machine is recorded and aborted."""
    ctx = browser.new_context(viewport={"width": 1024, "height": 768}, has_touch=True)
    remote: list[str] = []

    def handle(route):
        url = route.request.url
        if url.startswith(("data:", "blob:")) or (urlparse(url).hostname or "") in LOCAL_HOSTS:
            route.continue_()
        else:
            remote.append(url)
            route.abort()

    ctx.route("**/*", handle)  # the context: iframes and workers too
    return ctx, remote


def _relief(page) -> list[dict]:
    """The relief images drawn in the page's maps: src, loaded, natural width."""
    out = []
    for frame in page.frames:
        out += frame.eval_on_selector_all(
            "img.gapmap-relief",
            "els => els.map(e => ({src: e.src, done: e.complete, width: e.naturalWidth}))",
        )
    return out


def test_every_page_requests_nothing_off_the_machine_and_draws_the_relief(offline_app, browser):
    ctx, remote = _offline_context(browser)
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    pages = _pages()
    assert {"", "hard-road", "village", "export"} <= set(pages)
    drawn: dict[str, list[dict]] = {}
    shots = ARTIFACTS / "offline"
    shots.mkdir(parents=True, exist_ok=True)
    for path in pages:
        before = len(remote)
        page.goto(f"{offline_app}/{path}")
        wait_for_app(page, timeout_ms=180_000)
        if path in MAP_PAGES:
            frame = page.frame_locator(MAP_FRAME).first
            frame.locator(".leaflet-container").wait_for(timeout=60_000)
            relief = frame.locator("img.gapmap-relief")
            relief.first.wait_for(timeout=60_000)
            page.wait_for_function(
                "() => [...document.querySelectorAll('iframe')].some(f => { try {"
                " const i = f.contentDocument.querySelector('img.gapmap-relief');"
                " return i && i.complete && i.naturalWidth > 0; } catch (e) { return false; } })",
                timeout=60_000,
            )
            drawn[path] = _relief(page)
        page.wait_for_timeout(500)  # late requests (fonts, favicon) of this page
        assert remote[before:] == [], f"page /{path} asked the network for {remote[before:]}"
        if path in ("hard-road", "village"):  # the map with its relief, for a look
            box = page.locator(MAP_FRAME).first
            box.scroll_into_view_if_needed()
            page.wait_for_timeout(1500)  # tiles and image settled
            box.screenshot(path=shots / f"{path}_relief_map_1024x768.png")
            page.screenshot(path=shots / f"{path}_relief_1024x768.png")
    # the tab's icon is the app's own file
    icon = page.locator("link[rel*='icon']").first.get_attribute("href")
    assert (urlparse(icon).hostname or "127.0.0.1") in LOCAL_HOSTS
    assert remote == []
    assert set(drawn) == MAP_PAGES  # the relief under every map ...
    for imgs in drawn.values():  # ... from this server, loaded
        assert imgs and all(urlparse(i["src"]).hostname == "127.0.0.1" for i in imgs)
        assert all(
            "/app/static/relief/" in i["src"] and i["done"] and i["width"] > 100 for i in imgs
        )
    assert errors == []
    ctx.close()


def test_a_users_tile_cache_loads_from_this_machine(offline_app, browser):
    ctx, remote = _offline_context(browser)
    page = ctx.new_page()
    page.goto(f"{offline_app}/hard-road")
    wait_for_app(page, timeout_ms=180_000)
    frame = page.frame_locator(MAP_FRAME).first
    frame.locator("img.gapmap-relief").first.wait_for(timeout=60_000)
    open_sidebar(page)  # collapsed on a 1024-px tablet
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_text("地图设置").click()
    sidebar.get_by_text("本地瓦片（离线可用）", exact=True).click()
    wait_for_app(page, timeout_ms=120_000)
    frame = page.frame_locator(MAP_FRAME).first
    tiles = frame.locator("img.leaflet-tile[src*='/app/static/tiles/']")
    tiles.first.wait_for(timeout=60_000)
    page.wait_for_function(
        "() => [...document.querySelectorAll('iframe')].some(f => { try {"
        " const t = [...f.contentDocument.querySelectorAll('img.leaflet-tile-loaded')]"
        "   .filter(i => i.src.includes('/app/static/tiles/'));"
        " return t.length >= 4 && t.every(i => i.naturalWidth === 256); }"
        " catch (e) { return false; } })",
        timeout=60_000,
    )
    srcs = tiles.evaluate_all("els => els.map(e => e.src)")
    assert srcs and all(urlparse(s).hostname == "127.0.0.1" for s in srcs)
    assert all(re.search(r"/app/static/tiles/county-\w+/\d+/\d+/\d+\.png$", s) for s in srcs)
    assert frame.locator("img.gapmap-relief").count() == 0  # one basemap at a time
    page.screenshot(path=ARTIFACTS / "offline" / "hard-road_tiles_1024x768.png")
    assert remote == []
    ctx.close()


def test_a_remote_basemap_with_no_network_gives_way_to_the_relief(offline_app, browser):
    ctx, remote = _offline_context(browser)
    page = ctx.new_page()
    page.goto(f"{offline_app}/hard-road")
    wait_for_app(page, timeout_ms=180_000)
    frame = page.frame_locator(MAP_FRAME).first
    frame.locator("img.gapmap-relief").first.wait_for(timeout=60_000)
    open_sidebar(page)  # collapsed on a 1024-px tablet
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_text("地图设置").click()
    sidebar.get_by_text("OpenStreetMap", exact=True).click()
    wait_for_app(page, timeout_ms=120_000)
    frame = page.frame_locator(MAP_FRAME).first
    # the OSM tiles are asked for (and fail: no network), then the relief takes their place
    for _ in range(120):
        if any("openstreetmap" in u for u in remote):
            break
        page.wait_for_timeout(500)
    assert any("openstreetmap" in u for u in remote)
    page.wait_for_timeout(1000)  # the failures counted
    frame.locator("img.gapmap-relief").first.wait_for(timeout=60_000)
    assert frame.locator("img.leaflet-tile[src*='openstreetmap']").count() == 0
    checked = frame.locator(".leaflet-control-layers-base input:checked + span")
    assert "地形晕渲" in checked.first.inner_text()  # the layer control follows
    ctx.close()
