"""Maps that read on a tablet (no hover) and on paper (issue 17), on the demo county.

Each map builder's legend has no two entries of one colour or of colours too close to tell
apart (CIEDE2000); problems are drawn in a pane above the met features, which are smaller
and paler; township and village names are written on the maps; Leaflet's own controls have
Chinese titles.
"""

from __future__ import annotations

import json
import re
from html import escape as html_escape

import folium
import geopandas as gpd
import pandas as pd
import pytest
import shapely

from app.maps import builders as b
from app.maps import palette
from app.maps.base import (
    CONTROL_TITLES_ZH,
    MET_PANE,
    PANES,
    PROBLEM_PANE,
    LegendItem,
    MapOptions,
    legend_items,
    map_labels,
)
from app.maps.indicators import STATUS_COLORS, build_indicator_map
from app.maps.projects import PROJECTS_LEGEND, siting_legend
from app.maps.region import build_region_map
from app.maps.terrain import MINUTE_CLASSES, SLOPE_CLASSES
from app.maps.water import water_legend
from geo.indicators.outcomes import make_outcomes, unit_frame


def _render(m: folium.Map) -> str:
    """The map's HTML with JSON's \\uXXXX escapes read back (labels, legend, layer names)."""
    html = m.get_root().render()
    return re.sub(r"\\u([0-9a-fA-F]{4})", lambda g: chr(int(g.group(1), 16)), html)


def _outcomes(dataset, unit_kind: str) -> pd.DataFrame:
    """An outcome frame of ``unit_kind`` with every status (a quarter of the units each)."""
    units = unit_frame(dataset, unit_kind).drop(columns="geometry")
    statuses = ["ok", "problem", "no_data", "exempt"]
    rows = units.assign(
        key=[f"test:{c}" for c in units["unit_code"]],
        indicator="test",
        status=[statuses[i % 4] for i in range(len(units))],
        value=12.0,
        limit=10.0,
        value_unit="分钟",
        description="测试",
    )
    return make_outcomes(rows)


def _village_with_a_new_link(a) -> str:
    """The admin village of a not-connected village whose missing link is a new road."""
    links = a.hard_road.links
    hr = a.hard_road.villages
    new = hr[hr["id"].isin(links.loc[links["kind"] == "new", "village_id"])]
    return str(new["admin_village_code"].iloc[0])


def _region_boundaries() -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """A large county beside six tiny districts in a row (Yinchuan's, at region zoom)."""
    boxes = [shapely.box(105.0, 36.0, 106.0, 37.0)]
    boxes += [shapely.box(106.0 + 0.02 * i, 36.5, 106.02 + 0.02 * i, 36.52) for i in range(6)]
    codes = [f"6401{i:02d}" for i in range(7)]
    names = ["同心县", "兴庆区", "西夏区", "金凤区", "永宁县", "贺兰县", "灵武市"]
    boundaries = gpd.GeoDataFrame(
        {"level": "county", "code": codes, "name": names, "parent_code": "640100"},
        geometry=boxes,
        crs=4326,
    ).assign(key=[True] + [False] * 6)
    rows = pd.DataFrame(
        {
            "code": codes,
            "value": [96.1, 100, 100, 99, 98, 97, 100],
            "target": 100.0,
            "comparison": ">=",
            "met": pd.array([False, True, True, False, False, False, True], dtype="boolean"),
            "status": "—",
            "problems": 0,
            "value_unit": "%",
        }
    )
    return boundaries, rows


@pytest.fixture(scope="module")
def maps(demo_dataset, demo_assessment) -> dict[str, folium.Map]:
    """Every map builder's map of the demo county (the region map on hand-made counties)."""
    d, a = demo_dataset, demo_assessment
    o = MapOptions()
    every_kind = tuple(k for k in b.KIND_COLORS if k in set(d["service_points"]["kind"]))
    boundaries, rows = _region_boundaries()
    return {
        "overview": b.build_overview_map(d, a, options=o),
        "hard_road": b.build_hard_road_map(d, a, options=o),
        "services": b.build_services_map(d, a, options=o),
        "services_every_kind": b.build_services_map(d, a, options=o, kinds=every_kind),
        "clinics": b.build_clinics_map(d, a, options=o),
        "package": b.build_package_map(d, a, options=o),
        "village": b.build_village_map(
            d, a, options=o, admin_village_code=_village_with_a_new_link(a)
        ),
        "indicator_villages": build_indicator_map(
            d, _outcomes(d, "natural_village"), title="测试", options=o
        ),
        "indicator_admin_villages": build_indicator_map(
            d, _outcomes(d, "admin_village"), title="测试", options=o
        ),
        "region": build_region_map(boundaries, rows, options=o, title="通硬化路率"),
    }


def _too_close(items: list[LegendItem]) -> list[tuple[str, str, float]]:
    return palette.legend_clashes([(i.color, i.label) for i in items])


SHARMA_2005 = [  # (L, a, b) pairs and ΔE00 from Sharma, Wu & Dalal (2005), table 1
    ((50.0, 2.6772, -79.7751), (50.0, 0.0, -82.7485), 2.0425),
    ((50.0, -1.3802, -84.2814), (50.0, 0.0, -82.7485), 1.0000),
    ((50.0, 0.0, 0.0), (50.0, -1.0, 2.0), 2.3669),
    ((50.0, 2.49, -0.001), (50.0, -2.49, 0.0009), 7.1792),
    ((50.0, 2.5, 0.0), (73.0, 25.0, -18.0), 27.1492),
    ((50.0, 2.5, 0.0), (50.0, 3.1736, 0.5854), 1.0000),
    ((60.2574, -34.0099, 36.2677), (60.4626, -34.1751, 39.4387), 1.2644),
    ((22.7233, 20.0904, -46.6940), (23.0331, 14.9730, -42.5619), 2.0373),
    ((2.0776, 0.0795, -1.1350), (0.9033, -0.0636, -0.5514), 0.9082),
]


@pytest.mark.parametrize(("lab1", "lab2", "expected"), SHARMA_2005)
def test_ciede2000_matches_the_published_test_pairs(lab1, lab2, expected):
    assert palette.delta_e2000_lab(lab1, lab2) == pytest.approx(expected, abs=1e-4)
    assert palette.delta_e2000_lab(lab2, lab1) == pytest.approx(expected, abs=1e-4)


def test_the_check_finds_the_old_collisions():
    """安置区达标 = 便利菜店 green and 缺少设施 ≈ 药店 red, as the 一刻钟 map had them."""
    old = [("#2e7d32", "安置区：达标"), ("#d32f2f", "安置区：缺少设施")]
    old += [("#2e7d32", "便利菜店"), ("#c62828", "药店"), ("#1565c0", "综合超市")]
    clashes = {(x, y) for x, y, _ in palette.legend_clashes(old)}
    assert clashes == {("安置区：达标", "便利菜店"), ("安置区：缺少设施", "药店")}
    assert palette.delta_e2000("#ffffff", "#ffffff") == 0.0
    assert palette.delta_e2000("#000000", "#ffffff") == pytest.approx(100.0, abs=0.01)


@pytest.mark.parametrize(
    "name",
    [
        "overview",
        "hard_road",
        "services",
        "services_every_kind",
        "clinics",
        "package",
        "village",
        "indicator_villages",
        "indicator_admin_villages",
        "region",
    ],
)
def test_no_two_legend_entries_of_a_map_look_alike(maps, name):
    items = legend_items(maps[name])
    assert len(items) >= 4, [i.label for i in items]
    assert _too_close(items) == []
    html = _render(maps[name])
    for item in items:  # the legend shown is the one checked
        assert html_escape(item.label) in html and item.color in html


def test_legends_built_outside_the_builders_have_no_look_alike_colours():
    """Water, projects, siting and the terrain overlays, each with what it is drawn beside."""
    assert _too_close(water_legend(service_head_m=10.0)) == []
    assert _too_close(list(PROJECTS_LEGEND)) == []
    assert _too_close(siting_legend(kind="卫生室", limit_min=30)) == []
    slope = [LegendItem(c, label, "square") for _, c, label in SLOPE_CLASSES]
    minutes = [LegendItem(c, label, "square") for _, c, label in MINUTE_CLASSES]
    assert _too_close(slope) == [] and _too_close(minutes) == []
    # every facility kind against the sites' statuses and the nearest-facility lines
    services = [LegendItem(c, k) for k, c in b.KIND_COLORS.items()]
    services += [LegendItem(b.SITE_COLORS[True], "达标"), LegendItem(b.SITE_COLORS[False], "缺")]
    services += [LegendItem(c, str(ok), "line") for ok, c in b.NEAREST_COLORS.items()]
    assert _too_close(services) == []
    statuses = [LegendItem(c, s) for s, c in STATUS_COLORS.items()]
    assert _too_close(statuses) == []


def _pane_of_features(m: folium.Map) -> dict[str, set[str]]:
    """Pane of each drawn natural village (by its status label), from the folium layers."""
    out: dict[str, set[str]] = {}
    for layer in _walk(m):
        if not isinstance(layer, folium.GeoJson) or layer.style_function is None:
            continue
        for f in layer.data["features"]:
            props = f["properties"]
            if "status_zh" not in props or f["geometry"]["type"] != "Point":
                continue
            pane = layer.style_function(f).get("pane") or layer.options.get("pane", "overlayPane")
            out.setdefault(props["status_zh"], set()).add(pane)
    return out


def _walk(element):
    for child in element._children.values():
        yield child
        yield from _walk(child)


def _z_indexes(html: str) -> dict[str, int]:
    """The z-index of each custom pane created in the rendered map script."""
    found = re.findall(
        r'var (pane_\w+) = map_\w+\.createPane\(\s*"([\w-]+)"\);\s*\1\.style\.zIndex = (\d+);',
        html,
    )
    return {name: int(z) for _, name, z in found}


def test_problems_are_drawn_above_the_met_villages(maps, demo_assessment):
    m = maps["hard_road"]
    html = _render(m)
    z = _z_indexes(html)
    assert z[PROBLEM_PANE] > z["gapmap-other"] > z[MET_PANE] > 400  # Leaflet's overlayPane
    assert z[PROBLEM_PANE] < 600  # below facility icons, labels, tooltips and popups
    panes = _pane_of_features(m)
    assert panes["未通硬化路"] == {PROBLEM_PANE}
    assert panes["已通硬化路"] == {MET_PANE}
    assert panes["不足20户"] == {"gapmap-other"}
    # the pane reaches the browser: it is in the rendered styles of the village layers
    assert html.count(f'"pane": "{PROBLEM_PANE}"') >= 2  # villages and missing links
    # met points smaller and paler than the problems
    sizes = {}
    for layer in _walk(m):
        if isinstance(layer, folium.GeoJson) and layer.marker is not None:
            status = {f["properties"].get("status_zh") for f in layer.data["features"]}
            if len(status) == 1:
                style = layer.style_function(layer.data["features"][0])
                sizes[status.pop()] = (style["radius"], layer.marker.options["fillOpacity"])
    assert sizes["已通硬化路"][0] < sizes["未通硬化路"][0]
    assert sizes["已通硬化路"][1] < sizes["未通硬化路"][1]
    n_bad = int((demo_assessment.hard_road.villages["status"] == "not_connected").sum())
    drawn_bad = [
        f
        for layer in _walk(m)
        if isinstance(layer, folium.GeoJson)
        for f in layer.data["features"]
        if f["properties"].get("status_zh") == "未通硬化路"
    ]
    assert len(drawn_bad) == n_bad > 0


@pytest.mark.parametrize("name", ["services", "clinics", "indicator_villages", "package"])
def test_problem_points_of_every_map_are_in_the_problem_pane(maps, name):
    html = _render(maps[name])
    assert f'"pane": "{PROBLEM_PANE}"' in html
    assert set(_z_indexes(html)) >= set(PANES)


def _label_texts(m: folium.Map) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for labels in map_labels(m):
        key = f"{labels.css_class or 'area'}@{labels.min_zoom:g}"
        out.setdefault(key, set()).update(r[2] for r in labels.rows)
    return out


def test_township_names_are_written_on_the_choropleths(maps, demo_dataset):
    townships = set(demo_dataset["townships"]["name"])
    for name in ("overview", "indicator_admin_villages", "indicator_villages", "package"):
        html = _render(maps[name])
        labels = _label_texts(maps[name])
        assert labels["area@0"] == townships, name
        for township in townships:  # in the page as text the label script writes
            assert json.dumps(township, ensure_ascii=False) in html, (name, township)


def test_village_names_appear_at_close_zoom_and_problem_ones_always(maps, demo_assessment):
    hr = demo_assessment.hard_road.villages
    bad = set(hr.loc[hr["status"] == "not_connected", "name"])
    labels = _label_texts(maps["hard_road"])
    assert labels["problem@0"] == bad
    close = labels[f"village@{b.VILLAGE_LABEL_ZOOM:g}"]
    assert close == set(hr.loc[hr["status"] != "not_connected", "name"])
    html = _render(maps["hard_road"])
    assert f"map.getZoom() >= {float(b.VILLAGE_LABEL_ZOOM)};" in html
    assert "textContent" in html  # names are set as text, never as markup


def test_the_village_sheet_names_every_village_and_shows_its_missing_link(maps, demo_assessment):
    code = _village_with_a_new_link(demo_assessment)
    hr = demo_assessment.hard_road.villages
    names = set(hr.loc[hr["admin_village_code"] == code, "name"])
    labels = _label_texts(maps["village"])
    assert set().union(*labels.values()) >= names
    assert all(k.endswith("@0") for k in labels)  # a one-village sheet: at every zoom
    legend = {i.label: i for i in legend_items(maps["village"])}
    assert legend["需新建路段"].color == b.LINK_COLORS["new"]
    assert legend["需新建路段"].shape == "line"


def test_region_labels_put_the_larger_county_first(maps):
    (labels,) = map_labels(maps["region"])
    texts = [r[2] for r in labels.rows]
    assert texts[0] == "★同心县"  # the largest county wins where labels would overlap
    assert {r[3] for r in labels.rows} >= {"96.1%", "100.0%"}


@pytest.mark.parametrize("name", ["overview", "hard_road", "village", "region"])
def test_leaflet_controls_have_chinese_titles(maps, name):
    m = maps[name]
    html = _render(m)
    for title in CONTROL_TITLES_ZH.values():
        assert json.dumps(title, ensure_ascii=False) in html
    assert '"title": "全屏"' in html and '"titleCancel": "退出全屏"' in html
    locate = [c for c in _walk(m) if isinstance(c, folium.plugins.LocateControl)]
    assert locate[0].options["strings"]["title"].startswith("定位")
    # Chinese fonts first in the label and legend styles
    assert "'Noto Sans CJK SC'" in html and "'Microsoft YaHei'" in html
