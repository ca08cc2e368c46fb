"""项目库: costs by hand on the tiny county, ranking, and the what-if closing the items."""

import numpy as np
import pytest

from geo.assessment import assess
from geo.ledger import problem_items
from geo.projects import PROJECT_COLUMNS, apply_projects, project_library, review_plan
from geo.settings import Settings
from geo.water import assess_water
from layers import Dataset
from tests.fixtures import tiny_county as tc

FOUR = ("hard_road", "services", "clinics", "water")


@pytest.fixture(scope="module")
def tiny():
    ds = Dataset.from_frames(tc.build(), name="tiny")
    a = assess(ds, Settings())
    return ds, a, problem_items(a)


def test_tiny_county_costs_by_hand(tiny):
    ds, a, items = tiny
    p = project_library(items, a).set_index("item_key")
    assert set(p.index) == set(items["key"])
    # roads: 60 万元/km to harden, 120 万元/km to build (HardRoadSettings)
    nv03 = p.loc["hard_road:NV03"]  # harden R04, 1.5 km of gravel
    assert nv03["kind"] == "road_harden"
    assert nv03["quantity"] == pytest.approx(1.5) and nv03["cost_wan"] == pytest.approx(90.0)
    nv04 = p.loc["hard_road:NV04"]  # no road: a 2.0 km new link to the trunk
    assert nv04["kind"] == "road_new"
    assert nv04["quantity"] == pytest.approx(2.0) and nv04["cost_wan"] == pytest.approx(240.0)
    nv05 = p.loc["hard_road:NV05"]  # the 60 m gap
    assert nv05["cost_wan"] == pytest.approx(0.06 * 120.0)
    nv07 = p.loc["hard_road:NV07"]  # 0.5 km of earth road
    assert nv07["cost_wan"] == pytest.approx(30.0)
    # S1 lacks a pharmacy within 15 min: one 药店, 15 万元, 1,600 people
    s1 = p.loc["services:S1:药店"]
    assert (s1["kind"], s1["facility_kind"], s1["cost_wan"]) == ("facility", "药店", 15.0)
    assert s1["people_per_wan"] == pytest.approx(1600 / 15)
    # 乙乡 has no health centre; 丁村 no clinic; 丙村's clinic no doctor
    yi = p.loc["clinics:township:640399200"]
    assert yi["cost_wan"] == 800.0
    av = ds["admin_villages"]
    assert yi["people"] == av.loc[av["township_code"] == "640399200", "population"].sum()
    ding = p.loc["clinics:admin_village:640399200202"]
    need = int(np.ceil(ding["people"] / 1000))
    assert ding["kind"] == "clinic" and ding["doctors_added"] == max(need, 1)
    assert ding["cost_wan"] == 35.0 + 6.0 * max(need, 1)
    bing = p.loc["clinics:admin_village:640399200201"]
    assert bing["kind"] == "doctor" and bing["cost_wan"] == 6.0 * bing["doctors_added"]


def test_ranking_is_people_per_10000_yuan(tiny):
    _, a, items = tiny
    p = project_library(items, a)
    assert list(p.columns[: len(PROJECT_COLUMNS)]) == list(PROJECT_COLUMNS)
    assert p["rank"].tolist() == list(range(1, len(p) + 1))
    ratio = p["people_per_wan"].to_numpy()
    known = ~np.isnan(ratio)  # people unknown (a township without population): ranked last
    assert known[: known.sum()].all()
    assert np.all(np.diff(ratio[known]) <= 0)
    assert ratio == pytest.approx((p["people"] / p["cost_wan"]).to_numpy(), nan_ok=True)


def test_unit_costs_are_settings(tiny):
    from dataclasses import replace

    _, a, items = tiny
    s = a.settings
    cheap = replace(s, projects=replace(s.projects, clinic_build_wan=5.0))
    a2 = replace(a, settings=cheap)
    p = project_library(items, a2).set_index("item_key")
    ding = p.loc["clinics:admin_village:640399200202"]
    assert ding["cost_wan"] == 5.0 + 6.0 * ding["doctors_added"]


def test_open_keys_filter(tiny):
    _, a, items = tiny
    keep = ["hard_road:NV03", "services:S1:药店"]
    p = project_library(items, a, open_keys=keep)
    assert sorted(p["item_key"]) == sorted(keep)


def test_tiny_what_if_closes_what_it_builds(tiny):
    ds, a, items = tiny
    p = project_library(items, a)
    before_hash = ds.content_hash
    after = apply_projects(ds, p, a)
    assert ds.content_hash == before_hash  # the input is not changed
    assert after.problems == ()
    a2 = assess(after, a.settings)
    review = review_plan(a, a2, items, problem_items(a2))
    # what it builds closes; the seed indicators' projects are costed, not simulated
    built = p.loc[p["what_if"], "item_key"]
    assert set(built) == set(items.loc[items["indicator"].isin(FOUR), "key"])
    assert sorted(review.closed["key"]) == sorted(built)
    assert sorted(review.remaining["key"]) == sorted(set(items["key"]) - set(built))
    assert review.new.empty
    names = a.rollup.county.set_index("code")["indicator"]
    kpi = review.kpis.set_index("indicator").loc[names[["hard_road", "services", "clinics"]]]
    assert kpi["met_planned"].all()
    assert review.kpis["indicator"].is_unique  # the water row once, from the table


@pytest.fixture(scope="module")
def demo_items(demo_dataset, demo_assessment):
    water = demo_assessment.water.result
    _, _, alone = assess_water(demo_dataset, demo_assessment.settings)
    assert water.county.equals(alone.county)  # the assessment's water run is the same run
    return problem_items(demo_assessment), water


def test_demo_library_covers_every_item(demo_assessment, demo_items):
    items, water = demo_items
    p = project_library(items, demo_assessment, water=water)
    assert len(p) == len(items)  # one project per item, of every indicator of the table
    assert items["indicator"].isin(["hard_road", "services", "clinics", "water"]).sum() == 51
    # the people a water works serves are not in the layers: its project has no count
    works = p["indicator"].isin(["water_guarantee", "water_quality"])
    assert p["cost_wan"].gt(0).all() and p.loc[~works, "people"].gt(0).all()
    assert p.loc[works, "people"].isna().all()
    assert p.geometry.notna().all()
    # boosters and source works are costed but not simulated; pipe extensions are
    water_p = p.loc[p["indicator"] == "water"]
    assert not water_p.loc[water_p["kind"] != "pipe", "what_if"].any()
    off = water_p.loc[water_p["kind"] == "pipe"]
    assert len(off) == 15 and off["what_if"].all()
    # the branch runs to the nearest junction that has a source: its length is the geodesic
    # distance (pyproj.Geod, independent of the UTM distance used), and beyond snap_max_m,
    # which is why the village was off the network
    from pyproj import Geod

    nodes = water.nodes.set_index("name")
    assert not nodes.loc[off["connect_to"], "disconnected"].any()
    v = demo_assessment.hard_road.villages.set_index("id").loc[off["village_code"]]
    j = nodes.loc[off["connect_to"]]
    _, _, metres = Geod(ellps="GRS80").inv(
        v.geometry.x.to_numpy(), v.geometry.y.to_numpy(), j.geometry.x, j.geometry.y
    )
    assert off["quantity"].to_numpy() == pytest.approx(metres / 1000, rel=2e-3)
    assert (off["quantity"] > demo_assessment.settings.water.snap_max_m / 1000).all()
    assert off["cost_wan"].to_numpy() == pytest.approx(off["quantity"].to_numpy() * 35.0)
    # the hard-road costs are the analysis' own estimates
    v = demo_assessment.hard_road.villages.set_index("id")
    roads = p.loc[p["indicator"] == "hard_road"]
    assert roads["cost_wan"].to_numpy() == pytest.approx(
        v.loc[roads["village_code"], "cost_wan"].to_numpy()
    )


def test_demo_road_projects_alone_close_only_road_items(demo_dataset, demo_assessment):
    a = demo_assessment
    items = problem_items(a)
    p = project_library(items, a)
    roads = p.loc[p["indicator"] == "hard_road"]
    after = apply_projects(demo_dataset, roads, a)
    a2 = assess(after, a.settings)
    review = review_plan(a, a2, items, problem_items(a2))
    assert sorted(review.closed["key"]) == sorted(roads["item_key"])
    assert review.new.empty
    kpi = review.kpis.set_index("indicator")
    assert kpi.loc["20户以上自然村通硬化路率", "planned"] == 100.0
    assert kpi.loc["乡村两级医疗卫生机构和人员空白点", "change"] == 0


def test_demo_pipe_extensions_put_the_villages_on_the_network(demo_dataset, demo_assessment):
    from geo.water import assess_water

    a = demo_assessment
    items = problem_items(a)
    p = project_library(items, a)
    pipes = p.loc[p["kind"] == "pipe"]
    after = apply_projects(demo_dataset, pipes, a)
    assert after.problems == ()
    new = after["water_pipes"].loc[lambda f: f["source"].str.startswith("项目库")]
    assert len(new) == len(pipes)
    assert (new["diameter_mm"] == a.settings.projects.pipe_diameter_mm).all()
    _, _, w2 = assess_water(after, a.settings)
    v = w2.villages.set_index("id").loc[pipes["village_code"]]
    assert (v["link"] == "explicit").all() and v["on_network"].all()
    assert not (v["status"] == "off_network").any()
    review = review_plan(a, a, items, items, water_before=a.water.result, water_after=w2)
    compare = review.kpis.set_index("indicator")
    assert compare.loc["农村自来水普及率", "planned"] == 100.0
    # hydraulics, not bookkeeping: the large village hung on a small junction lacks pressure
    assert (v["status"] == "low_pressure").sum() >= 1
