"""一村一图 review sheet: every check for one admin village, as tables and as a stand-alone HTML."""

from __future__ import annotations

import html
from dataclasses import dataclass, field

import folium
import pandas as pd

from app.components import outcomes_table, zh_table
from app.maps.assets import self_contained_html
from app.maps.builders import CLINIC_STATUS_ZH
from geo.assessment import Assessment
from layers.dataset import Dataset

__all__ = [
    "VillageSheet",
    "matching_villages",
    "village_outcomes",
    "village_sheet",
    "village_sheet_html",
]


def matching_villages(
    admin_villages: pd.DataFrame, natural_villages: pd.DataFrame, query: str
) -> pd.Series:
    """Admin villages a search finds: by name or code, or by one of their natural villages.

    Parameters
    ----------
    admin_villages : DataFrame
        The admin villages searched (``code``, ``name``).
    natural_villages : DataFrame
        The county's natural villages (``name``, ``admin_village_code``).
    query : str
        Part of a name, or the start of a code; blank finds every admin village.

    Returns
    -------
    Series
        Indexed by the codes found (in ``admin_villages`` order): the names of the natural
        villages that matched, joined by 、 (empty text where the admin village itself
        matched and none of its natural villages did).
    """
    q = query.strip()
    codes = admin_villages["code"].astype(str)
    if not q:
        return pd.Series("", index=pd.Index(codes, name="code"), dtype=object)
    own = admin_villages["name"].astype(str).str.contains(q, regex=False) | codes.str.startswith(q)
    nv = natural_villages.loc[
        natural_villages["name"].astype(str).str.contains(q, regex=False)
        & natural_villages["admin_village_code"].isin(codes)
    ]
    names = nv.groupby("admin_village_code", sort=False)["name"].agg(
        lambda s: "、".join(dict.fromkeys(s.astype(str)))
    )
    found = codes[own | codes.isin(names.index)]
    return pd.Series(
        names.reindex(found).fillna("").to_numpy(), index=pd.Index(found, name="code"), dtype=object
    )


@dataclass(frozen=True)
class VillageSheet:
    """The checks of one admin village: header facts and tables with Chinese headers.

    ``indicators`` is every indicator's outcome for the village, its natural villages and
    sites, and its township's township-level rows (:func:`village_outcomes`).
    """

    code: str
    name: str
    township: str
    facts: dict[str, str]
    natural_villages: pd.DataFrame
    sites: pd.DataFrame
    indicators: pd.DataFrame = field(default_factory=pd.DataFrame)


def village_outcomes(a: Assessment, code: str, township_code: str) -> pd.DataFrame:
    """Every indicator's outcome rows for one admin village, for display.

    Parameters
    ----------
    a : Assessment
        With the indicator table evaluated (``a.indicators``).
    code : str
        The admin village's code.
    township_code : str
        Its township: township-level rows (卫生院, 幼儿园 per township …) are included.

    Returns
    -------
    DataFrame
        :func:`app.components.outcomes_table` of the rows whose ``admin_village_code`` is
        ``code`` (the village, its natural villages and relocation sites) or that judge
        its township: 未达标 rows first, then 无数据, then the others, each in the
        table's indicator order; empty when the table was not evaluated.
    """
    results = getattr(a, "indicators", None)
    if results is None:
        return pd.DataFrame()
    o = results.outcomes
    mine = o.loc[
        (o["admin_village_code"] == code)
        | ((o["unit_kind"] == "township") & (o["unit_code"] == township_code))
    ]
    names = dict(zip(results.county["code"], results.county["indicator"], strict=True))
    table = outcomes_table(mine, names_zh=names).drop(columns=["乡镇", "行政村"])
    # what needs a visit first: 未达标, then 无数据, then the rest (each in table order)
    first = table["结果"].map({"未达标": 0, "无数据": 1}).fillna(2)
    return table.iloc[first.to_numpy().argsort(kind="stable")].reset_index(drop=True)


def village_sheet(dataset: Dataset, a: Assessment, code: str) -> VillageSheet:
    """Collect every check of admin village ``code`` and its natural villages."""
    av = dataset["admin_villages"].set_index("code").loc[code]
    tw = dataset["townships"].set_index("code")["name"]
    township = str(tw.get(av["township_code"], av["township_code"]))
    cl = a.clinics.admin_villages.set_index("code").loc[code]
    roll = a.rollup.admin_villages.set_index("code")
    problems = int(roll.loc[code, "problems"]) if code in roll.index else 0
    hr = a.hard_road.villages
    hr = hr[hr["admin_village_code"] == code]
    target = hr[hr["scope"] == "target"]
    facts = {
        "行政村": f"{av['name']}（{code}）",
        "乡镇": township,
        "村庄分类": str(av.get("village_class", "—")),
        "人口": f"{int(av['population']):,}" if pd.notna(av.get("population")) else "—",
        "问题数": str(problems),
        "20户以上自然村通硬化路": f"{int(target['connected'].sum())}/{len(target)}",
        "卫生室": f"{CLINIC_STATUS_ZH.get(cl['status'], cl['status'])}"
        f"（卫生室 {int(cl['n_clinics'])} 个，村医 {int(cl['doctors'])} 名）",
    }
    nv = hr.merge(
        a.clinics.villages[["id", "clinic_min", "health_centre_min"]], on="id", how="left"
    )
    nv_table = zh_table(
        nv,
        [
            "id",
            "name",
            "households",
            "population",
            "status",
            "reason",
            "harden_km",
            "new_km",
            "cost_wan",
            "clinic_min",
            "health_centre_min",
        ],
    ).round(2)
    units = a.services.units
    sites = zh_table(
        units[units["admin_village_code"] == code],
        ["unit_id", "name", "population", "ok", "missing_kinds"],
    )
    indicators = village_outcomes(a, code, str(av["township_code"]))
    return VillageSheet(code, str(av["name"]), township, facts, nv_table, sites, indicators)


def _table(frame: pd.DataFrame) -> str:
    return frame.to_html(index=False, border=0, classes="t", na_rep="—", escape=True)


def village_sheet_html(sheet: VillageSheet, m: folium.Map) -> str:
    """One self-contained HTML file: the facts, the tables and the map (works offline)."""
    facts = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
        for k, v in sheet.facts.items()
    )
    body = (
        f"<div id='gapmap-sheet'><h1>一村一图：{html.escape(sheet.name)}</h1>"
        f"<table class='t facts'>{facts}</table>"
        f"<h2>自然村</h2>{_table(sheet.natural_villages)}"
        + (f"<h2>移民安置区</h2>{_table(sheet.sites)}" if not sheet.sites.empty else "")
        + (f"<h2>各项指标</h2>{_table(sheet.indicators)}" if not sheet.indicators.empty else "")
        + "</div>"
    )
    style = (
        "<style>html,body{height:auto!important;overflow:auto!important}"
        "#gapmap-sheet{font:14px/1.5 'Noto Sans CJK SC','Microsoft YaHei',sans-serif;"
        "padding:12px 16px}#gapmap-sheet h1{font-size:20px;margin:4px 0}"
        "#gapmap-sheet h2{font-size:16px;margin:12px 0 4px}"
        ".t{border-collapse:collapse}.t th,.t td{border:1px solid #bbb;padding:2px 6px;"
        "text-align:left}.folium-map{position:relative!important;height:70vh!important;"
        "min-height:420px}@media print{.folium-map{height:160mm!important}"
        ".leaflet-control-zoom,.leaflet-control-layers{display:none}}</style>"
    )
    page = self_contained_html(m)
    page = page.replace("</head>", style + "</head>", 1)
    return page.replace("<body>", "<body>" + body, 1)
