"""Every threshold GapMap checks, in one frozen object loaded from a TOML profile.

Each setting carries its unit in its name and its source in a comment, using the marks of
``../shared/STANDARDS.md``: **[S nnn]** a seed policy document, **[N]** a national standard
or guide as we read it, **[A]** our assumption. Analyses take a :class:`Settings`
explicitly; results record the settings they used (:meth:`Settings.as_records`).

Profiles: ``default`` (the numbers below) and ``mofcom`` (MOFCOM 2021 一刻钟便民生活圈
tiers: daily-needs kinds within 10 min, supermarket within 15 min). A user profile is a TOML
file with any subset of the fields, in sections named like the nested dataclasses.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

__all__ = [
    "ClinicSettings",
    "EducationSettings",
    "ElderlySettings",
    "EnvironmentSettings",
    "HardRoadSettings",
    "IndicatorSpec",
    "NetworkSettings",
    "ProjectSettings",
    "RegionSettings",
    "ServerSettings",
    "ServiceSettings",
    "Settings",
    "TargetSettings",
    "TerrainSettings",
    "WaterSettings",
    "load_settings",
]


def _frozen_map(d: dict[str, float]) -> MappingProxyType[str, float]:
    return MappingProxyType(dict(d))


@dataclass(frozen=True)
class NetworkSettings:
    """Graph building, snapping and travel speeds."""

    snap_max_m: float = 200.0  # [A] village point to road, STANDARDS §1
    node_tolerance_m: float = 0.01  # [A] vertices closer than this are one node
    dangle_gap_max_m: float = 100.0  # [A] a dead end this close to another road is a probable gap
    walk_speed_kmh: float = 4.5  # [A] flat walking speed, STANDARDS §2
    # [A] driving speeds by road class (km/h), reduced on unpaved surfaces below
    drive_speed_kmh: MappingProxyType[str, float] = field(
        default_factory=lambda: _frozen_map(
            {"国道": 60, "省道": 50, "县道": 40, "乡道": 30, "村道": 25, "入户路": 15, "其他": 20}
        )
    )
    unpaved_speed_factor: float = 0.6  # [A] 砂石/土路/未知 drive at 60 % of the class speed


@dataclass(frozen=True)
class HardRoadSettings:
    """20户以上自然村通硬化路 (STANDARDS §1)."""

    households_min: int = 20  # [S 001] 常住人口20户以上
    hard_surfaces: tuple[str, ...] = ("沥青", "水泥")  # [N] 沥青、水泥混凝土; 块石 optional [A]
    trunk_classes: tuple[str, ...] = ("国道", "省道", "县道", "乡道")  # [A] county network
    # [A] A trunk-class road (trunk_classes) of unknown surface (未知) counts as hard, and
    # the villages that rely on it are flagged 路面待核实 (reason ``unverified_surface``).
    # Reason: OSM and many county road layers leave the surface of 国道/省道/县道 untagged
    # (they are paved: Ningxia's 国省县道 are 沥青/水泥 throughout), so without this a
    # county on OSM data is halved by missing tags. Village roads of unknown surface still
    # never count as hard.
    trunk_unknown_surface_hard: bool = True
    lane_width_min_m: float = 3.5  # [N] MOT 小交通量农村公路 single-lane pavement
    harden_cost_wan_per_km: float = 60.0  # [A] 万元/km to pave an existing gravel/earth road
    new_road_cost_wan_per_km: float = 120.0  # [A] 万元/km for a new 4.5 m cement road
    national_rate_2022_pct: float = 99.5  # [N] Ningxia 具备条件 20户以上自然村通硬化路率, end-2022


@dataclass(frozen=True)
class ServiceSettings:
    """一刻钟便民生活服务圈 (STANDARDS §2)."""

    required_kinds: tuple[str, ...] = ("综合超市", "便利菜店", "药店", "公交站点")  # [S 001, 004]
    optional_kinds: tuple[str, ...] = ("电商网店", "物流配送站点")  # [S 001, 004]
    max_time_min: float = 15.0  # [S 001] 一刻钟
    # [N] per-kind limits override max_time_min (MOFCOM tiers in the "mofcom" profile)
    kind_max_time_min: MappingProxyType[str, float] = field(default_factory=lambda: _frozen_map({}))
    isochrone_buffer_m: float = 50.0  # [A] reachable edges buffered by this to draw isochrones
    include_villages: bool = False  # [S 004] optionally every natural village, not only sites

    def limit_min(self, kind: str) -> float:
        """Return the time limit (minutes) for one facility kind."""
        return float(self.kind_max_time_min.get(kind, self.max_time_min))


@dataclass(frozen=True)
class ClinicSettings:
    """医疗卫生空白点动态清零 (STANDARDS §3)."""

    doctors_per_1000_min: float = 1.0  # [N] ≥ 1 village doctor per 1,000 residents
    clinic_max_time_min: float = 30.0  # [A] to the nearest 卫生室
    health_centre_max_time_min: float = 60.0  # [A] to the nearest 卫生院
    clinic_travel_mode: str = "walk"  # [A] villagers walk to the village clinic
    health_centre_travel_mode: str = "drive"  # [A] and ride to the township health centre


@dataclass(frozen=True)
class WaterSettings:
    """农村供水覆盖 (STANDARDS §4)."""

    persons_per_household: float = 3.8  # [A] Ningxia rural average
    demand_lpcd: float = 40.0  # [N] T/CHES 18-2018 dry region 达标
    demand_basic_lpcd: float = 20.0  # [N] 基本达标
    service_head_m: float = 10.0  # [N] one storey
    service_head_per_storey_m: float = 4.0  # [N] each extra storey
    snap_max_m: float = 500.0  # [A] village to nearest junction without an explicit link
    # [A] rural diurnal demand multipliers for hours 0–23 (mean 1.0; morning and evening
    # peaks, as in data/demo/tongxin.inp); GapMap divides them by their mean before use
    diurnal_pattern: tuple[float, ...] = (
        0.4491, 0.3493, 0.2994, 0.2994, 0.3992, 0.7983, 1.5967, 1.896, 1.4969, 1.0977, 0.9979,
        1.0977, 1.2973, 1.0977, 0.8981, 0.7983, 0.8981, 1.2973, 1.7963, 1.6965, 1.2973, 0.8981,
        0.6985, 0.5489,
    )  # fmt: skip
    duration_h: float = 24.0  # [N] STANDARDS §4: 24 h extended-period simulation
    hydraulic_timestep_s: int = 3600  # [A] EPANET hydraulic and report time step
    simulator: str = "epanet"  # [A] "epanet" (EPANET 2.2 via WNTR, WNTR as fallback) or "wntr"
    # [A] persons whose demand a village puts on its junction: "population" (常住人口 where
    # recorded, else households × persons_per_household) or "households" (always the latter)
    demand_basis: str = "population"


@dataclass(frozen=True)
class TerrainSettings:
    """Terrain (DEM): walking times off the network and 具备建设条件 of new road links."""

    resolution_m: float = 100.0  # [A] analysis grid; the demo DEM itself is 30″ (≈ 0.8 km)
    off_road_factor: float = 0.6  # [N] Tobler (1993): off paths at 3/5 of the on-path speed
    road_walk_grade_max_pct: float = 8.0  # [A] a road climbs at most this, whatever the hill
    road_max_grade_pct: float = 9.0  # [N] JTG D20-2017 四级公路 (20 km/h) 最大纵坡 9 %
    # [A] beyond this terrain slope no road is built, even with switchbacks
    route_max_slope_pct: float = 60.0
    # [A] STANDARDS §1: a missing link whose mean terrain slope exceeds this is not 具备条件
    buildable_mean_slope_max_pct: float = 25.0


@dataclass(frozen=True)
class ProjectSettings:
    """项目库: unit costs of the projects that close each kind of gap (万元 = 10,000 yuan).

    Road costs per km are in :class:`HardRoadSettings` (``harden_cost_wan_per_km``,
    ``new_road_cost_wan_per_km``). Every number here is an assumption **[A]** for a first
    ranking; a county replaces them with its own 概算 in a settings profile.
    """

    clinic_build_wan: float = 35.0  # [A] 标准化村卫生室 (≥ 60 m²) with basic equipment
    doctor_post_wan: float = 6.0  # [A] one 村医 post: training, placement, first-year pay
    health_centre_build_wan: float = 800.0  # [A] a small 乡镇卫生院 (building + equipment)
    health_centre_doctors: int = 5  # [A] 执业(助理)医师 a new 卫生院 starts with
    # [A] one new facility of each 生活圈 kind (fit-out or subsidy, not land)
    facility_cost_wan: MappingProxyType[str, float] = field(
        default_factory=lambda: _frozen_map(
            {
                "综合超市": 50.0,
                "便利菜店": 10.0,
                "药店": 15.0,
                "公交站点": 3.0,
                "电商网店": 5.0,
                "物流配送站点": 8.0,
            }
        )
    )
    pipe_cost_wan_per_km: float = 35.0  # [A] DN63–110 PE branch main incl. trench and 入户
    pipe_min_km: float = 0.2  # [A] the shortest extension costed (connection works)
    pipe_diameter_mm: float = 63.0  # [A] DN63 PE: the what-if's new branch to a village
    booster_cost_wan: float = 40.0  # [A] a small 加压泵站 or 高位水池
    source_cost_wan: float = 200.0  # [A] 水源扩建 (a well or a connection to a 规模化 plant)
    # [A] one new public facility of each kind (building or fit-out, not land)
    public_facility_cost_wan: MappingProxyType[str, float] = field(
        default_factory=lambda: _frozen_map(
            {
                "小学": 800.0,
                "初中": 2000.0,
                "九年一贯制学校": 2500.0,
                "幼儿园": 300.0,
                "公共文化室": 20.0,
                "日间照料中心": 60.0,
                "互助幸福院": 40.0,
                "老饭桌": 10.0,
                "综合服务中心": 50.0,
                "卫生室": 35.0,
            }
        )
    )
    station_5g_wan: float = 30.0  # [A] one 5G macro site serving an admin village
    gigabit_village_wan: float = 15.0  # [A] 千兆光纤 to one village (OLT port, trunk fibre)
    sewage_village_wan: float = 120.0  # [A] 一体化污水处理设施 and pipes for one admin village
    waste_point_wan: float = 5.0  # [A] one 垃圾收集点 with bins and a collection contract
    toilet_household_wan: float = 0.5  # [A] 户厕改造 per household (¥5,000)
    housing_rebuild_household_wan: float = 4.0  # [A] 危房改造 per household (¥40,000)
    water_works_upgrade_wan: float = 150.0  # [A] 净化消毒 / storage upgrade of one water works


@dataclass(frozen=True)
class TargetSettings:
    """The county targets every indicator row is judged against (one place, STANDARDS Targets).

    Rates in per cent; counts as numbers of units. Sources in the comments; the indicator
    table (:mod:`geo.indicators.table`) reads its targets from here and nowhere else.
    """

    hard_road_rate_pct: float = 100.0  # [S 001] 具备条件的20户以上自然村通硬化路: 有序推进
    services_rate_pct: float = 100.0  # [S 001, 004] 移民村(社区)一刻钟便民生活服务圈 built
    clinic_blank_max: float = 0.0  # [S 001] 乡村两级医疗卫生机构和人员空白点 动态清零 (约束性)
    tap_rate_pct: float = 98.0  # [S 001] 2025 农村自来水普及率
    tap_rate_2020_pct: float = 91.0  # [S 001] 2020 baseline
    water_guarantee_pct: float = 95.0  # [S 001 text] 城乡供水保证率
    water_quality_pct: float = 90.0  # [S 001 text] 水质达标率
    site_public_rate_pct: float = 100.0  # [S 001] 移民安置区 配套完善 学校、幼儿园、文化室 …
    primary_school_rate_pct: float = 100.0  # [A] every village within the 小学 service radius
    junior_school_rate_pct: float = 100.0  # [A] every village within the 初中 service radius
    kindergarten_rate_pct: float = 100.0  # [A] every unit (admin village / township) has one
    elderly_care_rate_pct: float = 100.0  # [S 004, A] villages above the threshold have one
    telecom_5g_rate_pct: float = 80.0  # [S 001] 2025 行政村通5G ≥ 80 %
    gigabit_key_village_rate_pct: float = 100.0  # [S 001] 千兆光纤 全区重点村全覆盖
    sewage_rate_pct: float = 40.0  # [S 001 指标表 13] 2025 农村生活污水治理率 40 %
    sewage_rate_2020_pct: float = 20.5  # [S 001 指标表 13] 2020 baseline
    waste_rate_pct: float = 95.0  # [S 001 指标表 12] 2025 农村生活垃圾处理率 > 95 %
    waste_rate_2020_pct: float = 90.0  # [S 001 指标表 12] 2020 baseline
    # [S 001 指标表 11] 农村卫生厕所普及率 稳步提高: judged against the previous snapshot's
    # rate when the ledger has one, else against this baseline (2020, as printed: 20.5)
    toilet_rate_baseline_pct: float = 20.5
    unsafe_housing_max: float = 0.0  # [S 001 指标表 10] 农村危窑危房 动态清零 (约束性)


@dataclass(frozen=True)
class EducationSettings:
    """义务教育就近入学 and 幼儿园 (STANDARDS §5)."""

    primary_radius_m: float = 2500.0  # [N] 建标109-2008 as we read it: rural 小学 ≤ 2.5 km
    junior_radius_m: float = 5000.0  # [N] 建标109-2008: rural 初中 ≤ 5 km
    # [A] distance along the road network (walk graph); "straight" for straight-line
    distance_basis: str = "network"
    # [A] the unit that must have a 幼儿园 in it: "township" or "admin_village"
    kindergarten_unit: str = "township"
    kindergarten_min_population: int = 0  # [A] admin villages below this are not required


@dataclass(frozen=True)
class ElderlySettings:
    """农村养老: 互助幸福院 / 日间照料中心 / 老饭桌 per admin village (STANDARDS §5)."""

    kinds: tuple[str, ...] = ("互助幸福院", "日间照料中心", "老饭桌")  # [S 004]
    min_population: int = 800  # [A] admin villages with at least this 常住人口 need one


@dataclass(frozen=True)
class EnvironmentSettings:
    """人居环境: 生活污水、生活垃圾、卫生厕所 (STANDARDS §5)."""

    # [A] a natural village within this straight-line distance of a 垃圾收集点 / 转运站 has
    # its waste collected; an admin village is 处理 when all its natural villages are
    waste_point_max_m: float = 2000.0
    # [A] an admin village whose 卫生厕所 share is below this is a problem item
    toilet_village_min_pct: float = 60.0


@dataclass(frozen=True)
class ServerSettings:
    """Server mode (``scripts/server.sh``): uploads, login sessions and lockout.

    Read by ``scripts/server.sh`` (``--server.maxUploadSize``) and by the login
    (:mod:`layers.store.accounts`); local mode has no login and ignores the session and
    lockout numbers.
    """

    max_upload_mb: int = 200  # [A] a county GeoPackage with DEM; nginx client_max_body_size too
    session_idle_hours: float = 8.0  # [A] a login ends after a working day without use
    session_absolute_hours: float = 168.0  # [A] and after 7 days whatever the use
    lockout_failures: int = 5  # [A] failed passwords in a row before the account is locked
    lockout_minutes: float = 15.0  # [A] how long the lock lasts (and the window counted)


@dataclass(frozen=True)
class RegionSettings:
    """全区 runs (``python -m scripts.region``): partition by county, the cluster to use."""

    # [A] a county is computed with its neighbours' roads and facilities this far beyond its
    # border, so a village near it reaches the nearer clinic or shop across it
    buffer_m: float = 10_000.0
    # [A] a dask scheduler (``tcp://host:8786``) to run on; "" = a LocalCluster on this machine
    scheduler_address: str = ""


@dataclass(frozen=True)
class IndicatorSpec:
    """A county's own indicator of the common kind: a unit must reach a facility kind.

    Written in a TOML profile as an ``[[indicators]]`` table, no code needed::

        [[indicators]]
        code = "post_logistics"
        name_zh = "行政村到村级寄递物流服务点"
        layer = "service_points"
        kinds = ["物流配送站点"]
        unit_kind = "admin_village"
        mode = "drive"
        max_time_min = 30

    Attributes
    ----------
    code : str
        Stable ASCII code (``[a-z][a-z0-9_]*``), the ledger key prefix.
    name_zh : str
        The indicator's Chinese name (KPI card, report row).
    layer : str
        The facility layer (``service_points``, ``public_facilities``, ``clinics`` …).
    kinds : tuple of str
        Facility kinds that count (values of the layer's ``kind``); empty = every kind.
    unit_kind : str
        ``natural_village``, ``relocation_site`` or ``admin_village`` (its seat: the
        largest natural village, else the admin village's own point).
    mode : str
        ``walk`` or ``drive`` (network time, ``max_time_min``), ``straight`` (straight
        line, ``max_distance_m``) or ``network_m`` (road distance, ``max_distance_m``).
    max_time_min, max_distance_m : float or None
        The limit, by ``mode``.
    target_pct : float
        Share of units within the limit the county must reach.
    problem_zh, measure_zh : str
        问题类型 and 整改措施 of the ledger items (defaults derived from ``name_zh``).
    cost_wan : float
        Cost of one new facility (万元), for the 项目库.
    source : str
        Where the rule comes from (printed with the indicator).
    department : str
        The 行业部门 answering for it (a key of ``layers.store.actors.DEPARTMENTS``), or
        empty: the county admin only.
    """

    code: str
    name_zh: str
    layer: str = "service_points"
    kinds: tuple[str, ...] = ()
    unit_kind: str = "admin_village"
    mode: str = "walk"
    max_time_min: float | None = None
    max_distance_m: float | None = None
    target_pct: float = 100.0
    problem_zh: str = ""
    measure_zh: str = ""
    cost_wan: float = 0.0
    source: str = "县级自定义指标（设置文件）"
    department: str = ""


_SPEC_MODES = ("walk", "drive", "straight", "network_m")
_SPEC_UNITS = ("natural_village", "relocation_site", "admin_village")


def _indicator_spec(raw: dict[str, Any], i: int) -> IndicatorSpec:
    """Return one ``[[indicators]]`` table as a checked :class:`IndicatorSpec`."""
    known = {f.name for f in fields(IndicatorSpec)}
    where = f"[[indicators]] #{i + 1}"
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; known: {sorted(known)}")
    for key in ("code", "name_zh"):
        if not str(raw.get(key, "")).strip():
            raise ValueError(f"{where}: {key!r} is required")
    code = str(raw["code"])
    if not re.fullmatch(r"[a-z][a-z0-9_]*", code):
        raise ValueError(f"{where}: code {code!r} must be lower-case ASCII ([a-z][a-z0-9_]*)")
    mode = str(raw.get("mode", "walk"))
    if mode not in _SPEC_MODES:
        raise ValueError(f"{where} ({code}): mode {mode!r} not one of {list(_SPEC_MODES)}")
    unit = str(raw.get("unit_kind", "admin_village"))
    if unit not in _SPEC_UNITS:
        raise ValueError(f"{where} ({code}): unit_kind {unit!r} not one of {list(_SPEC_UNITS)}")
    limit = "max_distance_m" if mode in {"straight", "network_m"} else "max_time_min"
    if raw.get(limit) is None:
        raise ValueError(f"{where} ({code}): mode {mode!r} needs {limit}")
    values = dict(raw)
    values["kinds"] = tuple(str(k) for k in raw.get("kinds", ()))
    for key in ("max_time_min", "max_distance_m", "target_pct", "cost_wan"):
        if values.get(key) is not None:
            values[key] = float(values[key])
    return IndicatorSpec(**values)


@dataclass(frozen=True)
class Settings:
    """All GapMap settings: one frozen object, printed with every result."""

    profile: str = "default"
    network: NetworkSettings = field(default_factory=NetworkSettings)
    hard_road: HardRoadSettings = field(default_factory=HardRoadSettings)
    services: ServiceSettings = field(default_factory=ServiceSettings)
    clinics: ClinicSettings = field(default_factory=ClinicSettings)
    water: WaterSettings = field(default_factory=WaterSettings)
    projects: ProjectSettings = field(default_factory=ProjectSettings)
    terrain: TerrainSettings = field(default_factory=TerrainSettings)
    server: ServerSettings = field(default_factory=ServerSettings)
    region: RegionSettings = field(default_factory=RegionSettings)
    targets: TargetSettings = field(default_factory=TargetSettings)
    education: EducationSettings = field(default_factory=EducationSettings)
    elderly: ElderlySettings = field(default_factory=ElderlySettings)
    environment: EnvironmentSettings = field(default_factory=EnvironmentSettings)
    # a county's own indicators ([[indicators]] tables of its TOML profile)
    indicators: tuple[IndicatorSpec, ...] = ()

    def digest(self) -> str:
        """Return the SHA-256 (hex) of every setting: the one key of results computed with them.

        Over the settings' ``repr`` (frozen dataclasses of numbers, strings, tuples and
        read-only mappings: exact and the same in every process). A region county's input hash
        (:func:`scripts.region.settings_hash`) and the app's kept assessments both use it.
        """
        return hashlib.sha256(repr(self).encode("utf-8")).hexdigest()

    def as_records(self) -> list[dict[str, Any]]:
        """Return ``[{"section", "name", "value"}]`` rows for a report's settings sheet."""
        rows: list[dict[str, Any]] = [{"section": "", "name": "profile", "value": self.profile}]
        for spec in self.indicators:
            rows.append({"section": "indicators", "name": spec.code, "value": repr(spec)})
        for f in fields(self):
            if f.name in {"profile", "indicators"}:
                continue
            section = getattr(self, f.name)
            for sf in fields(section):
                name, value = sf.name, getattr(section, sf.name)
                if isinstance(value, MappingProxyType | dict):
                    value = "; ".join(f"{k}={v}" for k, v in dict(value).items())
                elif isinstance(value, tuple):
                    value = "、".join(map(str, value))
                rows.append({"section": f.name, "name": name, "value": value})
        return rows


_PROFILES: dict[str, dict[str, dict[str, Any]]] = {
    "default": {},
    # MOFCOM 城市一刻钟便民生活圈建设指南 (2021) tiers [N]: daily needs ≤ 10 min, supermarket 15
    "mofcom": {
        "services": {"kind_max_time_min": {"便利菜店": 10.0, "药店": 10.0, "公交站点": 10.0}}
    },
}


_MOVED: dict[tuple[str, str], str] = {
    ("HardRoadSettings", "target_rate_pct"): "[targets] hard_road_rate_pct",
    ("WaterSettings", "tap_rate_target_pct"): "[targets] tap_rate_pct",
    ("WaterSettings", "tap_rate_2020_pct"): "[targets] tap_rate_2020_pct",
}
"""Settings that moved to :class:`TargetSettings` (every target in one place)."""


def _apply(section: Any, values: dict[str, Any]) -> Any:
    known = {f.name: f for f in fields(section)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        moved = [
            f"{name} is now {_MOVED[(type(section).__name__, name)]}"
            for name in unknown
            if (type(section).__name__, name) in _MOVED
        ]
        raise ValueError(
            f"unknown setting(s) {unknown} in section {type(section).__name__}; "
            + (f"{'; '.join(moved)}; " if moved else "")
            + f"known: {sorted(known)}"
        )
    cast: dict[str, Any] = {}
    for name, value in values.items():
        current = getattr(section, name)
        if isinstance(current, MappingProxyType):
            cast[name] = _frozen_map({**dict(current), **dict(value)})
        elif isinstance(current, tuple):
            cast[name] = tuple(value)
        elif isinstance(current, bool):
            cast[name] = bool(value)
        elif isinstance(current, int | float) and not isinstance(current, bool):
            cast[name] = type(current)(value)
        else:
            cast[name] = value
    return replace(section, **cast)


def load_settings(profile: str | Path = "default") -> Settings:
    """Return the settings of a built-in profile name or a TOML file.

    Parameters
    ----------
    profile : str or path
        ``"default"``, ``"mofcom"``, or the path of a TOML file whose tables are named
        ``network``, ``hard_road``, ``services``, ``clinics``, ``water``, ``projects``,
        ``terrain``, ``server``, ``region``, ``targets``, ``education``, ``elderly``,
        ``environment`` and whose keys are setting names (unit in the name). A
        ``base = "mofcom"`` key starts from a profile.

    Raises
    ------
    ValueError
        For an unknown profile, section or setting name (the message lists known ones).
    """
    if isinstance(profile, Path) or str(profile).endswith(".toml"):
        path = Path(profile)
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        base = load_settings(str(data.pop("base", "default")))
        name = path.stem
    else:
        if profile not in _PROFILES:
            raise ValueError(f"unknown settings profile {profile!r}; use {sorted(_PROFILES)}")
        data = _PROFILES[str(profile)]
        base = Settings()
        name = str(profile)
    data = dict(data)
    specs = data.pop("indicators", None)
    sections = {f.name for f in fields(Settings)} - {"profile"}
    unknown = sorted(set(data) - sections)
    if unknown:
        raise ValueError(f"unknown settings section(s) {unknown}; known: {sorted(sections)}")
    updates: dict[str, Any] = {k: _apply(getattr(base, k), v) for k, v in data.items()}
    if specs is not None:
        if not isinstance(specs, list):
            raise ValueError("indicators must be an array of tables: [[indicators]]")
        parsed = tuple(_indicator_spec(dict(raw), i) for i, raw in enumerate(specs))
        codes = [p.code for p in parsed]
        repeated = sorted({c for c in codes if codes.count(c) > 1})
        if repeated:
            raise ValueError(f"[[indicators]]: code(s) {repeated} given twice")
        updates["indicators"] = (*base.indicators, *parsed)
    return replace(base, profile=name, **updates)
