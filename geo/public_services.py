"""移民安置区配套公共服务: schools, kindergartens, culture, clinics, day care, service centres.

Rule (``../shared/STANDARDS.md`` §5, seed 001 实施公共服务设施提升工程): every relocation
site has, within ``services.max_time_min`` walking (per-kind limits of
:meth:`geo.settings.ServiceSettings.limit_min` apply), an existing (现状) facility of each
kind of :data:`SITE_PUBLIC_KINDS`:

================  ====================  ==========================================
kind              layer                 layer kinds
================  ====================  ==========================================
学校              public_facilities     小学, 初中, 九年一贯制学校
幼儿园            public_facilities     幼儿园
公共文化室        public_facilities     公共文化室
卫生室            clinics               卫生室
日间照料中心      public_facilities     日间照料中心
综合服务中心      public_facilities     综合服务中心
================  ====================  ==========================================

Walking time is measured as in :mod:`geo.services` (:func:`geo.access.nearest_facility`,
mode ``walk``). A kind whose layer is absent or empty is ``no_data`` for every site.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from types import MappingProxyType

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.access import access_description, existing_facilities, nearest_facility
from geo.indicators.outcomes import make_outcomes, unit_frame
from geo.network import RoadGraph
from geo.settings import Settings
from layers.dataset import Dataset

__all__ = ["SITE_PUBLIC_KINDS", "SITE_PUBLIC_SOURCES", "site_public_outcomes"]

logger = logging.getLogger(__name__)

SITE_PUBLIC_KINDS: tuple[str, ...] = (
    "学校", "幼儿园", "公共文化室", "卫生室", "日间照料中心", "综合服务中心",
)  # fmt: skip
"""The public-service kinds every relocation site needs (seed 001)."""

SITE_PUBLIC_SOURCES: Mapping[str, tuple[str, tuple[str, ...], str]] = MappingProxyType(
    {
        "学校": ("public_facilities", ("小学", "初中", "九年一贯制学校"), "小学"),
        "幼儿园": ("public_facilities", ("幼儿园",), "幼儿园"),
        "公共文化室": ("public_facilities", ("公共文化室",), "公共文化室"),
        "卫生室": ("clinics", ("卫生室",), "卫生室"),
        "日间照料中心": ("public_facilities", ("日间照料中心",), "日间照料中心"),
        "综合服务中心": ("public_facilities", ("综合服务中心",), "综合服务中心"),
    }
)
"""Per kind: the layer, its ``kind`` values that count, and the key of its unit cost in
``settings.projects.public_facility_cost_wan``."""


def site_public_outcomes(dataset: Dataset, graph: RoadGraph, settings: Settings) -> pd.DataFrame:
    """Outcome frame of 移民安置区配套公共服务 (``site_public``): one row per site × kind.

    Parameters
    ----------
    dataset : Dataset
        ``relocation_sites``, ``public_facilities`` and ``clinics``.
    graph : RoadGraph
        The road graph of the dataset.
    settings : Settings
        ``services.max_time_min`` (and ``kind_max_time_min``), ``network`` (snap, walking
        speed), ``projects.public_facility_cost_wan``.

    Returns
    -------
    DataFrame
        Outcome frame, key ``site_public:<site id>:<kind>``, ``unit_kind``
        ``relocation_site``; ``value`` walking minutes to the nearest facility of the kind
        (NaN when none is reached), ``limit`` the kind's limit (minutes). Causes:
        ``beyond_limit``, ``off_network``, ``unreachable``, ``no_facility`` (problems),
        ``no_layer`` (no_data).
    """
    units = unit_frame(dataset, "relocation_site")
    origins = gpd.GeoSeries(units["geometry"].to_numpy(), index=units.index, crs=4326)
    base = units.drop(columns="geometry")
    names = base["village_name"].to_numpy()
    costs = settings.projects.public_facility_cost_wan
    parts: list[pd.DataFrame] = []
    for kind in SITE_PUBLIC_KINDS:
        layer_name, kinds, cost_key = SITE_PUBLIC_SOURCES[kind]
        limit = settings.services.limit_min(kind)
        frame = base.copy()
        frame["key"] = "site_public:" + frame["unit_code"] + ":" + kind
        frame["indicator"] = "site_public"
        frame["limit"] = limit
        frame["value_unit"] = "分钟"
        layer = dataset.get(layer_name)
        if layer is None or layer.empty:
            frame["status"] = "no_data"
            frame["cause"] = "no_layer"
            frame["description"] = [f"{n}：无{kind}数据（缺少图层 {layer_name}）" for n in names]
            parts.append(frame)
            continue
        fac = existing_facilities(layer, kinds)
        assert fac is not None
        found = nearest_facility(graph, origins, fac, mode="walk", network=settings.network)
        minutes = found["minutes"].to_numpy(dtype=float)
        ok = minutes <= limit
        reason = found["reason"].to_numpy()
        problem = ~ok
        frame["status"] = np.where(ok, "ok", "problem")
        frame["value"] = np.where(np.isfinite(minutes), minutes, np.nan)
        frame["cause"] = np.where(ok, "", np.where(reason != "", reason, "beyond_limit"))
        frame["description"] = access_description(
            names, mode="walk", kind_zh=kind, found=found,
            facility_names=fac["name"].astype(str).to_numpy(), limit=limit, ok=ok,
        )  # fmt: skip
        frame["problem_type"] = np.where(problem, f"安置区{limit:g}分钟内缺{kind}", "")
        frame["measure"] = np.where(problem, f"在安置区内或就近配建{kind}", "")
        frame["cost_wan"] = np.where(problem, costs.get(cost_key, np.nan), np.nan)
        parts.append(frame)
    out = pd.concat(parts, ignore_index=True) if len(base) else base
    logger.info(
        "site_public: %d sites × %d kinds, %d problems",
        len(base),
        len(SITE_PUBLIC_KINDS),
        int((out.get("status", pd.Series(dtype=str)) == "problem").sum()),
    )
    return make_outcomes(out)
