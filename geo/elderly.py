"""农村养老: a 互助幸福院 / 日间照料中心 / 老饭桌 in every admin village above a population.

Rule (``../shared/STANDARDS.md`` §5, seed 004 中卫实施意见; thresholds in
:class:`geo.settings.ElderlySettings`): an admin village with at least
``elderly.min_population`` 常住人口 needs an existing (现状) facility of one of
``elderly.kinds`` in it: a ``public_facilities`` row with its ``admin_village_code``, or,
where that code is empty, lying inside the admin village's polygon. Smaller admin
villages are exempt. A county without a ``public_facilities`` layer (or an empty one)
gets ``no_data`` for the villages that need one.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from geo.access import existing_facilities, facilities_per_unit
from geo.indicators.outcomes import make_outcomes, unit_frame
from geo.network import RoadGraph
from geo.settings import Settings
from layers.dataset import Dataset

__all__ = ["elderly_care_outcomes"]

logger = logging.getLogger(__name__)


def elderly_care_outcomes(dataset: Dataset, graph: RoadGraph, settings: Settings) -> pd.DataFrame:
    """Outcome frame of 农村养老服务设施 (``elderly_care``), one row per admin village.

    Parameters
    ----------
    dataset : Dataset
        ``admin_villages`` (``population``) and ``public_facilities``.
    graph : RoadGraph
        Unused (uniform signature of the indicator table).
    settings : Settings
        ``elderly.kinds``, ``elderly.min_population`` and
        ``projects.public_facility_cost_wan`` (the first of ``elderly.kinds``).

    Returns
    -------
    DataFrame
        Outcome frame, key ``elderly_care:<admin village code>``; ``value`` the number of
        existing elderly-care facilities in the village, ``limit`` 1. Causes:
        ``no_elderly_care`` (problem), ``below_population`` (exempt), ``no_layer``
        (no_data).
    """
    del graph
    el = settings.elderly
    units = unit_frame(dataset, "admin_village")
    frame = units.drop(columns="geometry")
    frame["key"] = "elderly_care:" + frame["unit_code"]
    frame["indicator"] = "elderly_care"
    frame["limit"] = 1.0
    frame["value_unit"] = "个"
    names = frame["admin_village_name"].to_numpy()
    pop = frame["population"].to_numpy(dtype=float)
    small = np.nan_to_num(pop, nan=0.0) < el.min_population
    kinds_zh = "/".join(el.kinds)
    small_zh = [
        f"{n}：常住人口{p:.0f}人，低于{el.min_population}人，不要求设{kinds_zh}"
        for n, p in zip(names, np.nan_to_num(pop), strict=True)
    ]
    layer = dataset.get("public_facilities")
    if layer is None or layer.empty:
        frame["status"] = np.where(small, "exempt", "no_data")
        frame["cause"] = np.where(small, "below_population", "no_layer")
        frame["description"] = [
            z if s else f"{n}：无公共服务设施图层，养老服务设施无数据"
            for n, s, z in zip(names, small, small_zh, strict=True)
        ]
        return make_outcomes(frame)
    fac = existing_facilities(layer, el.kinds)
    assert fac is not None
    count = facilities_per_unit(fac, units, code_field="admin_village_code").to_numpy()
    has = count >= 1
    status = np.select([small, has], ["exempt", "ok"], default="problem")
    problem = status == "problem"
    frame["status"] = status
    frame["cause"] = np.select([small, has], ["below_population", ""], default="no_elderly_care")
    frame["value"] = count.astype(float)
    frame["description"] = [
        z
        if s
        else f"{n}：常住人口{p:.0f}人，现状{kinds_zh}{c}处"
        + ("，达标" if c else "，未设养老服务设施")
        for n, p, s, c, z in zip(names, np.nan_to_num(pop), small, count, small_zh, strict=True)
    ]
    frame["problem_type"] = np.where(problem, "行政村无养老服务设施", "")
    frame["measure"] = np.where(problem, f"新建或利用闲置房屋改建{el.kinds[0]}", "")
    cost = settings.projects.public_facility_cost_wan.get(el.kinds[0], np.nan)
    frame["cost_wan"] = np.where(problem, cost, np.nan)
    logger.info("elderly_care: %d admin villages, %d problems", len(frame), int(problem.sum()))
    return make_outcomes(frame)
