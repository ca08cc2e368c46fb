"""Indicator rows: one definition of "met" and of 无数据 for every county KPI table.

The roll-up (:func:`geo.rollup.rollup`) and the water analysis
(:func:`geo.water.water_rollup`) both judge their indicator rows here, so that "met" and
"no data" mean the same everywhere (KPI cards, report.xlsx, the CLI, plan reviews).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["STATUS_ZH", "judge"]

STATUS_ZH = ("达标", "未达标", "无数据")
"""The values of an indicator row's ``status``."""


def judge(county: pd.DataFrame) -> pd.DataFrame:
    """Return indicator rows with ``met`` and ``status`` set from value, target, comparison.

    Parameters
    ----------
    county : DataFrame
        ``value``, ``target`` and ``comparison`` (``">="`` or ``"<="``) per row; not
        modified.

    Returns
    -------
    DataFrame
        A copy with ``met`` (nullable boolean: NA where ``value`` is NaN, i.e. 无数据 — a
        layer absent or empty, STANDARDS §5: neither met nor missed) and ``status``
        (:data:`STATUS_ZH`).
    """
    out = county.copy()
    value = pd.to_numeric(out["value"], errors="coerce")
    met = np.where(out["comparison"] == ">=", value >= out["target"], value <= out["target"])
    out["met"] = pd.array(np.where(value.isna(), None, met), dtype="boolean")
    out["status"] = np.where(value.isna(), "无数据", np.where(met, "达标", "未达标"))
    return out
