"""问题清单: one problem item per failing unit of an :class:`~geo.assessment.Assessment`.

:func:`problem_items` is a pure function: an assessment in, a frame out (one row per
problem, columns :data:`ITEM_COLUMNS`). The items **are** the ``problem`` rows of the
assessment's indicator outcomes (:attr:`Assessment.indicators`, from the indicator table
:mod:`geo.indicators.table`), so the roll-up's ``problems_<code>`` counts and the ledger
agree by construction. Each item has a **stable key**, indicator + unit code, so that the
same problem in the next analysis run is the same ledger item:

``hard_road:<natural village id>``
    A 20户以上 natural village (具备条件) not joined by hard road. The reason
    (``only_unpaved``/``network_gap``/``no_road``) may change between runs; the item stays.
``services:<relocation site id>:<kind>``
    A relocation site lacks one required kind (综合超市/便利菜店/药店/公交站点) within the
    walking limit: **one item per missing kind**, because each kind has its own measure,
    responsible unit and acceptance (the pharmacy may be 销号 while the bus stop is still
    整改中).
``clinics:admin_village:<admin village code>``
    A blank admin village: no 卫生室, or a 卫生室 without a doctor (one item: the blank spot).
``clinics:township:<township code>``
    A township without a 卫生院.
``water:<natural village id>``
    A natural village whose water status is not ``ok`` (nor ``unlinked``, 无数据), from
    the assessment's water analysis (:attr:`Assessment.water`): :func:`water_items`.
``<code>:<unit code>[:<sub-unit>]``
    Every other indicator of the table (schools, 5G, sewage … and a county's own
    ``[[indicators]]``).

What is *not* an item (ok, exempt or no_data outcome rows): villages below 20 households
or excluded (搬迁撤并), width shortfalls on connected villages, admin villages short of
doctors but not blank, travel-time overruns, natural villages assessed for services with
``include_villages`` (the 生活圈 target is set for relocation sites), and every unit of an
indicator without data.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from geo.indicators import OUTCOME_COLUMNS_ZH, IndicatorResults, indicator_table
from geo.indicators.builtin import water_result_outcomes
from geo.ledger.states import LedgerError
from geo.settings import Settings
from layers.store.ledger import ITEM_COLUMNS as STORED_ITEM_COLUMNS

if TYPE_CHECKING:
    from geo.assessment import Assessment
    from geo.water import WaterResult

__all__ = [
    "INDICATOR_ZH",
    "ITEM_COLUMNS",
    "ITEM_COLUMNS_ZH",
    "check_items",
    "indicator_names",
    "make_items",
    "problem_items",
    "water_items",
]

ITEM_COLUMNS: tuple[str, ...] = STORED_ITEM_COLUMNS  # the ledger stores exactly these
"""Columns of a problem-item frame.

``key`` stable item key; ``indicator`` (the indicator code of the table: ``hard_road``,
``services``, ``clinics``, ``water`` …); ``unit_kind`` (``natural_village``/
``relocation_site``/``admin_village``/``township``/``water_source``); ``unit_code`` the
unit's id or code; township / admin village / natural village (or relocation site) codes
and names, empty where the unit is above that level; ``problem_type`` 问题类型 and
``description`` 问题描述 (Chinese, with the numbers); ``measure`` the suggested 整改措施;
``cause`` the analysis reason code (``only_unpaved``, ``no_clinic`` …); ``households``,
``population`` affected and ``cost_wan`` estimated investment (万元), NaN where not known;
``lon``/``lat`` a point on the unit (EPSG:4326).
"""

ITEM_COLUMNS_ZH: Mapping[str, str] = {c: OUTCOME_COLUMNS_ZH[c] for c in ITEM_COLUMNS}
"""Chinese headers of :data:`ITEM_COLUMNS`."""

INDICATOR_ZH: Mapping[str, str] = indicator_table(Settings()).names_zh
"""Chinese name of each indicator of the default table (problem-list names).

A county's own ``[[indicators]]`` add theirs: :func:`indicator_names` of its settings or
table."""


def indicator_names(source: Settings | Any) -> dict[str, str]:
    """Return code → problem-list name of the indicators of an assessment, table or settings.

    Parameters
    ----------
    source : Assessment, IndicatorTable or Settings
        An assessment (its evaluated table), a table, or settings (their default table).
    """
    if isinstance(source, Settings):
        return indicator_table(source).names_zh
    table = getattr(source, "table", None)
    if table is not None and not callable(table):
        return table.names_zh
    if hasattr(source, "names_zh"):
        return source.names_zh
    return dict(INDICATOR_ZH)


_TEXT = [c for c in ITEM_COLUMNS if c not in {"households", "population", "cost_wan", "lon", "lat"}]
_NUMBERS = ["households", "population", "cost_wan", "lon", "lat"]


def make_items(rows: pd.DataFrame | Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Return a problem-item frame with exactly :data:`ITEM_COLUMNS` and normalised types.

    Missing text columns become ``""``, missing numbers NaN. Use it to build items for an
    indicator that :func:`problem_items` does not know yet, then pass the
    frame through ``problem_items(..., extra=[frame])``.

    Raises
    ------
    LedgerError
        If keys are empty or repeated (see :func:`check_items`).
    """
    frame = pd.DataFrame(rows) if not isinstance(rows, pd.DataFrame) else rows
    out = pd.DataFrame(index=range(len(frame)))
    for col in _TEXT:
        if col in frame:
            out[col] = frame[col].fillna("").astype(str).to_numpy()
        else:
            out[col] = ""
    for col in _NUMBERS:
        if col in frame:
            out[col] = pd.to_numeric(frame[col], errors="coerce").astype(float).to_numpy()
        else:
            out[col] = np.nan
    check_items(out)
    return out


def check_items(items: pd.DataFrame) -> None:
    """Check a problem-item frame: every column of :data:`ITEM_COLUMNS`, keys set and unique.

    Raises
    ------
    LedgerError
        With the missing columns, or the empty / repeated keys.
    """
    missing = [c for c in ITEM_COLUMNS if c not in items]
    if missing:
        raise LedgerError(
            f"problem items lack column(s) {missing}; build them with make_items()",
            zh=f"问题清单缺少列：{'、'.join(missing)}",
        )
    keys = items["key"].astype(str)
    empty = int((keys.str.strip() == "").sum())
    dup = sorted(set(keys[keys.duplicated()]))
    if empty or dup:
        raise LedgerError(
            f"problem items need a unique, non-empty key: {empty} empty, repeated: {dup[:10]}",
            zh=f"问题编号必须唯一且非空：{empty} 条为空，重复的有 {'、'.join(dup[:10])}",
        )


def _results(a: Assessment) -> IndicatorResults:
    """Return the assessment's evaluated indicators."""
    if a.indicators is None:
        raise LedgerError(
            "this assessment has no evaluated indicators; build it with geo.assessment.assess",
            zh="该分析结果缺少指标结果，请重新运行分析",
        )
    return a.indicators


def problem_items(a: Assessment, *, extra: Iterable[pd.DataFrame] = ()) -> pd.DataFrame:
    """Return one row per problem found by an assessment (the 问题清单).

    Parameters
    ----------
    a : Assessment
        Output of :func:`geo.assessment.assess`: the ``problem`` rows of
        :attr:`Assessment.indicators` (every indicator of its table).
    extra : iterable of DataFrame, optional
        Items of other indicators, built with :func:`make_items`.

    Returns
    -------
    DataFrame
        Columns :data:`ITEM_COLUMNS`, sorted by township, admin village, indicator (in
        table order) and key; ``key`` unique.

    Raises
    ------
    LedgerError
        If two items share a key (e.g. an ``extra`` frame repeats one).
    """
    results = _results(a)
    frames = [results.problems.loc[:, list(ITEM_COLUMNS)]]
    frames += [make_items(f) for f in extra]
    frames = [f for f in frames if len(f)]
    if not frames:
        return make_items([])
    out = pd.concat(frames, ignore_index=True)
    order = {k: i for i, k in enumerate(results.table.codes)}
    out = (
        out.assign(_o=out["indicator"].map(order).fillna(len(order)))
        .sort_values(["township_code", "admin_village_code", "_o", "key"], kind="stable")
        .drop(columns="_o")
        .reset_index(drop=True)
    )
    check_items(out)
    return out


def water_items(result: WaterResult, *, av_names: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Problem items of the 农村供水 analysis, one per natural village that fails.

    :func:`problem_items` includes them from the assessment's water analysis. Keys are
    ``water:<village id>``; the rows are the problem rows of
    :func:`geo.indicators.builtin.water_result_outcomes`.

    Parameters
    ----------
    result : geo.water.WaterResult
        Coverage from :func:`geo.water.water_coverage`.
    av_names : mapping, optional
        Admin-village code → name (from the dataset's ``admin_villages``).
    """
    rows = water_result_outcomes(result, av_names=av_names)
    return make_items(rows.loc[rows["status"] == "problem", list(ITEM_COLUMNS)])
