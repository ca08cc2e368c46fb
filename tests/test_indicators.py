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
