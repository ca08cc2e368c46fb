"""Roll analyses up: natural village → admin village → township → county, against targets.

Counts, rates, households and population affected per unit (``hr_*``, ``sv_*``, ``cl_*``
from the base analyses, for the maps and pages), the problem rows of every indicator of
the indicator table per unit (``problems_<code>``, the ledger's items by construction),
and one county row per indicator (:func:`geo.indicators.evaluate`: value, target from
``settings.targets``, 达标 / 未达标 / 无数据). Every analysis is optional: pass the results
you have.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from geo.clinics import ClinicResult
from geo.indicators import IndicatorInputs, IndicatorResults, builtin_table, evaluate
from geo.roads import HardRoadResult
from geo.services import ServiceResult
from geo.settings import Settings
from layers.dataset import Dataset

if TYPE_CHECKING:
    from geo.water import WaterResult

__all__ = ["Rollup", "rollup"]

_COUNT_COLUMNS = [
    "hr_target",
    "hr_connected",
    "hr_not_connected",
    "hr_households_not_connected",
    "hr_population_not_connected",
    "hr_below_threshold",
    "hr_excluded",
    "hr_narrow",
    "hr_harden_km",
    "hr_new_km",
    "hr_cost_wan",
    "sv_sites",
    "sv_ok",
    "sv_not_ok",
    "sv_population_not_ok",
    "cl_blank_admin_villages",
    "cl_short_of_doctors",
    "cl_population_clinic_beyond",
    "cl_population_centre_beyond",
]


@dataclass(frozen=True)
class Rollup:
    """Result of :func:`rollup`.

    Attributes
    ----------
    admin_villages : DataFrame
        One row per admin village: ``code``, ``name``, ``township_code`` and the counts
        (``hr_*`` 通硬化路, ``sv_*`` 一刻钟, ``cl_*`` 医疗), ``hr_rate_pct``,
        ``sv_rate_pct``, ``cl_status``, ``problems_<code>`` per indicator of the table
        (its problem rows in the admin village: the ledger items) and ``problems``
        (their sum).
    townships : DataFrame
        The same counts per township (problem rows by ``township_code``, so township-level
        units such as a township without a 卫生院 count here), plus
        ``cl_township_blank``; sorted by ``problems``, most first.
    county : DataFrame
        One row per indicator of the table, in its order
        (:data:`geo.indicators.COUNTY_COLUMNS`): ``indicator`` (中文名), ``value``,
        ``unit``, ``target`` (``settings.targets``), ``comparison`` (``>=``/``<=``/``>``),
        ``source``, ``met``, ``status`` (``达标``, ``未达标``, or ``无数据`` when the
        indicator's layer is absent or empty: value NaN, ``met`` NA in its nullable
        boolean column), ``code``, ``group``, ``department`` and ``problems`` (the
        indicator's problem rows in the whole county: its ledger items, including those
        of units in no township).
    """

    admin_villages: pd.DataFrame
    townships: pd.DataFrame
    county: pd.DataFrame


def _rate(num: pd.Series | float, den: pd.Series | float) -> pd.Series | float:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(np.asarray(den) > 0, 100.0 * np.asarray(num) / np.asarray(den), np.nan)


def _with_problem_counts(
    frame: pd.DataFrame, problems: pd.DataFrame, by: str, indicator_codes: tuple[str, ...]
) -> pd.DataFrame:
    """Add ``problems_<code>`` (problem rows of each indicator per unit) and ``problems``.

    The counts of ``pd.crosstab(problems[by], problems["indicator"])`` reindexed to the
    frame's units and the indicators (0 where none), counted with one ``bincount``.
    """
    units = frame.index.unique()
    row = units.get_indexer(problems[by].to_numpy(dtype=object))
    col = pd.Index(list(indicator_codes), dtype=object).get_indexer(
        problems["indicator"].to_numpy(dtype=object)
    )
    ok = (row >= 0) & (col >= 0)
    k = len(indicator_codes)
    table = np.bincount(row[ok] * k + col[ok], minlength=len(units) * k).astype(float)
    table = table.reshape(len(units), k)[units.get_indexer(frame.index)] if k else table
    columns = {f"problems_{c}": table[:, j] for j, c in enumerate(indicator_codes)}
    columns["problems"] = table.sum(axis=1) if k else np.zeros(len(frame))
    extra = pd.DataFrame(columns, index=frame.index)
    return pd.concat([frame.drop(columns=[c for c in columns if c in frame]), extra], axis=1)


def rollup(
    dataset: Dataset,
    settings: Settings,
    *,
    hard_road: HardRoadResult | None = None,
    services: ServiceResult | None = None,
    clinics: ClinicResult | None = None,
    water: WaterResult | None = None,
    indicators: IndicatorResults | None = None,
) -> Rollup:
    """Aggregate analysis results per admin village, township and county.

    Parameters
    ----------
    dataset : Dataset
        Needs ``admin_villages`` and ``townships``.
    settings : Settings
        Targets and thresholds (printed with the indicators).
    hard_road, services, clinics : results, optional
        Outputs of :func:`geo.roads.hard_road_access`, :func:`geo.services.service_access`
        and :func:`geo.clinics.clinic_gaps` (the ``hr_*``, ``sv_*``, ``cl_*`` counts).
    water : WaterResult, optional
        The water coverage (:func:`geo.water.water_coverage`).
    indicators : IndicatorResults, optional
        The evaluated indicator table (:func:`geo.indicators.evaluate`): the problem
        counts and the county rows. Default: the built-in indicators of the results
        given (those not given are left out).

    Returns
    -------
    Rollup
    """
    if indicators is None:
        given = {"hard_road": hard_road, "services": services, "clinics": clinics, "water": water}
        table = builtin_table()
        table = table.without(*(c for c in table.codes if given.get(c) is None))
        inp = IndicatorInputs(
            dataset, None, settings, hard_road=hard_road, services=services, clinics=clinics,
            water=water,
        )  # fmt: skip
        indicators = evaluate(table, inp)
    admin = dataset["admin_villages"]
    codes_av = admin["code"].to_numpy()
    index = pd.DataFrame({"code": codes_av}).set_index("code").index
    # the counts as arrays, the frame built once (not a column at a time)
    counts = {c: np.zeros(len(index)) for c in _COUNT_COLUMNS}

    def update(g: pd.DataFrame) -> None:
        """``DataFrame.update``: the sums where a unit has them, the zeros elsewhere."""
        g = g.astype(float).reindex(index)
        for c in g.columns:
            vals = g[c].to_numpy(dtype=float)
            has = ~np.isnan(vals)
            counts[c][has] = vals[has]

    # each analysis' counts in a frame of their own (not added to a copy of its result)
    if hard_road is not None:
        v = hard_road.villages
        target = v["scope"] == "target"
        bad = target & ~v["connected"]
        g = (
            pd.DataFrame(
                {
                    "hr_target": target,
                    "hr_connected": target & v["connected"],
                    "hr_not_connected": bad,
                    "hr_households_not_connected": np.where(bad, v["households"], 0),
                    "hr_population_not_connected": np.where(bad, v["population"], 0),
                    "hr_below_threshold": v["scope"] == "below_threshold",
                    "hr_excluded": v["scope"] == "excluded",
                    "hr_narrow": target & v["connected"] & ~v["width_ok"],
                    "hr_harden_km": np.where(bad, v["harden_km"], 0.0),
                    "hr_new_km": np.where(bad, v["new_km"].fillna(0.0), 0.0),
                    "hr_cost_wan": np.where(bad, v["cost_wan"].fillna(0.0), 0.0),
                },
                index=v.index,
            )
            .groupby(v["admin_village_code"], sort=False)  # reindexed by label below
            .sum()
        )
        update(g)
    if services is not None and not services.no_data:
        u = services.units
        u = u.loc[u["unit_kind"] == "relocation_site", ["admin_village_code", "ok", "population"]]
        g = (
            pd.DataFrame(
                {
                    "sv_sites": 1,
                    "sv_ok": u["ok"],
                    "sv_not_ok": ~u["ok"],
                    "sv_population_not_ok": np.where(~u["ok"], u["population"], 0),
                },
                index=u.index,
            )
            .groupby(u["admin_village_code"], sort=False)  # reindexed by label below
            .sum()
        )
        update(g)
    cl_status = np.full(len(index), "", dtype=object)
    if clinics is not None:
        a = clinics.admin_villages[["code", "status", "blank"]].set_index("code")
        cl_status = a["status"].reindex(index).fillna("").to_numpy(dtype=object)
        counts["cl_blank_admin_villages"] = (
            a["blank"].reindex(index).fillna(False).astype(float).to_numpy()
        )
        counts["cl_short_of_doctors"] = (
            (a["status"] == "short_of_doctors").reindex(index).fillna(False).astype(float)
        ).to_numpy()
        vv = clinics.villages
        g = (
            pd.DataFrame(
                {
                    "cl_population_clinic_beyond": np.where(~vv["clinic_ok"], vv["population"], 0),
                    "cl_population_centre_beyond": np.where(
                        ~vv["health_centre_ok"], vv["population"], 0
                    ),
                },
                index=vv.index,
            )
            .groupby(vv["admin_village_code"], sort=False)  # reindexed by label below
            .sum()
        )
        update(g)
    av = pd.DataFrame(
        {
            "code": codes_av,
            "name": admin["name"].to_numpy(),
            "township_code": admin["township_code"].to_numpy(),
            **counts,
            "cl_status": cl_status,
        }
    ).set_index("code")

    av["hr_rate_pct"] = _rate(av["hr_connected"], av["hr_target"])
    av["sv_rate_pct"] = _rate(av["sv_ok"], av["sv_sites"])

    townships = dataset["townships"]
    sums = av.groupby("township_code", sort=False)[_COUNT_COLUMNS].sum()  # joined by label
    tw = pd.DataFrame(
        {"code": townships["code"].to_numpy(), "name": townships["name"].to_numpy()}
    ).set_index("code")
    tw = tw.join(sums).fillna(0.0)
    tw["cl_township_blank"] = 0.0
    if clinics is not None:
        blank_tw = clinics.townships.set_index("code")["blank"]
        tw["cl_township_blank"] = blank_tw.reindex(tw.index).fillna(False).astype(float)
    tw["hr_rate_pct"] = _rate(tw["hr_connected"], tw["hr_target"])
    tw["sv_rate_pct"] = _rate(tw["sv_ok"], tw["sv_sites"])

    # problems: the problem rows of every indicator's outcomes (= the ledger's items)
    outcomes = indicators.outcomes
    is_problem = (outcomes["status"] == "problem").to_numpy()
    problems = outcomes.loc[is_problem, ["admin_village_code", "township_code", "indicator"]]
    av, tw = (
        _with_problem_counts(frame, problems, by, indicators.table.codes)
        for frame, by in ((av, "admin_village_code"), (tw, "township_code"))
    )
    tw = tw.sort_values(["problems", "hr_not_connected"], ascending=False)
    county = indicators.county.copy()
    # every problem row once, also those of units in no township (a water works outside)
    per_code = problems["indicator"]
    county["problems"] = county["code"].map(per_code.value_counts()).fillna(0).astype(float)
    return Rollup(admin_villages=av.reset_index(), townships=tw.reset_index(), county=county)
