"""The hand-made fixture county: valid, in sync with its builder, and metrically exact."""

import geopandas as gpd
import pyogrio
import pytest

from layers import Dataset
from tests.fixtures import tiny_county


@pytest.fixture(scope="module")
def frames():
    return tiny_county.build()


def test_fixture_validates_with_zero_problems(frames):
    dataset = Dataset.from_frames(frames, name="tiny")
    assert dataset.problems == ()
    assert len(dataset["natural_villages"]) == 12


def test_committed_gpkg_matches_the_builder(frames):
    assert [n for n, _ in pyogrio.list_layers(tiny_county.PATH)] == list(frames)
    for name, frame in frames.items():
        stored = gpd.read_file(tiny_county.PATH, layer=name)
        assert (
            stored.drop(columns="geometry")
            .astype(str)
            .equals(frame.drop(columns="geometry").astype(str))
        ), name
        assert stored.geometry.geom_equals_exact(frame.geometry, tolerance=1e-9).all(), name


def test_metre_coordinates_survive_the_round_trip(frames):
    roads = frames["roads"].to_crs(tiny_county.METRIC_EPSG).set_index("id")
    lengths = roads.length
    assert lengths["R09"] == pytest.approx(2000.0, abs=1e-6)
    assert lengths["R05"] == pytest.approx(940.0, abs=1e-6)
    assert lengths[[f"T{k:02d}" for k in range(10)]].sum() == pytest.approx(10_000.0, abs=1e-5)
    nv = frames["natural_villages"].to_crs(tiny_county.METRIC_EPSG).set_index("id")
    trunk = roads.loc[roads["road_class"] == "县道"].union_all()
    assert nv.geometry["NV09"].distance(trunk) == pytest.approx(100.0, abs=1e-6)


def test_expected_answers_cover_every_village_and_site(frames):
    assert set(tiny_county.EXPECTED_HARD_ROAD) == set(frames["natural_villages"]["id"])
    assert set(tiny_county.EXPECTED_SERVICES) == set(frames["relocation_sites"]["id"])
