"""Facility siting (maximal covering): exact = brute force, greedy within its measured gap."""

import itertools

import geopandas as gpd
import numpy as np
import pytest
import shapely
from scipy import sparse

from geo.network import build_graph
from geo.settings import Settings
from geo.siting import CoverageProblem, exact_cover, greedy_cover, site_facilities
from layers import Dataset
from layers.errors import LayerError
from tests.fixtures import tiny_county as tc


def _problem(cover: np.ndarray, weight, before=None) -> CoverageProblem:
    cover = np.asarray(cover, dtype=bool)
    before = np.zeros(len(cover), dtype=bool) if before is None else np.asarray(before)
    return CoverageProblem(
        weight=np.asarray(weight, dtype=float),
        cover=sparse.csr_array(cover),
        covered_before=before,
    )


def _brute_force(p: CoverageProblem, k: int) -> float:
    best = 0.0
    for r in range(0, min(k, p.n_candidates) + 1):
        for combo in itertools.combinations(range(p.n_candidates), r):
            best = max(best, p.gain(np.asarray(combo)))
    return best


def test_greedy_is_myopic_where_exact_is_not():
    # demand d0..d3 (people 2, 2, 1.5, 1.5); site 0 covers d0, d1 (4 people) and wins the
    # first greedy step, but sites 1 (d0, d2) and 2 (d1, d3) together cover everyone (7)
    cover = [[1, 1, 0], [1, 0, 1], [0, 1, 0], [0, 0, 1]]
    p = _problem(cover, [2, 2, 1.5, 1.5])
    greedy = greedy_cover(p, k=2)
    exact = exact_cover(p, k=2)
    assert greedy.chosen.tolist() == [0, 1]
    assert greedy.gain == pytest.approx(5.5)
    assert greedy.step_gain.tolist() == [4.0, 1.5]
    assert sorted(exact.chosen.tolist()) == [1, 2]
    assert exact.gain == pytest.approx(7.0) and exact.optimal
    assert greedy.bound >= exact.gain  # the 1 − 1/e guarantee bounds the optimum


def test_already_covered_demand_counts_for_nobody():
    cover = [[1, 0], [1, 0], [0, 1]]
    p = _problem(cover, [10, 10, 3], before=[True, True, False])
    for solve in (greedy_cover, exact_cover):
        sol = solve(p, k=1)
        assert sol.chosen.tolist() == [1] and sol.gain == 3.0


def test_no_site_is_opened_that_adds_nobody():
    p = _problem([[1, 1, 0], [0, 1, 0]], [5, 1])
    for solve in (greedy_cover, exact_cover):
        sol = solve(p, k=3)
        assert sol.chosen.tolist() == [1], solve.__name__
        assert sol.gain == 6.0


def test_exact_equals_brute_force_and_greedy_gap_is_measured():
    rng = np.random.default_rng(20261124)
    gaps = []
    for _ in range(60):
        n_d, n_c = int(rng.integers(6, 16)), int(rng.integers(4, 10))
        cover = rng.random((n_d, n_c)) < rng.uniform(0.15, 0.45)
        weight = rng.integers(1, 500, n_d).astype(float)
        before = rng.random(n_d) < 0.15
        p = _problem(cover, weight, before)
        k = int(rng.integers(1, 4))
        best = _brute_force(p, k)
        exact = exact_cover(p, k=k)
        greedy = greedy_cover(p, k=k)
        assert exact.optimal
        assert exact.gain == pytest.approx(best)
        assert len(exact.chosen) <= k and len(greedy.chosen) <= k
        assert greedy.gain == pytest.approx(p.gain(greedy.chosen))
        assert greedy.gain >= (1 - 1 / np.e) * best - 1e-9
        gaps.append(0.0 if best == 0 else (best - greedy.gain) / best)
    gaps = np.asarray(gaps)
    # greedy is optimal on most small instances and never far off; it is not always optimal
    assert gaps.max() < 0.25
    assert (gaps > 0).any()
    assert (gaps == 0).mean() > 0.5


def test_invalid_problems_are_refused():
    with pytest.raises(ValueError, match="one entry per demand point"):
        _problem([[1, 0]], [1, 2])
    with pytest.raises(ValueError, match="non-negative"):
        _problem([[1]], [-1])
    with pytest.raises(ValueError, match="k must be"):
        greedy_cover(_problem([[1]], [1]), k=-1)


@pytest.fixture(scope="module")
def tiny():
    ds = Dataset.from_frames(tc.build(), name="tiny")
    return ds, build_graph(ds["roads"], node_tolerance_m=0.01)


def _candidates(*xy):
    pts = [shapely.Point(tc.ORIGIN_E + x, tc.ORIGIN_N + y) for x, y in xy]
    return gpd.GeoDataFrame(
        {"id": [f"K{i + 1}" for i in range(len(pts))], "name": ""},
        geometry=pts,
        crs=tc.METRIC_EPSG,
    ).to_crs(4326)


def test_tiny_county_pharmacy_siting_by_hand(tiny):
    ds, graph = tiny
    # walk 4.5 km/h = 75 m/min, 15 min = 1,125 m. S1 (5000, 4500) and S2 (1000, 3000);
    # K1 (5500, 4000): S1 500 + 500 = 1,000 m; K2 (1000, 3500): S2 500 m;
    # K3 (4000, 4000): S1 1,500 m, too far; K4 (2000, 4000): S2 2,000 m, too far
    cand = _candidates((5500, 4000), (1000, 3500), (4000, 4000), (2000, 4000))
    one = site_facilities(ds, graph, Settings(), kind="药店", k=1, candidates=cand)
    assert one.sites["candidate_id"].tolist() == ["K1"]
    assert one.sites["people_added"].tolist() == [1600.0]
    demand = one.demand.set_index("id")
    assert not demand["covered_before"].any()  # the pharmacy P3 is 1,500 m from S1
    assert demand["covered_after"].to_dict() == {"S1": True, "S2": False}
    assert demand.loc["S1", "site_id"] == "K1"
    two = site_facilities(ds, graph, Settings(), kind="药店", k=2, candidates=cand, method="greedy")
    assert two.sites["candidate_id"].tolist() == ["K1", "K2"]
    assert two.people_after == 2060.0 and two.people_before == 0.0


def test_tiny_county_minutes_and_existing_cover_by_hand(tiny):
    from geo.siting import coverage_problem

    ds, graph = tiny
    cand = _candidates((5500, 4000), (1000, 3500), (4000, 4000))
    sites = ds["relocation_sites"]
    shops = ds["service_points"]
    p = coverage_problem(
        graph,
        Settings(),
        demand=sites.geometry,
        weight=sites["population"].to_numpy(),
        candidates=cand.geometry,
        existing=shops.loc[shops["kind"] == "便利菜店"].geometry,
        limit_min=15.0,
    )
    minutes = p.minutes.toarray()
    assert minutes[0, 0] == pytest.approx(1000 / 75, abs=1e-6)
    assert minutes[1, 1] == pytest.approx(500 / 75, abs=1e-6)
    assert p.cover.toarray().tolist() == [[True, False, False], [False, True, False]]
    # 便利菜店: P2 is 200 m from S1, P5 500 m from S2 (EXPECTED_SERVICES)
    assert p.covered_before.tolist() == [True, True]


def test_unknown_kind_and_candidates_without_id(tiny):
    ds, graph = tiny
    with pytest.raises(LayerError, match="siting kind") as err:
        site_facilities(ds, graph, Settings(), kind="邮局", k=1)
    assert "选址设施类别" in err.value.zh
    with pytest.raises(LayerError, match="'id'"):
        site_facilities(
            ds,
            graph,
            Settings(),
            kind="药店",
            k=1,
            candidates=_candidates((0, 0)).drop(columns="id"),
        )


def test_demo_existing_cover_agrees_with_the_service_analysis(demo_assessment, demo_dataset):
    a = demo_assessment
    units = a.services.units
    sites = units.loc[units["unit_kind"] == "relocation_site"].set_index("unit_id")
    for kind in ("综合超市", "药店", "公交站点", "便利菜店"):
        r = site_facilities(demo_dataset, a.graph, a.settings, kind=kind, k=3)
        d = r.demand.set_index("id")
        assert d["covered_before"].to_dict() == sites[f"{kind}_ok"].astype(bool).to_dict(), kind
        # every person a chosen site adds lives at a demand point it newly covers
        for site in r.sites.itertuples():
            mine = d.loc[d["site_id"] == site.candidate_id, "population"].sum()
            assert mine == pytest.approx(site.people_added)
        assert r.people_after == pytest.approx(r.people_before + r.solution.gain)
        assert r.solution.optimal


def test_demo_clinic_siting_exact_matches_greedy_bound(demo_assessment, demo_dataset):
    a = demo_assessment
    exact = site_facilities(demo_dataset, a.graph, a.settings, kind="卫生室", k=10)
    greedy = site_facilities(
        demo_dataset, a.graph, a.settings, kind="卫生室", k=10, method="greedy"
    )
    assert exact.solution.optimal
    assert greedy.solution.gain <= exact.solution.gain + 1e-9
    assert greedy.solution.gain >= (1 - 1 / np.e) * exact.solution.gain
    # existing clinic cover equals the clinic analysis' walking-time answer
    v = a.clinics.villages.set_index("id")
    d = exact.demand.set_index("id")
    assert d["covered_before"].to_dict() == v["clinic_ok"].astype(bool).to_dict()
