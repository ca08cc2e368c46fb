"""一村一图 review sheet: every check for one admin village, as tables and as a stand-alone HTML."""

from __future__ import annotations

import html
from dataclasses import dataclass

import folium
import pandas as pd

from app.components import zh_table
from app.maps.assets import self_contained_html
from app.maps.builders import CLINIC_STATUS_ZH
from geo.assessment import Assessment
from layers.dataset import Dataset

__all__ = ["VillageSheet", "village_sheet", "village_sheet_html"]


@dataclass(frozen=True)
class VillageSheet:
    """The checks of one admin village: header facts and tables with Chinese headers."""

    code: str
    name: str
    township: str
    facts: dict[str, str]
    natural_villages: pd.DataFrame
    sites: pd.DataFrame


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
    return VillageSheet(code, str(av["name"]), township, facts, nv_table, sites)


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
