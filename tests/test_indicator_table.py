"""The indicator table drives the roll-up, the problem list and report.xlsx (issue 15)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from geo.assessment import assess
from geo.indicators import (
    BUILTIN_CODES,
    county_value,
    indicator_projects,
    indicator_table,
    judge,
    make_outcomes,
    with_previous,
)
from geo.indicators.judge import met
from geo.ledger import CLOSED_STATES, OPEN_STATES, State, indicator_names, is_closed, problem_items
from geo.report import report_sheets
from geo.settings import Settings, load_settings
from layers import Dataset
from layers.store.actors import DEPARTMENTS
from tests.fixtures import tiny_county as tc


@pytest.fixture(scope="module")
def tiny():
    return Dataset.from_frames(tc.build(), name="tiny"), load_settings()


@pytest.fixture(scope="module")
def tiny_assessment(tiny):
    return assess(*tiny)


# ------------------------------------------------------------------ met, values, targets


def test_judge_knows_greater_than_and_no_data():
    county = pd.DataFrame(
        {
            "value": [96.0, 95.0, np.nan, 95.0, 0.0],
            "target": [95.0, 95.0, 95.0, 95.0, 0.0],
            "comparison": [">", ">", ">", ">=", "<="],
        }
    )
    out = judge(county)
    assert out["met"].tolist() == [True, False, pd.NA, True, True]
    assert out["status"].tolist() == ["达标", "未达标", "无数据", "达标", "达标"]
    with pytest.raises(ValueError, match="comparison"):
        met([1.0], [1.0], ["=="])


def _rows(spec):
    return make_outcomes(
        [
            {"key": f"x:{u}:{i}", "indicator": "x", "unit_kind": "admin_village",
             "unit_code": u, "status": st, "value": v, "x_weight": w}
            for i, (u, st, v, w) in enumerate(spec)
        ]
    )  # fmt: skip


def test_county_value_rules_by_hand():
    rows = _rows(
        [
            ("A", "ok", 100.0, 10.0),
            ("A", "problem", 20.0, 30.0),  # A has one row failing: the unit fails
            ("B", "ok", 80.0, 60.0),
            ("B", "ok", np.nan, 5.0),  # no value: left out of the weighted mean
            ("C", "no_data", 50.0, 100.0),  # never counted
            ("D", "exempt", 0.0, 100.0),
            ("E", "ok", 90.0, 0.0),  # E: one kind ok, one 无数据: not known to be complete
            ("E", "no_data", np.nan, 0.0),
            ("F", "problem", 10.0, 0.0),  # F: a problem whatever else is unknown
            ("F", "no_data", np.nan, 0.0),
        ]
    )
    assert county_value(rows, "share_ok") == pytest.approx(100 * 4 / 6)
    assert county_value(rows, "share_ok_units") == pytest.approx(100 / 3)  # B of A, B, F
    assert county_value(rows, "problems") == 2.0
    assert county_value(rows, "weighted_mean") == pytest.approx(
        (100 * 10 + 20 * 30 + 80 * 60) / (10 + 30 + 60)
    )
    assert county_value(rows, lambda f: float(len(f))) == 10.0
    partly = _rows([("E", "ok", 1.0, 1.0), ("E", "no_data", 1.0, 1.0)])
    assert np.isnan(county_value(partly, "share_ok_units"))  # never 达标 on half the data
    nothing = _rows([("C", "no_data", 1.0, 1.0), ("D", "exempt", 1.0, 1.0)])
    for rule in ("share_ok", "share_ok_units", "problems", "weighted_mean"):
        assert np.isnan(county_value(nothing, rule)), rule  # 无数据, never 0


def test_targets_come_from_settings(tiny, tiny_assessment):
    dataset, settings = tiny
    county = tiny_assessment.rollup.county.set_index("code")
    assert county.loc["hard_road", "target"] == settings.targets.hard_road_rate_pct
    assert county.loc["hard_road", "value"] == pytest.approx(60.0)  # 6 of 10, by hand
    assert not county.loc["hard_road", "met"]
    lower = replace(settings, targets=replace(settings.targets, hard_road_rate_pct=60.0))
    again = assess(dataset, lower).rollup.county.set_index("code")
    assert again.loc["hard_road", "target"] == 60.0 and again.loc["hard_road", "met"]
    assert list(again.columns) == [
        "indicator", "value", "unit", "target", "comparison", "source", "met", "status",
        "group", "department", "problems",
    ]  # fmt: skip


def test_with_previous_retargets_the_toilet_rate():
    county = judge(
        pd.DataFrame(
            {
                "indicator": ["农村卫生厕所普及率", "20户以上自然村通硬化路率"],
                "value": [30.0, 90.0],
                "unit": ["%", "%"],
                "target": [20.5, 100.0],
                "comparison": [">=", ">="],
                "source": ["指标表11", "规划"],
                "code": ["toilets", "hard_road"],
            }
        )
    )
    assert county["met"].tolist() == [True, False]
    before = pd.DataFrame({"code": ["toilets", "hard_road"], "value": [35.0, 50.0]})
    out = with_previous(county, before)
    assert out["target"].tolist() == [35.0, 100.0]  # only the 稳步提高 row follows the past
    assert out["met"].tolist() == [False, False] and "上次快照的 35.0%" in out["source"].iloc[0]
    assert out.loc[0, "status"] == "未达标"
    lower = with_previous(county, before.assign(value=[25.0, 50.0]))
    assert lower["met"].tolist() == [True, False]
    for none in (None, pd.DataFrame({"code": ["toilets"], "value": [np.nan]})):
        pd.testing.assert_frame_equal(with_previous(county, none), county)


# ------------------------------------------------------------------ the table drives everything


def test_removing_an_indicator_removes_it_from_rollup_items_and_report(tiny, tiny_assessment):
    dataset, settings = tiny
    full = tiny_assessment
    less = assess(dataset, settings, table=indicator_table(settings).without("services"))
    assert "services" in set(full.rollup.county["code"])
    assert "services" not in set(less.rollup.county["code"])
    assert "一刻钟便民生活服务圈" not in set(less.rollup.county["indicator"])
    for frame in ("admin_villages", "townships"):
        f_full, f_less = getattr(full.rollup, frame), getattr(less.rollup, frame)
        assert "problems_services" in f_full and "problems_services" not in f_less
        assert f_full["problems_services"].sum() > 0  # there was something to remove
        pd.testing.assert_series_equal(
            f_less.set_index("code")["problems"],
            (f_full.set_index("code")["problems"] - f_full.set_index("code")["problems_services"])
            .reindex(f_less["code"])
            .rename("problems"),
            check_names=False,
        )
    assert (problem_items(full)["indicator"] == "services").sum() > 0
    assert not (problem_items(less)["indicator"] == "services").any()
    sheets = report_sheets(less)
    assert "一刻钟生活圈" not in sheets and "一刻钟生活圈" in report_sheets(full)
    assert "移民安置区一刻钟便民生活服务圈达标率" not in set(sheets["汇总"]["指标"])
    assert "一刻钟便民生活服务圈" not in set(sheets["问题清单"]["指标"])
    assert not any("问题数-一刻钟" in str(c) for c in sheets["乡镇汇总"].columns)
    assert "services" not in indicator_names(less)


def test_a_profile_indicator_appears_in_rollup_items_and_report(tiny, tmp_path):
    pytest.importorskip("geo.access")
    dataset, _ = tiny
    profile = tmp_path / "county.toml"
    profile.write_text(
        '[[indicators]]\ncode = "post_logistics"\nname_zh = "到村级寄递物流服务点"\n'
        'layer = "service_points"\nkinds = ["物流配送站点"]\nunit_kind = "admin_village"\n'
        'mode = "drive"\nmax_time_min = 30\ntarget_pct = 90\ncost_wan = 8\n'
        'department = "商务局"\n',
        encoding="utf-8",
    )
    settings = load_settings(profile)
    a = assess(dataset, settings)
    assert a.indicators.table.codes[-1] == "post_logistics"
    rows = a.indicators.of("post_logistics")
    n_admin = len(dataset["admin_villages"])
    assert len(rows) == n_admin and rows["key"].str.startswith("post_logistics:").all()
    row = a.rollup.county.set_index("code").loc["post_logistics"]
    assert row["indicator"] == "到村级寄递物流服务点" and row["target"] == 90.0
    assert row["group"] == "custom" and row["department"] == "商务局"
    judged = rows["status"].isin(["ok", "problem"])
    if judged.any():
        assert row["value"] == pytest.approx(100 * (rows["status"] == "ok").sum() / judged.sum())
    else:
        assert np.isnan(row["value"]) and row["status"] == "无数据"
    items = problem_items(a)
    mine = items.loc[items["indicator"] == "post_logistics"]
    assert len(mine) == (rows["status"] == "problem").sum()
    assert a.rollup.townships["problems_post_logistics"].sum() == len(mine)
    assert (mine["cost_wan"] == 8.0).all()
    projects = pd.DataFrame(indicator_projects(mine, a))
    assert projects["item_key"].tolist() == mine["key"].tolist()
    assert (projects["cost_wan"] == 8.0).all() and (projects["content"] != "").all()
    assert indicator_names(a)["post_logistics"] == "到村级寄递物流服务点"
    sheets = report_sheets(a)
    assert "到村级寄递物流服务点" in set(sheets["汇总"]["指标"])
    outcome = sheets["指标-到村级寄递物流服务点"]
    assert len(outcome) == n_admin and set(outcome["结果"]) <= {
        "达标",
        "未达标",
        "无数据",
        "不纳入",
    }
    assert "问题数-到村级寄递物流服务点" in sheets["行政村汇总"].columns


def test_an_absent_layer_is_no_data_never_met_never_zero(tiny):
    _, settings = tiny
    gone = {"service_points", "public_facilities"}
    bare = Dataset.from_frames({k: v for k, v in tc.build().items() if k not in gone}, name="bare")
    a = assess(bare, settings)
    county = a.rollup.county.set_index("code")
    # site_public still sees the 卫生室 (clinics layer): both beyond the walk, so the
    # sites are known to fail; the other kinds are 无数据, never 达标
    site = a.indicators.of("site_public")
    assert set(site.loc[site["status"] != "no_data", "key"].str.split(":").str[2]) == {"卫生室"}
    assert county.loc["site_public", "value"] == 0.0
    for code in ("services", "water", "edu_primary", "edu_junior", "elderly_care"):
        assert np.isnan(county.loc[code, "value"]), code
        assert county.loc[code, "status"] == "无数据" and pd.isna(county.loc[code, "met"])
        rows = a.indicators.of(code)
        assert (rows["status"] == "no_data").any()
        assert set(rows["status"]) <= {"no_data", "exempt"}  # 搬迁撤并 villages stay exempt
    assert not problem_items(a)["indicator"].isin(["services", "water"]).any()
    assert (a.rollup.admin_villages["problems_services"] == 0).all()


def test_builtin_outcomes_judge_every_unit(tiny, tiny_assessment):
    dataset, _ = tiny
    out = tiny_assessment.indicators
    hr = out.of("hard_road").set_index("unit_code")["status"]
    want = {"connected": "ok", "not_connected": "problem"}
    assert hr.to_dict() == {k: want.get(v[0], "exempt") for k, v in tc.EXPECTED_HARD_ROAD.items()}
    sv = out.of("services")
    kinds = Settings().services.required_kinds
    assert len(sv) == len(dataset["relocation_sites"]) * len(kinds)
    assert sv.set_index("key").loc["services:S1:药店", "status"] == "problem"
    assert sv.set_index("key").loc["services:S1:便利菜店", "status"] == "ok"
    cl = out.of("clinics")
    assert len(cl) == len(dataset["townships"]) + len(dataset["admin_villages"])
    cl = cl.set_index("unit_code")
    assert cl.loc["640399100202", "status"] == "ok"  # short of doctors, not blank
    assert cl.loc["640399100202", "cause"] == "short_of_doctors"
    assert cl.loc["640399100201", "status"] == "exempt"  # hosts the 卫生院
    assert (out.outcomes["description"] != "").all()


# ------------------------------------------------------------------ the demo county


def test_demo_rollup_counts_are_the_ledger_items_per_indicator(demo_assessment):
    a = demo_assessment
    items = problem_items(a)
    per = items.groupby("indicator").size()
    tw, av = a.rollup.townships, a.rollup.admin_villages
    for code in a.indicators.table.codes:
        assert tw[f"problems_{code}"].sum() == per.get(code, 0), code
        # items of units in an admin village (not townships; not water works, which the
        # demo's point-shaped admin villages cannot contain)
        village_level = items.loc[
            (items["indicator"] == code) & (items["admin_village_code"] != "")
        ]
        assert av[f"problems_{code}"].sum() == len(village_level), code
    assert tw["problems"].sum() == len(items)
    county = a.rollup.county.set_index("code")["problems"]
    assert county.to_dict() == {c: float(per.get(c, 0)) for c in a.indicators.table.codes}
    # 汇总: one row per indicator and the water diagnostics, none twice
    summary = report_sheets(a)["汇总"]
    assert summary["指标"].is_unique
    assert set(a.rollup.county["indicator"]) <= set(summary["指标"])
    assert "农村自来水普及率" in set(a.rollup.county["indicator"])
    # the table's tap rate is the water analysis' own, from the same outcome rows
    tap = a.rollup.county.set_index("code").loc["water", "value"]
    assert tap == pytest.approx(a.water.result.county.iloc[0]["value"], rel=1e-12)
    assert tap == pytest.approx(98.1673, abs=1e-4)  # the demo's figure (test_cli)


def test_builtin_projects_are_the_project_library_rows(demo_assessment):
    from geo.projects import project_library

    items = problem_items(demo_assessment)
    rows = pd.DataFrame(indicator_projects(items, demo_assessment)).set_index("item_key")
    library = project_library(items, demo_assessment).set_index("item_key")
    # the library holds every indicator's projects, the built-in ones built by geo.projects
    assert set(rows.index) == set(library.index) and len(library) > 0
    assert set(BUILTIN_CODES) < set(library["indicator"])
    pd.testing.assert_series_equal(
        rows["cost_wan"].astype(float).sort_index(),
        library["cost_wan"].sort_index(),
        check_names=False,
    )
    # every item of the seed indicators that has a cost becomes a project
    seeds = items.loc[~items["indicator"].isin(BUILTIN_CODES) & (items["cost_wan"] > 0), "key"]
    assert set(seeds) <= set(library.index)


def test_every_indicator_has_a_department_that_answers_for_it():
    table = indicator_table(Settings())
    for ind in table:
        assert ind.code in DEPARTMENTS[ind.department], ind.code
    listed = set().union(*DEPARTMENTS.values())
    assert set(BUILTIN_CODES) <= listed
    assert set(table.codes) <= listed


def test_open_and_closed_states_are_defined_once():
    assert frozenset({State.CLOSED, State.EXEMPT}) == CLOSED_STATES
    assert not CLOSED_STATES & OPEN_STATES
    assert State.DEFERRED not in CLOSED_STATES | OPEN_STATES  # 暂缓: neither
    assert is_closed("已销号") and is_closed("exempt") and not is_closed("deferred")
    assert pd.Series(["closed", "open", "exempt"]).isin(CLOSED_STATES).tolist() == [
        True,
        False,
        True,
    ]


def test_an_assessment_pickles_and_comes_back_whole(demo_assessment):
    """A county's assessment crosses processes (dask workers, a region's stored results)."""
    import pickle

    back = pickle.loads(pickle.dumps(demo_assessment))
    assert back.settings == demo_assessment.settings
    assert list(back.table) == list(demo_assessment.table)
    pd.testing.assert_frame_equal(back.rollup.county, demo_assessment.rollup.county)
    pd.testing.assert_frame_equal(back.indicators.outcomes, demo_assessment.indicators.outcomes)
    assert back.water.run is not None and back.water.result is not None
    # the table's analyses still run after the trip (a class, not a closure)
    site = back.table.get("site_public")
    assert site.outcomes.path == "geo.public_services:site_public_outcomes"
