"""The indicator table: every mappable indicator, declared once, from which all views derive.

One :class:`Indicator` per indicator: its code (the ledger key prefix), Chinese names, the
unit it judges, the layers it needs, the function that computes its outcome rows, how the
county value is computed from them, the target (read from ``settings.targets``, never a
literal) and its comparison, the source, the 行业部门 answering for it and how its problem
rows become 项目库 rows. The roll-up (:func:`geo.rollup.rollup`), the problem list
(:func:`geo.ledger.problem_items`), report.xlsx (:func:`geo.report.report_sheets`), the
KPI cards and the department scopes all read it.

:func:`indicator_table` is the default table for a settings object: the built-in
indicators, then one entry per ``[[indicators]]`` table of the county's profile
(:class:`geo.settings.IndicatorSpec`, computed by
:func:`geo.access.facility_access_outcomes`). Remove or add entries with
:meth:`IndicatorTable.without` and :meth:`IndicatorTable.with_specs`.

=============== ================ ======================= ==============================
code            unit             county value            target (settings.targets)
=============== ================ ======================= ==============================
hard_road       natural_village  % ok                    hard_road_rate_pct ≥
services        relocation_site  % sites all kinds ok    services_rate_pct ≥
clinics         admin_village    problems (+ townships)  clinic_blank_max ≤
water           natural_village  % population on pipe    tap_rate_pct ≥
site_public     relocation_site  % sites all kinds ok    site_public_rate_pct ≥
edu_primary     natural_village  % ok                    primary_school_rate_pct ≥
edu_junior      natural_village  % ok                    junior_school_rate_pct ≥
kindergarten    township         % ok                    kindergarten_rate_pct ≥
elderly_care    admin_village    % ok                    elderly_care_rate_pct ≥
telecom_5g      admin_village    % ok                    telecom_5g_rate_pct ≥
telecom_gigabit admin_village    % ok (key villages)     gigabit_key_village_rate_pct ≥
sewage          admin_village    % ok                    sewage_rate_pct ≥
waste           admin_village    % ok                    waste_rate_pct >
toilets         admin_village    households-weighted %   previous snapshot ≥ (baseline)
unsafe_housing  admin_village    problems                unsafe_housing_max ≤
water_guarantee water_source     capacity-weighted %     water_guarantee_pct ≥
water_quality   water_source     capacity-weighted %     water_quality_pct ≥
(profile)       spec.unit_kind   % ok                    spec.target_pct ≥
=============== ================ ======================= ==============================
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from geo.indicators import builtin
from geo.indicators.evaluate import VALUE_RULES, IndicatorInputs
from geo.indicators.judge import COMPARISONS
from geo.indicators.outcomes import UNIT_KINDS
from layers.errors import GapMapError

if TYPE_CHECKING:
    from geo.assessment import Assessment
    from geo.settings import IndicatorSpec, Settings

__all__ = [
    "BUILTIN_CODES",
    "GROUP_ZH",
    "Indicator",
    "IndicatorTable",
    "builtin_table",
    "generic_projects",
    "indicator_projects",
    "indicator_table",
    "spec_indicator",
]

Outcomes = Callable[[IndicatorInputs], pd.DataFrame]
Projects = Callable[[pd.DataFrame, "Assessment"], list[dict]]

GROUP_ZH: Mapping[str, str] = {
    "roads": "交通",
    "services": "商贸流通",
    "health": "医疗卫生",
    "water": "供水",
    "relocation": "移民安置",
    "education": "教育",
    "elderly": "养老",
    "telecom": "通信",
    "environment": "人居环境",
    "housing": "住房安全",
    "custom": "县级自定义",
}
"""Chinese label of each indicator group (KPI card sections)."""


@dataclass(frozen=True)
class Indicator:
    """One indicator of the table.

    Attributes
    ----------
    code : str
        Stable ASCII code: the ledger key prefix (``<code>:<unit>``) and ``indicator`` of
        every outcome row.
    name_zh : str
        The county indicator's Chinese name (KPI card, report row).
    problem_zh : str
        The indicator's name in the problem list (台账 filter, 项目库).
    group : str
        A key of :data:`GROUP_ZH`.
    unit_kind : str
        The unit judged (:data:`geo.indicators.outcomes.UNIT_KINDS`; no_data rows are
        made for it when a layer is missing).
    layers : tuple of str
        Layers that must be present and non-empty; otherwise every unit is ``no_data``
        and the county value NaN (无数据) without running ``outcomes``.
    outcomes : callable
        ``f(inp: IndicatorInputs) -> DataFrame``: the outcome rows.
    value_rule : str or callable
        How the county value comes from the outcome rows:
        :data:`geo.indicators.evaluate.VALUE_RULES` or ``f(outcomes) -> float``.
    value_unit : str
        Unit of the county value (``%``, ``个``).
    target : str or callable
        A field of :class:`geo.settings.TargetSettings`, or ``f(settings) -> float``.
    comparison : str
        ``>=``, ``<=`` or ``>`` (:data:`geo.indicators.judge.COMPARISONS`).
    source : str or callable
        The seed or standard text, or ``f(settings) -> str``.
    department : str
        The 行业部门 answering for it (a key of ``layers.store.actors.DEPARTMENTS``).
    projects : callable or None
        ``f(items, assessment) -> list of project rows`` (:mod:`geo.projects` row
        dicts: the location columns, ``kind``, ``quantity``, ``unit_zh``,
        ``unit_cost_wan``, ``cost_wan``, ``what_if``, ``content``, ``geometry``); None:
        the indicator's problems make no project.
    """

    code: str
    name_zh: str
    problem_zh: str
    group: str
    unit_kind: str
    layers: tuple[str, ...]
    outcomes: Outcomes
    value_rule: str | Callable[[pd.DataFrame], float]
    value_unit: str
    target: str | Callable[[Settings], float]
    comparison: str
    source: str | Callable[[Settings], str]
    department: str
    projects: Projects | None = None

    def __post_init__(self) -> None:
        problems = []
        if self.unit_kind not in UNIT_KINDS:
            problems.append(f"unit_kind {self.unit_kind!r} not in {list(UNIT_KINDS)}")
        if self.comparison not in COMPARISONS:
            problems.append(f"comparison {self.comparison!r} not in {list(COMPARISONS)}")
        if not callable(self.value_rule) and self.value_rule not in VALUE_RULES:
            problems.append(f"value_rule {self.value_rule!r} not in {list(VALUE_RULES)}")
        if self.group not in GROUP_ZH:
            problems.append(f"group {self.group!r} not in {list(GROUP_ZH)}")
        if problems:
            raise GapMapError(
                f"indicator {self.code!r}: " + "; ".join(problems),
                zh=f"指标“{self.name_zh}”定义有误",
            )

    def target_value(self, settings: Settings) -> float:
        """Return the target for ``settings`` (from ``settings.targets`` or the spec)."""
        if callable(self.target):
            return float(self.target(settings))
        return float(getattr(settings.targets, self.target))

    def source_text(self, settings: Settings) -> str:
        """Return the source text for ``settings``."""
        return str(self.source(settings) if callable(self.source) else self.source)


class IndicatorTable:
    """An ordered, immutable table of indicators (codes unique).

    Parameters
    ----------
    indicators : iterable of Indicator

    Raises
    ------
    GapMapError
        If a code is repeated.
    """

    def __init__(self, indicators: Iterable[Indicator]) -> None:
        items = tuple(indicators)
        codes = [i.code for i in items]
        repeated = sorted({c for c in codes if codes.count(c) > 1})
        if repeated:
            raise GapMapError(
                f"indicator code(s) {repeated} given twice; codes must be unique",
                zh=f"指标编号重复：{'、'.join(repeated)}",
            )
        self._items = items
        self._by_code = {i.code: i for i in items}

    def __iter__(self) -> Iterator[Indicator]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, code: object) -> bool:
        return code in self._by_code

    def __repr__(self) -> str:
        return f"IndicatorTable({', '.join(self.codes)})"

    @property
    def codes(self) -> tuple[str, ...]:
        """The indicator codes, in order."""
        return tuple(i.code for i in self._items)

    @property
    def names_zh(self) -> dict[str, str]:
        """Code → problem-list name (:attr:`Indicator.problem_zh`), in order."""
        return {i.code: i.problem_zh for i in self._items}

    def get(self, code: str) -> Indicator:
        """Return the indicator with ``code``.

        Raises
        ------
        KeyError
            With the known codes.
        """
        try:
            return self._by_code[code]
        except KeyError:
            raise KeyError(f"no indicator {code!r} in the table; known: {self.codes}") from None

    def without(self, *codes: str) -> IndicatorTable:
        """Return the table without the indicators ``codes`` (unknown codes are an error)."""
        unknown = sorted(set(codes) - set(self._by_code))
        if unknown:
            raise KeyError(f"no indicator(s) {unknown} in the table; known: {self.codes}")
        return IndicatorTable(i for i in self._items if i.code not in set(codes))

    def with_indicators(self, *indicators: Indicator) -> IndicatorTable:
        """Return the table with ``indicators`` appended (or replacing the same code)."""
        new = {i.code: i for i in indicators}
        kept = [new.pop(i.code, i) for i in self._items]
        return IndicatorTable([*kept, *new.values()])

    def with_specs(self, specs: Iterable[IndicatorSpec]) -> IndicatorTable:
        """Return the table with one entry per county indicator spec (:func:`spec_indicator`)."""
        return self.with_indicators(*(spec_indicator(s) for s in specs))


# ------------------------------------------------------------------ generic projects


def generic_projects(items: pd.DataFrame, a: Assessment) -> list[dict]:
    """项目库 rows of a table indicator without its own: one measure per problem item.

    The item's ``measure`` is the 建设内容, its ``cost_wan`` (from ``settings.projects``,
    set by the analysis) the cost; ``kind`` is the indicator code, quantity 1 处; not
    built by the what-if (``what_if`` False).
    """
    import shapely

    rows = []
    for it in items.itertuples(index=False):
        point = (
            shapely.Point(float(it.lon), float(it.lat))
            if pd.notna(it.lon) and pd.notna(it.lat)
            else None
        )
        cost = float(it.cost_wan) if pd.notna(it.cost_wan) else float("nan")
        rows.append(
            {
                "item_key": it.key,
                "indicator": it.indicator,
                "township_code": it.township_code,
                "township_name": it.township_name,
                "admin_village_code": it.admin_village_code,
                "admin_village_name": it.admin_village_name,
                "village_code": it.village_code,
                "village_name": it.village_name,
                "people": float(it.population) if pd.notna(it.population) else float("nan"),
                "kind": it.indicator,
                "quantity": 1.0,
                "unit_zh": "处",
                "unit_cost_wan": cost,
                "cost_wan": cost,
                "what_if": False,
                "content": it.measure or it.problem_type,
                "geometry": point,
            }
        )
    return rows


def indicator_projects(items: pd.DataFrame, a: Assessment) -> list[dict]:
    """Return the 项目库 rows of problem items, each indicator's by its own ``projects``.

    Parameters
    ----------
    items : DataFrame
        Problem items (:func:`geo.ledger.problem_items`) of ``a``.
    a : Assessment
        The assessment (its table: :attr:`Assessment.indicators`).

    Returns
    -------
    list of dict
        :mod:`geo.projects` row dicts (rank them with the library's rule); items of an
        indicator without ``projects`` or not in the table make none.
    """
    table = a.indicators.table if a.indicators is not None else IndicatorTable(_BUILTIN)
    rows: list[dict] = []
    for code, group in items.groupby("indicator", sort=False):
        if code in table and table.get(code).projects is not None:
            rows += table.get(code).projects(group, a)
    return rows


# ------------------------------------------------------------------ the default table


def _water_source(settings: Settings) -> str:
    t = settings.targets
    return (
        f"宁夏衔接“十四五”规划指标表（预期性）：2025年{t.tap_rate_pct:g}%"
        f"（2020年{t.tap_rate_2020_pct:g}%）"
    )


_BUILTIN: tuple[Indicator, ...] = (
    Indicator(
        code="hard_road",
        name_zh="20户以上自然村通硬化路率",
        problem_zh="20户以上自然村通硬化路",
        group="roads",
        unit_kind="natural_village",
        layers=(),  # a core layer: the analysis always runs
        outcomes=builtin.hard_road_outcomes,
        value_rule="share_ok",
        value_unit="%",
        target="hard_road_rate_pct",
        comparison=">=",
        source="宁夏衔接“十四五”规划（有序推进）；2022年底全区99.5%",
        department="交通局",
        projects=builtin.hard_road_projects,
    ),
    Indicator(
        code="services",
        name_zh="移民安置区一刻钟便民生活服务圈达标率",
        problem_zh="一刻钟便民生活服务圈",
        group="services",
        unit_kind="relocation_site",
        layers=("relocation_sites",),  # no service_points: the adapter's no_data rows
        outcomes=builtin.service_outcomes,
        value_rule="share_ok_units",
        value_unit="%",
        target="services_rate_pct",
        comparison=">=",
        source="宁夏衔接“十四五”规划；中卫市百万移民致富提升行动",
        department="商务局",
        projects=builtin.service_projects,
    ),
    Indicator(
        code="clinics",
        name_zh="乡村两级医疗卫生机构和人员空白点",
        problem_zh="乡村两级医疗卫生机构和人员空白点",
        group="health",
        unit_kind="admin_village",
        layers=(),  # a core layer (layers.schema.CORE_LAYERS)
        outcomes=builtin.clinic_outcomes,
        value_rule="problems",
        value_unit="个",
        target="clinic_blank_max",
        comparison="<=",
        source="宁夏衔接“十四五”规划指标表（约束性，动态清零）",
        department="卫健局",
        projects=builtin.clinic_projects,
    ),
    Indicator(
        code="water",
        name_zh="农村自来水普及率",
        problem_zh="农村供水",
        group="water",
        unit_kind="natural_village",
        layers=(),  # an EPANET model or the water layers: the adapter says 无数据
        outcomes=builtin.water_outcomes,
        value_rule=builtin.tap_rate_pct,
        value_unit="%",
        target="tap_rate_pct",
        comparison=">=",
        source=_water_source,
        department="水务局",
        projects=builtin.water_projects,
    ),
)

BUILTIN_CODES: tuple[str, ...] = tuple(i.code for i in _BUILTIN)
"""Codes of the indicators computed from the base analyses of :func:`geo.assessment.assess`."""


@dataclass(frozen=True)
class _Analysis:
    """``module:function`` (``f(dataset, graph, settings)``) as an ``outcomes`` callable.

    The module is imported on first use: the analyses import :mod:`geo.indicators`
    themselves (the outcome frame), so importing them here would be circular. A class, not
    a closure, so that a table (and an assessment holding it) pickles.
    """

    path: str

    def __call__(self, inp: IndicatorInputs) -> pd.DataFrame:
        module, name = self.path.split(":")
        f = getattr(importlib.import_module(module), name)
        return f(inp.dataset, inp.graph, inp.settings)


def _analysis(path: str) -> Outcomes:
    """Wrap ``module:function`` as an ``outcomes`` callable (:class:`_Analysis`)."""
    return _Analysis(path)


# (code, name_zh, problem_zh, group, unit_kind, layers, analysis, rule, unit, target,
#  comparison, source, department)
_SEED_ROWS: tuple[tuple[Any, ...], ...] = (
    ("site_public", "移民安置区配套公共服务设施达标率", "移民安置区配套公共服务设施",
     "relocation", "relocation_site", ("relocation_sites",),
     "geo.public_services:site_public_outcomes", "share_ok_units", "%",
     "site_public_rate_pct", ">=",
     "宁夏衔接“十四五”规划：实施公共服务设施提升工程，配套完善学校、幼儿园、公共文化室、"
     "卫生室、日间照料中心、综合服务中心", "乡村振兴局"),
    ("edu_primary", "自然村小学就近入学达标率", "小学就近入学", "education",
     "natural_village", ("natural_villages",),
     "geo.education:primary_school_outcomes", "share_ok", "%", "primary_school_rate_pct",
     ">=", "农村普通中小学校建设标准（建标109-2008）：农村小学服务半径", "教育局"),
    ("edu_junior", "自然村初中就近入学达标率", "初中就近入学", "education",
     "natural_village", ("natural_villages",),
     "geo.education:junior_school_outcomes", "share_ok", "%", "junior_school_rate_pct",
     ">=", "农村普通中小学校建设标准（建标109-2008）：农村初中服务半径", "教育局"),
    ("kindergarten", "幼儿园覆盖率", "幼儿园覆盖", "education", "township",
     ("townships",), "geo.education:kindergarten_outcomes", "share_ok", "%",
     "kindergarten_rate_pct", ">=", "学前教育：每个乡镇（或行政村）至少一所幼儿园（设置）",
     "教育局"),
    ("elderly_care", "行政村养老服务设施覆盖率", "农村养老服务设施", "elderly",
     "admin_village", ("admin_villages",),
     "geo.elderly:elderly_care_outcomes", "share_ok", "%", "elderly_care_rate_pct", ">=",
     "中卫实施意见：互助幸福院、日间照料中心、老饭桌", "民政局"),
    ("telecom_5g", "行政村通5G比例", "行政村通5G", "telecom", "admin_village",
     ("admin_villages",), "geo.telecom:telecom_5g_outcomes", "share_ok", "%",
     "telecom_5g_rate_pct", ">=", "电信普遍服务试点工程：2025年行政村通5G比例",
     "通信管理局"),
    ("telecom_gigabit", "重点村千兆光纤覆盖率", "重点村千兆光纤", "telecom", "admin_village",
     ("admin_villages",), "geo.telecom:gigabit_outcomes", "share_ok", "%",
     "gigabit_key_village_rate_pct", ">=", "宁夏衔接“十四五”规划：千兆光纤全区重点村全覆盖",
     "通信管理局"),
    ("sewage", "农村生活污水治理率", "农村生活污水治理", "environment", "admin_village",
     ("admin_villages",), "geo.environment:sewage_outcomes", "share_ok", "%",
     "sewage_rate_pct", ">=", "宁夏衔接“十四五”规划指标表13：2025年40%（2020年20.5%）",
     "生态环境局"),
    ("waste", "农村生活垃圾处理率", "农村生活垃圾处理", "environment", "admin_village",
     ("admin_villages",), "geo.environment:waste_outcomes", "share_ok", "%",
     "waste_rate_pct", ">", "宁夏衔接“十四五”规划指标表12：2025年>95%（2020年90%）",
     "农业农村局"),
    ("toilets", "农村卫生厕所普及率", "农村卫生厕所", "environment", "admin_village",
     ("admin_villages",), "geo.environment:toilet_outcomes", "weighted_mean", "%",
     "toilet_rate_baseline_pct", ">=",
     "宁夏衔接“十四五”规划指标表11：稳步提高（与上次快照比较；无快照时与2020年基数比较）",
     "农业农村局"),
    ("unsafe_housing", "农村危窑危房", "农村危窑危房", "housing", "admin_village",
     ("admin_villages",), "geo.housing:unsafe_housing_outcomes", "problems", "个",
     "unsafe_housing_max", "<=", "宁夏衔接“十四五”规划指标表10：农村危窑危房动态清零（约束性）",
     "住建局"),
    ("water_guarantee", "城乡供水保证率", "城乡供水保证率", "water", "water_source",
     ("water_sources",), "geo.water.quality:water_guarantee_outcomes", "weighted_mean", "%",
     "water_guarantee_pct", ">=", "宁夏衔接“十四五”规划：城乡供水保证率95%", "水务局"),
    ("water_quality", "农村供水水质达标率", "供水水质达标", "water", "water_source",
     ("water_sources",), "geo.water.quality:water_quality_outcomes", "weighted_mean", "%",
     "water_quality_pct", ">=", "宁夏衔接“十四五”规划：水质达标率90%", "水务局"),
)  # fmt: skip


def _seed_indicators(settings: Settings) -> tuple[Indicator, ...]:
    out = []
    for (
        code,
        name,
        problem,
        group,
        unit,
        layers,
        path,
        rule,
        vunit,
        target,
        cmp,
        src,
        dept,
    ) in _SEED_ROWS:
        if code == "kindergarten":  # the unit that must have one is a setting
            unit = settings.education.kindergarten_unit
            layers = (_UNIT_LAYER[unit],)
        out.append(
            Indicator(
                code=code,
                name_zh=name,
                problem_zh=problem,
                group=group,
                unit_kind=unit,
                layers=layers,
                outcomes=_analysis(path),
                value_rule=rule,
                value_unit=vunit,
                target=target,
                comparison=cmp,
                source=src,
                department=dept,
                projects=generic_projects,
            )
        )
    return tuple(out)


_UNIT_LAYER = {
    "natural_village": "natural_villages",
    "relocation_site": "relocation_sites",
    "admin_village": "admin_villages",
    "township": "townships",
    "water_source": "water_sources",
}


def spec_indicator(spec: IndicatorSpec) -> Indicator:
    """Return the table entry of a county's own indicator (``[[indicators]]`` of a profile).

    Outcomes by :func:`geo.access.facility_access_outcomes`; county value the share of
    units within the limit, target ``spec.target_pct``; problems make one facility
    project each at ``spec.cost_wan`` (:func:`generic_projects`).
    """

    def outcomes(inp: IndicatorInputs) -> pd.DataFrame:
        from geo.access import facility_access_outcomes

        return facility_access_outcomes(inp.dataset, inp.graph, inp.settings, spec=spec)

    def target(settings: Settings) -> float:
        # the spec of the settings evaluated (a profile may change it), else this one
        same = [s for s in settings.indicators if s.code == spec.code]
        return float((same[-1] if same else spec).target_pct)

    return Indicator(
        code=spec.code,
        name_zh=spec.name_zh,
        problem_zh=spec.problem_zh or spec.name_zh,
        group="custom",
        unit_kind=spec.unit_kind,
        layers=(_UNIT_LAYER[spec.unit_kind],),
        outcomes=outcomes,
        value_rule="share_ok",
        value_unit="%",
        target=target,
        comparison=">=",
        source=spec.source,
        department=spec.department,
        projects=generic_projects,
    )


def indicator_table(settings: Settings) -> IndicatorTable:
    """Return the default indicator table for ``settings``.

    The built-in indicators (:data:`BUILTIN_CODES`), the seed indicators of issue 15 and
    one entry per ``settings.indicators`` spec (a county's own, :func:`spec_indicator`).
    """
    return IndicatorTable([*_BUILTIN, *_seed_indicators(settings)]).with_specs(settings.indicators)


def builtin_table() -> IndicatorTable:
    """Return the table of the four built-in indicators only."""
    return IndicatorTable(_BUILTIN)
