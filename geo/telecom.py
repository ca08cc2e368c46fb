"""通信: 行政村通5G and 千兆光纤 in every 重点村 (seed 001, 电信普遍服务试点工程).

Rules (``../shared/STANDARDS.md`` §5): an admin village's own attribute (``has_5g``,
``has_gigabit``) wins where given; elsewhere the ``telecom_coverage`` layer fills in: the
village is covered when an existing (现状) polygon of the kind contains its point (a
point on its polygon, :func:`geo.indicators.outcomes.unit_frame`'s ``lon``/``lat``).
Neither an attribute nor a coverage layer with polygons of the kind → ``no_data``
(无数据: never met, never zero).

- ``telecom_5g``: every admin village (target 80 %, settings.targets).
- ``telecom_gigabit``: 重点村 (``key_village`` true) only; other villages are exempt,
  villages whose ``key_village`` is unknown (NA) are ``no_data``.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import shapely

from geo.indicators.outcomes import make_outcomes, unit_frame
from geo.network import RoadGraph
from geo.settings import Settings
from layers.dataset import Dataset

__all__ = ["covered_by", "gigabit_outcomes", "telecom_5g_outcomes"]

logger = logging.getLogger(__name__)


def covered_by(dataset: Dataset, units: pd.DataFrame, kind: str) -> np.ndarray | None:
    """Whether a ``telecom_coverage`` polygon of ``kind`` (现状) contains each unit's point.

    Returns
    -------
    ndarray of bool or None
        In the order of ``units`` (a :func:`unit_frame`); None when the county has no
        coverage layer or no polygon of ``kind`` in it (planned ones included): 无数据.
    """
    layer = dataset.get("telecom_coverage")
    if layer is None or layer.empty:
        return None
    of_kind = layer.loc[layer["kind"].astype(str) == kind]
    if of_kind.empty:
        return None
    built = of_kind.loc[of_kind["status"].astype(str) == "现状"] if "status" in of_kind else of_kind
    pts = shapely.points(units["lon"].to_numpy(dtype=float), units["lat"].to_numpy(dtype=float))
    if built.empty or not len(pts):
        return np.zeros(len(units), dtype=bool)
    polys = built.geometry.to_crs(4326).to_numpy()
    tree = shapely.STRtree(polys)
    qi, _ = tree.query(pts, predicate="within")
    out = np.zeros(len(units), dtype=bool)
    out[qi] = True
    return out


def _attribute(dataset: Dataset, field: str, n: int) -> pd.Series:
    """Return an admin-village boolean attribute, nullable (NA where not given)."""
    admin = dataset.get("admin_villages")
    if admin is None or field not in admin:
        return pd.Series(pd.array([pd.NA] * n, dtype="boolean"))
    return admin[field].astype("boolean").reset_index(drop=True)


def _judge(
    frame: pd.DataFrame,
    attr: pd.Series,
    layer: np.ndarray | None,
    *,
    label: str,
    cover: str,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Status, cause and description per unit: the attribute wins, the layer fills in."""
    given = attr.notna().to_numpy()
    value = attr.fillna(False).to_numpy(dtype=bool)
    names = frame["admin_village_name"].to_numpy()
    status = np.full(len(frame), "no_data", dtype=object)
    cause = np.full(len(frame), "no_data", dtype=object)
    desc = [f"{n}：无{label}数据（无属性，也无覆盖图层）" for n in names]
    for i in range(len(frame)):
        if given[i]:
            status[i] = "ok" if value[i] else "problem"
            cause[i] = "" if value[i] else "not_covered"
            desc[i] = f"{names[i]}：村级调查{'已' if value[i] else '未'}{label}"
        elif layer is not None:
            status[i] = "ok" if layer[i] else "problem"
            cause[i] = "" if layer[i] else "outside_coverage"
            desc[i] = f"{names[i]}：{'位于' if layer[i] else '不在'}{cover}覆盖范围内"
    return status, cause, desc


def telecom_5g_outcomes(dataset: Dataset, graph: RoadGraph, settings: Settings) -> pd.DataFrame:
    """Outcome frame of 行政村通5G (``telecom_5g``), one row per admin village.

    Parameters
    ----------
    dataset : Dataset
        ``admin_villages`` (``has_5g``) and ``telecom_coverage`` (kind 5G).
    graph : RoadGraph
        Unused (uniform signature of the indicator table).
    settings : Settings
        ``projects.station_5g_wan``.

    Returns
    -------
    DataFrame
        Outcome frame, key ``telecom_5g:<admin village code>``; ``value`` 1 covered, 0
        not, NaN without data. Causes ``not_covered`` (attribute), ``outside_coverage``
        (layer), ``no_data``.
    """
    del graph
    units = unit_frame(dataset, "admin_village")
    frame = units.drop(columns="geometry")
    frame["key"] = "telecom_5g:" + frame["unit_code"]
    frame["indicator"] = "telecom_5g"
    attr = _attribute(dataset, "has_5g", len(frame))
    status, cause, desc = _judge(
        frame, attr, covered_by(dataset, units, "5G"), label="通5G", cover="5G"
    )
    problem = status == "problem"
    frame["status"], frame["cause"], frame["description"] = status, cause, desc
    frame["value"] = np.select([status == "ok", problem], [1.0, 0.0], default=np.nan)
    frame["problem_type"] = np.where(problem, "行政村未通5G", "")
    frame["measure"] = np.where(problem, "新建或共享5G基站，实现行政村5G覆盖", "")
    frame["cost_wan"] = np.where(problem, settings.projects.station_5g_wan, np.nan)
    logger.info("telecom_5g: %d admin villages, %d problems", len(frame), int(problem.sum()))
    return make_outcomes(frame)


def gigabit_outcomes(dataset: Dataset, graph: RoadGraph, settings: Settings) -> pd.DataFrame:
    """Outcome frame of 重点村千兆光纤 (``telecom_gigabit``), one row per admin village.

    Parameters
    ----------
    dataset : Dataset
        ``admin_villages`` (``key_village``, ``has_gigabit``) and ``telecom_coverage``
        (kind 千兆光纤).
    graph : RoadGraph
        Unused (uniform signature of the indicator table).
    settings : Settings
        ``projects.gigabit_village_wan``.

    Returns
    -------
    DataFrame
        Outcome frame, key ``telecom_gigabit:<admin village code>``; non-key villages
        ``exempt`` (cause ``not_key_village``), villages whose ``key_village`` is NA
        ``no_data`` (cause ``key_village_unknown``); key villages judged like
        :func:`telecom_5g_outcomes` from ``has_gigabit`` or the 千兆光纤 polygons.
    """
    del graph
    units = unit_frame(dataset, "admin_village")
    frame = units.drop(columns="geometry")
    frame["key"] = "telecom_gigabit:" + frame["unit_code"]
    frame["indicator"] = "telecom_gigabit"
    attr = _attribute(dataset, "has_gigabit", len(frame))
    layer = covered_by(dataset, units, "千兆光纤")
    status, cause, desc = _judge(frame, attr, layer, label="通千兆光纤", cover="千兆光纤")
    key = _attribute(dataset, "key_village", len(frame))
    unknown = key.isna().to_numpy()
    not_key = ~unknown & ~key.fillna(False).to_numpy(dtype=bool)
    names = frame["admin_village_name"].to_numpy()
    status = np.where(unknown, "no_data", np.where(not_key, "exempt", status))
    cause = np.where(unknown, "key_village_unknown", np.where(not_key, "not_key_village", cause))
    desc = [
        f"{n}：是否重点村无数据，千兆光纤无法评价" if u
        else f"{n}：非重点村，不纳入千兆光纤评价" if k
        else f"{d}（重点村）"
        for n, u, k, d in zip(names, unknown, not_key, desc, strict=True)
    ]  # fmt: skip
    problem = status == "problem"
    frame["status"], frame["cause"], frame["description"] = status, cause, desc
    frame["value"] = np.select([status == "ok", problem], [1.0, 0.0], default=np.nan)
    frame["problem_type"] = np.where(problem, "重点村未通千兆光纤", "")
    frame["measure"] = np.where(problem, "千兆光纤进村入户（OLT扩容、主干光缆）", "")
    frame["cost_wan"] = np.where(problem, settings.projects.gigabit_village_wan, np.nan)
    logger.info("telecom_gigabit: %d admin villages, %d problems", len(frame), int(problem.sum()))
    return make_outcomes(frame)
