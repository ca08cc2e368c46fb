"""城乡供水保证率 and 水质达标率 from the water works' own statistics (seed 001 text).

Rule (``../shared/STANDARDS.md`` §5, targets in :class:`geo.settings.TargetSettings`):
every ``water_sources`` row whose ``guarantee_rate_pct`` (``quality_pass_pct``) is given
meets ``targets.water_guarantee_pct`` (``targets.water_quality_pct``); rows without the
number are ``no_data``. The county value is the capacity-weighted mean (``x_weight`` =
``capacity_m3d``). This sits beside the hydraulic coverage of :mod:`geo.water.coverage`.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from geo.indicators.outcomes import make_outcomes, unit_frame
from geo.network import RoadGraph
from geo.settings import Settings
from layers.dataset import Dataset

__all__ = ["water_guarantee_outcomes", "water_quality_outcomes"]

logger = logging.getLogger(__name__)


def _source_outcomes(
    dataset: Dataset,
    settings: Settings,
    *,
    code: str,
    field: str,
    target_pct: float,
    label: str,
    problem_zh: str,
    measure_zh: str,
) -> pd.DataFrame:
    units = unit_frame(dataset, "water_source")
    frame = units.drop(columns="geometry")
    frame["key"] = code + ":" + frame["unit_code"]
    frame["indicator"] = code
    frame["limit"] = target_pct
    frame["value_unit"] = "%"
    src = dataset.get("water_sources")
    n = len(frame)
    if src is None or not n:
        return make_outcomes(frame)
    value = (
        pd.to_numeric(src[field], errors="coerce").to_numpy(dtype=float)
        if field in src
        else np.full(n, np.nan)
    )
    capacity = pd.to_numeric(src["capacity_m3d"], errors="coerce").to_numpy(dtype=float)
    title = src["title"].astype(str) if "title" in src else pd.Series([""] * n)
    names = np.where(title.to_numpy() != "", title.to_numpy(), src["name"].astype(str).to_numpy())
    known = np.isfinite(value)
    low = known & (value < target_pct)
    frame["status"] = np.where(~known, "no_data", np.where(low, "problem", "ok"))
    frame["cause"] = np.where(~known, "no_data", np.where(low, "below_target", ""))
    frame["value"] = value
    frame["x_weight"] = np.where(known, capacity, np.nan)
    frame["description"] = [
        f"{nm}（供水能力{c:,.0f}立方米/日）：{label}{v:.1f}%（目标≥{target_pct:g}%）"
        + ("，未达标" if lo else "，达标")
        if k
        else f"{nm}：无{label}数据"
        for nm, c, v, k, lo in zip(names, np.nan_to_num(capacity), value, known, low,
                                   strict=True)
    ]  # fmt: skip
    frame["problem_type"] = np.where(low, problem_zh, "")
    frame["measure"] = np.where(low, measure_zh, "")
    frame["cost_wan"] = np.where(low, settings.projects.water_works_upgrade_wan, np.nan)
    logger.info("%s: %d water works, %d problems", code, n, int(low.sum()))
    return make_outcomes(frame)


def water_guarantee_outcomes(
    dataset: Dataset, graph: RoadGraph, settings: Settings
) -> pd.DataFrame:
    """Outcome frame of 城乡供水保证率 (``water_guarantee``), one row per water works.

    Parameters
    ----------
    dataset : Dataset
        ``water_sources`` (``guarantee_rate_pct``, ``capacity_m3d``).
    graph : RoadGraph
        Unused (uniform signature of the indicator table).
    settings : Settings
        ``targets.water_guarantee_pct``, ``projects.water_works_upgrade_wan``.

    Returns
    -------
    DataFrame
        Outcome frame, key ``water_guarantee:<source name>``; ``value`` the works'
        供水保证率 (%), ``limit`` the target, ``x_weight`` its capacity (m³/d). Causes
        ``below_target`` (problem), ``no_data``.
    """
    del graph
    return _source_outcomes(
        dataset, settings, code="water_guarantee", field="guarantee_rate_pct",
        target_pct=settings.targets.water_guarantee_pct, label="供水保证率",
        problem_zh="供水保证率不达标", measure_zh="水源扩建、调蓄水池或管网联通，提高供水保证率",
    )  # fmt: skip


def water_quality_outcomes(dataset: Dataset, graph: RoadGraph, settings: Settings) -> pd.DataFrame:
    """Outcome frame of 水质达标率 (``water_quality``), one row per water works.

    As :func:`water_guarantee_outcomes` with ``quality_pass_pct`` against
    ``targets.water_quality_pct``; key ``water_quality:<source name>``.
    """
    del graph
    return _source_outcomes(
        dataset, settings, code="water_quality", field="quality_pass_pct",
        target_pct=settings.targets.water_quality_pct, label="水质达标率",
        problem_zh="水质达标率不达标", measure_zh="配套净化消毒设施，加强水质检测",
    )  # fmt: skip
