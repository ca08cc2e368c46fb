"""The seed indicators of issue 15 on the tiny county: hand answers, 无数据, oracles."""

from __future__ import annotations

import dataclasses
import itertools

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely

from geo.education import (
    junior_school_outcomes,
    kindergarten_outcomes,
    primary_school_outcomes,
)
from geo.elderly import elderly_care_outcomes
from geo.environment import sewage_outcomes, toilet_outcomes, waste_outcomes
from geo.housing import unsafe_housing_outcomes
from geo.indicators.outcomes import OUTCOME_COLUMNS, OUTCOME_STATUSES
from geo.network import build_graph
from geo.public_services import SITE_PUBLIC_KINDS, site_public_outcomes
from geo.settings import EducationSettings, Settings
from geo.telecom import gigabit_outcomes, telecom_5g_outcomes
from geo.water.quality import water_guarantee_outcomes, water_quality_outcomes
from layers import Dataset
from tests.fixtures import tiny_county as tc

WALK_M_PER_MIN = 4.5 * 1000 / 60
FUNCTIONS = {
    "edu_primary": (primary_school_outcomes, "natural_village", 12),
    "edu_junior": (junior_school_outcomes, "natural_village", 12),
    "kindergarten": (kindergarten_outcomes, "township", 2),
    "site_public": (site_public_outcomes, "relocation_site", 2 * len(SITE_PUBLIC_KINDS)),
    "elderly_care": (elderly_care_outcomes, "admin_village", 4),
    "telecom_5g": (telecom_5g_outcomes, "admin_village", 4),
    "telecom_gigabit": (gigabit_outcomes, "admin_village", 4),
    "sewage": (sewage_outcomes, "admin_village", 4),
    "waste": (waste_outcomes, "admin_village", 4),
    "toilets": (toilet_outcomes, "admin_village", 4),
    "unsafe_housing": (unsafe_housing_outcomes, "admin_village", 4),
}


def _dataset(drop: tuple[str, ...] = (), **replace: gpd.GeoDataFrame) -> Dataset:
    frames = {k: v for k, v in tc.build().items() if k not in drop} | replace
    return Dataset.from_frames(frames, name="tiny")


@pytest.fixture(scope="module")
def ctx():
    dataset = _dataset()
    assert dataset.problems == ()
    return dataset, build_graph(dataset["roads"]), Settings()


def _by_unit(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.set_index("unit_code")


@pytest.mark.parametrize("code", list(FUNCTIONS))
def test_every_unit_once_with_a_description_and_problem_fields(ctx, code):
    fn, unit_kind, n = FUNCTIONS[code]
    out = fn(*ctx)
    assert set(OUTCOME_COLUMNS) <= set(out.columns)
    assert len(out) == n and out["key"].is_unique
    assert (out["indicator"] == code).all() and (out["unit_kind"] == unit_kind).all()
    assert out["key"].str.startswith(f"{code}:").all()
    assert set(out["status"]) <= set(OUTCOME_STATUSES)
    assert (out["description"].str.len() > 0).all()
    problem = out.loc[out["status"] == "problem"]
    assert len(problem) > 0
    assert (problem["problem_type"] != "").all() and (problem["measure"] != "").all()
    assert (problem["cost_wan"] > 0).all() and (problem["cause"] != "").all()
    assert out.loc[out["status"] != "problem", "cost_wan"].isna().all()


@pytest.mark.parametrize(
    ("fn", "expected"),
    [
        (primary_school_outcomes, tc.EXPECTED_EDU_PRIMARY),
        (junior_school_outcomes, tc.EXPECTED_EDU_JUNIOR),
    ],
)
def test_school_distances_by_hand(ctx, fn, expected):
    out = _by_unit(fn(*ctx))
    for vid, (status, cause, metres, children) in expected.items():
        row = out.loc[vid]
        assert (row["status"], row["cause"]) == (status, cause), vid
        if metres is None:
            assert np.isnan(row["value"]), vid
        else:
            assert row["value"] == pytest.approx(metres, abs=1e-6), vid
        if children is None:
            assert np.isnan(row["x_children"]), vid
        else:
            assert row["x_children"] == children, vid
    assert out["limit"].nunique() == 1
    assert "寄宿制" in out.loc["NV12", "description"] if fn is primary_school_outcomes else True


def test_school_costs_and_straight_basis(ctx):
    dataset, graph, settings = ctx
    out = _by_unit(primary_school_outcomes(*ctx))
    assert out.loc["NV11", "cost_wan"] == settings.projects.public_facility_cost_wan["小学"]
    straight = dataclasses.replace(settings, education=EducationSettings(distance_basis="straight"))
    out = _by_unit(primary_school_outcomes(dataset, graph, straight))
    for vid, metres in tc.EXPECTED_EDU_PRIMARY_STRAIGHT_M.items():
        assert out.loc[vid, "value"] == pytest.approx(metres, abs=0.1)
        assert out.loc[vid, "status"] == "problem"
    assert out.loc["NV04", "cause"] == "beyond_radius"  # measured now, not off the network


def test_kindergartens_per_township_and_per_admin_village(ctx):
    dataset, graph, settings = ctx
    out = _by_unit(kindergarten_outcomes(*ctx))
    got = {c: (r["status"], int(r["value"])) for c, r in out.iterrows()}
    assert got == tc.EXPECTED_KINDERGARTEN_TOWNSHIP
    per_av = dataclasses.replace(
        settings,
        education=EducationSettings(
            kindergarten_unit="admin_village", kindergarten_min_population=200
        ),
    )
    out = _by_unit(kindergarten_outcomes(dataset, graph, per_av))
    assert (out["unit_kind"] == "admin_village").all()
    got = {c: (r["status"], int(r["value"])) for c, r in out.iterrows()}
    assert got == tc.EXPECTED_KINDERGARTEN_ADMIN


def test_site_public_services_by_hand(ctx):
    out = site_public_outcomes(*ctx).set_index("key")
    for (site, kind), (status, metres) in tc.EXPECTED_SITE_PUBLIC.items():
        row = out.loc[f"site_public:{site}:{kind}"]
        assert row["status"] == status, (site, kind)
        if metres is None:
            assert np.isnan(row["value"]) and row["cause"] == "no_facility"
        else:
            assert row["value"] * WALK_M_PER_MIN == pytest.approx(metres, abs=1e-6), (site, kind)
    assert (out["limit"] == 15.0).all() and (out["value_unit"] == "分钟").all()
    assert out.loc["site_public:S1:卫生室", "cost_wan"] == 35.0


@pytest.mark.parametrize(
    ("fn", "expected"),
    [
        (elderly_care_outcomes, tc.EXPECTED_ELDERLY),
        (telecom_5g_outcomes, tc.EXPECTED_5G),
        (gigabit_outcomes, tc.EXPECTED_GIGABIT),
        (sewage_outcomes, tc.EXPECTED_SEWAGE),
    ],
)
def test_admin_village_indicators_by_hand(ctx, fn, expected):
    out = _by_unit(fn(*ctx))
    for code, want in expected.items():
        got = out.loc[code, "status"] if isinstance(want, str) else tuple(
            out.loc[code, ["status", "cause"]]
        )  # fmt: skip
        assert got == want, code


def test_waste_by_hand_and_brute_force(ctx):
    dataset, _, settings = ctx
    out = _by_unit(waste_outcomes(*ctx))
    for code, (status, cause, beyond) in tc.EXPECTED_WASTE.items():
        assert (out.loc[code, "status"], out.loc[code, "cause"]) == (status, cause), code
        if beyond is None:
            assert np.isnan(out.loc[code, "value"])
        else:
            assert out.loc[code, "value"] == beyond, code
    assert out.loc["640399100202", "cost_wan"] == 2 * settings.projects.waste_point_wan
    # brute force: every natural village against every collection point, in metres
    nv = dataset["natural_villages"].to_crs(tc.METRIC_EPSG)
    env = dataset["env_facilities"].to_crs(tc.METRIC_EPSG)
    pts = env.loc[env["kind"].isin(["垃圾收集点", "垃圾转运站"])]
    d = np.array([[a.distance(b) for b in pts.geometry] for a in nv.geometry]).min(axis=1)
    far = pd.Series(d > settings.environment.waste_point_max_m).groupby(
        nv["admin_village_code"].to_numpy()
    ).sum()  # fmt: skip
    judged = out.loc[out["cause"] != "not_treated", "value"]
    assert judged.to_dict() == far.reindex(judged.index).astype(float).to_dict()


def test_toilets_by_hand_and_household_fallback(ctx):
    out = _by_unit(toilet_outcomes(*ctx))
    for code, (status, pct, cost) in tc.EXPECTED_TOILETS.items():
        assert out.loc[code, "status"] == status, code
        if pct is None:
            assert np.isnan(out.loc[code, "value"]) and np.isnan(out.loc[code, "x_weight"])
        else:
            assert out.loc[code, "value"] == pytest.approx(pct)
            assert out.loc[code, "x_weight"] == out.loc[code, "households"]
        assert (np.isnan(out.loc[code, "cost_wan"]) if cost is None
                else out.loc[code, "cost_wan"] == pytest.approx(cost))  # fmt: skip
    # without admin-village households the natural villages' sum is used: 丁村 21 / 28
    admin = tc.build()["admin_villages"].drop(columns="households")
    out = _by_unit(toilet_outcomes(_dataset(admin_villages=admin), *ctx[1:]))
    assert out.loc["640399200202", "value"] == pytest.approx(75.0)
    assert out.loc["640399200202", "households"] == 28


def test_unsafe_housing_by_hand(ctx):
    out = _by_unit(unsafe_housing_outcomes(*ctx))
    for code, (status, dwellings, households, cost) in tc.EXPECTED_HOUSING.items():
        row = out.loc[code]
        assert (row["status"], row["value"], row["x_households"]) == (
            status, dwellings, households,
        ), code  # fmt: skip
        assert np.isnan(row["cost_wan"]) if cost is None else row["cost_wan"] == cost
    assert "涉及3户" in out.loc["640399100202", "description"]


def test_water_works_statistics(ctx):
    _, graph, settings = ctx
    dataset = _dataset(water_sources=tc.water_sources())
    g = _by_unit(water_guarantee_outcomes(dataset, graph, settings))
    q = _by_unit(water_quality_outcomes(dataset, graph, settings))
    assert g["status"].to_dict() == tc.EXPECTED_WATER_GUARANTEE
    assert q["status"].to_dict() == tc.EXPECTED_WATER_QUALITY
    assert g["x_weight"].tolist()[:2] == [5000.0, 800.0] and np.isnan(g.loc["W3", "x_weight"])
    ok = g["status"] != "no_data"
    mean = (g["value"][ok] * g["x_weight"][ok]).sum() / g["x_weight"][ok].sum()
    assert mean == pytest.approx((5000 * 97 + 800 * 90) / 5800)
    assert g.loc["W2", "cost_wan"] == settings.projects.water_works_upgrade_wan
    assert len(water_guarantee_outcomes(*ctx)) == 0  # no water works: no units


# ---------------------------------------------------------------------- 无数据


def test_without_public_facilities_schools_and_care_are_no_data(ctx):
    _, graph, settings = ctx
    dataset = _dataset(drop=("public_facilities",))
    for fn in (primary_school_outcomes, junior_school_outcomes):
        out = _by_unit(fn(dataset, graph, settings))
        assert out.loc["NV08", "status"] == "exempt"
        assert (out.drop(index="NV08")["status"] == "no_data").all()
    assert (kindergarten_outcomes(dataset, graph, settings)["status"] == "no_data").all()
    care = _by_unit(elderly_care_outcomes(dataset, graph, settings))
    assert care["status"].tolist() == ["exempt", "no_data", "no_data", "exempt"]
    site = site_public_outcomes(dataset, graph, settings).set_index("key")
    clinic = site.index.str.endswith(":卫生室")
    assert (site.loc[~clinic, "status"] == "no_data").all()
    assert (site.loc[clinic, "status"] == "problem").all()  # the clinics layer is there


def test_without_coverage_or_env_layers_attributes_still_count(ctx):
    _, graph, settings = ctx
    no_tc = _dataset(drop=("telecom_coverage",))
    assert telecom_5g_outcomes(no_tc, graph, settings)["status"].tolist() == [
        "ok", "problem", "no_data", "no_data",
    ]  # fmt: skip
    assert gigabit_outcomes(no_tc, graph, settings)["status"].tolist() == [
        "no_data", "problem", "exempt", "no_data",
    ]  # fmt: skip
    no_env = _dataset(drop=("env_facilities",))
    assert sewage_outcomes(no_env, graph, settings)["status"].tolist() == [
        "ok", "no_data", "no_data", "no_data",
    ]  # fmt: skip
    assert waste_outcomes(no_env, graph, settings)["status"].tolist() == [
        "no_data", "no_data", "problem", "no_data",
    ]  # fmt: skip
    # an env layer with waste points only says nothing about sewage
    env = tc.build()["env_facilities"]
    waste_only = _dataset(env_facilities=env.loc[env["kind"] != "污水处理站"])
    assert sewage_outcomes(waste_only, graph, settings)["status"].tolist()[1:] == ["no_data"] * 3


def test_without_housing_survey_or_attributes_no_data(ctx):
    _, graph, settings = ctx
    out = unsafe_housing_outcomes(_dataset(drop=("housing_survey",)), graph, settings)
    assert (out["status"] == "no_data").all() and out["value"].isna().all()
    admin = tc.build()["admin_villages"].drop(columns=list(tc.AV_ATTRS))
    bare = _dataset(drop=("telecom_coverage", "env_facilities"), admin_villages=admin)
    for fn in (telecom_5g_outcomes, gigabit_outcomes, sewage_outcomes, waste_outcomes,
               toilet_outcomes):  # fmt: skip
        assert (fn(bare, graph, settings)["status"] == "no_data").all(), fn.__name__
    sources = tc.water_sources().drop(columns=["guarantee_rate_pct", "quality_pass_pct"])
    out = water_quality_outcomes(_dataset(water_sources=sources), graph, settings)
    assert len(out) == 3 and (out["status"] == "no_data").all()


def test_facilities_inside_admin_village_polygons(ctx):
    _, graph, settings = ctx
    frames = tc.build()
    boxes = [tc._box(0, 0, 2500, 8000), tc._box(2500, 0, 5000, 8000),
             tc._box(5000, 0, 8500, 8000), tc._box(8500, 0, 10000, 8000)]  # fmt: skip
    admin = frames["admin_villages"].set_geometry(
        gpd.GeoSeries(boxes, crs=tc.METRIC_EPSG).to_crs(4326).to_numpy()
    )
    pf = frames["public_facilities"]
    extra = gpd.GeoDataFrame(
        [{"id": "F12", "name": "乙村幸福院", "kind": "互助幸福院", "admin_village_code": "",
          "township_code": "", "boarding": False, "serves_codes": "", "status": "现状"}],
        geometry=[tc._pt(3500, 4000)], crs=tc.METRIC_EPSG,
    ).to_crs(4326)  # fmt: skip
    env = frames["env_facilities"]
    station = gpd.GeoDataFrame(
        [{"id": "E4", "name": "丁村污水站", "kind": "污水处理站", "serves_codes": "",
          "status": "现状"}],
        geometry=[tc._pt(9000, 4000)], crs=tc.METRIC_EPSG,
    ).to_crs(4326)  # fmt: skip
    dataset = _dataset(
        admin_villages=admin,
        public_facilities=pd.concat([pf, extra], ignore_index=True),
        env_facilities=pd.concat([env, station], ignore_index=True),
    )
    care = _by_unit(elderly_care_outcomes(dataset, graph, settings))
    assert care.loc["640399100202", "status"] == "ok"  # F12 lies in 乙村's polygon
    sewage = _by_unit(sewage_outcomes(dataset, graph, settings))
    assert sewage.loc["640399200202", "status"] == "ok"  # E4 lies in 丁村's polygon
    assert sewage.loc["640399200201", "status"] == "problem"


# ---------------------------------------------------------------------- oracle


def test_school_distances_equal_networkx_on_the_tiny_county(ctx):
    """Road metres from every village to its nearest 小学, recomputed with networkx."""
    dataset, _, _ = ctx
    roads = dataset["roads"].to_crs(tc.METRIC_EPSG)
    g = nx.Graph()
    for line in roads.geometry:
        for p, q in itertools.pairwise(line.coords):
            p, q = tuple(np.round(p, 3)), tuple(np.round(q, 3))
            g.add_node(p, xy=p)
            g.add_node(q, xy=q)
            g.add_edge(p, q, w=float(np.hypot(p[0] - q[0], p[1] - q[1])))

    def attach(name, point):
        """Join a point to its projection on the nearest road segment (brute force)."""
        segs = [(p, q) for p, q in g.edges if "at" not in (p[0], q[0])]
        lines = [shapely.LineString([g.nodes[p]["xy"], g.nodes[q]["xy"]]) for p, q in segs]
        k = int(np.argmin([ln.distance(point) for ln in lines]))
        (p, q), seg = segs[k], lines[k]
        t = seg.project(point)
        on = ("on", name)
        w = g.edges[p, q]["w"]
        g.remove_edge(p, q)
        g.add_node(on, xy=tuple(seg.interpolate(t).coords[0]))
        g.add_edge(p, on, w=t)
        g.add_edge(on, q, w=w - t)
        g.add_edge(on, ("at", name), w=seg.distance(point))
        return seg.distance(point)

    pf = dataset["public_facilities"].to_crs(tc.METRIC_EPSG)
    schools = pf.loc[pf["kind"].isin(["小学", "九年一贯制学校"]) & (pf["status"] == "现状")]
    for sid, geom in zip(schools["id"], schools.geometry, strict=True):
        attach(sid, geom)
    nv = dataset["natural_villages"].to_crs(tc.METRIC_EPSG)
    snap = {vid: attach(vid, geom) for vid, geom in zip(nv["id"], nv.geometry, strict=True)}
    ref = nx.multi_source_dijkstra_path_length(g, {("at", s) for s in schools["id"]}, weight="w")
    out = _by_unit(primary_school_outcomes(*ctx))
    checked = 0
    for vid in nv["id"]:
        if snap[vid] > 200 or ("at", vid) not in ref:  # off the network or cut off
            assert np.isnan(out.loc[vid, "value"])
            continue
        assert out.loc[vid, "value"] == pytest.approx(ref[("at", vid)], abs=1e-6), vid
        checked += 1
    assert checked == 9
