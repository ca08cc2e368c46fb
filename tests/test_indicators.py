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
