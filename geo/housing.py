"""住房安全: 农村危窑危房动态清零 (seed 001 indicator table, item 10, 约束性).

Rule (``../shared/STANDARDS.md`` §5): every admin village has no un-rectified unsafe
dwelling in the ``housing_survey`` layer (危房 / 危窑 with ``rectified`` false). A county
without that layer is ``no_data`` (never zero).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from geo.indicators.outcomes import make_outcomes, unit_frame
from geo.network import RoadGraph
from geo.settings import Settings
from layers.dataset import Dataset

__all__ = ["unsafe_housing_outcomes"]

logger = logging.getLogger(__name__)


def unsafe_housing_outcomes(dataset: Dataset, graph: RoadGraph, settings: Settings) -> pd.DataFrame:
    """Outcome frame of 农村危窑危房 (``unsafe_housing``), one row per admin village.

    Parameters
    ----------
    dataset : Dataset
        ``admin_villages`` and ``housing_survey`` (``admin_village_code``, ``kind``,
        ``households``, ``rectified``).
    graph : RoadGraph
        Unused (uniform signature of the indicator table).
    settings : Settings
        ``projects.housing_rebuild_household_wan``.

    Returns
    -------
    DataFrame
        Outcome frame, key ``unsafe_housing:<admin village code>``; ``value`` the number
        of un-rectified unsafe dwellings, ``limit`` 0 (problem when above), ``x_households``
        their households; cost = households × ``housing_rebuild_household_wan``. Causes
        ``unsafe_dwellings`` (problem), ``no_layer`` (no_data).
    """
    del graph
    units = unit_frame(dataset, "admin_village")
    frame = units.drop(columns="geometry")
    frame["key"] = "unsafe_housing:" + frame["unit_code"]
    frame["indicator"] = "unsafe_housing"
    frame["limit"] = 0.0
    frame["value_unit"] = "处"
    names = frame["admin_village_name"].to_numpy()
    survey = dataset.get("housing_survey")
    if survey is None:
        frame["status"] = "no_data"
        frame["cause"] = "no_layer"
        frame["description"] = [f"{n}：无农村住房安全排查图层，危窑危房无数据" for n in names]
        return make_outcomes(frame)
    open_ = survey.loc[~survey["rectified"].fillna(False).astype(bool)]
    code = open_["admin_village_code"].astype(str)
    hh = pd.to_numeric(open_["households"], errors="coerce").fillna(1.0)
    dwellings = code.value_counts().reindex(frame["unit_code"]).fillna(0).to_numpy()
    households = hh.groupby(code.to_numpy()).sum().reindex(frame["unit_code"]).fillna(0).to_numpy()
    kinds = (
        open_.groupby(code.to_numpy())["kind"].agg(lambda k: "、".join(
            f"{kind}{n}处" for kind, n in k.value_counts().sort_index().items()))
        .reindex(frame["unit_code"]).fillna("").to_numpy()
    )  # fmt: skip
    done = (
        survey.loc[survey["rectified"].fillna(False).astype(bool), "admin_village_code"]
        .astype(str)
        .value_counts()
        .reindex(frame["unit_code"])
        .fillna(0)
        .to_numpy()
    )
    problem = dwellings > 0
    frame["status"] = np.where(problem, "problem", "ok")
    frame["cause"] = np.where(problem, "unsafe_dwellings", "")
    frame["value"] = dwellings
    frame["x_households"] = households
    frame["description"] = [
        f"{n}：未改造危窑危房{d:.0f}处（{k}），涉及{h:.0f}户" if p
        else f"{n}：无未改造危窑危房" + (f"（已改造{r:.0f}处）" if r else "")
        for n, d, k, h, p, r in zip(names, dwellings, kinds, households, problem, done,
                                    strict=True)
    ]  # fmt: skip
    frame["problem_type"] = np.where(problem, "农村危窑危房未清零", "")
    frame["measure"] = np.where(problem, "实施危窑危房改造或拆除重建", "")
    frame["cost_wan"] = np.where(
        problem, households * settings.projects.housing_rebuild_household_wan, np.nan
    )
    logger.info("unsafe_housing: %d admin villages, %d problems", len(frame), int(problem.sum()))
    return make_outcomes(frame)
