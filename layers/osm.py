"""OpenStreetMap import: raw OSM data → GapMap layers, marked as OSM, with a survey report.

Many township offices have no digitised road or facility layers. :func:`import_osm` builds
``roads``, ``service_points``, ``clinics`` and ``natural_villages`` from an OSM file, clips
them to a boundary, keeps the OSM ids, marks every feature ``source='OSM'`` with the OSM data
date, flags what OSM cannot know (households, doctors, surfaces nobody tagged) and reports,
per township, what a planner must survey before trusting the maps.

Readers
-------
================  ===========================================================================
``.osm.pbf``      pyosmium (``osmium``, libosmium): streaming, C++ tag filters and node
                  location index, so a province or country extract is read in bounded memory;
                  the header's replication timestamp gives the data date
``.osm`` XML      osmnx :func:`osmnx.features_from_xml` (also ``.osm.bz2``, ``.xml``)
online            osmnx :func:`osmnx.features_from_polygon` by place name or polygon
                  (:func:`fetch_osm`; needs the network, never used by tests)
================  ===========================================================================

When osmnx 2.1 cannot build a relation whose member way was cut off by the extract (it raises
``EmptyPartError``), the same XML is read with pyosmium and ``provenance["reader"]`` says so.
Ways with a node missing from the file are dropped and counted (``provenance["skipped"]``),
never drawn as a shortcut over the missing nodes.

Roads are whole OSM ways (one feature per way, its id kept), not graph edges: GapMap builds
its own routable graph from the ``roads`` layer (:func:`geo.network.build_graph`), and
``osmnx.graph_from_xml`` would split every way into node-to-node edges and drop tags not in
``osmnx.settings.useful_tags_way`` (``surface`` among them).

Tag mapping
-----------
:data:`TAG_TABLE` is the documented mapping, one :class:`TagRule` per row (``tag_table()``
returns it as a DataFrame for the app). In short:

- roads: ``highway`` → ``road_class`` (trunk → 国道, primary → 省道, secondary → 县道,
  tertiary → 乡道, unclassified/residential/track → 村道, living_street/service → 入户路; a
  Chinese route number in ``ref`` — G/S/X/Y/C/Z — wins); ``surface`` → ``surface``
  (asphalt → 沥青, concrete → 水泥, paving_stones/sett → 块石, gravel/compacted → 砂石,
  dirt/ground/unpaved → 土路); **no surface tag → 未知**, which GapMap's hard-road analysis
  never counts as hard (``hard_surfaces`` are 沥青 and 水泥); ``width``/``est_width`` →
  ``width_m``, else ``lanes`` × 3.5 m, else the nominal width of the class (flagged
  ``width_default``; the schema requires a width); ``highway=construction|proposed`` →
  status 规划.
- service_points: ``shop=supermarket`` → 综合超市, ``shop=convenience|greengrocer`` and
  ``amenity=marketplace`` → 便利菜店, ``amenity=pharmacy`` → 药店, ``highway=bus_stop``,
  ``public_transport=platform`` (not rail/tram) and ``amenity=bus_station`` → 公交站点,
  ``amenity=post_office|parcel_locker`` → 物流配送站点 (uncertain).
- clinics: ``amenity=clinic`` → 卫生室, ``amenity=doctors`` → 卫生室 (uncertain),
  ``amenity=hospital`` and ``healthcare=centre|hospital`` → 卫生院 (uncertain); a Chinese name
  settles it (``…卫生院`` → 卫生院, ``…卫生室/卫生站`` → 卫生室, ``…诊所/医院`` → 其他).
- natural_villages: ``place=village|hamlet|isolated_dwelling``; households unknown (NA,
  flagged ``households_missing``), population from ``population`` when tagged.
- public_facilities (only when asked for, :data:`OSM_OPTIONAL_LAYERS`): ``amenity=school``
  → 小学 (uncertain), ``amenity=kindergarten`` → 幼儿园, ``amenity=social_facility`` with
  ``social_facility:for=senior`` → 日间照料中心 (uncertain), ``amenity=community_centre`` →
  综合服务中心 (uncertain); a Chinese name settles it (``…九年一贯制…``, ``…初中/初级中学``,
  ``…小学/教学点``, ``…幸福院``, ``…文化…`` → 公共文化室 …). Boarding and catchments are
  not in OSM: 寄宿制 stays 否 and ``serves_codes`` empty.

Every output frame is EPSG:4326 with GapMap field names and allowed values, plus
``osm_type``, ``osm_id``, ``source='OSM'``, ``osm_date``, ``uncertain`` and ``flags``.
OSM data is © OpenStreetMap contributors, ODbL 1.0: keep the attribution in exports.
"""

from __future__ import annotations

import bz2
import dataclasses
import datetime as dt
import gzip
import importlib.metadata
import logging
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from layers.crs import metric_crs
from layers.errors import CRSError, LayerError, LayerReadError, Problem, ProblemKind, Severity
from layers.schema import CLINIC_KINDS, SERVICE_KINDS
from layers.validate import normalise_layer

__all__ = [
    "LANE_WIDTH_M",
    "OSM_LAYERS",
    "OSM_OPTIONAL_LAYERS",
    "STEPS",
    "SURVEY_FIELDS",
    "TAG_TABLE",
    "OsmImport",
    "TagRule",
    "completeness_report",
    "fetch_osm",
    "import_osm",
    "map_features",
    "tag_table",
]

logger = logging.getLogger(__name__)

OSM_LAYERS: tuple[str, ...] = ("roads", "service_points", "clinics", "natural_villages")
"""The GapMap layers an OSM import builds by default."""

OSM_OPTIONAL_LAYERS: tuple[str, ...] = ("public_facilities",)
"""Layers OSM can also provide when asked (``layers=``): schools, kindergartens, elderly
care and community centres are sparse in rural China's OSM, so they are not built unless
requested, and every kind there is a guess for the user to check unless a Chinese name
settles it."""

STEPS: tuple[str, ...] = ("read", "map", "clip", "report", "validate")
"""The steps of :func:`import_osm`, in order (for progress displays)."""

LANE_WIDTH_M = 3.5
"""Width of one lane (metres) when only ``lanes`` is tagged: JTG B01-2014, 二/三级公路."""

SURVEY_FIELDS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "natural_villages": ("households", "population", "admin_village_code"),
        "clinics": ("doctors",),
    }
)
"""Required fields OSM cannot fill: left empty and flagged for the user to survey.

:attr:`OsmImport.problems` reports them as warnings (``missing_value``), not errors.
"""

ATTRIBUTION = "© OpenStreetMap contributors, ODbL 1.0"


# --------------------------------------------------------------------------- tag table


@dataclass(frozen=True)
class TagRule:
    """One row of the OSM → GapMap tag mapping.

    Attributes
    ----------
    layer : str
        GapMap layer the row feeds.
    field : str
        GapMap field it sets (``road_class``, ``surface``, ``width_m``, ``status``,
        ``kind``, or ``id`` for the layer itself).
    key, value : str
        The OSM tag. ``value`` may be a pattern: ``G*`` (a ``ref`` starting with G and a
        digit), ``*卫生院*`` (a name containing 卫生院), ``<number>`` (a parsed number),
        ``(absent)`` (no such tag), ``(other)`` (any value not in another row) or
        ``<a>;<b>`` (several values).
    target : str
        The GapMap value (or how it is computed).
    uncertain : bool
        The mapping is a guess: the feature is flagged ``uncertain`` for the user to check.
    width_m : float or None
        For ``highway`` rows: nominal pavement width (metres) used when no width is
        tagged (JTG B01-2014 / 农村公路 standards), flagged ``width_default``.
    note : str
        Why, in a few words.
    """

    layer: str
    field: str
    key: str
    value: str
    target: str
    uncertain: bool = False
    width_m: float | None = None
    note: str = ""


_R = TagRule
TAG_TABLE: tuple[TagRule, ...] = (
    # roads: highway → road_class (+ nominal pavement width when untagged)
    _R("roads", "road_class", "highway", "motorway", "国道", True, 15.0, "expressway; S…: 省道"),
    _R("roads", "road_class", "highway", "motorway_link", "国道", True, 3.5, "ramp"),
    _R("roads", "road_class", "highway", "trunk", "国道", False, 7.0, "OSM China"),
    _R("roads", "road_class", "highway", "trunk_link", "国道", False, 3.5, ""),
    _R("roads", "road_class", "highway", "primary", "省道", False, 7.0, "OSM China"),
    _R("roads", "road_class", "highway", "primary_link", "省道", False, 3.5, ""),
    _R("roads", "road_class", "highway", "secondary", "县道", False, 7.0, "OSM China"),
    _R("roads", "road_class", "highway", "secondary_link", "县道", False, 3.5, ""),
    _R("roads", "road_class", "highway", "tertiary", "乡道", False, 6.5, "OSM China"),
    _R("roads", "road_class", "highway", "tertiary_link", "乡道", False, 3.5, ""),
    _R("roads", "road_class", "highway", "unclassified", "村道", False, 3.5, "通村路; 四级单车道"),
    _R("roads", "road_class", "highway", "residential", "村道", True, 3.5, "may be 入户路"),
    _R("roads", "road_class", "highway", "living_street", "入户路", False, 3.0, ""),
    _R("roads", "road_class", "highway", "service", "入户路", True, 3.0, "access/yard road"),
    _R("roads", "road_class", "highway", "track", "村道", True, 3.0, "机耕路/田间道: check"),
    _R("roads", "road_class", "highway", "road", "其他", True, 3.5, "unknown road type"),
    # roads: Chinese route numbers (JT/T 132 行政等级代码) in ref win over highway
    _R("roads", "road_class", "ref", "G*", "国道", note="G109, G20 ...; several refs: the highest"),
    _R("roads", "road_class", "ref", "S*", "省道"),
    _R("roads", "road_class", "ref", "X*", "县道"),
    _R("roads", "road_class", "ref", "Y*", "乡道"),
    _R("roads", "road_class", "ref", "C*", "村道"),
    _R("roads", "road_class", "ref", "Z*", "其他", note="专用公路"),
    # roads: status
    _R("roads", "status", "highway", "construction", "规划", note="class: construction=*"),
    _R("roads", "status", "highway", "proposed", "规划", note="class: proposed=*"),
    # roads: surface
    _R("roads", "surface", "surface", "asphalt", "沥青"),
    _R("roads", "surface", "surface", "chipseal", "沥青", note="sealed"),
    _R("roads", "surface", "surface", "paved", "沥青", True, note="hard, material not tagged"),
    _R("roads", "surface", "surface", "concrete", "水泥"),
    _R("roads", "surface", "surface", "concrete:plates", "水泥"),
    _R("roads", "surface", "surface", "concrete:lanes", "水泥"),
    _R("roads", "surface", "surface", "paving_stones", "块石"),
    _R("roads", "surface", "surface", "sett", "块石"),
    _R("roads", "surface", "surface", "cobblestone", "块石"),
    _R("roads", "surface", "surface", "unhewn_cobblestone", "块石"),
    _R("roads", "surface", "surface", "stone", "块石"),
    _R("roads", "surface", "surface", "bricks", "块石"),
    _R("roads", "surface", "surface", "grass_paver", "块石", True),
    _R("roads", "surface", "surface", "gravel", "砂石"),
    _R("roads", "surface", "surface", "fine_gravel", "砂石"),
    _R("roads", "surface", "surface", "compacted", "砂石", note="泥结碎石"),
    _R("roads", "surface", "surface", "pebblestone", "砂石"),
    _R("roads", "surface", "surface", "rock", "砂石", True),
    _R("roads", "surface", "surface", "unpaved", "土路", True, note="not hard; what?"),
    _R("roads", "surface", "surface", "dirt", "土路"),
    _R("roads", "surface", "surface", "earth", "土路"),
    _R("roads", "surface", "surface", "ground", "土路"),
    _R("roads", "surface", "surface", "mud", "土路"),
    _R("roads", "surface", "surface", "sand", "土路"),
    _R("roads", "surface", "surface", "grass", "土路"),
    _R("roads", "surface", "surface", "metal", "其他"),
    _R("roads", "surface", "surface", "wood", "其他"),
    _R("roads", "surface", "surface", "(absent)", "未知", note="unverified: never hard"),
    _R("roads", "surface", "surface", "(other)", "其他", True, note="unmapped value"),
    _R("roads", "surface", "surface", "<a>;<b>", "as <a>", True, note="several values: the first"),
    # roads: width
    _R("roads", "width_m", "width", "<number>", "width", note="5, 5 m, 5.5米, 12'6\""),
    _R("roads", "width_m", "est_width", "<number>", "est_width", note="when no width"),
    _R("roads", "width_m", "lanes", "<number>", f"lanes × {LANE_WIDTH_M:g}", note="when no width"),
    _R("roads", "width_m", "width", "(absent)", "highway row's width_m", note="flag width_default"),
    # service points (first matching row wins)
    _R("service_points", "kind", "shop", "supermarket", "综合超市"),
    _R("service_points", "kind", "shop", "mall", "综合超市", True, note="may sell no groceries"),
    _R("service_points", "kind", "shop", "convenience", "便利菜店"),
    _R("service_points", "kind", "shop", "greengrocer", "便利菜店"),
    _R("service_points", "kind", "amenity", "marketplace", "便利菜店", note="菜市场"),
    _R("service_points", "kind", "amenity", "pharmacy", "药店"),
    _R("service_points", "kind", "healthcare", "pharmacy", "药店"),
    _R("service_points", "kind", "highway", "bus_stop", "公交站点"),
    _R("service_points", "kind", "public_transport", "platform", "公交站点",
       note="not with railway/train/tram/subway/light_rail unless bus=yes"),
    _R("service_points", "kind", "amenity", "bus_station", "公交站点"),
    _R("service_points", "kind", "amenity", "post_office", "物流配送站点", True, note="邮政"),
    _R("service_points", "kind", "amenity", "parcel_locker", "物流配送站点", True, note="快递柜"),
    # clinics: keys first, then a Chinese name settles the kind
    _R("clinics", "kind", "amenity", "clinic", "卫生室"),
    _R("clinics", "kind", "healthcare", "clinic", "卫生室"),
    _R("clinics", "kind", "amenity", "doctors", "卫生室", True, note="may be a private 诊所"),
    _R("clinics", "kind", "healthcare", "doctor", "卫生室", True, note="may be a private 诊所"),
    _R("clinics", "kind", "amenity", "hospital", "卫生院", True, note="county hospital?"),
    _R("clinics", "kind", "healthcare", "hospital", "卫生院", True, note="county hospital?"),
    _R("clinics", "kind", "healthcare", "centre", "卫生院", True, note="health centre"),
    _R("clinics", "kind", "name", "*卫生院*", "卫生院", note="乡镇(中心)卫生院"),
    _R("clinics", "kind", "name", "*社区卫生服务中心*", "卫生院"),
    _R("clinics", "kind", "name", "*卫生服务站*", "卫生室"),
    _R("clinics", "kind", "name", "*卫生室*", "卫生室", note="村卫生室"),
    _R("clinics", "kind", "name", "*卫生站*", "卫生室"),
    _R("clinics", "kind", "name", "*诊所*", "其他", True, note="private clinic"),
    _R("clinics", "kind", "name", "*医院*", "其他", True, note="hospital, not a 卫生院"),
    # public facilities (optional layer): keys first, then a Chinese name settles the kind
    _R("public_facilities", "kind", "amenity", "school", "小学", True, note="小学 or 中学?"),
    _R("public_facilities", "kind", "amenity", "kindergarten", "幼儿园"),
    _R("public_facilities", "kind", "amenity", "social_facility", "日间照料中心", True,
       note="only with social_facility:for=senior"),
    _R("public_facilities", "kind", "amenity", "community_centre", "综合服务中心", True,
       note="党群服务中心 or 文化室?"),
    _R("public_facilities", "kind", "name", "*九年一贯制*", "九年一贯制学校"),
    _R("public_facilities", "kind", "name", "*九年制*", "九年一贯制学校"),
    _R("public_facilities", "kind", "name", "*初级中学*", "初中"),
    _R("public_facilities", "kind", "name", "*初中*", "初中"),
    _R("public_facilities", "kind", "name", "*中学*", "初中", True, note="may be a 高中"),
    _R("public_facilities", "kind", "name", "*小学*", "小学"),
    _R("public_facilities", "kind", "name", "*教学点*", "小学"),
    _R("public_facilities", "kind", "name", "*幼儿园*", "幼儿园"),
    _R("public_facilities", "kind", "name", "*幸福院*", "互助幸福院"),
    _R("public_facilities", "kind", "name", "*日间照料*", "日间照料中心"),
    _R("public_facilities", "kind", "name", "*老饭桌*", "老饭桌"),
    _R("public_facilities", "kind", "name", "*长者食堂*", "老饭桌"),
    _R("public_facilities", "kind", "name", "*文化*", "公共文化室", note="文化室/文化活动中心"),
    _R("public_facilities", "kind", "name", "*党群服务*", "综合服务中心"),
    _R("public_facilities", "kind", "name", "*便民服务中心*", "综合服务中心"),
    # natural villages
    _R("natural_villages", "id", "place", "village", "自然村"),
    _R("natural_villages", "id", "place", "hamlet", "自然村"),
    _R("natural_villages", "id", "place", "isolated_dwelling", "自然村", note="1-2 households"),
    _R("natural_villages", "population", "population", "<number>", "population",
       note="households stay empty: survey"),
)  # fmt: skip
"""The OSM → GapMap tag mapping, one row per rule (see :class:`TagRule`)."""
del _R


def tag_table() -> pd.DataFrame:
    """Return :data:`TAG_TABLE` as a DataFrame (one row per rule), e.g. for the app."""
    return pd.DataFrame([dataclasses.asdict(r) for r in TAG_TABLE])


def _rules(layer: str, fld: str, key: str | None = None) -> list[TagRule]:
    return [
        r
        for r in TAG_TABLE
        if r.layer == layer and r.field == fld and (key is None or r.key == key)
    ]


_HIGHWAY = {r.value: r for r in _rules("roads", "road_class", "highway")}
_REF_RANK = {r.value[0]: (i, r.target) for i, r in enumerate(_rules("roads", "road_class", "ref"))}
_PLANNED = tuple(r.value for r in _rules("roads", "status", "highway"))
_SURFACE = {r.value: r for r in _rules("roads", "surface") if not r.value.startswith(("(", "<"))}
_SURFACE_VALUE = {k: r.target for k, r in _SURFACE.items()}
_SURFACE_UNCERTAIN = {k: r.uncertain for k, r in _SURFACE.items()}
_HIGHWAY_CLASS = {k: r.target for k, r in _HIGHWAY.items()}
_HIGHWAY_UNCERTAIN = {k: r.uncertain for k, r in _HIGHWAY.items()}
_HIGHWAY_WIDTH = {k: r.width_m for k, r in _HIGHWAY.items()}
_SURFACE_OTHER = next(r for r in _rules("roads", "surface") if r.value == "(other)")
_SERVICE = _rules("service_points", "kind")
_CLINIC_KEYS = [r for r in _rules("clinics", "kind") if r.key != "name"]
_CLINIC_NAMES = _rules("clinics", "kind", "name")
_PUBLIC_KEYS = [r for r in _rules("public_facilities", "kind") if r.key != "name"]
_PUBLIC_NAMES = _rules("public_facilities", "kind", "name")
_SENIOR_KEY = "social_facility:for"
_PLACES = tuple(r.value for r in _rules("natural_villages", "id", "place"))
_NOT_BUS = ("railway", "train", "tram", "subway", "light_rail", "monorail")

# Tags the readers keep (everything else is dropped at the source).
_POINT_PAIRS: tuple[tuple[str, str], ...] = tuple(
    dict.fromkeys(
        [(r.key, r.value) for r in (*_SERVICE, *_CLINIC_KEYS, *_PUBLIC_KEYS)]
        + [("place", v) for v in _PLACES]
    )
)
_ROAD_HIGHWAYS = frozenset((*_HIGHWAY, *_PLANNED))
_ROAD_KEYS = (
    "highway", "surface", "width", "est_width", "lanes", "ref", "name", "name:zh",
    "construction", "proposed", "area",
)  # fmt: skip
_KEEP_KEYS = tuple(
    dict.fromkeys(
        [*_ROAD_KEYS, "name:en", "population", "bus", "type", _SENIOR_KEY, *_NOT_BUS]
        + [k for k, _ in _POINT_PAIRS]
    )
)
_KEEP_SET = frozenset(_KEEP_KEYS)
_WANTED_VALUES: dict[str, frozenset[str]] = {
    k: frozenset(v for kk, v in _POINT_PAIRS if kk == k) for k, _ in _POINT_PAIRS
}
_OSMNX_TAGS: dict[str, bool | list[str]] = {
    k: sorted(v | (_ROAD_HIGHWAYS if k == "highway" else frozenset()))
    for k, v in _WANTED_VALUES.items()
}
_OSMNX_TAGS.setdefault("highway", sorted(_ROAD_HIGHWAYS))


# ------------------------------------------------------------------------------ result


@dataclass(frozen=True)
class OsmImport:
    """What :func:`import_osm` / :func:`fetch_osm` built.

    Attributes
    ----------
    frames : mapping of str to GeoDataFrame
        Per GapMap layer (``roads``, ``service_points``, ``clinics``, ``natural_villages``):
        EPSG:4326, GapMap field names and allowed values, ready for
        :func:`layers.validate.normalise_layer` / :meth:`layers.Dataset.from_frames`, plus

        - ``osm_type`` (``node``/``way``/``relation``) and ``osm_id`` (int); ``id`` is
          ``n…``/``w…``/``r…`` + the OSM id;
        - ``source`` = ``"OSM"`` and ``osm_date`` (``YYYY-MM-DD``, the data date);
        - ``uncertain`` (bool): the class/kind/surface is a guess from the tag table;
        - ``flags`` (str, ``;``-separated): ``class_uncertain``, ``surface_missing``
          (no surface tag: 未知), ``surface_uncertain``, ``surface_unmapped``,
          ``width_default``, ``width_lanes``, ``kind_uncertain``, ``unnamed``,
          ``households_missing``, ``population_missing``, ``admin_village_missing``,
          ``doctors_missing``;
        - roads also ``highway``, ``surface_osm`` (the raw tag), ``ref``, ``width_source``
          (``width``/``est_width``/``lanes``/``default``); points ``osm_tag``
          (``key=value`` of the rule); villages ``place``.

        Households (villages) and doctors (clinics) are empty (``pd.NA``): OSM has no such
        data. ``frame.attrs["provenance"]`` holds this layer's provenance.
    report : pandas.DataFrame
        :func:`completeness_report`: per township and overall, what to survey.
    provenance : dict
        File, reader and version, ``osm_date`` and how it was found, boundary, metric CRS,
        counts per layer, features skipped and why, the attribution.
    problems : tuple of Problem
        :func:`~layers.validate.normalise_layer` problems of every frame; empty
        :data:`SURVEY_FIELDS` are warnings here (they are errors to the schema until the
        user fills them in).
    """

    frames: Mapping[str, gpd.GeoDataFrame]
    report: pd.DataFrame
    provenance: dict[str, Any]
    problems: tuple[Problem, ...] = ()

    @property
    def errors(self) -> tuple[Problem, ...]:
        """Problems that are errors even after survey fields are downgraded."""
        return tuple(p for p in self.problems if p.severity is Severity.ERROR)


# ------------------------------------------------------------------------------ readers


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - dev installs
        return "?"


def _iso(epoch_s: float) -> str:
    return dt.datetime.fromtimestamp(epoch_s, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_iso(text: str) -> float | None:
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


@dataclass
class _Raw:
    """Features as read: ``osm_type``, ``osm_id``, ``osm_ts`` (epoch s), kept tags, geometry."""

    features: gpd.GeoDataFrame
    reader: str
    header_date: str | None = None  # ISO timestamp of the snapshot, when the file says
    skipped: dict[str, int] = field(default_factory=dict)


def _empty_features() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"osm_type": pd.Series([], dtype=object), "osm_id": pd.Series([], dtype=np.int64)},
        geometry=gpd.GeoSeries([], crs=4326),
        crs=4326,
    )


def _read_osmium(path: Path) -> _Raw:
    """Read an OSM file with pyosmium in two streaming passes (relations, then the rest)."""
    try:
        import osmium
        import osmium.filter
        import osmium.geom
    except ImportError as err:  # pragma: no cover - depends on the install
        raise LayerReadError(
            "reading .osm.pbf needs pyosmium: pip install osmium==4.3.2",
            zh="读取 .osm.pbf 需要 pyosmium：请安装 osmium==4.3.2",
        ) from err

    skipped = {"ways_without_geometry": 0, "relations_incomplete": 0}
    # pass 1: multipolygon relations carrying a point-layer tag; remember their member ways
    relations: list[dict[str, Any]] = []
    member_ways: dict[int, str | None] = {}
    rel_filter = osmium.filter.TagFilter(*_POINT_PAIRS)
    for r in osmium.FileProcessor(str(path), osmium.osm.RELATION).with_filter(rel_filter):
        tags = {t.k: t.v for t in r.tags if t.k in _KEEP_SET}
        if tags.get("type") not in ("multipolygon", "boundary"):
            continue
        members = [(m.ref, m.role) for m in r.members if m.type == "w"]
        for ref, _ in members:
            member_ways[ref] = None
        relations.append(
            {
                "osm_type": "relation",
                "osm_id": r.id,
                "osm_ts": r.timestamp.timestamp(),
                "members": members,
                **tags,
            }
        )

    # pass 2: nodes with a wanted tag and ways with a wanted key, filtered in C++ (the bulk of
    # a file never reaches Python); untagged member ways of those relations come through the
    # filtered-object handler
    node_filter = osmium.filter.TagFilter(*_POINT_PAIRS)
    node_filter.enable_for(osmium.osm.NODE)
    way_filter = osmium.filter.KeyFilter(*sorted({k for k, _ in _POINT_PAIRS} | {"highway"}))
    way_filter.enable_for(osmium.osm.WAY)
    wkb_factory = osmium.geom.WKBFactory()
    all_nodes = osmium.geom.use_nodes.ALL  # keep repeated nodes: count them against the way

    def complete_line(way: Any) -> str | None:
        """WKB (hex) of a way, None when a node has no location (cut off by the extract)."""
        try:
            wkb = wkb_factory.create_linestring(way, all_nodes)
        except (osmium.InvalidLocationError, RuntimeError):
            return None
        # libosmium leaves out nodes without a location: such a way is incomplete; drop it,
        # as osmnx does, rather than draw a wrong shortcut
        if int.from_bytes(bytes.fromhex(wkb[10:18]), "little") != len(way.nodes):
            return None
        return wkb

    class _Members:
        def way(self, way: Any) -> None:
            if way.id in member_ways:
                member_ways[way.id] = complete_line(way)

    processor = (
        osmium.FileProcessor(str(path), osmium.osm.NODE | osmium.osm.WAY)
        .with_locations()
        .with_filter(node_filter)
        .with_filter(way_filter)
    )
    if member_ways:
        processor.handler_for_filtered(_Members())
    rows: list[dict[str, Any]] = []
    geoms: list[str] = []
    lon: list[float] = []
    lat: list[float] = []
    node_rows: list[dict[str, Any]] = []
    keep, wanted = _KEEP_KEYS, _WANTED_VALUES
    keep_set = _KEEP_SET
    for obj in processor:
        if obj.is_node():
            loc = obj.location
            if not loc.valid():
                continue
            node_rows.append(
                {
                    "osm_type": "node",
                    "osm_id": obj.id,
                    "osm_ts": obj.timestamp.timestamp(),
                    **{t.k: t.v for t in obj.tags if t.k in keep_set},
                }
            )
            lon.append(loc.lon)
            lat.append(loc.lat)
            continue
        tags = obj.tags
        is_road = tags.get("highway") in _ROAD_HIGHWAYS
        is_point = any(tags.get(k) in vals for k, vals in wanted.items())
        is_wanted = is_road or is_point
        is_member = obj.id in member_ways
        if not (is_wanted or is_member):
            continue
        wkb = complete_line(obj)
        if is_member:
            member_ways[obj.id] = wkb
        if not is_wanted:
            continue
        if wkb is None:
            skipped["ways_without_geometry"] += 1
            continue
        # a few lookups by key are much cheaper than walking every tag of the way
        row = {"osm_type": "way", "osm_id": obj.id, "osm_ts": obj.timestamp.timestamp()}
        for k in _ROAD_KEYS if is_road and not is_point else keep:
            if (v := tags.get(k)) is not None:
                row[k] = v
        rows.append(row)
        geoms.append(wkb)

    rel_rows, rel_geoms = [], []
    for rel in relations:
        geom = _relation_area(rel.pop("members"), member_ways)
        if geom is None:
            skipped["relations_incomplete"] += 1
            continue
        rel_rows.append(rel)
        rel_geoms.append(geom)

    parts = []
    if node_rows:
        parts.append(
            gpd.GeoDataFrame(
                pd.DataFrame.from_records(node_rows),
                geometry=shapely.points(np.array(lon), np.array(lat)),
                crs=4326,
            )
        )
    if rows:
        parts.append(
            gpd.GeoDataFrame(
                pd.DataFrame.from_records(rows), geometry=shapely.from_wkb(geoms), crs=4326
            )
        )
    if rel_rows:
        parts.append(
            gpd.GeoDataFrame(
                pd.DataFrame.from_records(rel_rows),
                geometry=np.array(rel_geoms, dtype=object),
                crs=4326,
            )
        )
    features = pd.concat(parts, ignore_index=True) if parts else _empty_features()
    header = osmium.io.Reader(str(path), osmium.osm.NOTHING)
    try:
        stamp = header.header().get("osmosis_replication_timestamp", "")
    finally:
        header.close()
    return _Raw(
        features=gpd.GeoDataFrame(features, geometry="geometry", crs=4326),
        reader=f"pyosmium {_version('osmium')}",
        header_date=stamp or None,
        skipped=skipped,
    )


def _relation_area(
    members: list[tuple[int, str]], ways: Mapping[int, str | None]
) -> shapely.Geometry | None:
    """Polygon of a multipolygon relation from its member ways' lines (None if incomplete)."""
    outer, inner = [], []
    for ref, role in members:
        wkb = ways.get(ref)
        if wkb is None:
            return None  # a member is missing from the extract: as osmnx, give up
        (inner if role == "inner" else outer).append(wkb)
    if not outer:
        return None

    def rings(wkbs: list[str]) -> shapely.Geometry:
        lines = shapely.line_merge(shapely.multilinestrings(shapely.from_wkb(wkbs)))
        return shapely.union_all(shapely.get_parts(shapely.polygonize(shapely.get_parts(lines))))

    area = rings(outer)
    if inner:
        area = shapely.difference(area, rings(inner))
    return None if area.is_empty else area


_XML_TAG = re.compile(rb"<(node|way|relation)\b([^>]*)>")
_XML_ID = re.compile(rb"""\bid=["'](-?\d+)["']""")
_XML_TS = re.compile(rb"""\btimestamp=["']([^"']+)["']""")
_XML_BASE = re.compile(rb"""(?:osm_base|timestamp)=["']([^"']+)["']""")


def _open_xml(path: Path):
    name = path.name.lower()
    if name.endswith(".bz2"):
        return bz2.open(path, "rb")
    if name.endswith(".gz"):
        return gzip.open(path, "rb")
    return open(path, "rb")


def _xml_dates(
    path: Path, wanted: set[tuple[str, int]] | None = None
) -> tuple[str | None, dict[tuple[str, int], float]]:
    """Return the snapshot time and the last edit time of the ``wanted`` elements.

    A byte scan: the snapshot is ``<meta osm_base>`` (Overpass) or ``<osm timestamp>``, and
    element times are ``timestamp`` attributes; osmnx drops both.
    """
    header: str | None = None
    stamps: dict[tuple[str, int], float] = {}
    tail = b""
    with _open_xml(path) as f:
        first = True
        while chunk := f.read(16 * 1024 * 1024):
            data = tail + chunk
            cut = data.rfind(b">") + 1
            data, tail = data[:cut], data[cut:]
            if first:
                first = False
                root = re.search(rb"<osm\b[^>]*>(?:\s*<note[^>]*>[^<]*</note>)?\s*(<meta[^>]*>)?",
                                 data)  # fmt: skip
                if root:
                    base = _XML_BASE.search(root.group(0))
                    header = base.group(1).decode() if base else None
            if wanted is not None and not wanted:
                continue
            for m in _XML_TAG.finditer(data):
                attrs = m.group(2)
                i = _XML_ID.search(attrs)
                if i is None:
                    continue
                key = (m.group(1).decode(), int(i.group(1)))
                if wanted is not None and key not in wanted:
                    continue
                t = _XML_TS.search(attrs)
                ts = None if t is None else _parse_iso(t.group(1).decode())
                if ts is not None:
                    stamps[key] = ts
    return header, stamps


def _from_osmnx(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Turn osmnx features (index ``element``, ``id``) into reader features."""
    if gdf is None or len(gdf) == 0:
        return _empty_features()
    frame = gdf.reset_index().rename(columns={"element": "osm_type", "id": "osm_id"})
    keep = ["osm_type", "osm_id", *(c for c in frame.columns if c in _KEEP_SET)]
    out = gpd.GeoDataFrame(
        frame[keep].copy(), geometry=frame.geometry.to_numpy(), crs=gdf.crs or 4326
    )
    out["osm_id"] = out["osm_id"].astype(np.int64)
    return out.to_crs(4326)


def _read_xml(path: Path) -> _Raw:
    """Read an OSM XML file through osmnx's :func:`osmnx.features_from_xml`."""
    import osmnx as ox
    from osmnx._errors import InsufficientResponseError

    try:
        gdf = ox.features_from_xml(path, tags=_OSMNX_TAGS)
    except InsufficientResponseError:
        gdf = None
    except shapely.errors.EmptyPartError as err:
        # osmnx 2.1 fails on a relation whose member way lost nodes to the extract's edge
        # (a cut without complete ways); libosmium reads the same XML and skips such ways
        logger.warning("%s: osmnx cannot build a relation (%s); reading with pyosmium", path, err)
        raw = _read_osmium(path)
        raw.reader += f" (osmnx {_version('osmnx')} failed: {err})"
        raw.header_date = raw.header_date or _xml_dates(path)[0]
        return raw
    except Exception as err:  # xml.sax / ElementTree errors for a broken file
        if type(err).__name__ in ("SAXParseException", "ParseError"):
            raise LayerReadError(
                f"{path.name}: not valid OSM XML ({err}); download or export it again",
                zh=f"{path.name}：不是有效的 OSM XML 文件（{err}），请重新下载或导出",
            ) from err
        raise
    features = _from_osmnx(gdf)
    keys = list(zip(features["osm_type"], features["osm_id"].tolist(), strict=True))
    header, stamps = _xml_dates(path, set(keys))
    features["osm_ts"] = np.array([stamps.get(k, np.nan) for k in keys], dtype=float)
    return _Raw(features=features, reader=f"osmnx {_version('osmnx')}", header_date=header)


# ------------------------------------------------------------------------------ mapping


def _col(features: pd.DataFrame, key: str) -> pd.Series:
    """Tag column as object strings with None where absent (see :func:`_tags_as_text`)."""
    if key not in features:
        return pd.Series([None] * len(features), index=features.index, dtype=object)
    return features[key]


def _tags_as_text(features: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Return a copy whose tag columns are stripped object strings, None where absent."""
    out = features.copy()
    for key in features.columns:
        if key in _KEEP_SET:
            s = features[key].astype(object)
            present = s.notna().to_numpy()
            values = np.full(len(s), None, dtype=object)
            values[present] = [str(v).strip() for v in s.to_numpy()[present]]
            out[key] = pd.Series(values, index=features.index, dtype=object)
    return out


def _lookup(values: pd.Series, table: Mapping[object, object], default: object) -> np.ndarray:
    """Map values through a dict (``default`` where absent), as a NumPy object array."""
    return np.array([table.get(v, default) for v in values.to_numpy()], dtype=object)


def _first_value(s: pd.Series) -> pd.Series:
    """First of several ``;``-separated values."""
    return s.map(lambda v: v.split(";")[0].strip() if isinstance(v, str) else v)


_NUMBER = re.compile(r"^\s*(\d+(?:[.,]\d+)?)\s*(?:m|meters?|metres?|米)?\s*$", re.IGNORECASE)
_FEET = re.compile(r"^\s*(\d+)\s*'\s*(?:(\d+(?:\.\d+)?)\s*\")?\s*$")


_WIDTH_RANGE_M = (0.5, 80.0)  # the schema's range for width_m


def _parse_metres(value: object) -> float:
    if not isinstance(value, str):
        return np.nan
    text = value.split(";")[0]
    m = _NUMBER.match(text)
    if m:
        return float(m.group(1).replace(",", "."))
    m = _FEET.match(text)
    if m:
        return (int(m.group(1)) * 12 + float(m.group(2) or 0)) * 0.0254
    return np.nan


def _parse_count(value: object) -> float:
    if not isinstance(value, str):
        return np.nan
    m = re.match(r"^\s*(\d+)", value.replace(",", "").replace(" ", ""))
    return float(m.group(1)) if m else np.nan


def _flags(index: pd.Index, pairs: Iterable[tuple[str, np.ndarray]]) -> pd.Series:
    out = pd.Series([""] * len(index), index=index, dtype=object)
    for code, mask in pairs:
        out = out + np.where(np.asarray(mask, dtype=bool), code + ";", "")
    return out.str.rstrip(";").astype(object)


def _ids(features: pd.DataFrame) -> pd.Series:
    return features["osm_type"].astype(str).str[0] + features["osm_id"].astype(str)


def _map_roads(features: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    hw = _col(features, "highway")
    planned = hw.isin(_PLANNED)
    under = _col(features, "construction").where(hw == "construction", _col(features, "proposed"))
    under = under.where(~under.isin(["yes", ""]), None)  # construction=yes: class unknown
    hw_eff = hw.where(~planned, under)
    geom = features.geometry.to_numpy()
    types = shapely.get_type_id(geom)
    linear = np.isin(types, (1, 5))  # LineString, MultiLineString
    areal = np.isin(types, (3, 6))  # osmnx makes some closed ways polygons
    mask = (
        (features["osm_type"] == "way").to_numpy()
        & (
            hw.isin(_HIGHWAY_CLASS.keys())
            | (planned & (under.isna() | under.isin(_HIGHWAY_CLASS.keys())))
        ).to_numpy()
        & (_col(features, "area") != "yes").to_numpy()
        & (linear | areal)
        & ~shapely.is_empty(geom)
    )
    f = features.loc[mask]
    hw_eff = hw_eff[mask]
    planned = planned[mask]
    geoms = geom[mask]
    geoms = np.where(areal[mask], shapely.boundary(geoms), geoms)
    known = hw_eff.isin(_HIGHWAY_CLASS.keys())
    index = hw_eff.index
    rule_class = pd.Series(_lookup(hw_eff, _HIGHWAY_CLASS, "其他"), index=index)
    rule_unc = pd.Series(_lookup(hw_eff, _HIGHWAY_UNCERTAIN, True).astype(bool), index=index)
    rule_width = pd.Series(_lookup(hw_eff, _HIGHWAY_WIDTH, 3.5).astype(float), index=index)

    ref = _col(f, "ref")
    ref_class = ref.map(_ref_class)
    from_ref = ref_class.notna()
    road_class = ref_class.where(from_ref, rule_class)
    class_unc = (rule_unc | ~known) & ~from_ref

    raw_surface = _col(f, "surface")
    first = _first_value(raw_surface).map(lambda v: v.lower() if isinstance(v, str) else v)
    missing_surface = (first.isna() | (first == "")).to_numpy()
    mapped = _lookup(first, _SURFACE_VALUE, None)
    unmapped = ~missing_surface & pd.isna(mapped)
    surface = np.where(missing_surface, "未知", np.where(unmapped, _SURFACE_OTHER.target, mapped))
    several = np.array([isinstance(v, str) and ";" in v for v in raw_surface], dtype=bool)
    surf_unc = _lookup(first, _SURFACE_UNCERTAIN, False).astype(bool) | several

    width = _col(f, "width").map(_parse_metres).astype(float)
    est = _col(f, "est_width").map(_parse_metres).astype(float)
    lanes = _col(f, "lanes").map(_parse_count).astype(float)
    lanes = lanes.where((lanes >= 1) & (lanes <= 16))
    width = width.where((width >= _WIDTH_RANGE_M[0]) & (width <= _WIDTH_RANGE_M[1]))
    est = est.where((est >= _WIDTH_RANGE_M[0]) & (est <= _WIDTH_RANGE_M[1]))
    width_source = np.select(
        [width.notna(), est.notna(), lanes.notna()], ["width", "est_width", "lanes"], "default"
    )
    width_m = width.fillna(est).fillna(lanes * LANE_WIDTH_M).fillna(rule_width)

    name = _col(f, "name").fillna(_col(f, "name:zh")).fillna("")
    out = gpd.GeoDataFrame(
        {
            "id": _ids(f).to_numpy(),
            "name": name.to_numpy(dtype=object),
            "road_class": road_class.to_numpy(dtype=object),
            "surface": surface.astype(object),
            "width_m": width_m.to_numpy(dtype=float),
            "status": np.where(planned, "规划", "现状").astype(object),
            "source": "OSM",
            "osm_type": f["osm_type"].to_numpy(dtype=object),
            "osm_id": f["osm_id"].to_numpy(dtype=np.int64),
            "highway": _col(f, "highway").to_numpy(dtype=object),
            "surface_osm": raw_surface.fillna("").to_numpy(dtype=object),
            "ref": ref.fillna("").to_numpy(dtype=object),
            "width_source": width_source.astype(object),
            "uncertain": class_unc.to_numpy(dtype=bool) | surf_unc | unmapped,
            "flags": _flags(
                f.index,
                [
                    ("class_uncertain", class_unc),
                    ("surface_missing", missing_surface),
                    ("surface_uncertain", surf_unc),
                    ("surface_unmapped", unmapped),
                    ("width_default", width_source == "default"),
                    ("width_lanes", width_source == "lanes"),
                ],
            ).to_numpy(dtype=object),
            "osm_ts": f["osm_ts"].to_numpy(dtype=float) if "osm_ts" in f else np.nan,
        },
        geometry=geoms,
        crs=4326,
    )
    return out


def _ref_class(ref: object) -> str | None:
    """Highest-ranking Chinese route class among ``;``-separated refs (``G109;S203`` → 国道)."""
    if not isinstance(ref, str):
        return None
    best: tuple[int, str] | None = None
    for token in ref.split(";"):
        m = re.match(r"^\s*([A-Za-z])\s*\d", token)
        if m and (hit := _REF_RANK.get(m.group(1).upper())) and (best is None or hit < best):
            best = hit
    return None if best is None else best[1]


def _points(features: gpd.GeoDataFrame) -> np.ndarray:
    """Return a point per feature: a node itself, else a point inside the area/line."""
    geom = features.geometry.to_numpy()
    types = shapely.get_type_id(geom)
    closed = (types == 1) & shapely.is_closed(geom) & (shapely.get_num_coordinates(geom) >= 4)
    solid = geom.copy()
    if closed.any():
        solid[closed] = shapely.build_area(geom[closed])
        solid[closed & shapely.is_empty(solid)] = geom[closed & shapely.is_empty(solid)]
    return np.where(types == 0, geom, shapely.point_on_surface(solid))


def _point_frame(
    f: gpd.GeoDataFrame,
    kind: pd.Series,
    unc: pd.Series,
    tag: pd.Series,
    extra: Mapping[str, Any],
    flags: Sequence[tuple[str, np.ndarray]],
) -> gpd.GeoDataFrame:
    name = _col(f, "name").fillna(_col(f, "name:zh")).fillna(_col(f, "name:en"))
    unnamed = name.isna() | (name == "")
    name = name.where(~unnamed, "未命名" + kind.astype(str))
    data = {
        "id": _ids(f).to_numpy(),
        "name": name.to_numpy(dtype=object),
        "kind": kind.to_numpy(dtype=object),
        **extra,
        "source": "OSM",
        "osm_type": f["osm_type"].to_numpy(dtype=object),
        "osm_id": f["osm_id"].to_numpy(dtype=np.int64),
        "osm_tag": tag.to_numpy(dtype=object),
        "uncertain": unc.to_numpy(dtype=bool),
        "flags": _flags(f.index, [("kind_uncertain", unc), ("unnamed", unnamed), *flags]).to_numpy(
            dtype=object
        ),
        "osm_ts": f["osm_ts"].to_numpy(dtype=float) if "osm_ts" in f else np.nan,
    }
    return gpd.GeoDataFrame(data, geometry=_points(f), crs=4326)


def _match(features: pd.DataFrame, rules: Sequence[TagRule]) -> tuple[pd.Series, ...]:
    """First matching rule per feature: (kind, uncertain, "key=value"); None where none."""
    kind = pd.Series([None] * len(features), index=features.index, dtype=object)
    unc = pd.Series(False, index=features.index)
    tag = pd.Series([None] * len(features), index=features.index, dtype=object)
    for r in rules:
        hit = (_col(features, r.key) == r.value) & kind.isna()
        if r.key == "public_transport" and r.value == "platform":
            rail = pd.Series(False, index=features.index)
            for k in _NOT_BUS:
                rail |= _col(features, k).notna() & (_col(features, k) != "no")
            hit &= ~rail | (_col(features, "bus") == "yes")
        kind[hit] = r.target
        unc[hit] = r.uncertain
        tag[hit] = f"{r.key}={r.value}"
    return kind, unc, tag


def _map_services(features: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    kind, unc, tag = _match(features, _SERVICE)
    m = kind.notna().to_numpy()
    f = features.loc[m]
    return _point_frame(f, kind[m], unc[m], tag[m], {"status": "现状"}, [])


def _map_clinics(features: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    kind, unc, tag = _match(features, _CLINIC_KEYS)
    m = kind.notna().to_numpy()
    f = features.loc[m]
    kind, unc, tag = kind[m].copy(), unc[m].copy(), tag[m].copy()
    names = _col(f, "name").fillna("") + " " + _col(f, "name:zh").fillna("")
    settled = pd.Series(False, index=f.index)
    for r in _CLINIC_NAMES:
        hit = names.str.contains(r.value.strip("*"), regex=False) & ~settled
        kind[hit] = r.target
        unc[hit] = r.uncertain
        tag[hit] = tag[hit] + f"; name={r.value}"
        settled |= hit
    n = len(f)
    doctors = pd.array([pd.NA] * n, dtype="Int64")
    extra = {"doctors": doctors, "admin_village_code": "", "township_code": "", "status": "现状"}
    return _point_frame(f, kind, unc, tag, extra, [("doctors_missing", np.ones(n, bool))])


def _settle_by_name(
    f: pd.DataFrame, kind: pd.Series, unc: pd.Series, tag: pd.Series, rules: Sequence[TagRule]
) -> None:
    """Settle the kind by a Chinese name (the first rule whose text it holds), in place."""
    names = _col(f, "name").fillna("") + " " + _col(f, "name:zh").fillna("")
    settled = pd.Series(False, index=f.index)
    for r in rules:
        hit = names.str.contains(r.value.strip("*"), regex=False) & ~settled
        kind[hit] = r.target
        unc[hit] = r.uncertain
        tag[hit] = tag[hit] + f"; name={r.value}"
        settled |= hit


def _map_public(features: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    kind, unc, tag = _match(features, _PUBLIC_KEYS)
    m = kind.notna().to_numpy()
    f = features.loc[m]
    kind, unc, tag = kind[m].copy(), unc[m].copy(), tag[m].copy()
    _settle_by_name(f, kind, unc, tag, _PUBLIC_NAMES)
    # a social facility is elderly care when tagged for seniors or named so (…幸福院)
    social = (_col(f, "amenity") == "social_facility").to_numpy()
    senior = _col(f, _SENIOR_KEY).fillna("").str.contains("senior").to_numpy()
    named = tag.str.contains("; name=", regex=False).to_numpy()
    keep = (
        ~social | senior | (named & kind.isin(["互助幸福院", "日间照料中心", "老饭桌"]).to_numpy())
    )
    f, kind, unc, tag = f.loc[keep], kind[keep], unc[keep], tag[keep]
    extra = {"admin_village_code": "", "township_code": "", "boarding": False,
             "serves_codes": "", "status": "现状"}  # fmt: skip
    return _point_frame(f, kind, unc, tag, extra, [])


def _map_villages(features: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    place = _col(features, "place")
    m = place.isin(_PLACES).to_numpy()
    f = features.loc[m]
    n = len(f)
    population = _col(f, "population").map(_parse_count).astype(float)
    pop = pd.array(population.to_numpy(), dtype="Float64").astype("Int64")
    frame = _point_frame(
        f,
        pd.Series(["自然村"] * n, index=f.index, dtype=object),
        pd.Series(False, index=f.index),
        "place=" + place[m].astype(str),
        {
            "admin_village_code": "",
            "households": pd.array([pd.NA] * n, dtype="Int64"),
            "population": pop,
        },
        [
            ("households_missing", np.ones(n, bool)),
            ("population_missing", population.isna().to_numpy()),
        ],  # admin_village_missing: set by the importer once admin villages are joined
    )
    frame["place"] = place[m].to_numpy(dtype=object)
    return frame.drop(columns=["kind", "osm_tag"])


def map_features(
    features: gpd.GeoDataFrame, *, layers: Sequence[str] = OSM_LAYERS
) -> dict[str, gpd.GeoDataFrame]:
    """Map OSM features to GapMap layers with :data:`TAG_TABLE` (vectorised, pure).

    Parameters
    ----------
    features : GeoDataFrame
        One row per OSM element, EPSG:4326: ``osm_type`` (``node``/``way``/``relation``),
        ``osm_id`` (int), one column per OSM tag key (missing tags NA), geometry (points
        for nodes, lines or polygons for ways, polygons for relations), optionally
        ``osm_ts`` (last edit, epoch seconds). This is also what
        ``osmnx.features_from_*(...).reset_index()`` gives after renaming ``element`` and
        ``id``.
    layers : sequence of str
        Which of :data:`OSM_LAYERS` to build.

    Returns
    -------
    dict of str to GeoDataFrame
        Per layer, the columns described in :class:`OsmImport` (``osm_date`` not yet set;
        ``osm_ts`` still there). Roads are ways only, one feature per way; closed highway
        ways are their outline unless ``area=yes`` (a square, not a road).
    """
    features = _tags_as_text(features.reset_index(drop=True))
    builders = {
        "roads": _map_roads,
        "service_points": _map_services,
        "clinics": _map_clinics,
        "natural_villages": _map_villages,
        "public_facilities": _map_public,
    }
    return {layer: builders[layer](features) for layer in layers}


# ----------------------------------------------------------------------- clip and join


def _area_of(frame: gpd.GeoDataFrame | None, what: str) -> shapely.Geometry | None:
    if frame is None:
        return None
    if frame.crs is None:
        raise CRSError(
            f"the {what} layer has no CRS; read it with layers.read (which places it in "
            "EPSG:4326) or set its CRS",
            zh=f"{what}图层没有坐标系，请用 layers.read 读取或为其设置坐标系",
        )
    geoms = frame.to_crs(4326).geometry.to_numpy()
    return shapely.union_all(shapely.make_valid(geoms[~shapely.is_missing(geoms)]))


def _clip_lines(frame: gpd.GeoDataFrame, area: shapely.Geometry) -> gpd.GeoDataFrame:
    geoms = frame.geometry.to_numpy()
    shapely.prepare(area)
    hit = shapely.intersects(area, geoms)
    inside = hit & shapely.contains_properly(area, geoms)
    cut = np.flatnonzero(hit & ~inside)
    out = geoms.copy()
    if len(cut):
        pieces = shapely.intersection(geoms[cut], area)
        parts, idx = shapely.get_parts(pieces, return_index=True)
        lines = np.isin(shapely.get_type_id(parts), (1,)) & (shapely.length(parts) > 0)
        merged = np.full(len(cut), None, dtype=object)
        if lines.any():
            multi = shapely.multilinestrings(parts[lines], indices=idx[lines])
            have = np.unique(idx[lines])
            single = shapely.get_num_geometries(multi) == 1
            merged[have] = np.where(single, shapely.get_geometry(multi, 0), multi)
        out[cut] = merged
        hit[cut] = ~shapely.is_missing(merged)
    result = frame.loc[hit].copy()
    result = result.set_geometry(gpd.GeoSeries(out[hit], index=result.index, crs=4326))
    return result


def _clip_points(frame: gpd.GeoDataFrame, area: shapely.Geometry) -> gpd.GeoDataFrame:
    shapely.prepare(area)
    return frame.loc[shapely.intersects(area, frame.geometry.to_numpy())].copy()


def _codes(
    points: gpd.GeoDataFrame, polygons: gpd.GeoDataFrame | None, column: str = "code"
) -> np.ndarray:
    """Code of the polygon each point falls in ("" where none)."""
    out = np.full(len(points), "", dtype=object)
    if polygons is None or len(points) == 0 or len(polygons) == 0:
        return out
    pts, poly_idx = polygons.sindex.query(points.geometry.to_numpy(), predicate="intersects")
    first = np.unique(pts, return_index=True)[1]
    out[pts[first]] = polygons[column].astype(str).to_numpy()[poly_idx[first]]
    return out


def _polygons(frame: gpd.GeoDataFrame | None, layer: str) -> gpd.GeoDataFrame | None:
    """Normalise a township/admin-village layer to ``code``/``name`` (Chinese accepted)."""
    if frame is None:
        return None
    if frame.crs is None:
        _area_of(frame, layer)  # raises the CRS message
    norm, _ = normalise_layer(frame.to_crs(4326), layer)
    if "code" not in norm or "name" not in norm:
        raise LayerError(
            f"{layer} layer needs 'code' and 'name' columns (乡镇代码/名称 accepted)",
            zh=f"{layer} 图层需要“代码”和“名称”字段",
        )
    return norm


# ------------------------------------------------------------------------------ report

_FACILITY_KINDS: tuple[tuple[str, str], ...] = (
    *(("service_points", k) for k in SERVICE_KINDS if k != "其他"),
    *(("clinics", k) for k in CLINIC_KINDS if k != "其他"),
)


def _metric_crs(frames: Mapping[str, gpd.GeoDataFrame], area: shapely.Geometry | None):
    pts = [area.centroid] if area is not None and not area.is_empty else []
    for frame in frames.values():
        if len(frame):
            pts.append(shapely.box(*frame.total_bounds).centroid)
    if not pts:
        return "EPSG:32648"  # UTM 48N: Ningxia
    centre = shapely.multipoints(pts).centroid
    return metric_crs(centre).to_string()


def completeness_report(
    frames: Mapping[str, gpd.GeoDataFrame],
    *,
    townships: gpd.GeoDataFrame | None = None,
    metric_crs: str | None = None,
) -> pd.DataFrame:
    """Report what a planner must survey before trusting OSM-built layers, per township.

    Pure: recompute it after the user has corrected the frames (filled households,
    surfaces) to see what is left.

    Parameters
    ----------
    frames : mapping of str to GeoDataFrame
        ``roads``, ``service_points``, ``clinics``, ``natural_villages`` (any present), as
        built by :func:`import_osm` (or corrected since), EPSG:4326.
    townships : GeoDataFrame, optional
        Township polygons with ``code``/``name`` (or 乡镇代码/名称). Without them only the
        overall row is given.
    metric_crs : str, optional
        CRS for road lengths; default the UTM zone of the data (``report.attrs``).

    Returns
    -------
    pandas.DataFrame
        One row per township (by code), a ``乡镇外`` row for features outside every
        township when there are any, and a ``全部`` row. Columns: ``乡镇代码``,
        ``乡镇名称``, ``道路_km`` (road length inside), ``无路面标记_km`` and
        ``无路面标记_比例`` (surface 未知: unverified, not hard), ``默认宽度_km`` (no width
        tagged), ``自然村数``, ``缺户数自然村`` and ``缺人口自然村`` (to survey), one count
        column per facility kind (综合超市 … 卫生室), ``不确定要素`` (flagged
        ``uncertain``) and ``未见设施类别`` (kinds with no feature at all, ``、``-joined).
    """
    tw = _polygons(townships, "townships")
    crs = metric_crs or _metric_crs(frames, None)
    units: list[tuple[str, str]] = []
    if tw is not None:
        tw = tw.sort_values("code").reset_index(drop=True)
        units = list(zip(tw["code"].astype(str), tw["name"].astype(str), strict=True))
    outside = ("", "乡镇外")
    total_key = ("", "全部")
    stats: dict[str, dict[str, float]] = {}  # unit code ("" outside) → column → value

    def add(code_per_row: np.ndarray, column: str, values: np.ndarray) -> None:
        s = pd.Series(values, dtype=float).groupby(code_per_row).sum()
        for code, v in s.items():
            stats.setdefault(str(code), {})[column] = stats.get(str(code), {}).get(column, 0) + v

    roads = frames.get("roads")
    if roads is not None and len(roads):
        geoms = roads.geometry.to_crs(crs).to_numpy()
        length = shapely.length(geoms) / 1000
        no_surface = (roads["surface"].astype(str) == "未知").to_numpy()
        default_w = (
            (roads["width_source"] == "default").to_numpy()
            if "width_source" in roads
            else np.zeros(len(roads), bool)
        )
        if tw is not None:
            tw_m = tw.to_crs(crs)
            left, right = tw_m.sindex.query(geoms, predicate="intersects")
            km = shapely.length(shapely.intersection(geoms[left], tw_m.geometry.to_numpy()[right]))
            km = km / 1000
            codes = tw["code"].astype(str).to_numpy()[right]
            add(codes, "道路_km", km)
            add(codes, "无路面标记_km", km * no_surface[left])
            add(codes, "默认宽度_km", km * default_w[left])
            inside = pd.Series(km).groupby(left).sum().reindex(range(len(roads)), fill_value=0)
            rest = np.clip(length - inside.to_numpy(), 0, None)
            rest[rest < 1e-6] = 0
            if rest.sum() > 0:
                blank = np.full(len(roads), "", dtype=object)
                add(blank, "道路_km", rest)
                add(blank, "无路面标记_km", rest * no_surface)
                add(blank, "默认宽度_km", rest * default_w)
        else:
            blank = np.full(len(roads), "", dtype=object)
            add(blank, "道路_km", length)
            add(blank, "无路面标记_km", length * no_surface)
            add(blank, "默认宽度_km", length * default_w)

    def point_codes(frame: gpd.GeoDataFrame) -> np.ndarray:
        return _codes(frame, tw)

    villages = frames.get("natural_villages")
    if villages is not None and len(villages):
        codes = point_codes(villages)
        add(codes, "自然村数", np.ones(len(villages)))
        add(codes, "缺户数自然村", villages["households"].isna().to_numpy(dtype=float))
        add(codes, "缺人口自然村", villages["population"].isna().to_numpy(dtype=float))
    for layer, kind in _FACILITY_KINDS:
        frame = frames.get(layer)
        if frame is not None and len(frame):
            add(point_codes(frame), kind, (frame["kind"] == kind).to_numpy(dtype=float))
    for frame in frames.values():
        if len(frame) and "uncertain" in frame:
            codes = (
                point_codes(frame)
                if frame.geom_type.isin(["Point"]).all()
                else _line_codes(frame, tw)
            )
            add(codes, "不确定要素", frame["uncertain"].to_numpy(dtype=float))

    columns = [
        "道路_km", "无路面标记_km", "默认宽度_km", "自然村数", "缺户数自然村", "缺人口自然村",
        *(k for _, k in _FACILITY_KINDS), "不确定要素",
    ]  # fmt: skip
    rows = [(c, n) for c, n in units]
    if "" in stats and tw is not None:
        rows.append(outside)
    records = []
    for code, name in rows:
        s = stats.get(code, {})
        records.append({"乡镇代码": code, "乡镇名称": name, **{c: s.get(c, 0.0) for c in columns}})
    total = {c: sum(v.get(c, 0.0) for v in stats.values()) for c in columns}
    records.append({"乡镇代码": total_key[0], "乡镇名称": total_key[1], **total})
    report = pd.DataFrame.from_records(records, columns=["乡镇代码", "乡镇名称", *columns])
    counts = [c for c in columns if not c.endswith("_km")]
    report[counts] = report[counts].round().astype(np.int64)
    km_cols = ["道路_km", "无路面标记_km", "默认宽度_km"]
    report[km_cols] = report[km_cols].astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = report["无路面标记_km"] / report["道路_km"]
    report.insert(report.columns.get_loc("无路面标记_km") + 1, "无路面标记_比例", share)
    kinds = [k for _, k in _FACILITY_KINDS]
    report["未见设施类别"] = [
        "、".join(k for k in kinds if row[k] == 0) for _, row in report.iterrows()
    ]
    report.attrs["metric_crs"] = crs
    return report


def _line_codes(frame: gpd.GeoDataFrame, tw: gpd.GeoDataFrame | None) -> np.ndarray:
    """Township of each line's midpoint (for counting flagged roads)."""
    mid = shapely.line_interpolate_point(
        shapely.line_merge(frame.geometry.to_numpy()), 0.5, normalized=True
    )
    mid = np.where(shapely.is_empty(mid), shapely.point_on_surface(frame.geometry.to_numpy()), mid)
    return _codes(gpd.GeoDataFrame(geometry=mid, crs=4326), tw)


# ------------------------------------------------------------------------------ entry


_OSM_COLUMNS = frozenset(
    {"osm_type", "osm_id", "osm_date", "uncertain", "flags", "highway", "surface_osm", "ref",
     "width_source", "osm_tag", "place"}
)  # fmt: skip


def _survey_problems(frames: Mapping[str, gpd.GeoDataFrame], file: str) -> list[Problem]:
    """normalise_layer's problems, survey fields downgraded, our own OSM columns not listed."""
    problems: list[Problem] = []
    for layer, frame in frames.items():
        _, probs = normalise_layer(frame, layer, file=file)
        survey = SURVEY_FIELDS.get(layer, ())
        for p in probs:
            if p.kind is ProblemKind.UNKNOWN_FIELD and p.field in _OSM_COLUMNS:
                continue
            if p.kind is ProblemKind.MISSING_VALUE and p.field in survey:
                p = dataclasses.replace(p, severity=Severity.WARNING)
            problems.append(p)
    return problems


def _check_layers(layers: Sequence[str]) -> tuple[str, ...]:
    layers = tuple(layers)
    known = (*OSM_LAYERS, *OSM_OPTIONAL_LAYERS)
    bad = [x for x in layers if x not in known]
    if bad:
        raise LayerError(
            f"OSM import cannot build {bad}; choose from {list(known)}",
            zh=f"OSM 导入不能生成图层 {bad}，可选：{'、'.join(known)}",
        )
    return layers


def _finish(
    raw: _Raw,
    *,
    file: str,
    fmt: str,
    boundary: gpd.GeoDataFrame | None,
    townships: gpd.GeoDataFrame | None,
    admin_villages: gpd.GeoDataFrame | None,
    layers: tuple[str, ...],
    fallback_date: tuple[str, str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> OsmImport:
    step = progress or (lambda _: None)
    step("map")
    frames = map_features(raw.features, layers=layers)
    area = _area_of(boundary, "boundary")
    step("clip")
    if area is not None:
        for layer, frame in frames.items():
            frames[layer] = (
                _clip_lines(frame, area) if layer == "roads" else _clip_points(frame, area)
            )
    tw = _polygons(townships, "townships")
    av = _polygons(admin_villages, "admin_villages")
    for layer in ("clinics", "public_facilities"):
        if layer in frames:
            c = frames[layer]
            c["township_code"] = _codes(c, tw)
            c["admin_village_code"] = _codes(c, av)
    if "natural_villages" in frames:
        v = frames["natural_villages"]
        v["admin_village_code"] = _codes(v, av)
        missing = (v["admin_village_code"] == "").to_numpy()
        v["flags"] = (v["flags"] + np.where(missing, ";admin_village_missing", "")).str.strip(";")

    # the data date: the file's snapshot time, else the newest edit among the features
    stamps = np.concatenate(
        [f["osm_ts"].to_numpy(dtype=float) for f in frames.values()] or [np.zeros(0)]
    )
    stamps = stamps[np.isfinite(stamps) & (stamps > 0)]
    if raw.header_date and _parse_iso(raw.header_date) is not None:
        iso, how = _iso(_parse_iso(raw.header_date) or 0), "file header"
    elif len(stamps):
        iso, how = _iso(float(stamps.max())), "newest edit among imported features"
    elif fallback_date is not None:
        iso, how = fallback_date
    else:
        iso, how = "", "unknown (the file has no timestamps)"
    for layer, frame in frames.items():
        frames[layer] = frame.drop(columns="osm_ts").assign(osm_date=iso[:10])

    step("report")
    crs = _metric_crs(frames, area)
    report = completeness_report(frames, townships=tw, metric_crs=crs)
    provenance: dict[str, Any] = {
        "file": file,
        "format": fmt,
        "reader": raw.reader,
        "source": "OSM",
        "osm_date": iso,
        "osm_date_source": how,
        "attribution": ATTRIBUTION,
        "clipped_to_boundary": area is not None,
        "boundary_bounds": None if area is None else tuple(float(x) for x in area.bounds),
        "metric_crs": crs,
        "feature_counts": {k: len(v) for k, v in frames.items()},
        "skipped": dict(raw.skipped),
        "tag_table_rows": len(TAG_TABLE),
        "imported_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    for layer, frame in frames.items():
        frame.attrs["provenance"] = {**provenance, "layer": layer, "feature_count": len(frame)}
    step("validate")
    problems = _survey_problems(frames, Path(file).name if file else "")
    logger.info(
        "OSM %s (%s, data %s): %s",
        file or "(online)",
        raw.reader,
        iso[:10] or "?",
        ", ".join(f"{k} {len(v)}" for k, v in frames.items()),
    )
    return OsmImport(
        frames=MappingProxyType(frames),
        report=report,
        provenance=provenance,
        problems=tuple(problems),
    )


def import_osm(
    path: str | os.PathLike[str],
    *,
    boundary: gpd.GeoDataFrame | None = None,
    townships: gpd.GeoDataFrame | None = None,
    admin_villages: gpd.GeoDataFrame | None = None,
    layers: Sequence[str] = OSM_LAYERS,
    progress: Callable[[str], None] | None = None,
) -> OsmImport:
    """Build GapMap layers from an OSM file, offline.

    Parameters
    ----------
    path : path-like
        ``.osm.pbf`` (read with pyosmium) or ``.osm`` / ``.osm.bz2`` / ``.xml`` OSM XML
        (read with osmnx).
    boundary : GeoDataFrame, optional
        County (or any) polygons, any CRS: roads are cut at it, points outside dropped.
    townships : GeoDataFrame, optional
        Township polygons (``code``, ``name``): clinics get ``township_code``, and the
        report has one row per township.
    admin_villages : GeoDataFrame, optional
        Admin-village polygons (``code``): natural villages and clinics inside one get
        its ``admin_village_code``; others are flagged ``admin_village_missing``.
    layers : sequence of str
        Which of :data:`OSM_LAYERS` to build.
    progress : callable, optional
        Called with each step name of :data:`STEPS` before it runs (for ``st.progress``).

    Returns
    -------
    OsmImport
        ``frames`` (EPSG:4326), ``report`` (:func:`completeness_report`),
        ``provenance`` and ``problems``.

    Raises
    ------
    LayerReadError
        File missing, not OSM, or broken (the message says how to get a good one).
    LayerError
        An unknown layer name, or townships without code/name.
    CRSError
        ``boundary``/``townships`` without a CRS.
    """
    layers = _check_layers(layers)
    p = Path(path)
    if not p.exists():
        raise LayerReadError(
            f"file not found: {p}; check the path and the file name",
            zh=f"找不到文件：{p}。请检查路径和文件名是否正确",
        )
    name = p.name.lower()
    if progress is not None:
        progress("read")
    if name.endswith(".pbf"):
        try:
            raw = _read_osmium(p)
        except RuntimeError as err:
            raise LayerReadError(
                f"{p.name}: cannot read this .osm.pbf ({err}); download or export it again",
                zh=f"{p.name}：无法读取该 .osm.pbf 文件（{err}），请重新下载或导出",
            ) from err
        fmt = "OSM PBF"
    elif name.endswith((".osm", ".xml", ".osm.bz2", ".xml.bz2")):
        raw = _read_xml(p)
        fmt = "OSM XML"
    else:
        raise LayerReadError(
            f"{p.name}: not an OSM file; give an .osm.pbf or .osm (XML) file",
            zh=f"{p.name}：不是 OSM 文件，请提供 .osm.pbf 或 .osm（XML）文件",
        )
    mtime = (_iso(p.stat().st_mtime), "file modification time (no timestamps in the file)")
    return _finish(
        raw,
        file=str(p),
        fmt=fmt,
        boundary=boundary,
        townships=townships,
        admin_villages=admin_villages,
        layers=layers,
        fallback_date=mtime,
        progress=progress,
    )


def fetch_osm(
    place_or_polygon: str | shapely.Geometry | gpd.GeoDataFrame | gpd.GeoSeries,
    *,
    townships: gpd.GeoDataFrame | None = None,
    admin_villages: gpd.GeoDataFrame | None = None,
    layers: Sequence[str] = OSM_LAYERS,
    progress: Callable[[str], None] | None = None,
) -> OsmImport:
    """Download OSM data for a place or polygon with osmnx (Overpass), then import it.

    Needs the network; offline, export an ``.osm.pbf``/``.osm`` and use :func:`import_osm`.

    Parameters
    ----------
    place_or_polygon : str, shapely geometry, GeoDataFrame or GeoSeries
        A place name osmnx can geocode (``"同心县, 吴忠市, 宁夏"``), or the county boundary
        (EPSG:4326 for a bare geometry). The result is clipped to it.
    townships, admin_villages, layers, progress
        As :func:`import_osm`.

    Returns
    -------
    OsmImport
        ``osm_date`` is the download time (Overpass serves current data).
    """
    import osmnx as ox

    layers = _check_layers(layers)
    if isinstance(place_or_polygon, str):
        boundary = ox.geocode_to_gdf(place_or_polygon)
        label = place_or_polygon
    elif isinstance(place_or_polygon, gpd.GeoDataFrame):
        boundary, label = place_or_polygon, "polygon"
    elif isinstance(place_or_polygon, gpd.GeoSeries):
        boundary, label = gpd.GeoDataFrame(geometry=place_or_polygon), "polygon"
    else:
        boundary = gpd.GeoDataFrame(geometry=[place_or_polygon], crs=4326)
        label = "polygon"
    area = _area_of(boundary, "boundary")
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if progress is not None:
        progress("read")
    gdf = ox.features_from_polygon(area, tags=_OSMNX_TAGS)
    raw = _Raw(features=_from_osmnx(gdf), reader=f"osmnx {_version('osmnx')} (Overpass)")
    raw.features["osm_ts"] = np.nan
    return _finish(
        raw,
        file="",
        fmt=f"Overpass: {label}",
        boundary=boundary,
        townships=townships,
        admin_villages=admin_villages,
        layers=layers,
        fallback_date=(now, "download time"),
        progress=progress,
    )
