"""项目库与方案: ranked candidate projects, a plan within a budget, its effect, facility siting."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app.auth import current_actor
from app.components import PRINT_CSS, items_table, show_map
from app.layout import data_table
from app.maps.projects import build_projects_map, build_siting_map
from app.state import as_built_for, assessment_for, ledger, page_context
from geo.assessment import Assessment
from geo.labels import MISSING_ZH
from geo.ledger import ConflictError, LedgerError, indicator_names, problem_items
from geo.ledger.permissions import Action, may
from geo.plan import planned_counts
from geo.planning import (
    WhatIf,
    acceptance_changes,
    candidate_projects,
    compare_assessments,
    default_budget_wan,
    select_within_budget,
    what_if,
    what_if_key,
)
from geo.report import zh_cells
from geo.siting import SITING_KINDS, SitingResult, site_facilities
from layers.dataset import Dataset
from layers.schema import LAYERS

TABLE_ZH = {
    "rank": "排名",
    "kind_zh": "项目类型",
    "indicator": "指标",
    "township_name": "乡镇",
    "admin_village_name": "行政村",
    "village_name": "自然村/安置区",
    "content": "建设内容",
    "quantity": "数量",
    "unit_zh": "单位",
    "cost_wan": "估算投资(万元)",
    "people": "受益人口",
    "people_per_wan": "每万元受益人数",
    "what_if": "可模拟",
}


@st.cache_resource(show_spinner="正在按方案重新计算各项指标…", max_entries=6)
def _what_if(
    _dataset: Dataset, _plan: pd.DataFrame, _assessment: Assessment, _items: pd.DataFrame, key: str
) -> WhatIf:
    # ``key`` is geo.planning.what_if_key: the dataset, the settings and the plan's projects
    return what_if(_dataset, _plan, _assessment, before_items=_items)


@st.cache_resource(show_spinner="正在计算最大覆盖选址…", max_entries=16)
def _siting(
    _dataset: Dataset, _assessment: Assessment, key: str, kind: str, k: int, method: str
) -> SitingResult:
    return site_facilities(_dataset, _assessment.graph, _assessment.settings, kind=kind, k=k,
                           method=method)  # fmt: skip


st.markdown(PRINT_CSS, unsafe_allow_html=True)
ctx = page_context()
if ctx is None:
    st.stop()
st.title(f"项目库与方案 · {ctx.township_name}")
if ctx.scenario == "planned":
    st.info("侧栏选择了「规划」：本页以规划建成后的数据为现状，列出其余问题的项目。")
dataset, a = ctx.scenario_dataset, ctx.assessment
items = problem_items(a)
book = ledger()
in_book = book.items()
projects = candidate_projects(items, a, in_book, township_code=ctx.scope.township_code)
if projects.empty:
    st.success("没有待整改的问题，项目库为空。")
    st.stop()
st.caption(
    "每个待整改问题对应一个候选项目；单价见设置（settings.projects、hard_road），可按县里的概算"
    "修改。排名按「每万元受益人数」（受益人口 ÷ 估算投资），已销号、豁免的问题不列入。"
)

c1, c2, c3 = st.columns(3)
c1.metric("候选项目（个）", f"{len(projects)}", border=True)
c2.metric("估算总投资（万元）", f"{projects['cost_wan'].sum():,.0f}", border=True)
c3.metric("受益人口（人）", f"{projects['people'].sum():,.0f}", border=True)

st.subheader("方案：在预算内按排名选取项目")
f1, f2 = st.columns([1, 2])
budget = f1.number_input(
    "预算（万元）",
    min_value=0.0,
    value=default_budget_wan(projects),
    step=50.0,
    key="plan_budget",
)
names = indicator_names(a)  # the table's indicators, a county's own among them
kinds = f2.multiselect(
    "指标",
    list(names),
    default=[k for k in names if k in set(projects["indicator"])],
    format_func=names.get,
    key="plan_indicators",
)
chosen = select_within_budget(projects, budget_wan=budget, indicators=kinds)
selected = chosen.ids

table = projects.assign(
    indicator=projects["indicator"].map(names).fillna(projects["indicator"]),
    what_if=projects["what_if"].map({True: "是", False: "否（需工程设计参数）"}),
    cost_wan=projects["cost_wan"].round(1),
    quantity=projects["quantity"].round(2),
    people_per_wan=projects["people_per_wan"].round(1),
)[list(TABLE_ZH)]
table = zh_cells(table, digits=2, text=True).rename(columns=TABLE_ZH)
table.insert(0, "列入方案", projects["project_id"].isin(selected).to_numpy())
data_table(table, hide_index=True, width="stretch", height=320, key="projects_table")
st.caption(
    f"方案含 {len(chosen)} 个项目，估算 {chosen.cost_wan:,.0f} 万元（预算 {budget:,.0f} 万元）。"
)
show_map(
    build_projects_map(dataset, projects, selected, scope=ctx.scope, options=ctx.options),
    key="projects_map",
    height=460,
)

st.subheader("方案效果（建成前后对比）")
st.caption("把方案中的项目当作已建成，重新计算各项指标；只是模拟，不改动任何数据。")
plan = chosen.projects
if plan.empty:
    st.info("预算内没有可选项目：请提高预算或增加指标。")
else:
    result = _what_if(dataset, plan, a, items, what_if_key(dataset, a, plan))
    review = result.review
    kpi = review.kpis.assign(
        met_current=review.kpis["met_current"]
        .map({True: "达标", False: "未达标"})
        .fillna("无数据"),
        met_planned=review.kpis["met_planned"]
        .map({True: "达标", False: "未达标"})
        .fillna("无数据"),
    ).rename(
        columns={
            "indicator": "指标",
            "unit": "单位",
            "target": "目标",
            "current": "现状",
            "planned": "方案建成后",
            "change": "变化",
            "met_current": "现状是否达标",
            "met_planned": "建成后是否达标",
        }
    )
    data_table(kpi.round(2), hide_index=True, width="stretch", key="plan_kpis")
    n_skip = result.not_simulated
    st.markdown(
        f"方案可销号 **{len(review.closed)}** 条问题，仍有 **{len(review.remaining)}** 条；"
        f"新产生 **{len(review.new)}** 条。"
        + (f"另有 {n_skip} 个项目（加压、水源）需工程设计参数，未参与模拟。" if n_skip else "")
    )
    if len(review.new) or len(review.remaining):
        st.caption("方案建成后仍存在或新产生的问题（如管网延伸后水压不足）：")
        changed = pd.concat(
            [review.remaining.assign(kind="仍存在"), review.new.assign(kind="新产生")]
        )
        items_table(changed.drop(columns="key"), key="plan_left")
    if len(review.closed):
        items_table(
            review.closed.drop(columns="description"),
            key="plan_closed",
            height=220,
            names_zh=names,
        )
    actor = current_actor()
    changes = acceptance_changes(plan, in_book)
    if may(actor, Action.ACCEPT_PLAN):  # a county-level decision: the administrator
        if st.button(
            f"采纳方案：把 {len(changes)} 个项目记入台账的「关联项目」",
            key="plan_accept",
            disabled=not changes,
        ):
            try:
                book.apply_changes(changes, actor=actor, accept_plan=True)
            except (ConflictError, LedgerError) as exc:
                st.error(getattr(exc, "zh", "") or str(exc))
            else:
                st.success(f"已记入 {len(changes)} 条问题的关联项目。")
    else:
        st.caption(f"采纳方案（记入台账的关联项目）由县级管理员办理；您是{actor.label}。")
    if not changes:
        st.caption("台账中还没有这些问题：先在「问题清单·整改台账」页把分析结果记入台账。")

drafts = planned_counts(ctx.dataset) if ctx.scenario == "current" else {}
if drafts:
    st.subheader("规划草案的效果")
    st.caption(
        "数据中状态为「规划」的要素（"
        + "、".join(f"{LAYERS[k].title_zh} {n} 个" for k, n in drafts.items())
        + "）建成后，哪些问题可以销号。"
    )
    draft_ds = as_built_for(ctx.dataset)
    draft_a = assessment_for(draft_ds)
    draft = compare_assessments(a, draft_a, before_items=items)
    st.markdown(f"规划草案可销号 **{len(draft.closed)}** 条问题，新产生 **{len(draft.new)}** 条。")
    if len(draft.closed) or len(draft.new):
        both = pd.concat([draft.closed.assign(kind="可销号"), draft.new.assign(kind="新产生")])
        items_table(both, key="draft_items", names_zh=names)

st.subheader("设施选址（最大覆盖）")
st.caption(
    "在全部自然村和安置区中选 k 处新址，使时限内可达的人口最多（已被现有设施覆盖的不计）；"
    "精确解由 HiGHS 混合整数规划求得，贪心解给出每一处的边际覆盖。"
)
s1, s2, s3 = st.columns(3)
kind = s1.selectbox("设施类别", SITING_KINDS, key="siting_kind")
k = s2.slider("新设数量 k", 1, 20, 3, key="siting_k")
method = s3.radio(
    "算法",
    ["exact", "greedy"],
    format_func={"exact": "精确（整数规划）", "greedy": "贪心"}.get,
    horizontal=True,
    key="siting_method",
)
result = _siting(dataset, a, dataset.content_hash, kind, int(k), method)
m1, m2, m3 = st.columns(3)
m1.metric("需求人口", f"{result.people_total:,.0f}", border=True)
m2.metric(
    f"{result.limit_min:g} 分钟内可达（现有）",
    f"{result.people_before:,.0f}",
    border=True,
)
m3.metric(
    "新址建成后",
    f"{result.people_after:,.0f}",
    delta=f"+{result.people_after - result.people_before:,.0f}",
    border=True,
)
sol = result.solution
st.caption(
    f"{'精确解（已证明最优）' if sol.optimal else '贪心解'}：新增覆盖 {sol.gain:,.0f} 人，"
    f"上界 {sol.bound:,.0f} 人，用时 {sol.seconds:.2f} 秒。"
    + (f"只需 {len(result.sites)} 处即覆盖全部可覆盖人口。" if len(result.sites) < k else "")
)
show_map(
    build_siting_map(dataset, result, scope=ctx.scope, options=ctx.options),
    key="siting_map",
    height=460,
)
if len(result.sites):
    st.dataframe(
        pd.DataFrame(
            {
                "顺序": result.sites["rank"],
                "候选点编号": result.sites["candidate_id"],
                "名称": result.sites["name"],
                "新增覆盖人口": result.sites["people_added"].round(0),
                "累计": result.sites["people_cumulative"].round(0),
            }
        ),
        hide_index=True,
        width="stretch",
        key="siting_table",
        placeholder=MISSING_ZH,
    )
