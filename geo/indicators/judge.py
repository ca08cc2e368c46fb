"""Indicator rows: one definition of "met" and of 无数据 for every county KPI table.

The roll-up (:func:`geo.rollup.rollup`, one row per indicator of the table) and the water
analysis (:func:`geo.water.water_rollup`) both judge their indicator rows here, so that
"met" and "no data" mean the same everywhere (KPI cards, report.xlsx, the CLI, plan
reviews).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

__all__ = ["COMPARISONS", "STATUS_ZH", "judge", "met"]

STATUS_ZH = ("达标", "未达标", "无数据")
"""The values of an indicator row's ``status``."""

COMPARISONS: tuple[str, ...] = (">=", "<=", ">")
"""How a value is compared with its target (``value <comparison> target`` is met)."""


def met(value: ArrayLike, target: ArrayLike, comparison: ArrayLike) -> np.ndarray:
    """Return ``value <comparison> target`` elementwise (False where ``value`` is NaN).

    Parameters
    ----------
    value, target : array-like of float
    comparison : array-like of str
        One of :data:`COMPARISONS` per element (or one for all).

    Raises
    ------
    ValueError
        For a comparison not in :data:`COMPARISONS`.
    """
    v = np.asarray(value, dtype=float)
    t = np.asarray(target, dtype=float)
    c = np.broadcast_to(np.asarray(comparison, dtype=object), np.broadcast(v, t).shape)
    bad = sorted(set(c.ravel().tolist()) - set(COMPARISONS))
    if bad:
        raise ValueError(f"unknown comparison(s) {bad}; use one of {list(COMPARISONS)}")
    with np.errstate(invalid="ignore"):
        return np.select([c == ">=", c == "<="], [v >= t, v <= t], default=v > t)


def judge(county: pd.DataFrame) -> pd.DataFrame:
    """Return indicator rows with ``met`` and ``status`` set from value, target, comparison.

    Parameters
    ----------
    county : DataFrame
        ``value``, ``target`` and ``comparison`` (one of :data:`COMPARISONS`: ``">="``,
        ``"<="`` or ``">"``) per row; not modified.

    Returns
    -------
    DataFrame
        A copy with ``met`` (nullable boolean: NA where ``value`` is NaN, i.e. 无数据 — a
        layer absent or empty, STANDARDS §5: neither met nor missed) and ``status``
        (:data:`STATUS_ZH`).
    """
    out = county.copy()
    value = pd.to_numeric(out["value"], errors="coerce").to_numpy(dtype=float)
    ok = met(value, pd.to_numeric(out["target"], errors="coerce"), out["comparison"].to_numpy())
    missing = np.isnan(value)
    out["met"] = pd.array(np.where(missing, None, ok), dtype="boolean")
    out["status"] = np.where(missing, "无数据", np.where(ok, "达标", "未达标"))
    return out
