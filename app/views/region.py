"""全区: every county of the region against the targets; open a county with its own pages.

Reads the results of ``python -m scripts.region`` (never computes them): region and city
KPIs, a county choropleth per indicator with the nine key counties marked, a ranking, the
counties that failed. A click on a county (or 打开该县) opens it from its stored results.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app.components import PRINT_CSS, kpi_cards, show_map
from app.maps.base import MapOptions, value_text
from app.maps.region import build_region_map, ranked
from app.state import (
    REGION_RESULTS,
    open_region_county,
    region_progress,
    region_results,
    server_db_url,
)
from geo.indicators.table import GROUP_ZH
from layers.errors import GapMapError

st.markdown(PRINT_CSS, unsafe_allow_html=True)


@st.fragment(run_every="5s")
def _progress() -> None:
    """A running region computation: counties done / total, redrawn every 5 seconds."""
    progress = region_progress()
    if progress is None:
        if st.session_state.pop("_region_running", False):
            st.rerun(scope="app")  # it has just finished: show the new results
        return
    if progress["interrupted"]:
        st.warning(
            f"上次全区计算（开始于 {_beijing(progress.get('started'))}）未正常结束，"
            f"完成 {progress.get('done', 0)}/{progress.get('total', 0)} 个县；请重新运行 "
            "python -m scripts.region（已完成的县不会重算）。"
        )
        return
    st.session_state["_region_running"] = True
    done, total = int(progress.get("done", 0)), max(1, int(progress.get("total", 1)))
    failed = int(progress.get("failed", 0))
    st.progress(
        done / total,
        text=f"正在计算全区：县 {done}/{total} 完成"
        + (f"（{failed} 个失败）" if failed else "")
        + f"，{progress.get('workers', '?')} 个 worker；完成后本页自动更新。",
    )


def _beijing(stamp: object) -> str:
    """An ISO time of the results as Beijing time (``2026-12-02 09:30（北京时间）``)."""
    when = pd.to_datetime(stamp, errors="coerce", utc=True)
    if pd.isna(when):
        return "—"
    return f"{when.tz_convert('Asia/Shanghai'):%Y-%m-%d %H:%M}（北京时间）"


_progress()
results = region_results()
if results is None and server_db_url() is not None:  # server mode: into the database too
    st.title("全区")
    st.info(
        "还没有全区计算结果。请由管理员在服务器上以数据库所有者身份运行（结果写入服务器数据库，"
        f"计算进度见 {REGION_RESULTS}）：\n\n"
        "```bash\n"
        "sudo sh -c '. /etc/gapmap/server.env && .venv/bin/python -m scripts.region "
        f'--data data/region_sample --out {REGION_RESULTS} --db "$GAPMAP_DB_OWNER_URL"\'\n'
        "```\n\n"
        "应用使用的数据库用户（GAPMAP_DB_URL）只能读取全区结果；所有者地址见 "
        "/etc/gapmap/server.env 中的 GAPMAP_DB_OWNER_URL。"
    )
    st.stop()
if results is None:
    st.title("全区")
    st.info(
        f"还没有全区计算结果（{REGION_RESULTS}）。在服务器上运行：\n\n"
        "```bash\n"
        f"python -m scripts.region --data data/region_sample --out {REGION_RESULTS}"
        "   # 示例：同心县 + 红寺堡区\n"
        f"python -m scripts.region --out {REGION_RESULTS}"
        "   # 全区 22 个县（首次运行时生成演示数据）\n"
        "```\n\n"
        "结果目录也可由环境变量 GAPMAP_REGION_RESULTS 指定。"
    )
    st.stop()

rollup = results.rollup
counties_meta = results.manifest.get("counties", {})
region_row = rollup.loc[rollup["level"] == "region"]
region_name = str(region_row["name"].iloc[0]) if not region_row.empty else "全区"
st.title(f"全区 · {region_name}")
done = sum(1 for c in counties_meta.values() if c.get("status") == "ok")
st.caption(
    f"{done}/{len(counties_meta)} 个县（市、区）已计算；结果：{results.place}；"
    f"计算完成于 {_beijing(results.manifest.get('finished'))}。★ 为国家乡村振兴重点帮扶县。"
)
failed = {c: m for c, m in counties_meta.items() if m.get("status") != "ok"}
if failed:
    st.warning(
        "以下县未能计算，全区和所属市的数值不含它们：\n\n"
        + "\n".join(
            f"- {m.get('name', c)}（{c}）：{m.get('error') or '未知错误'}"
            for c, m in failed.items()
        )
    )


def _cards(rows: pd.DataFrame) -> pd.DataFrame:
    """Roll-up rows as the KPI cards read them (Chinese name, unit, code)."""
    return rows.assign(
        indicator=rows["indicator_zh"], unit=rows["value_unit"], code=rows["indicator"]
    )


county_rows = rollup.loc[rollup["level"] == "county"]
indicators = county_rows[["indicator", "indicator_zh"]].drop_duplicates()
names = dict(zip(indicators["indicator"], indicators["indicator_zh"], strict=True))
code = st.selectbox(
    "指标",
    list(names),
    format_func=names.get,
    key="region_indicator",
)
rows = rollup.loc[(rollup["level"] == "county") & (rollup["indicator"] == code)].copy()
first = rows.iloc[0]
cmp = {">=": "≥", "<=": "≤", ">": "＞"}.get(str(first["comparison"]), str(first["comparison"]))
unit = str(first["value_unit"])
target = f"{cmp} {first['target']:g}{'%' if unit == '%' else ' ' + unit}"
options = MapOptions(
    basemap=st.session_state.get("basemap", "plain"),
    tianditu_key=st.session_state.get("tianditu_key", ""),
)
left, right = st.columns([3, 2])
left.subheader("各县对比（点击县进入该县）")
m = build_region_map(
    results.boundaries, rows, options=options, title=f"{names[code]}（目标 {target}）"
)
with left:
    out = show_map(m, key="region_map", returned=("last_active_drawing",))
clicked = str((out.get("last_active_drawing") or {}).get("properties", {}).get("code") or "")


def _open(county: str) -> None:
    try:
        open_region_county(results, county)
    except GapMapError as exc:
        st.error(exc.zh)
        return
    st.switch_page("views/overview.py")


if clicked in counties_meta and st.session_state.get("_region_clicked") != clicked:
    st.session_state["_region_clicked"] = clicked  # a rerun keeps the last click: open once
    if counties_meta[clicked].get("status") == "ok":
        _open(clicked)

right.subheader(f"排名（目标 {target}，好的在前）")
order = ranked(rows)
table = pd.DataFrame(
    {
        "排名": order["rank"],
        "县（★重点县）": [
            ("★" if key else "") + str(name)
            for name, key in zip(order["name"], order["key"].fillna(False), strict=True)
        ],
        "指标值": [value_text(v, unit) for v in order["value"]],
        "状态": order["status"].fillna("无数据"),
        "问题数": order["problems"].fillna(0).astype(int),
    }
)
right.dataframe(
    table,
    hide_index=True,
    width="stretch",
    key="region_ranking",
    height=min(560, 35 * (len(table) + 1) + 3),
)

st.subheader("全区指标")
kpi_cards(_cards(region_row), group_zh=GROUP_ZH, key="region")

cities = rollup.loc[(rollup["level"] == "city") & (rollup["indicator"] == code)]
if not cities.empty:
    st.subheader("地级市")
    st.dataframe(
        pd.DataFrame(
            {
                "市": cities["name"],
                "代码": cities["code"],
                f"{names[code]}": [value_text(v, unit) for v in cities["value"]],
                "状态": cities["status"].fillna("无数据"),
                "问题数": cities["problems"].fillna(0).astype(int),
                "县数": cities["counties"],
            }
        ),
        hide_index=True,
        width="stretch",
        key="region_cities",
    )

ok = [c for c, meta in counties_meta.items() if meta.get("status") == "ok"]
with st.form("region_open"):
    chosen = st.selectbox(
        "打开一个县（其全部页面：总览、通硬化路、一刻钟生活圈…，直接读取计算结果，不重新计算）",
        ok,
        format_func=lambda c: f"{counties_meta[c]['name']}（{c}）",
        key="region_open_code",
    )
    if st.form_submit_button("打开该县", type="primary") and chosen:
        _open(chosen)
