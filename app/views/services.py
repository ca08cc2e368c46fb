"""一刻钟便民生活服务圈: relocation sites, 15-minute walking areas, nearest facility per kind."""

from __future__ import annotations

import streamlit as st

from app.components import PRINT_CSS, metric_row, show_map, zh_table
from app.maps.builders import build_services_map
from app.state import page_context
from geo.assessment import Assessment

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
m = build_services_map(
    ctx.scenario_dataset, a, options=ctx.options, scope=ctx.scope, kinds=tuple(kinds) or None
)
show_map(m, key="services_map")
st.subheader("各安置区最近设施（步行分钟）")
cols = ["unit_id", "name", "population", "ok", "missing_kinds"]
cols += [f"{k}_min" for k in ss.required_kinds]
table = zh_table(units.sort_values("ok"), cols)
table = table.rename(columns={f"{k}_min": f"{k}(分钟)" for k in ss.required_kinds})
st.dataframe(table.round(1), hide_index=True, width="stretch", key="sv_table")
