"""One check shared by the region tests: results read from PostGIS equal the folder's."""

from __future__ import annotations

import numpy as np
import shapely
from geopandas.testing import assert_geodataframe_equal
from pandas.testing import assert_frame_equal

from layers.region import RegionResults

__all__ = ["assert_same_coordinates", "assert_same_results"]


def assert_same_results(db: RegionResults, folder: RegionResults) -> None:
    """Every frame of the run and of each county, read from PostGIS, equals the folder's."""
    assert db.manifest == folder.manifest
    assert_frame_equal(db.rollup, folder.rollup, check_exact=True)
    assert_geodataframe_equal(db.boundaries, folder.boundaries, check_less_precise=False)
    assert_same_coordinates(db.boundaries, folder.boundaries)
    for code, entry in folder.manifest["counties"].items():
        if entry["status"] != "ok":
            assert db.county_meta(code) is None
            continue
        assert db.county_meta(code) == folder.county_meta(code)
        ours, theirs = db.county_results(code), folder.county_results(code)
        assert list(ours) == ["outcomes", "admin_villages", "townships"]
        for name, frame in theirs.items():
            assert len(frame) > 0, (code, name)
            assert_geodataframe_equal(ours[name], frame, check_less_precise=False)
            assert_same_coordinates(ours[name], frame)
        (d1, a1), (d2, a2) = db.county(code), folder.county(code)
        assert d1.content_hash == d2.content_hash and a1.dataset_hash == a2.dataset_hash
        assert_frame_equal(a1.rollup.county, a2.rollup.county)


def assert_same_coordinates(a, b) -> None:
    """The geometries are the same bytes (WKB), not merely topologically equal."""
    wa, wb = shapely.to_wkb(a.geometry.to_numpy()), shapely.to_wkb(b.geometry.to_numpy())
    assert np.array_equal(wa, wb), "geometries differ"
