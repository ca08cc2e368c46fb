"""Evaluate an indicator table: outcome frames per indicator, then one county row each.

:func:`evaluate` runs every :class:`~geo.indicators.table.Indicator` of a table on the
same inputs (:class:`IndicatorInputs`: the dataset, the road graph, the settings and the
results of the base analyses), checks each outcome frame (:func:`make_outcomes`) and
computes the county value by the indicator's rule. An indicator whose layers are absent or
empty is not run: every unit of its kind gets a ``no_data`` row and the county value is
NaN (无数据, STANDARDS §5: never met, never zero).

The county rows are judged once, by :func:`geo.indicators.judge.judge`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from geo.indicators.judge import judge
from geo.indicators.outcomes import (
    NUMBER_COLUMNS,
    OUTCOME_COLUMNS,
    OUTCOME_STATUSES,
    UNIT_KINDS,
    make_outcomes,
    unit_frame,
)
from layers.errors import GapMapError

if TYPE_CHECKING:
    from geo.clinics import ClinicResult
    from geo.indicators.table import Indicator, IndicatorTable
    from geo.network import RoadGraph
    from geo.roads import HardRoadResult
    from geo.services import ServiceResult
    from geo.settings import Settings
    from geo.water import WaterResult
    from layers.dataset import Dataset

__all__ = [
    "COUNTY_COLUMNS",
    "OUTCOME_COLUMNS_ZH",
    "RELATIVE_CODES",
    "VALUE_RULES",
    "IndicatorInputs",
    "IndicatorResults",
    "county_value",
    "evaluate",
    "no_data_outcomes",
    "township_rows",
    "with_previous",
]

logger = logging.getLogger(__name__)

VALUE_RULES: tuple[str, ...] = ("share_ok", "share_ok_units", "problems", "weighted_mean")
"""County value rules an indicator may name (or it gives a callable):

``share_ok``
    ``100 · ok / (ok + problem)`` rows (%), no_data and exempt rows left out.
``share_ok_units``
    The same over units (``unit_code``): a unit with several rows (a relocation site and
    each facility kind) is a problem when any row is, ok when every row is ok; a unit
    with no_data rows and no problem is left out (not known to be complete: a site
    whose 卫生室 is near but whose schools are 无数据 is not 达标).
``problems``
    The number of problem rows (a count, e.g. 空白点).
``weighted_mean``
    ``Σ value · x_weight / Σ x_weight`` over the judged rows with a value.

Every rule gives NaN when no row was judged (all no_data or exempt).
"""

COUNTY_COLUMNS: tuple[str, ...] = (
    "indicator",
    "value",
    "unit",
    "target",
    "comparison",
    "source",
    "met",
    "status",
    "code",
    "group",
    "department",
)
"""Columns of the county indicator rows (:attr:`IndicatorResults.county`).

``indicator`` the Chinese name; ``value`` by the indicator's rule (NaN: 无数据);
``unit`` (``%``, ``个``); ``target`` from ``settings.targets``; ``comparison``
(``>=``, ``<=``, ``>``); ``source``; ``met`` (nullable boolean, NA for 无数据);
``status`` (达标 / 未达标 / 无数据); ``code``; ``group``; ``department`` (行业部门).
"""

RELATIVE_CODES: tuple[str, ...] = ("toilets",)
"""Indicators judged against their own previous value (稳步提高): :func:`with_previous`."""

OUTCOME_COLUMNS_ZH: Mapping[str, str] = {
    "key": "问题编号",
    "indicator": "指标",
    "unit_kind": "单元类型",
    "unit_code": "单元编号",
    "township_code": "乡镇代码",
    "township_name": "乡镇",
    "admin_village_code": "行政村代码",
    "admin_village_name": "行政村",
    "village_code": "自然村编号",
    "village_name": "自然村",
    "problem_type": "问题类型",
    "description": "问题描述",
    "measure": "整改措施",
    "cause": "原因",
    "households": "户数",
    "population": "人口",
    "cost_wan": "估算投资(万元)",
    "lon": "经度",
    "lat": "纬度",
    "status": "结果",
    "value": "现值",
    "limit": "标准",
    "value_unit": "单位",
    "x_weight": "权重",
    "x_children": "超出服务半径的适龄儿童",
}
"""Chinese headers of the outcome columns (:data:`geo.indicators.outcomes.OUTCOME_COLUMNS`
and the common ``x_*`` columns)."""


@dataclass(frozen=True)
class IndicatorInputs:
    """What every indicator's ``outcomes`` callable receives.

    Attributes
    ----------
    dataset : Dataset
    graph : RoadGraph or None
        The road graph (None when only base results are rolled up).
    settings : Settings
    hard_road, services, clinics : results or None
        The base analyses (:func:`geo.roads.hard_road_access`,
        :func:`geo.services.service_access`, :func:`geo.clinics.clinic_gaps`).
    water : WaterResult or None
        The water coverage, when the dataset has a water network and it ran.
    """

    dataset: Dataset
    graph: RoadGraph | None
    settings: Settings
    hard_road: HardRoadResult | None = None
    services: ServiceResult | None = None
    clinics: ClinicResult | None = None
    water: WaterResult | None = None


@dataclass(frozen=True)
class IndicatorResults:
    """Result of :func:`evaluate`.

    Attributes
    ----------
    table : IndicatorTable
        The table evaluated.
    outcomes : DataFrame
        Every indicator's outcome rows, in table order (:data:`OUTCOME_COLUMNS`, then the
        ``x_*`` columns of any indicator: NaN for the others).
    county : DataFrame
        One row per indicator of the table, in its order (:data:`COUNTY_COLUMNS`).
    seconds : mapping of str to float
        Time each indicator took (its outcomes), for profiling.
    """

    table: IndicatorTable
    outcomes: pd.DataFrame
    county: pd.DataFrame
    seconds: Mapping[str, float]

    def of(self, code: str) -> pd.DataFrame:
        """Return one indicator's outcome rows (an empty frame for an unknown code)."""
        return self.outcomes.loc[self.outcomes["indicator"] == code]

    @property
    def problems(self) -> pd.DataFrame:
        """The problem rows (``status == "problem"``): the 问题清单."""
        return self.outcomes.loc[self.outcomes["status"] == "problem"]


def no_data_outcomes(
    dataset: Dataset, *, code: str, unit_kind: str, reason_zh: str, cause: str = "no_layer"
) -> pd.DataFrame:
    """Return a ``no_data`` row for every unit of ``unit_kind`` (key ``<code>:<unit>``).

    Parameters
    ----------
    dataset : Dataset
    code : str
        The indicator code.
    unit_kind : str
        One of :data:`geo.indicators.outcomes.UNIT_KINDS`.
    reason_zh : str
        The description of every row (why there is no data).
    cause : str
        The reason code of every row.
    """
    units = unit_frame(dataset, unit_kind).drop(columns="geometry")
    return make_outcomes(
        units.assign(
            key=f"{code}:" + units["unit_code"].astype(str),
            indicator=code,
            status="no_data",
            description=reason_zh,
            cause=cause,
        ).reset_index(drop=True)
    )


def county_value(outcomes: pd.DataFrame, rule: str | Callable[[pd.DataFrame], float]) -> float:
    """Return one indicator's county value from its outcome rows by ``rule``.

    Parameters
    ----------
    outcomes : DataFrame
        The indicator's outcome rows.
    rule : str or callable
        One of :data:`VALUE_RULES`, or ``f(outcomes) -> float``.

    Returns
    -------
    float
        NaN when no row was judged (every row no_data or exempt, or none at all).

    Raises
    ------
    GapMapError
        For an unknown rule name.
    """
    judged = outcomes["status"].isin(["ok", "problem"]).to_numpy()
    if not judged.any():
        return float("nan")
    if callable(rule):
        return float(rule(outcomes))
    ok = (outcomes["status"] == "ok").to_numpy()
    if rule == "share_ok":
        return 100.0 * float(ok.sum()) / float(judged.sum())
    if rule == "share_ok_units":
        status = outcomes["status"].to_numpy()
        per_unit = pd.DataFrame(
            {"unit": outcomes["unit_code"].to_numpy(), "bad": status == "problem",
             "unknown": status == "no_data", "ok": status == "ok"}
        ).groupby("unit", sort=False)[["bad", "unknown", "ok"]].any()  # fmt: skip
        bad = per_unit["bad"]
        good = per_unit["ok"] & ~bad & ~per_unit["unknown"]  # every row known and ok
        n = int(bad.sum() + good.sum())
        return 100.0 * float(good.sum()) / n if n else float("nan")
    if rule == "problems":
        return float((outcomes["status"] == "problem").sum())
    if rule == "weighted_mean":
        w = outcomes["x_weight"].to_numpy(dtype=float) if "x_weight" in outcomes else None
        if w is None:
            return float("nan")
        v = outcomes["value"].to_numpy(dtype=float)
        use = judged & np.isfinite(v) & np.isfinite(w)
        total = float(w[use].sum())
        return float((v[use] * w[use]).sum() / total) if total > 0 else float("nan")
    raise GapMapError(
        f"unknown county value rule {rule!r}; use one of {list(VALUE_RULES)} or a callable",
        zh=f"未知的县级指标计算规则“{rule}”",
    )


def _missing_layers(dataset: Dataset, layers: tuple[str, ...]) -> list[str]:
    out = []
    for name in layers:
        frame = dataset.get(name)
        if frame is None or len(frame) == 0:
            out.append(name)
    return out


def _normalised(frame: pd.DataFrame) -> bool:
    """Return True for a frame :func:`make_outcomes` made (columns, dtypes) and valid."""
    cols = list(frame.columns)
    n = len(OUTCOME_COLUMNS)
    if cols[:n] != list(OUTCOME_COLUMNS) or not all(str(c).startswith("x_") for c in cols[n:]):
        return False
    if not isinstance(frame.index, pd.RangeIndex):
        return False
    dtypes = frame.dtypes
    if any(dtypes[c] != np.float64 for c in (*NUMBER_COLUMNS, *cols[n:])):
        return False
    keys = frame["key"]
    return (
        set(frame["status"].unique()) <= set(OUTCOME_STATUSES)
        and set(frame["unit_kind"].unique()) <= set(UNIT_KINDS)
        and bool((keys != "").all())
        and keys.is_unique
    )


def _outcomes_of(ind: Indicator, inp: IndicatorInputs) -> pd.DataFrame:
    missing = _missing_layers(inp.dataset, ind.layers)
    if missing:
        from layers.schema import LAYERS

        names = "、".join(f"{LAYERS[m].title_zh}（{m}）" if m in LAYERS else m for m in missing)
        return no_data_outcomes(
            inp.dataset, code=ind.code, unit_kind=ind.unit_kind, reason_zh=f"无数据：缺少{names}"
        )
    frame = ind.outcomes(inp)
    if not _normalised(frame):  # the analyses' own make_outcomes frames pass as they are
        frame = make_outcomes(frame)
    wrong = sorted(set(frame["indicator"].unique()) - {ind.code})  # not a set of every row
    bad_keys = int((~frame["key"].str.startswith(f"{ind.code}:")).sum())
    if wrong or bad_keys:
        raise GapMapError(
            f"indicator {ind.code!r} gave rows of {wrong} / {bad_keys} key(s) not starting "
            f"with '{ind.code}:'",
            zh=f"指标“{ind.name_zh}”的结果编号有误",
        )
    return frame


def evaluate(table: IndicatorTable, inp: IndicatorInputs) -> IndicatorResults:
    """Run every indicator of ``table`` on ``inp``: outcome rows and the county rows.

    Parameters
    ----------
    table : IndicatorTable
        The indicators, in the order of the county rows.
    inp : IndicatorInputs
        Dataset, graph, settings and base analysis results.

    Returns
    -------
    IndicatorResults
    """
    frames, rows, seconds = [], [], {}
    for ind in table:
        t0 = time.perf_counter()
        frame = _outcomes_of(ind, inp)
        seconds[ind.code] = time.perf_counter() - t0
        frames.append(frame)
        rows.append(
            {
                "indicator": ind.name_zh,
                "value": county_value(frame, ind.value_rule),
                "unit": ind.value_unit,
                "target": float(ind.target_value(inp.settings)),
                "comparison": ind.comparison,
                "source": ind.source_text(inp.settings),
                "code": ind.code,
                "group": ind.group,
                "department": ind.department,
            }
        )
        logger.debug("indicator %s: %d rows in %.3f s", ind.code, len(frame), seconds[ind.code])
    frames = [f for f in frames if len(f)]
    # the same columns in every frame (other indicators' x_* as NaN): a fast concat
    extra = list(dict.fromkeys(c for f in frames for c in f.columns if c not in OUTCOME_COLUMNS))
    frames = [f.reindex(columns=[*OUTCOME_COLUMNS, *extra]) for f in frames]
    outcomes = pd.concat(frames, ignore_index=True) if frames else make_outcomes([])
    county = pd.DataFrame(rows, columns=[c for c in COUNTY_COLUMNS if c not in {"met", "status"}])
    county = judge(county)[list(COUNTY_COLUMNS)]
    return IndicatorResults(table=table, outcomes=outcomes, county=county, seconds=seconds)


def township_rows(results: IndicatorResults, township_code: str) -> pd.DataFrame:
    """Return the county rows computed over one township's outcome rows only.

    Each indicator's value follows its own rule (:func:`county_value`) on the outcome rows
    whose ``township_code`` is ``township_code`` (its natural villages, sites, admin
    villages, the township itself and the plants in it); targets, comparisons and sources
    are the county rows', and the rows are judged again (:func:`judge`). An indicator with
    no judged row in the township is 无数据 (value NaN), never 达标.

    Parameters
    ----------
    results : IndicatorResults
        The evaluated table (:func:`evaluate`).
    township_code : str
        The township's 9-digit code.

    Returns
    -------
    DataFrame
        The columns of :data:`COUNTY_COLUMNS` and ``problems`` (the indicator's problem
        rows in the township), one row per indicator in table order. The 稳步提高
        re-targeting (:func:`with_previous`) is a county comparison and is not applied.
    """
    rules = {ind.code: ind.value_rule for ind in results.table}
    outcomes = results.outcomes
    mine = outcomes.loc[outcomes["township_code"].to_numpy(dtype=object) == township_code]
    by_code = dict(tuple(mine.groupby("indicator", sort=False)))
    empty = mine.iloc[:0]
    codes = results.county["code"]
    values = [county_value(by_code.get(code, empty), rules[code]) for code in codes]
    problems = [int((by_code.get(code, empty)["status"] == "problem").sum()) for code in codes]
    rows = results.county.drop(columns=["met", "status"]).assign(value=values)
    return judge(rows)[list(COUNTY_COLUMNS)].assign(problems=problems).reset_index(drop=True)


def with_previous(county: pd.DataFrame, previous: pd.DataFrame | None) -> pd.DataFrame:
    """Re-target the rows judged against their previous value (稳步提高) and re-judge.

    农村卫生厕所普及率 must rise steadily (S 001 指标表 11): where the previous snapshot of
    the ledger has a value for a :data:`RELATIVE_CODES` indicator, that value becomes the
    target (``>=``); without one the row keeps its baseline target
    (``settings.targets.toilet_rate_baseline_pct``).

    Parameters
    ----------
    county : DataFrame
        County rows (:data:`COUNTY_COLUMNS`); not modified.
    previous : DataFrame or None
        The previous snapshot's county rows: ``code`` and ``value`` at least.

    Returns
    -------
    DataFrame
        A copy; the re-targeted rows say so in ``source``.
    """
    out = county.copy()
    if previous is None or previous.empty or "code" not in previous:
        return out
    before = (
        previous.assign(value=pd.to_numeric(previous["value"], errors="coerce"))
        .dropna(subset=["value"])
        .drop_duplicates("code", keep="last")
        .set_index("code")["value"]
    )
    rows = out["code"].isin(RELATIVE_CODES) & out["code"].isin(before.index)
    if not rows.any():
        return out
    prev = out.loc[rows, "code"].map(before).astype(float)
    out.loc[rows, "target"] = prev
    out.loc[rows, "comparison"] = ">="
    out.loc[rows, "source"] = (
        out.loc[rows, "source"].astype(str)
        + "；稳步提高：不低于上次快照的 "
        + prev.map(lambda x: f"{x:.1f}")
        + out.loc[rows, "unit"].astype(str)
    )
    return judge(out.drop(columns=["met", "status"]))[list(out.columns)]
