"""The map of any indicator's outcome frame (app/maps/indicators.py) on the tiny county."""

from __future__ import annotations

import json
import re

import folium
import pandas as pd
import pytest

from app.maps.assets import remote_assets, self_contained_html
from app.maps.base import MapOptions
from app.maps.builders import Scope
from app.maps.indicators import STATUS_COLORS, build_indicator_map, unit_outcomes
from geo.indicators.outcomes import make_outcomes, unit_frame
from layers import Dataset
from tests.fixtures import tiny_county as tc


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return Dataset.from_frames(tc.build(), name="tiny")


def _features(html: str) -> list[dict]:
    """Every feature of every inline GeoJSON layer of a rendered folium map."""
    features = []
    for m in re.finditer(r'_add\((\{"(?:bbox|features)".*?"type": "FeatureCollection"\})\);', html):
        features += json.loads(m.group(1))["features"]
    return features


def _units(html: str) -> dict[str, dict]:
    """Drawn units by name (the outlines have no 结果 field)."""
    return {
        f["properties"]["name"]: {**f["properties"], "_geom": f["geometry"]["type"]}
        for f in _features(html)
        if "status_zh" in f["properties"]
    }


def _outcomes(dataset: Dataset, unit_kind: str, statuses: dict[str, str], **extra) -> pd.DataFrame:
    """An outcome frame of ``unit_kind`` whose every unit has the status given (default ok)."""
    units = unit_frame(dataset, unit_kind).drop(columns="geometry")
    rows = units.assign(
        key=[f"test:{c}" for c in units["unit_code"]],
        indicator="test",
        status=[statuses.get(c, "ok") for c in units["unit_code"]],
        value=12.0,
        limit=10.0,
        value_unit="分钟",
        description=[f"{n}：12 分钟" for n in units["unit_code"]],
        **extra,
    )
    return make_outcomes(rows)


def _render(m: folium.Map) -> str:
    """The map's HTML with JSON's \\uXXXX escapes (legend, layer names) read back."""
    html = m.get_root().render()
    return re.sub(r"\\u([0-9a-fA-F]{4})", lambda g: chr(int(g.group(1), 16)), html)


STATUSES = {"NV01": "problem", "NV02": "no_data", "NV08": "exempt"}


def test_natural_villages_are_points_coloured_by_status_with_a_legend(dataset):
    out = _outcomes(dataset, "natural_village", STATUSES)
    m = build_indicator_map(dataset, out, title="义务教育就近入学（小学）", options=MapOptions())
    html = _render(m)
    assert remote_assets(m) == []
    assert not re.search(r'<script src="https?://', html)
    assert "gapmap-legend" in html and "L.control.layers(" in html and "fitBounds" in html
    units = _units(html)
    nv = dataset["natural_villages"].set_index("id")["name"]
    assert set(units) == set(nv)  # every village once
    zh = {"ok": "达标", "problem": "未达标", "no_data": "无数据", "exempt": "不纳入"}
    for vid, name in nv.items():
        u = units[name]
        assert u["status_zh"] == zh[STATUSES.get(vid, "ok")], vid
        assert u["_geom"] == "Point"
        assert u["_color"] == STATUS_COLORS[STATUSES.get(vid, "ok")]
        assert u["value_text"] == "12 分钟" and u["limit_text"] == "10 分钟"
        assert u["description"] == f"{vid}：12 分钟"
    # the legend counts units of each status, in Chinese
    for label in ("达标（9）", "未达标（1）", "无数据（1）", "不纳入（1）"):
        assert label in html
    assert "义务教育就近入学（小学）" in html


def test_admin_villages_are_polygons_where_the_layer_has_them(dataset):
    out = _outcomes(dataset, "admin_village", {"640399100202": "problem"})
    html = _render(build_indicator_map(dataset, out, title="通5G", options=MapOptions()))
    assert {u["_geom"] for u in _units(html).values()} == {"Point"}  # the tiny county: points
    av = dataset["admin_villages"].copy()
    av["geometry"] = av.to_crs(4544).buffer(800).to_crs(4326)
    polys = dataset.replace_layers(admin_villages=av)
    html = _render(build_indicator_map(polys, out, title="通5G", options=MapOptions()))
    units = _units(html)
    assert set(units) == set(av["name"])
    assert {u["_geom"] for u in units.values()} == {"Polygon"}
    assert units["乙村"]["status_zh"] == "未达标" and units["甲村"]["status_zh"] == "达标"
    assert "达标（3）" in html and "未达标（1）" in html


def test_a_site_judged_per_kind_fails_if_one_kind_fails_and_is_unknown_if_one_lacks_data(dataset):
    sites = unit_frame(dataset, "relocation_site").drop(columns="geometry")
    rows = []
    for code in sites["unit_code"]:
        for kind, status in (("学校", "ok"), ("幼儿园", "problem"), ("卫生室", "no_data")):
            if code != sites["unit_code"].iloc[0] and status == "problem":
                status = "ok"
            rows.append(
                {
                    **sites.loc[code].to_dict(),
                    "key": f"site_public:{code}:{kind}",
                    "indicator": "site_public",
                    "status": status,
                    "description": f"{kind}{status}",
                    "measure": "新建幼儿园" if status == "problem" else "",
                }
            )
    out = make_outcomes(rows)
    units = unit_outcomes(out)
    assert len(units) == len(sites)
    first, second = units.iloc[0], units.iloc[1]
    assert first["status"] == "problem" and first["n_rows"] == 3 and first["n_problems"] == 1
    assert first["description"] == "幼儿园problem；卫生室no_data；学校ok"  # problems first
    assert first["measure"] == "新建幼儿园" and first["value_text"] == ""
    # ok and 无数据: not known to be complete, so 无数据, as the county value
    # (share_ok_units) leaves such a site out
    assert second["status"] == "no_data" and second["n_problems"] == 0
    assert second["description"] == "卫生室no_data；学校ok；幼儿园ok"
    only_missing = make_outcomes(out.loc[out["status"] == "no_data"])
    assert set(unit_outcomes(only_missing)["status"]) == {"no_data"}
    html = _render(build_indicator_map(dataset, out, title="配套", options=MapOptions()))
    shown = _units(html)
    assert shown[first["name"]]["status_zh"] == "未达标"
    assert shown[second["name"]]["status_zh"] == "无数据"
    every_ok = make_outcomes(out.assign(status="ok"))
    assert set(unit_outcomes(every_ok)["status"]) == {"ok"}


def test_townships_and_admin_villages_in_one_frame_scope_and_water_works(dataset):
    av = _outcomes(dataset, "admin_village", {"640399200202": "problem"})
    tw = _outcomes(dataset, "township", {"640399200": "problem"})
    works = make_outcomes(
        [
            {
                "key": "water_quality:一号水厂",
                "indicator": "water_quality",
                "unit_kind": "water_source",
                "unit_code": "一号水厂",
                "status": "no_data",
                "description": "水质达标率：无数据",
                "lon": float(dataset["county"].geometry.iloc[0].centroid.x),
                "lat": float(dataset["county"].geometry.iloc[0].centroid.y),
            }
        ]
    )
    out = make_outcomes(pd.concat([av, tw, works], ignore_index=True))
    html = _render(build_indicator_map(dataset, out, title="医疗", options=MapOptions()))
    units = _units(html)
    assert units["乙乡"]["_geom"] == "Polygon" and units["乙乡"]["status_zh"] == "未达标"
    assert units["甲镇"]["status_zh"] == "达标"
    assert units["丁村"]["status_zh"] == "未达标"
    assert units["一号水厂"]["status_zh"] == "无数据" and units["一号水厂"]["_geom"] == "Point"
    # townships are drawn before (under) the admin villages
    assert html.index("乡镇：达标") < html.index("行政村：达标")
    # one township: its units, and the county's water works
    scoped = build_indicator_map(
        dataset, out, title="医疗", options=MapOptions(), scope=Scope(township_code="640399100")
    )
    assert set(_units(_render(scoped))) == {"甲镇", "甲村", "乙村", "一号水厂"}


def test_no_layer_means_every_unit_grey_and_said_so(dataset):
    out = _outcomes(dataset, "natural_village", {c: "no_data" for c in tc.EXPECTED_HARD_ROAD})
    out["value"] = float("nan")
    html = _render(build_indicator_map(dataset, out, title="通5G", options=MapOptions()))
    units = _units(html)
    assert {u["status_zh"] for u in units.values()} == {"无数据"}
    assert {u["_color"] for u in units.values()} == {STATUS_COLORS["no_data"]}
    assert {u["value_text"] for u in units.values()} == {"—"}
    assert "无数据（12）" in html and "达标（0）" in html


def test_empty_frame_still_draws_the_county(dataset):
    out = make_outcomes([])
    html = _render(build_indicator_map(dataset, out, title="空", options=MapOptions()))
    assert "没有可显示的单元" in html and "县界" in html


def test_texts_from_user_files_are_escaped_and_the_map_works_from_disk(dataset):
    out = _outcomes(dataset, "natural_village", {"NV01": "problem"})
    out.loc[0, "description"] = '<img src=x onerror="alert(1)">'
    out.loc[0, "village_name"] = "王家`庄${alert(2)}"
    m = build_indicator_map(dataset, out, title="测试", options=MapOptions())
    html = _render(m)
    assert "<img src=x" not in html
    page = self_contained_html(m)
    assert "/app/static" not in page
    assert not re.search(r'<(script|link|img)[^>]+(src|href)="https?://', page)


def test_outcome_table_spells_out_no_data_and_puts_problems_first(dataset):
    from app.components import outcomes_table

    out = _outcomes(dataset, "natural_village", STATUSES)
    out.loc[out["status"] == "no_data", "value"] = float("nan")
    table = outcomes_table(out, names_zh={"test": "小学就近入学"})
    heads = "指标 单元 乡镇 行政村 自然村/安置区 结果 现值 标准 说明 整改措施"
    assert " ".join(table.columns) == heads
    assert list(table["结果"].iloc[:3]) == ["未达标", "无数据", "达标"]
    assert table["现值"].iloc[1] == "无数据" and table["现值"].iloc[0] == "12 分钟"
    assert table["标准"].iloc[0] == "10 分钟" and set(table["指标"]) == {"小学就近入学"}
    assert table["结果"].iloc[-1] == "不纳入" and len(table) == 12
