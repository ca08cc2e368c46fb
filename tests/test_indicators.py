"""geo.indicators.judge: one definition of 达标 / 未达标 / 无数据 for every indicator table."""

import numpy as np
import pandas as pd

from geo.indicators import judge


def test_met_and_status_by_hand():
    rows = pd.DataFrame(
        {
            "indicator": ["率", "率", "空白点", "空白点", "无层"],
            "value": [98.0, 97.9, 0.0, 1.0, np.nan],
            "target": [98.0, 98.0, 0.0, 0.0, 100.0],
            "comparison": [">=", ">=", "<=", "<=", ">="],
        }
    )
    out = judge(rows)
    assert out["met"].tolist()[:4] == [True, False, True, False]
    assert pd.isna(out["met"].iloc[4]) and str(out["met"].dtype) == "boolean"
    assert out["status"].tolist() == ["达标", "未达标", "达标", "未达标", "无数据"]
    assert "met" not in rows.columns  # the input is not modified


def test_harden_road_ids_equal_the_groupby_construction():
    """The village → road ids of its harden links, as the groupby aggregation gives them."""
    from geo.indicators.builtin import _harden_road_ids

    rng = np.random.default_rng(7)
    n = 200
    links = pd.DataFrame(
        {
            "village_id": rng.choice([f"NV{i}" for i in range(30)], n),
            "kind": rng.choice(["harden", "new"], n),
            "road_ids": [
                ";".join(rng.choice(["R1", "R2", "R3", ""], rng.integers(0, 4))) for _ in range(n)
            ],
        }
    )
    want = (
        links.loc[links["kind"] == "harden"]
        .groupby("village_id")["road_ids"]
        .agg(lambda s: "、".join(x for ids in s for x in str(ids).split(";") if x))
    )
    got = _harden_road_ids(links)
    assert got == want.to_dict()
    assert any(v == "" for v in got.values()) and any("、" in v for v in got.values())


def test_nearest_of_kind_equals_the_multiindex_reindex():
    """Per-kind nearest facility by a position lookup equals the plain construction:
    ``set_index(["unit_id", "kind"])`` reindexed by a (site, kind) MultiIndex, names
    filled with "" and metres NaN where a site has no row of the kind."""
    from geo.indicators.builtin import _nearest_of_kind

    rng = np.random.default_rng(11)
    for n_rows in (0, 1, 40, 300):
        near = pd.DataFrame(
            {
                "unit_id": rng.choice([f"S{i}" for i in range(30)], n_rows),
                "kind": rng.choice(["超市", "菜店", "药店"], n_rows),
                "facility_name": pd.array(
                    rng.choice(np.array(["甲店", "乙店", None], dtype=object), n_rows),
                    dtype="str",
                ),
                "distance_m": rng.uniform(0, 2000, n_rows),
            }
        ).drop_duplicates(["unit_id", "kind"])
        unit_ids = pd.Series([f"S{i}" for i in rng.permutation(35)], dtype=object)
        plain = near.set_index(["unit_id", "kind"])
        for kind in ("超市", "菜店", "药店", "无"):
            idx = pd.MultiIndex.from_arrays([unit_ids, np.full(len(unit_ids), kind)])
            want_fac = plain["facility_name"].reindex(idx).fillna("").astype(str).to_numpy()
            want_m = plain["distance_m"].reindex(idx).astype(float).to_numpy()
            rows = near["kind"].to_numpy(dtype=object) == kind
            fac, metres = _nearest_of_kind(near, rows, unit_ids.to_numpy())
            assert fac.dtype == want_fac.dtype and list(fac) == list(want_fac)
            np.testing.assert_array_equal(metres, want_m)


def test_names_made_once_per_inputs_equal_the_dataset_names(demo_dataset):
    """The indicators of one evaluation share the name tables: made once per inputs,
    equal to ``_names`` of that inputs' dataset (another dataset gets its own)."""
    from geo.indicators import IndicatorInputs
    from geo.indicators.builtin import _names, _names_of
    from geo.settings import Settings
    from tests.fixtures import tiny_county as tc

    inp = IndicatorInputs(demo_dataset, None, Settings())
    first = _names_of(inp)
    assert _names_of(inp) is first
    for got, want in zip(first, _names(demo_dataset), strict=True):
        pd.testing.assert_series_equal(got, want)
    other = tc.build()
    for got, want in zip(
        _names_of(IndicatorInputs(other, None, Settings())), _names(other), strict=True
    ):
        pd.testing.assert_series_equal(got, want)
