"""Roll analyses up: natural village → admin village → township → county, against targets.

Counts, rates, households and population affected per unit, and the county's indicators
compared with the Ningxia targets (``../shared/STANDARDS.md``, "Targets"). Every analysis
is optional: pass the results you have.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from geo.clinics import ClinicResult
from geo.indicators import judge
from geo.roads import HardRoadResult
from geo.services import ServiceResult
from geo.settings import Settings
from layers.dataset import Dataset

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
        ``sv_rate_pct``, ``cl_status`` and ``problems`` (items for the problem list).
    townships : DataFrame
        The same counts summed per township, plus ``cl_township_blank``; sorted by
        ``problems``, most first.
    county : DataFrame
        One row per indicator: ``indicator``, ``value``, ``unit``, ``target``,
        ``comparison`` (``>=``/``<=``), ``met``, ``source``, ``status`` (``达标``,
        ``未达标``, or ``无数据`` when the indicator's layer is absent or empty: value NaN,
        ``met`` NA in its nullable boolean column).
    """

    admin_villages: pd.DataFrame
    townships: pd.DataFrame
    county: pd.DataFrame


def _rate(num: pd.Series | float, den: pd.Series | float) -> pd.Series | float:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(np.asarray(den) > 0, 100.0 * np.asarray(num) / np.asarray(den), np.nan)


def rollup(
    dataset: Dataset,
    settings: Settings,
    *,
    hard_road: HardRoadResult | None = None,
    services: ServiceResult | None = None,
    clinics: ClinicResult | None = None,
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
        and :func:`geo.clinics.clinic_gaps`.

    Returns
    -------
    Rollup
    """
    admin = dataset["admin_villages"]
    av = pd.DataFrame(
        {
            "code": admin["code"].to_numpy(),
            "name": admin["name"].to_numpy(),
            "township_code": admin["township_code"].to_numpy(),
        }
    ).set_index("code")
    for c in _COUNT_COLUMNS:
        av[c] = 0.0

    if hard_road is not None:
        v = pd.DataFrame(hard_road.villages.drop(columns="geometry"))
        target = v["scope"] == "target"
        bad = target & ~v["connected"]
        g = (
            v.assign(
                hr_target=target,
                hr_connected=target & v["connected"],
                hr_not_connected=bad,
                hr_households_not_connected=np.where(bad, v["households"], 0),
                hr_population_not_connected=np.where(bad, v["population"], 0),
                hr_below_threshold=v["scope"] == "below_threshold",
                hr_excluded=v["scope"] == "excluded",
                hr_narrow=target & v["connected"] & ~v["width_ok"],
                hr_harden_km=np.where(bad, v["harden_km"], 0.0),
                hr_new_km=np.where(bad, v["new_km"].fillna(0.0), 0.0),
                hr_cost_wan=np.where(bad, v["cost_wan"].fillna(0.0), 0.0),
            )
            .groupby("admin_village_code")[[c for c in _COUNT_COLUMNS if c.startswith("hr_")]]
            .sum()
        )
        av.update(g.astype(float))
    if services is not None and not services.no_data:
        u = pd.DataFrame(services.units.drop(columns="geometry"))
        u = u.loc[u["unit_kind"] == "relocation_site"]
        g = (
            u.assign(
                sv_sites=1,
                sv_ok=u["ok"],
                sv_not_ok=~u["ok"],
                sv_population_not_ok=np.where(~u["ok"], u["population"], 0),
            )
            .groupby("admin_village_code")[
                ["sv_sites", "sv_ok", "sv_not_ok", "sv_population_not_ok"]
            ]
            .sum()
        )
        av.update(g.astype(float))
    av["cl_status"] = ""
    if clinics is not None:
        a = clinics.admin_villages.set_index("code")
        av["cl_status"] = a["status"].reindex(av.index).fillna("")
        av["cl_blank_admin_villages"] = a["blank"].reindex(av.index).fillna(False).astype(float)
        av["cl_short_of_doctors"] = (
            (a["status"] == "short_of_doctors").reindex(av.index).fillna(False).astype(float)
        )
        vv = pd.DataFrame(clinics.villages.drop(columns="geometry"))
        g = (
            vv.assign(
                cl_population_clinic_beyond=np.where(~vv["clinic_ok"], vv["population"], 0),
                cl_population_centre_beyond=np.where(~vv["health_centre_ok"], vv["population"], 0),
            )
            .groupby("admin_village_code")[
                ["cl_population_clinic_beyond", "cl_population_centre_beyond"]
            ]
            .sum()
        )
        av.update(g.astype(float))

    av["problems"] = av["hr_not_connected"] + av["sv_not_ok"] + av["cl_blank_admin_villages"]
    av["hr_rate_pct"] = _rate(av["hr_connected"], av["hr_target"])
    av["sv_rate_pct"] = _rate(av["sv_ok"], av["sv_sites"])

    townships = dataset["townships"]
    sums = av.groupby("township_code")[[*_COUNT_COLUMNS, "problems"]].sum()
    tw = pd.DataFrame(
        {"code": townships["code"].to_numpy(), "name": townships["name"].to_numpy()}
    ).set_index("code")
    tw = tw.join(sums).fillna(0.0)
    tw["cl_township_blank"] = 0.0
    if clinics is not None:
        blank_tw = clinics.townships.set_index("code")["blank"]
        tw["cl_township_blank"] = blank_tw.reindex(tw.index).fillna(False).astype(float)
    tw["problems"] = tw["problems"] + tw["cl_township_blank"]
    tw["hr_rate_pct"] = _rate(tw["hr_connected"], tw["hr_target"])
    tw["sv_rate_pct"] = _rate(tw["sv_ok"], tw["sv_sites"])
    tw = tw.sort_values(["problems", "hr_not_connected"], ascending=False)

    hr, wt = settings.hard_road, settings.water
    rows = []
    if hard_road is not None:
        rows.append(
            {
                "indicator": "20户以上自然村通硬化路率",
                "value": float(_rate(tw["hr_connected"].sum(), tw["hr_target"].sum())),
                "unit": "%",
                "target": hr.target_rate_pct,
                "comparison": ">=",
                "source": "宁夏衔接“十四五”规划（有序推进）；2022年底全区99.5%",
            }
        )
    if services is not None:
        rows.append(
            {
                "indicator": "移民安置区一刻钟便民生活服务圈达标率",
                "value": np.nan
                if services.no_data
                else float(_rate(tw["sv_ok"].sum(), tw["sv_sites"].sum())),
                "unit": "%",
                "target": 100.0,
                "comparison": ">=",
                "source": "宁夏衔接“十四五”规划；中卫市百万移民致富提升行动",
            }
        )
    if clinics is not None:
        blanks = float(tw["cl_township_blank"].sum() + tw["cl_blank_admin_villages"].sum())
        rows.append(
            {
                "indicator": "乡村两级医疗卫生机构和人员空白点",
                "value": blanks,
                "unit": "个",
                "target": 0.0,
                "comparison": "<=",
                "source": "宁夏衔接“十四五”规划指标表（约束性，动态清零）",
            }
        )
    county = pd.DataFrame(
        rows, columns=["indicator", "value", "unit", "target", "comparison", "source"]
    )
    county = judge(county)  # met (NA for 无数据) and status, as every indicator table
    county.attrs["tap_rate_target_pct"] = wt.tap_rate_target_pct
    return Rollup(admin_villages=av.reset_index(), townships=tw.reset_index(), county=county)
