"""一刻钟便民生活服务圈: relocation sites, 15-minute walking areas, nearest facility per kind."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import streamlit as st

from app.components import PRINT_CSS, access_mode, metric_row, show_map, zh_table
from app.layout import data_table
from app.maps.base import LegendItem, geojson_layer
from app.maps.builders import build_services_map
from app.maps.terrain import inside, minutes_legend, minutes_overlay
from app.state import page_context, terrain_for
from geo.assessment import Assessment
from geo.labels import MISSING_ZH
from geo.terrain import isochrone

st.markdown(PRINT_CSS, unsafe_allow_html=True)
ctx = page_context()
if ctx is None:
    st.stop()
a = ctx.assessment
ss = a.settings.services
st.title(f"一刻钟便民生活服务圈 · {ctx.township_name}")
walk_kmh = a.settings.network.walk_speed_kmh
st.caption(
    f"规则：每个移民安置区步行 {ss.max_time_min:g} 分钟内（步速 {walk_kmh:g}"
    f" km/h，沿路网）应有：{'、'.join(ss.required_kinds)}。"
)
units = ctx.scope.select(a.services.units)


def _figures(result: Assessment) -> dict[str, float]:
    u = ctx.scope.select(result.services.units)
    return {
        "移民安置区": len(u),
        "达标": int(u["ok"].sum()),
        "未达标安置人口": float(u.loc[~u["ok"], "population"].sum()),
    }


metric_row(
    _figures(a),
    _figures(ctx.baseline) if ctx.baseline else None,
    formats={},
    lower_is_better=frozenset({"未达标安置人口"}),
)
kinds = st.multiselect(
    "显示的设施类别",
    list(ss.required_kinds),
    default=list(ss.required_kinds),
    key="sv_kinds",
    placeholder="选择设施类别",
)
c1, c2 = st.columns([1, 1])
mode = access_mode("步行时间", key="sv_mode", available=a.terrain is not None, container=c1)
# the surfaces take seconds: computed (and cached) only when asked for
ter = terrain_for(ctx.scenario_dataset, a) if mode == "terrain" else None
overlays = []
if mode == "terrain" and ter is not None:
    surface_kind = c2.selectbox("步行时间面", list(kinds or ss.required_kinds), key="sv_surface")
    valid = np.isfinite(a.terrain.dem.data) & inside(a.terrain.dem, ctx.dataset["county"])
    overlays.append(
        (
            minutes_overlay(
                ter.surfaces[surface_kind],
                name=f"到最近{surface_kind}的步行时间（考虑地形）",
                valid=valid,
            ),
            minutes_legend(),
        )
    )
    limit = ss.limit_min(surface_kind)
    area = isochrone(ter.surfaces[surface_kind], limit_min=limit, valid=valid)
    overlays.append(
        (
            geojson_layer(
                gpd.GeoDataFrame({"name": [f"{limit:g}分钟内可达{surface_kind}"]}, geometry=area),
                name=f"{limit:g}分钟内可达{surface_kind}（考虑地形）",
                labels={"name": "范围"},
                color="#0d47a1",
                weight=2,
                fill_opacity=0.0,
                dash="6 4",
            ),
            [LegendItem("#0d47a1", f"{limit:g}分钟内可达{surface_kind}（考虑地形）", "line")],
        )
    )
m = build_services_map(
    ctx.scenario_dataset,
    a,
    options=ctx.options,
    scope=ctx.scope,
    kinds=tuple(kinds) or None,
    overlays=overlays,
)
show_map(m, key="services_map")
if mode == "terrain" and ter is not None:
    t = ter.services.loc[ter.services["unit_id"].isin(units["unit_id"])]
    changed = t.loc[t["change"] != "same"]
    st.subheader("考虑地形后的变化")
    worse, better = int((t["change"] == "worse").sum()), int((t["change"] == "better").sum())
    st.caption(
        f"{len(t)} 个「安置区×设施类别」中，{worse} 个因坡度由达标变为超时，"
        f"{better} 个因可越野抄近路由超时变为达标。"
    )
    st.dataframe(
        pd.DataFrame(
            {
                "安置区": t["name"],
                "设施类别": t["kind"],
                "按路网(分钟)": t["network_min"].round(1),
                "考虑地形(分钟)": t["terrain_min"].round(1),
                "变化": t["change"].map(
                    {"same": "不变", "worse": "变为超时", "better": "变为达标"}
                ),
            }
        ).sort_values("变化", key=lambda c: c.eq("不变")),
        hide_index=True,
        width="stretch",
        key="sv_terrain_table",
        height=260 if len(changed) else "content",
        placeholder=MISSING_ZH,
    )
st.subheader("各安置区最近设施（步行分钟）")
cols = ["unit_id", "name", "population", "ok", "missing_kinds"]
cols += [f"{k}_min" for k in ss.required_kinds]
table = zh_table(units.sort_values("ok"), cols)
table = table.rename(columns={f"{k}_min": f"{k}(分钟)" for k in ss.required_kinds})
data_table(table.round(1), hide_index=True, width="stretch", key="sv_table")
