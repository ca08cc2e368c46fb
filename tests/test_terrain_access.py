"""Terrain-aware links and walking times on the tiny county, over DEMs made by hand."""

import math

import numpy as np
import pytest
from affine import Affine
from pyproj import CRS

from geo.assessment import assess
from geo.settings import Settings
from geo.terrain import Grid, read_dem, tobler_kmh
from geo.terrain_access import terrain_access, terrain_context, terrain_links
from layers import Dataset
from tests.fixtures import tiny_county as tc

RES = 50.0


def _dem(z_of_xy) -> Grid:
    """A DEM over the tiny county (metres from its origin; 1 km margin), 50 m cells."""
    cols, rows = int(12_000 / RES), int(10_000 / RES)
    c, r = np.meshgrid(np.arange(cols), np.arange(rows))
    x = -1000 + (c + 0.5) * RES
    y = 9000 - (r + 0.5) * RES
    transform = Affine(RES, 0, tc.ORIGIN_E - 1000, 0, -RES, tc.ORIGIN_N + 9000)
    return Grid(data=z_of_xy(x, y).astype(float), transform=transform, crs=CRS.from_epsg(4544))


@pytest.fixture(scope="module")
def tiny():
    ds = Dataset.from_frames(tc.build(), name="tiny")
    return ds, assess(ds, Settings())


def _ramp(grade: float):
    # rises southward at ``grade`` below the trunk (y < 4000), flat above it
    return lambda x, y: 1500.0 + grade * np.clip(4000.0 - y, 0.0, None)


def test_a_steep_link_is_not_buildable_and_leaves_the_rate(tiny):
    ds, a = tiny
    s = Settings()
    ctx = terrain_context(ds, _dem(_ramp(0.40)), s)
    hard = terrain_links(a.graph, a.hard_road, ctx, s)
    v = hard.villages.set_index("id")
    # NV04 (4000, 2000) has no road: its 2 km link climbs a 40 % slope all the way
    assert v.loc["NV04", "scope"] == "excluded"
    assert v.loc["NV04", "reason"] == "terrain_too_steep"
    assert v.loc["NV04", "link_mean_slope_pct"] == pytest.approx(40.0, abs=1.0)
    link = hard.links.set_index("village_id").loc["NV04"]
    assert not link["buildable"] and link["route"] == "least_cost"
    # the others keep their verdicts (the 60 m gap stays a straight link on flat ground)
    assert v.loc["NV05", "scope"] == "target" and v.loc["NV05", "reason"] == "network_gap"
    before = a.hard_road.villages.set_index("id")
    same = v.index != "NV04"
    assert (v.loc[same, "scope"] == before.loc[same, "scope"]).all()


def test_a_moderate_link_is_routed_with_switchbacks(tiny):
    ds, a = tiny
    s = Settings()
    ctx = terrain_context(ds, _dem(_ramp(0.15)), s)
    hard = terrain_links(a.graph, a.hard_road, ctx, s)
    link = hard.links.set_index("village_id").loc["NV04"]
    assert link["buildable"] and link["route"] == "least_cost"
    assert link["mean_slope_pct"] == pytest.approx(15.0, abs=0.5)
    # straight north up the fall line: ground ≈ the 2 km straight link (cell centres:
    # within a cell), and a road at ≤ 9 % needs 15 / 9 of that length
    assert link["straight_km"] == pytest.approx(2.0)
    assert link["ground_km"] == pytest.approx(2.0, abs=RES / 1000)
    assert link["length_km"] == pytest.approx(link["ground_km"] * 15 / 9, rel=0.03)
    v = hard.villages.set_index("id")
    assert v.loc["NV04", "scope"] == "target"
    assert v.loc["NV04", "new_km"] == pytest.approx(link["length_km"])
    assert v.loc["NV04", "cost_wan"] == pytest.approx(link["length_km"] * 120.0)


def test_a_wall_with_a_pass_is_routed_through_the_pass(tiny):
    ds, a = tiny
    s = Settings()

    def wall(x, y):
        z = np.full(x.shape, 1500.0)
        # a 30 m-high ridge between y = 2900 and 3100 (300 % flanks: impassable), except a
        # gap at x 5500–5700
        ridge = (np.abs(y - 3000) < 100) & ~((x > 5500) & (x < 5700))
        return np.where(ridge, z + 300.0, z)

    ctx = terrain_context(ds, _dem(wall), s)
    hard = terrain_links(a.graph, a.hard_road, ctx, s)
    links = hard.links.to_crs(tc.METRIC_EPSG).set_index("village_id")
    link = links.loc["NV04"]
    xs = [x - tc.ORIGIN_E for x, _ in link.geometry.coords]
    assert link["route"] == "least_cost" and link["buildable"]
    # the route bends east to the pass: longer than straight, and through x ≈ 5600
    assert link["ground_km"] > 2.2
    assert max(xs) > 5400


def test_flat_terrain_walks_like_the_network(tiny):
    ds, a = tiny
    s = Settings()
    ctx = terrain_context(ds, _dem(lambda x, y: np.full(x.shape, 1500.0)), s)
    ta = terrain_access(ds, ctx, s, services=a.services, clinics=a.clinics)
    rows = ta.services.set_index(["unit_id", "kind"])
    # S1 → P3 (药店): 500 m down R11 and 1,000 m of trunk at 4.5 km/h = 20 min on the
    # network; over flat ground the same roads, within the grid's bound (octile ≤ 1.0824,
    # half a cell diagonal at each end); cutting across fields (2.7 km/h) is slower
    net = rows.loc[("S1", "药店"), "network_min"]
    ter = rows.loc[("S1", "药店"), "terrain_min"]
    assert net == pytest.approx(20.0)
    cell_min = RES * math.sqrt(2) / 75.0
    assert net * 0.95 - cell_min <= ter <= net * 1.0824 + cell_min
    assert (ta.services["change"] == "same").all()
    assert set(ta.surfaces) == {"综合超市", "便利菜店", "药店", "公交站点", "卫生室"}


def test_a_hill_slows_the_walk_by_tobler(tiny):
    ds, a = tiny
    s = Settings()
    hill = terrain_context(ds, _dem(lambda x, y: 1500.0 + 0.15 * x), s)
    flat = terrain_context(ds, _dem(lambda x, y: np.full(x.shape, 1500.0)), s)
    t_hill = terrain_access(ds, hill, s, services=a.services, clinics=a.clinics)
    t_flat = terrain_access(ds, flat, s, services=a.services, clinics=a.clinics)
    # on a 15 % hillside roads climb at most 8 %: walking on them is slower by the ratio of
    # Tobler's mean up/down pace at 8 % to the flat pace
    pace = 0.5 * (1 / tobler_kmh(0.08) + 1 / tobler_kmh(-0.08)) * tobler_kmh(0.0)
    h = t_hill.services.set_index(["unit_id", "kind"])["terrain_min"]
    f = t_flat.services.set_index(["unit_id", "kind"])["terrain_min"]
    assert (h.loc[("S1", "药店")] / f.loc[("S1", "药店")]) == pytest.approx(pace, rel=0.02)
    # the clinic surface and the population beyond the limit per township
    tw = t_hill.townships.set_index("code")
    nv = ds["natural_villages"]
    assert tw["population"].sum() == pytest.approx(nv["population"].sum())
    assert (tw["beyond"] >= 0).all() and (tw["beyond"] <= tw["population"]).all()
    # or from a population raster: 1 person per cell everywhere (township polygons only)
    ones = hill.dem.like(np.ones(hill.dem.shape))
    t_ras = terrain_access(
        ds, hill, s, services=a.services, clinics=a.clinics, population=ones
    ).townships.set_index("code")
    area_cells = ds["townships"].to_crs(4544).set_index("code").area / RES**2
    assert t_ras["population"].to_numpy() == pytest.approx(area_cells.to_numpy(), rel=0.02)


def test_demo_dem_terrain_links_and_access(demo_dataset, demo_assessment):
    s = demo_assessment.settings
    dem = read_dem(tc.PATH.parents[2] / "data" / "demo" / "tongxin_dem.tif", resolution_m=200.0)
    ctx = terrain_context(demo_dataset, dem, s)
    hard = terrain_links(demo_assessment.graph, demo_assessment.hard_road, ctx, s)
    new = hard.links.loc[hard.links["kind"] == "new"]
    assert len(new) == 4
    # a routed link is never shorter than the straight one, less half a cell at each end
    routed = new.loc[new["route"] == "least_cost"]
    assert (routed["ground_km"] >= routed["straight_km"] - 0.2).all()
    assert (new["length_km"] >= new["ground_km"] - 1e-9).all()
    ta = terrain_access(
        demo_dataset, ctx, s, services=demo_assessment.services, clinics=demo_assessment.clinics
    )
    assert len(ta.services) == 9 * 4
    assert len(ta.clinics) == len(demo_dataset["natural_villages"])
    assert ta.townships["population"].sum() == pytest.approx(
        demo_dataset["natural_villages"]["population"].sum()
    )


def test_routed_links_join_the_network_when_built(demo_dataset, demo_assessment):
    """Building the terrain-routed links (project what-if) connects every village."""
    from geo.ledger import problem_items
    from geo.projects import apply_projects, project_library

    s = demo_assessment.settings
    dem = read_dem(tc.PATH.parents[2] / "data" / "demo" / "tongxin_dem.tif", resolution_m=200.0)
    a = assess(demo_dataset, s, dem=dem)
    routed = a.hard_road.links.loc[a.hard_road.links["route"] == "least_cost"]
    assert len(routed) >= 1
    roads = problem_items(a).loc[lambda f: f["indicator"] == "hard_road"]
    p = project_library(roads, a)
    after = apply_projects(demo_dataset, p, a)
    a2 = assess(after, s, dem=dem)
    v = a2.hard_road.villages
    assert not (v["status"] == "not_connected").any()
    assert not (a2.hard_road.links["kind"] == "new").any()


def test_a_stored_assessment_gets_its_terrain_grids_back(tiny):
    """Stored without its grids (most of its size), it comes back with the same grids."""
    import pickle

    from geo.assessment import with_terrain_grids, without_terrain_grids

    ds, _ = tiny
    dem = _dem(_ramp(0.10))
    full = assess(ds, Settings(), dem=dem)
    stored = without_terrain_grids(full)
    assert stored.terrain is None and full.terrain is not None
    assert len(pickle.dumps(stored)) < len(pickle.dumps(full)) / 2
    back = with_terrain_grids(pickle.loads(pickle.dumps(stored)), ds, dem)
    np.testing.assert_array_equal(back.terrain.walk.data, full.terrain.walk.data)
    np.testing.assert_array_equal(back.terrain.build.data, full.terrain.build.data)
    np.testing.assert_array_equal(back.terrain.slope_pct, full.terrain.slope_pct)
    # the results computed over the terrain were kept, not recomputed
    assert back.hard_road.links.equals(full.hard_road.links)
    assert with_terrain_grids(stored, ds, None).terrain is None  # no DEM, no grids
