"""Draft-plan review: 现状 vs 规划 on the hand-made county."""

from __future__ import annotations

import geopandas as gpd
import pytest
import shapely

from geo.assessment import assess
from geo.plan import as_built, compare_kpis, merge_plan, planned_counts
from geo.settings import load_settings
from layers import Dataset, LayerError
from tests.fixtures import tiny_county as tc


@pytest.fixture(scope="module")
def dataset():
    return Dataset.from_frames(tc.build(), name="tiny")


def test_planned_paving_raises_the_rate_only_in_the_planned_scenario(dataset):
    roads = dataset["roads"].copy()
    roads.loc[roads["id"] == "R04", ["surface", "status"]] = ["水泥", "规划"]
    draft = dataset.replace_layers(roads=roads)
    assert planned_counts(draft) == {"roads": 1, "public_facilities": 3}  # F3, F6, F11
    settings = load_settings()
    now, after = assess(draft, settings), assess(as_built(draft), settings)
    table = compare_kpis(now.rollup.county, after.rollup.county).set_index("indicator")
    # 10 villages ≥ 20 households in scope; paving R04 connects NV03: 6/10 → 7/10.
    row = table.loc["20户以上自然村通硬化路率"]
    assert (row["current"], row["planned"], row["change"]) == pytest.approx((60.0, 70.0, 10.0))
    assert as_built(draft)["roads"].set_index("id").loc["R04", "status"] == "现状"
    assert draft["roads"].set_index("id").loc["R04", "status"] == "规划"  # input untouched


def test_merge_plan_appends_a_planned_clinic_and_closes_the_blank_spot(dataset):
    clinics = dataset["clinics"]
    av = dataset["admin_villages"].set_index("code")
    blank = tc.EXPECTED_CLINICS["admin_villages_without_clinic"][0]
    village = dataset["natural_villages"]
    spot = village.loc[village["admin_village_code"] == blank].geometry.iloc[0]
    plan = gpd.GeoDataFrame(
        {
            "id": [clinics["id"].iloc[0]],  # clashes with an existing id on purpose
            "name": ["规划卫生室"],
            "kind": ["卫生室"],
            "admin_village_code": [blank],
            "township_code": [av.loc[blank, "township_code"]],
            "doctors": [1],
        },
        geometry=[shapely.Point(spot.x, spot.y)],
        crs=clinics.crs,
    )
    merged = merge_plan(dataset, {"clinics": plan})
    assert len(merged["clinics"]) == len(clinics) + 1
    added = merged["clinics"].iloc[-1]
    assert added["status"] == "规划" and added["id"].startswith("规划1-")
    twice = merge_plan(merged, {"clinics": plan.assign(status="现状")})  # same plan again
    assert not twice.errors  # ids stay unique
    assert twice["clinics"].iloc[-1]["status"] == "规划"  # a plan never adds 现状 features
    settings = load_settings()
    before = assess(merged, settings).clinics.admin_villages.set_index("code")
    after = assess(as_built(merged), settings).clinics.admin_villages.set_index("code")
    assert before.loc[blank, "status"] == "no_clinic"
    assert after.loc[blank, "status"] != "no_clinic"


def test_merge_plan_refuses_layers_that_cannot_be_planned(dataset):
    with pytest.raises(LayerError, match="plan layers"):
        merge_plan(dataset, {"natural_villages": dataset["natural_villages"]})


def test_planned_public_facilities_count_only_in_the_planned_scenario(dataset):
    """F11 老饭桌 (规划) in 乙村 (1,500 residents): a problem now, served once it is built."""
    settings = load_settings()
    now, after = assess(dataset, settings), assess(as_built(dataset), settings)
    assert after.planned_as_built == {"public_facilities": 3}
    key = "elderly_care:640399100202"
    before_row = now.indicators.of("elderly_care").set_index("key").loc[key]
    after_row = after.indicators.of("elderly_care").set_index("key").loc[key]
    assert (before_row["status"], after_row["status"]) == ("problem", "ok")
    table = compare_kpis(now.rollup.county, after.rollup.county).set_index("indicator")
    assert table.loc["行政村养老服务设施覆盖率", "change"] > 0
