"""Map builders on the hand-made county: what is drawn, legends, controls, no CDN anywhere."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import folium
import folium.plugins
import pytest

from app.maps import builders as b
from app.maps.assets import LOCAL_URLS, VENDOR_DIR, remote_assets, self_contained_html
from app.maps.base import MapOptions
from app.sheet import village_sheet, village_sheet_html
from geo.assessment import assess
from geo.settings import load_settings
from layers import Dataset
from tests.fixtures import tiny_county as tc

BUILDERS = {
    "overview": b.build_overview_map,
    "hard_road": b.build_hard_road_map,
    "services": b.build_services_map,
    "clinics": b.build_clinics_map,
    "package": b.build_package_map,
}


@pytest.fixture(scope="module")
def ctx():
    dataset = Dataset.from_frames(tc.build(), name="tiny")
    return dataset, assess(dataset, load_settings())


def _geojson_features(html: str) -> list[dict]:
    """Every feature of every inline GeoJSON layer of a rendered folium map."""
    features = []
    for m in re.finditer(r'_add\((\{"(?:bbox|features)".*?"type": "FeatureCollection"\})\);', html):
        features += json.loads(m.group(1))["features"]
    return features


def _render(m: folium.Map) -> str:
    return m.get_root().render()


def test_every_vendored_asset_exists():
    for rel in filter(None, LOCAL_URLS.values()):
        assert (VENDOR_DIR / rel).is_file(), rel


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_map_has_controls_legend_and_no_remote_code(ctx, name):
    dataset, a = ctx
    m = BUILDERS[name](dataset, a, options=MapOptions())
    html = _render(m)
    assert remote_assets(m) == []
    assert not re.search(r'<script src="https?://', html)
    assert not re.search(r'<link rel="stylesheet" href="https?://', html)
    assert "L.control.locate(" in html
    locate = [c for c in m._children.values() if isinstance(c, folium.plugins.LocateControl)]
    assert locate[0].options["strings"]["title"].startswith("定位")
    assert "L.control.scale({imperial: false" in html
    assert "gapmap-legend" in html
    assert "box.open = width > 1024;" in html  # closed on a tablet, open on a large screen
    assert 'addEventListener("beforeprint"' in html  # and always open on paper
    assert "L.control.layers(" in html
    assert "fitBounds" in html
    assert "d3" not in re.findall(r'src="([^"]+)"', html)  # branca colormaps are not used


def test_hard_road_map_draws_each_village_once_with_its_status(ctx):
    dataset, a = ctx
    html = _render(b.build_hard_road_map(dataset, a, options=MapOptions()))
    feats = _geojson_features(html)
    villages = {
        f["properties"]["id"]: f["properties"] for f in feats if "status_zh" in f["properties"]
    }
    assert set(villages) == set(tc.EXPECTED_HARD_ROAD)
    for vid, (status, *_rest) in tc.EXPECTED_HARD_ROAD.items():
        assert villages[vid]["status_zh"] == b.HARD_ROAD_LABELS[status], vid
    links = [f for f in feats if f["properties"].get("kind_zh") in ("路面硬化", "新建道路")]
    assert {f["properties"]["village_id"] for f in links} == {
        v for v, e in tc.EXPECTED_HARD_ROAD.items() if e[0] == "not_connected"
    }


def test_hard_road_map_reason_filter_and_township_scope(ctx):
    dataset, a = ctx
    html = _render(b.build_hard_road_map(dataset, a, options=MapOptions(), reasons=("no_road",)))
    shown = {
        f["properties"]["id"]: f["properties"]["status_zh"]
        for f in _geojson_features(html)
        if "status_zh" in f["properties"]
    }
    bad = {v for v, s in shown.items() if s == "未通硬化路"}
    assert bad == {"NV04"}
    tw = dataset["townships"]["code"].iloc[0]
    scoped = b.Scope(township_code=tw)
    html = _render(b.build_hard_road_map(dataset, a, options=MapOptions(), scope=scoped))
    ids = {f["properties"]["id"] for f in _geojson_features(html) if "status_zh" in f["properties"]}
    hr = a.hard_road.villages
    assert ids == set(hr.loc[hr["township_code"] == tw, "id"])


def test_services_map_marks_sites_and_missing_kinds(ctx):
    dataset, a = ctx
    html = _render(b.build_services_map(dataset, a, options=MapOptions()))
    sites = {
        f["properties"]["unit_id"]: f["properties"]
        for f in _geojson_features(html)
        if "ok_zh" in f["properties"] and "missing_zh" in f["properties"]
    }
    assert set(sites) == set(tc.EXPECTED_SERVICES)
    assert sites["S1"]["missing_zh"] == "药店"
    assert all(s["ok_zh"] == "未达标" for s in sites.values())
    assert html.count("L.markerClusterGroup(") == 4  # one cluster group per facility kind


def test_clinics_map_highlights_the_blank_spots(ctx):
    dataset, a = ctx
    html = _render(b.build_clinics_map(dataset, a, options=MapOptions()))
    feats = _geojson_features(html)
    blank_av = {f["properties"]["code"] for f in feats if "status_zh" in f["properties"]}
    exp = tc.EXPECTED_CLINICS
    assert blank_av == {
        *exp["admin_villages_without_clinic"],
        *exp["admin_villages_clinic_without_doctor"],
        *exp["admin_villages_short_of_doctors"],
    }
    blank_tw = {f["properties"]["code"] for f in feats if "n_health_centres" in f["properties"]}
    assert blank_tw == set(exp["townships_without_health_centre"])


def test_basemaps_only_first_is_shown_and_tianditu_needs_a_key(ctx, monkeypatch):
    dataset, a = ctx
    monkeypatch.delenv("TIANDITU_KEY", raising=False)
    html = _render(b.build_overview_map(dataset, a, options=MapOptions(basemap="tianditu")))
    assert "tianditu.gov.cn" not in html  # no key: no 天地图 layer, plain basemap instead
    html = _render(
        b.build_overview_map(dataset, a, options=MapOptions(basemap="tianditu", tianditu_key="K"))
    )
    assert "tk=K" in html and "vec_w" in html and "cva_w" in html
    # Leaflet shows every base layer added to the map: only the chosen one may be.
    added = re.findall(r"tile_layer_\w+ = L\.tileLayer\(\s*\"([^\"]+)\"", html)
    shown = re.findall(r"(tile_layer_\w+)\.addTo\(map_\w+\)", html)
    assert len(added) == 4 and len(shown) == 2  # 天地图 vector + its annotation overlay


def test_self_contained_html_has_no_remote_references(ctx):
    dataset, a = ctx
    code = dataset["admin_villages"]["code"].iloc[0]
    m = b.build_village_map(dataset, a, options=MapOptions(), admin_village_code=code)
    sheet = village_sheet(dataset, a, code)
    page = village_sheet_html(sheet, m)
    assert "/app/static" not in page
    # No resource is loaded from the network (the attribution <a href> inside leaflet.js is text).
    assert not re.search(r'<(script|link|img)[^>]+(src|href)="https?://', page)
    assert not re.search(r"url\((['\"]?)(?!data:)[^)'\"]+\.(png|woff2|svg)", page)
    assert sheet.name in page and "自然村" in page
    assert "L.Icon.Default.mergeOptions" in page


def test_package_map_is_self_contained_and_has_every_village(ctx):
    dataset, a = ctx
    html = self_contained_html(b.build_package_map(dataset, a, options=MapOptions()))
    ids = {f["properties"].get("name") for f in _geojson_features(html)}
    assert set(dataset["natural_villages"]["name"]) <= ids


def _assert_scripts_parse(html: str, tmp_path) -> None:
    """Every inline script of the page parses as JavaScript (node --check)."""
    node = shutil.which("node")
    assert node, "node (Debian/NodeSource) is needed to parse the map scripts"
    scripts = re.findall(r"<script>(.*?)</script>", html, flags=re.S)
    path = tmp_path / "map.js"
    path.write_text("\n;\n".join(scripts), encoding="utf-8")
    done = subprocess.run([node, "--check", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]


def test_names_from_user_files_cannot_inject_markup_or_break_the_script(ctx, tmp_path):
    dataset, _ = ctx
    nv = dataset["natural_villages"].copy()
    nv.loc[0, "name"] = '<img src=x onerror="alert(1)">'
    sp = dataset["service_points"].copy()
    sp.loc[0, "name"] = "王家`庄${alert(2)}"
    evil = dataset.replace_layers(natural_villages=nv, service_points=sp)
    a = assess(evil, load_settings())
    for build in (b.build_hard_road_map, b.build_services_map, b.build_package_map):
        html = build(evil, a, options=MapOptions()).get_root().render()
        assert "<img src=x" not in html  # popups and tooltips put values into innerHTML
    # Marker tooltips go into a JS template literal: a backtick or ${ would break the script.
    html = b.build_services_map(evil, a, options=MapOptions()).get_root().render()
    assert "王家&#96;庄&#36;{alert(2)}" in html
    _assert_scripts_parse(html, tmp_path)
    html = b.build_hard_road_map(evil, a, options=MapOptions()).get_root().render()
    assert "\\u0026lt;img src=x" in html  # shown as text: &lt; inside HTML-safe JSON


def test_offline_maps_carry_no_tile_server_and_no_key(ctx, monkeypatch):
    dataset, a = ctx
    monkeypatch.setenv("TIANDITU_KEY", "SECRET")
    html = self_contained_html(
        b.build_package_map(dataset, a, options=MapOptions(basemap="tianditu", offline=True))
    )
    assert "SECRET" not in html and "tianditu.gov.cn" not in html
    assert "tile.openstreetmap.org" not in html


def test_planned_facilities_are_not_drawn_as_existing(ctx):
    dataset, a = ctx
    clinics = dataset["clinics"].copy()
    clinics.loc[0, "status"] = "规划"
    planned = dataset.replace_layers(clinics=clinics)
    html = b.build_clinics_map(planned, a, options=MapOptions()).get_root().render()
    assert str(clinics.loc[0, "name"]) not in html


def test_region_map_classes_counties_by_their_gap_to_the_target():
    """达标, then a rate's gap in percentage points (≤ 2, ≤ 5, more), a count's in thirds."""
    import pandas as pd

    from app.maps.region import county_classes

    rates = pd.DataFrame(
        {
            "value": [100.0, 98.5, 96.0, 90.0, float("nan")],
            "target": 100.0,
            "comparison": ">=",
            "met": pd.array([True, False, False, False, pd.NA], dtype="boolean"),
            "value_unit": "%",
        }
    )
    assert county_classes(rates).tolist() == ["met", "small", "medium", "large", "no_data"]
    counts = pd.DataFrame(
        {
            "value": [0.0, 1.0, 5.0, 9.0],
            "target": 0.0,
            "comparison": "<=",
            "met": pd.array([True, False, False, False], dtype="boolean"),
            "value_unit": "个",
        }
    )
    assert county_classes(counts).tolist() == ["met", "small", "medium", "large"]


def test_region_map_marks_key_counties_and_names_them_on_the_map():
    import geopandas as gpd
    import pandas as pd
    import shapely

    from app.maps.region import KEY_COLOR, build_region_map

    boxes = [shapely.box(105 + i, 36, 105.9 + i, 37) for i in range(2)]
    boundaries = gpd.GeoDataFrame(
        {
            "level": "county",
            "code": ["640324", "640302"],
            "name": ["同心县", "利通区"],
            "parent_code": "640300",
            "key": [True, False],
        },
        geometry=boxes,
        crs=4326,
    )
    rows = pd.DataFrame(
        {
            "code": ["640324", "640302"],
            "value": [96.1, 100.0],
            "target": 100.0,
            "comparison": ">=",
            "met": pd.array([False, True], dtype="boolean"),
            "status": ["未达标", "达标"],
            "problems": [23, 0],
            "value_unit": "%",
        }
    )
    html = (
        build_region_map(boundaries, rows, options=MapOptions(), title="通硬化路率")
        .get_root()
        .render()
    )

    def shown(text: str) -> bool:  # folium writes the labels as JSON strings
        return json.dumps(text)[1:-1] in html

    assert shown("★同心县") and shown("利通区") and not shown("★利通区")
    assert shown("96.1%") and KEY_COLOR in html


def test_region_ranking_puts_the_best_first_and_no_data_last():
    import pandas as pd

    from app.maps.region import ranked

    rates = pd.DataFrame(
        {
            "code": ["a", "b", "c", "d"],
            "value": [96.0, float("nan"), 99.5, 96.0],
            "comparison": ">=",
            "problems": [23, 0, 1, 11],
        }
    )
    assert ranked(rates)["code"].tolist() == ["c", "d", "a", "b"]  # ties: fewer problems
    assert ranked(rates)["rank"].tolist() == [1, 2, 3, 4]
    counts = rates.assign(value=[5.0, 0.0, 1.0, 7.0], comparison="<=")
    assert ranked(counts)["code"].tolist() == ["b", "c", "a", "d"]
