"""医疗卫生空白点: townships without a 卫生院, admin villages without a 卫生室 or doctor."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import streamlit as st

from app.components import PRINT_CSS, access_mode, metric_row, show_map, zh_table
from app.layout import data_table
from app.maps.base import LegendItem, geojson_layer
from app.maps.builders import build_clinics_map
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
cs = a.settings.clinics
st.title(f"医疗卫生空白点 · {ctx.township_name}")
st.caption(
    "规则：每个乡镇至少一所卫生院，每个行政村一个卫生室并有村医（每千人不少于 "
    f"{cs.doctors_per_1000_min:g} 名）；到卫生室步行不超过 {cs.clinic_max_time_min:g} 分钟，"
    f"到卫生院车行不超过 {cs.health_centre_max_time_min:g} 分钟。"
)
tw = a.clinics.townships
av = ctx.scope.select(a.clinics.admin_villages, field="township_code")
vil = ctx.scope.select(a.clinics.villages)
FAR = f"到卫生室超 {cs.clinic_max_time_min:g} 分钟人口"


def _figures(result: Assessment) -> dict[str, float]:
    t = result.clinics.townships
    v = ctx.scope.select(result.clinics.admin_villages, field="township_code")
    n = ctx.scope.select(result.clinics.villages)
    return {
        "无卫生院乡镇": int(t["blank"].sum()),
        "空白行政村": int(v["blank"].sum()),
        "村医不足行政村": int((v["status"] == "short_of_doctors").sum()),
        FAR: float(n.loc[n["clinic_min"] > cs.clinic_max_time_min, "population"].sum()),
    }


metric_row(
    _figures(a),
    _figures(ctx.baseline) if ctx.baseline else None,
    formats={},
    lower_is_better=frozenset({"无卫生院乡镇", "空白行政村", "村医不足行政村", FAR}),
)
mode = access_mode("到卫生室步行时间", key="cl_mode", available=a.terrain is not None)
# the surfaces take seconds: computed (and cached) only when asked for
ter = terrain_for(ctx.scenario_dataset, a) if mode == "terrain" else None
overlays = []
if mode == "terrain" and ter is not None:
    valid = np.isfinite(a.terrain.dem.data) & inside(a.terrain.dem, ctx.dataset["county"])
    limit = cs.clinic_max_time_min
    area = isochrone(ter.surfaces["卫生室"], limit_min=limit, valid=valid)
    label = f"步行{limit:g}分钟内可达卫生室（考虑地形）"
    overlays += [
        (
            minutes_overlay(
                ter.surfaces["卫生室"], name="到最近卫生室的步行时间（考虑地形）", valid=valid
            ),
            minutes_legend(),
        ),
        (
            geojson_layer(
                gpd.GeoDataFrame({"name": [label]}, geometry=area),
                name=label,
                labels={"name": "范围"},
                color="#0d47a1",
                weight=2,
                fill_opacity=0.0,
                dash="6 4",
            ),
            [LegendItem("#0d47a1", label, "line")],
        ),
    ]
m = build_clinics_map(
    ctx.scenario_dataset, a, options=ctx.options, scope=ctx.scope, overlays=overlays
)
show_map(m, key="clinics_map")
if mode == "terrain" and ter is not None:
    st.subheader(f"到卫生室超过 {cs.clinic_max_time_min:g} 分钟的人口（按乡镇）")
    zt = ter.townships
    if ctx.scope.township_code is not None:
        zt = zt.loc[zt["code"] == ctx.scope.township_code]
    st.dataframe(
        pd.DataFrame(
            {
                "乡镇": zt["name"],
                "人口": zt["population"].round(0),
                "超时人口（按路网）": zt["network_beyond"].round(0),
                "超时人口（考虑地形）": zt["beyond"].round(0),
                "超时比例（考虑地形）%": zt["beyond_pct"].round(1),
                "平均步行(分钟)": zt["mean_minutes"].round(1),
            }
        ),
        hide_index=True,
        width="stretch",
        key="cl_terrain_table",
        placeholder=MISSING_ZH,
    )
    ch = ter.clinics["change"].value_counts()
    worse, better = int(ch.get("worse", 0)), int(ch.get("better", 0))
    st.caption(
        f"考虑地形后：{worse} 个自然村由 {cs.clinic_max_time_min:g} 分钟内变为超时，"
        f"{better} 个可越野抄近路而变为达标。"
    )
st.subheader("空白及不足的行政村")
bad = av[av["blank"] | (av["status"] == "short_of_doctors")].rename(columns={"status": "cl_status"})
data_table(
    zh_table(
        bad, ["code", "name", "population", "n_clinics", "doctors", "doctors_required", "cl_status"]
    ),
    hide_index=True,
    width="stretch",
    key="cl_table",
    placeholder=MISSING_ZH,
)
if tw["blank"].any():
    st.subheader("无卫生院乡镇")
    st.dataframe(
        zh_table(tw[tw["blank"]], ["code", "name", "n_health_centres"]),
        hide_index=True,
        key="cl_tw_table",
        placeholder=MISSING_ZH,
    )
