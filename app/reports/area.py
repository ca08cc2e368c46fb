"""乡镇 and 县 体检报告: KPIs against the targets, maps per indicator, rankings, the problem list,
ledger progress over snapshots and the 项目库."""

from __future__ import annotations

import logging
import time

import numpy as np
import pandas as pd

from app.reports.inputs import ReportInputs
from app.reports.maps import MapFrame, area_map_png
from app.reports.pdf import ReportDocument, cell_text
from app.reports.village import ledger_table
from geo.indicators import township_rows, with_previous
from geo.ledger.progress import overdue, snapshot_progress, state_counts
from geo.ledger.states import beijing_time

__all__ = ["area_kpis", "county_report", "township_report"]

logger = logging.getLogger(__name__)

COMPARISON_ZH = {">=": "≥", "<=": "≤", ">": ">", "<": "<", "==": "="}
"""How a target's comparison is printed (never the code's ``>=``)."""


def area_kpis(inputs: ReportInputs, *, township_code: str | None = None) -> pd.DataFrame:
    """The KPI rows of the county (or one township), judged against the targets.

    The county's rows are the roll-up's (农村卫生厕所普及率 against the ledger's previous
    snapshot, as on 总览); a township's are recomputed from its own outcome rows
    (:func:`geo.indicators.township_rows`) against the same targets (稳步提高 is a county
    comparison: a township keeps the baseline target).
    """
    a = inputs.assessment
    if township_code is None:
        return with_previous(a.rollup.county, inputs.previous)
    return township_rows(a.indicators, township_code)


def _kpi_table(kpis: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    def value(v: float, unit: str) -> str:
        return "无数据" if not np.isfinite(v) else f"{cell_text(float(v))}{unit}"

    table = pd.DataFrame(
        {
            "指标": kpis["indicator"],
            "现值": [value(v, u) for v, u in zip(kpis["value"], kpis["unit"], strict=True)],
            "目标": [
                f"{COMPARISON_ZH.get(c, c)} {cell_text(float(t))}{u}"
                for c, t, u in zip(kpis["comparison"], kpis["target"], kpis["unit"], strict=True)
            ],
            "结果": kpis["status"],
            "问题数": kpis["problems"].fillna(0).astype(int) if "problems" in kpis else 0,
            "依据": kpis["source"],
        }
    )
    return table, kpis["status"].eq("未达标")


def _ranking(units: pd.DataFrame, *, what: str) -> pd.DataFrame:
    cols = {
        "name": what,
        "problems": "问题数",
        "hr_target": "20户以上自然村",
        "hr_not_connected": "未通硬化路",
        "hr_cost_wan": "通路投资(万元)",
        "sv_not_ok": "安置区未达标",
        "cl_blank_admin_villages": "卫生室空白村",
        "cl_short_of_doctors": "缺村医村",
    }
    out = units.sort_values(["problems", "code"], ascending=[False, True], kind="stable")
    out = out[[c for c in cols if c in out.columns]].rename(columns=cols)
    out.insert(0, "名次", np.arange(1, len(out) + 1))
    return out.reset_index(drop=True)


def _problem_list(inputs: ReportInputs, *, township_code: str | None) -> pd.DataFrame:
    res = inputs.assessment.indicators
    p = res.problems
    if township_code is not None:
        p = p.loc[p["township_code"] == township_code]
    names = dict(zip(res.county["code"], res.county["indicator"], strict=True))
    order = {c: i for i, c in enumerate(res.county["code"])}
    p = p.assign(_i=p["indicator"].map(order)).sort_values(
        ["_i", "township_code", "admin_village_code", "village_code", "key"], kind="stable"
    )
    out = pd.DataFrame(
        {
            "指标": p["indicator"].map(names).fillna(p["indicator"]),
            "乡镇": p["township_name"],
            "行政村": p["admin_village_name"],
            "自然村/安置区": p["village_name"],
            "问题描述": p["description"],
            "整改措施": p["measure"],
            "估算投资(万元)": p["cost_wan"],
        }
    ).reset_index(drop=True)
    # one township's report: its name on every row says nothing
    return out.drop(columns="乡镇") if township_code is not None else out


def _ledger_sections(doc: ReportDocument, inputs: ReportInputs, township_code: str | None) -> None:
    items = inputs.items
    if not items.empty and township_code is not None:
        items = items.loc[items["township_code"] == township_code]
    doc.heading("整改台账进展")
    if items.empty and inputs.snapshots.empty:
        doc.paragraph("尚未把分析结果记入整改台账（「问题清单·整改台账」页：记入台账）。")
        return
    today = inputs.meta.generated_at.date()
    late = overdue(items, today=today) if not items.empty else pd.Series(dtype=bool)
    counts = (
        state_counts(items) if not items.empty else state_counts(pd.DataFrame(columns=["state"]))
    )
    facts = [(r.state_zh, f"{r.items} 项") for r in counts.itertuples()]
    facts.append(("逾期未完成", f"{int(late.sum())} 项"))
    facts.append(("台账合计", f"{len(items)} 项"))
    doc.key_values(facts, columns=4)
    prog = snapshot_progress(inputs.snapshots, inputs.found, township_code=township_code)
    if not prog.empty:
        doc.heading("历次分析快照（发现的问题、新增、消失）", level=2)
        doc.data_table(
            pd.DataFrame(
                {
                    "快照": prog["snapshot_id"],
                    "时间": prog["created_at"].map(lambda t: beijing_time(str(t))),
                    "发现问题": prog["found"],
                    "新增": prog["new"],
                    "消失（已整改或数据更新）": prog["gone"],
                }
            ),
            font_size=8,
        )
    if late.any():
        doc.heading(f"逾期未完成的问题（{int(late.sum())} 项）", level=2)
        table = ledger_table(
            items.loc[late],
            today=today,
            columns=[
                "township_name",
                "admin_village_name",
                "village_name",
                "problem_type",
                "state_zh",
                "responsible_unit",
                "deadline",
            ],
        )
        doc.data_table(table, font_size=7.5)


def _project_sections(doc: ReportDocument, inputs: ReportInputs, township_code: str | None) -> None:
    pj = inputs.projects
    if township_code is not None and not pj.empty:
        pj = pj.loc[pj["township_code"] == township_code]
    doc.heading("项目库（未销号问题的候选项目）")
    if pj.empty:
        doc.paragraph("没有待整改的问题，项目库为空。")
        return
    total = float(np.nansum(pj["cost_wan"]))
    people = float(np.nansum(pj["people"]))
    doc.paragraph(
        f"共 {len(pj)} 个项目，估算投资合计 {total:,.1f} 万元，受益人口 {people:,.0f} 人。"
        "排名按每万元受益人数（受益人口 ÷ 估算投资）；单价见计算设置。",
        size=9,
    )
    by = (
        pj.groupby("kind_zh", sort=False)
        .agg(n=("project_id", "size"), cost=("cost_wan", "sum"), people=("people", "sum"))
        .sort_values("cost", ascending=False)
        .reset_index()
    )
    doc.data_table(
        by.rename(
            columns={
                "kind_zh": "项目类型",
                "n": "项目数",
                "cost": "估算投资(万元)",
                "people": "受益人口",
            }
        ),
        font_size=8,
    )
    top = pj.sort_values("rank").head(30)
    doc.heading(f"优先项目（前 {len(top)} 个，按县内排名）", level=2)
    doc.data_table(
        pd.DataFrame(
            {
                "排名": top["rank"],
                "项目类型": top["kind_zh"],
                "乡镇": top["township_name"],
                "行政村": top["admin_village_name"],
                "建设内容": top["content"],
                "估算投资(万元)": top["cost_wan"],
                "受益人口": top["people"],
            }
        ),
        font_size=7.5,
    )


def _indicator_maps(
    doc: ReportDocument,
    inputs: ReportInputs,
    kpis: pd.DataFrame,
    units: pd.DataFrame,
    township_code: str | None,
) -> None:
    ds = inputs.dataset
    with_problems = kpis.loc[kpis["problems"].fillna(0) > 0]
    doc.heading("分指标问题分布图", keep_mm=140)
    quiet = kpis.loc[kpis["problems"].fillna(0) == 0, "indicator"]
    if len(quiet):
        doc.paragraph("无问题的指标（未出图）：" + "、".join(quiet) + "。", size=8.5)
    per_unit = {}
    if township_code is None:  # each township's own value under its name
        tw = ds["townships"]["code"]
        per_unit = {c: township_rows(inputs.assessment.indicators, c) for c in tw}
    for row in with_problems.itertuples():
        column = f"problems_{row.code}"
        if column not in units.columns:
            continue
        labels = None
        if per_unit:
            labels = pd.Series(
                {
                    c: ""
                    if not np.isfinite(v := float(r.loc[r["code"] == row.code, "value"].iloc[0]))
                    else f"\n{cell_text(v)}{row.unit}"
                    for c, r in per_unit.items()
                }
            )
        png = area_map_png(
            ds,
            units,
            column=column,
            title=f"{row.indicator}：{int(row.problems)} 个问题",
            township_code=township_code,
            value_labels=labels,
            frame=MapFrame(width_mm=182.0, height_mm=112.0, dpi=170),
        )
        cmp = COMPARISON_ZH.get(row.comparison, row.comparison)
        target = f"{cmp} {cell_text(float(row.target))}{row.unit}"
        value = (
            "无数据" if not np.isfinite(row.value) else f"{cell_text(float(row.value))}{row.unit}"
        )
        doc.image_png(
            png, caption=f"{row.indicator}：现值 {value}，目标 {target}（{row.status}）。"
        )


def _area_report(inputs: ReportInputs, *, township_code: str | None) -> bytes:
    t0 = time.perf_counter()
    a, meta = inputs.assessment, inputs.meta
    if township_code is None:
        place, units, what = meta.county, a.rollup.townships, "乡镇"
    else:
        place = inputs.township_name(township_code)
        av = a.rollup.admin_villages
        units, what = av.loc[av["township_code"] == township_code], "行政村"
    title = f"{place}农村基础设施短板体检报告"
    doc = ReportDocument(title=title, meta=meta)
    doc.add_page()
    kpis = area_kpis(inputs, township_code=township_code)
    lines = [("县", meta.county)]
    if township_code is not None:
        lines.append(("乡镇", f"{place}（{township_code}）"))
    n_bad = int((kpis["status"] == "未达标").sum())
    n_problems = int(kpis["problems"].fillna(0).sum())
    lines += [
        ("指标", f"{len(kpis)} 项，未达标 {n_bad} 项"),
        ("问题", f"{n_problems} 个（问题清单）"),
        (f"{what}数", f"{len(units)} 个"),
    ]
    doc.title_block(title, lines)
    doc.heading("主要指标与目标")
    table, red = _kpi_table(kpis)
    doc.data_table(table, flag=red, font_size=7.5, widths=[38, 20, 20, 13, 12, 79])
    doc.heading(f"问题分布（按{what}）", keep_mm=125)
    doc.image_png(
        area_map_png(
            inputs.dataset,
            units,
            column="problems",
            title=f"{place}：各{what}问题数",
            township_code=township_code,
        ),
        caption=f"图：各{what}的问题数（全部指标）。",
    )
    doc.heading(f"{what}排名（按问题数）")
    doc.data_table(_ranking(units, what=what), font_size=7.5)
    _indicator_maps(
        doc, inputs, kpis, a.rollup.townships if township_code is None else units, township_code
    )
    problems = _problem_list(inputs, township_code=township_code)
    doc.heading(f"问题清单（{len(problems)} 个）")
    doc.data_table(problems, font_size=7, flag=pd.Series(False, index=problems.index))
    _ledger_sections(doc, inputs, township_code)
    _project_sections(doc, inputs, township_code)
    out = doc.to_bytes()
    logger.info("%s: %d pages, %.1f s", title, doc.pages_count, time.perf_counter() - t0)
    return out


def township_report(inputs: ReportInputs, township_code: str) -> bytes:
    """The 乡镇体检报告 PDF of one township.

    Parameters
    ----------
    inputs : ReportInputs
    township_code : str
        The township's 9-digit code.

    Returns
    -------
    bytes
        The PDF: KPIs against the targets, the problem map and one per indicator with
        problems, the admin villages ranked, the problem list, ledger progress and the
        项目库.

    Raises
    ------
    ReportError
        For a code the data does not have.
    """
    inputs.township_name(township_code)
    return _area_report(inputs, township_code=township_code)


def county_report(inputs: ReportInputs) -> bytes:
    """The 县体检报告 PDF (as :func:`township_report`, townships ranked)."""
    return _area_report(inputs, township_code=None)
