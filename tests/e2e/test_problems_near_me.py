"""附近的问题 in Chromium: 定位 at a known place lists the nearest problems, as a haversine says."""

from __future__ import annotations

import numpy as np
import pytest

from app.maps import builders as b
from app.maps.assets import self_contained_html
from app.maps.base import MapOptions
from app.maps.nearby import NEARBY_MAX, NEARBY_RADIUS_M
from tests.e2e.conftest import ARTIFACTS

pytestmark = pytest.mark.e2e

EARTH_R_M = 6_371_000.0  # Leaflet's L.CRS.Earth.R


def _haversine_m(lon0: float, lat0: float, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    p0, p = np.radians(lat0), np.radians(lat)
    dp, dl = p - p0, np.radians(lon - lon0)
    h = np.sin(dp / 2) ** 2 + np.cos(p0) * np.cos(p) * np.sin(dl / 2) ** 2
    return 2 * EARTH_R_M * np.arcsin(np.sqrt(h))


def test_locate_lists_the_nearest_problems(browser, demo_dataset, demo_assessment, tmp_path):
    hr = demo_assessment.hard_road.villages
    bad = hr.loc[hr["status"] == "not_connected"]
    here = bad.geometry.iloc[0]  # standing 1.5 km east of a village that is not connected
    lon, lat = here.x + 0.0168, here.y
    pts = bad.geometry.representative_point()
    d = _haversine_m(lon, lat, pts.x.to_numpy(), pts.y.to_numpy())
    order = np.argsort(d, kind="stable")
    expect = [bad["name"].iloc[i] for i in order if d[i] <= NEARBY_RADIUS_M][:NEARBY_MAX]
    assert expect, "the test place must have problems within the radius"
    html = self_contained_html(
        b.build_hard_road_map(demo_dataset, demo_assessment, options=MapOptions(offline=True))
    )
    path = tmp_path / "hard_road.html"
    path.write_text(html, encoding="utf-8")
    ctx = browser.new_context(
        viewport={"width": 1024, "height": 768},
        geolocation={"longitude": lon, "latitude": lat, "accuracy": 20},
        permissions=["geolocation"],
    )
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(path.as_uri())
    page.locator("path.leaflet-interactive").first.wait_for(timeout=30_000)
    assert not page.locator(".gapmap-nearby").is_visible()  # nothing before 定位
    page.locator(".leaflet-control-locate a").click()
    items = page.locator(".gapmap-nearby li")
    items.first.wait_for(timeout=15_000)
    listed = items.all_inner_texts()
    names = [t.rsplit(" ", 2)[0] for t in listed]
    assert names == expect
    first_km = float(listed[0].split()[-2]) if "公里" in listed[0] else None
    if first_km is not None:
        assert first_km == pytest.approx(d[order[0]] / 1000, abs=0.06)
    head = page.locator(".gapmap-nearby .h").inner_text()
    n_within = int((d <= NEARBY_RADIUS_M).sum())
    assert f"{int(NEARBY_RADIUS_M / 1000)} 公里内 {n_within} 个" in head
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "problems_near_me.png")
    items.first.click()  # flies to it and opens its popup
    page.locator(".leaflet-popup-content").first.wait_for(timeout=10_000)
    assert expect[0] in page.locator(".leaflet-popup-content").first.inner_text()
    assert errors == []
    ctx.close()
