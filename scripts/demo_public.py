"""The issue-15 part of the 同心县 demo: public services, telecom, environment, housing.

Called by :mod:`scripts.build_demo` after the eleven original layers are built. It draws
from its own random generator (``default_rng([seed, 15])``), never from the world's, so
the original layers and their planted gaps stay exactly as they were. Everything here is
模拟 and planted on purpose; :func:`build_public` returns the new layers, the new
attributes of existing layers and a ``public`` truth section with the numbers.

Distances: straight lines in EPSG:4544, and walking distances along the existing (现状)
roads of the finished road layer, densified to 50 m vertices, a point joining the
nearest vertex within 200 m (:class:`WalkGraph`). Every planted gap keeps a margin
either side of its limit (a village meant to be within 2.5 km is within 2.3 km; one
meant to be beyond is more than 2.7 km away in a straight line), so an analysis that
snaps or routes a little differently finds the same gaps.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import sparse
from scipy.sparse import csgraph
from scipy.spatial import cKDTree

log = logging.getLogger("gapmap.build_demo")

METRIC_EPSG = 4544
SNAP_M = 200.0
PRIMARY_M, JUNIOR_M = 2500.0, 5000.0  # EducationSettings defaults (建标109-2008)
MARGIN_M = 200.0  # no unit within this of a distance limit, either side
SITE_WALK_M = 1125.0  # 15 min at 4.5 km/h (ServiceSettings)
SITE_NEAR_M = 600.0  # a site's own facilities: within this walk of the site point
SITE_CLEARANCE_M = 1600.0  # no facility of a planted missing kind this close to its site
WASTE_M = 2000.0  # EnvironmentSettings.waste_point_max_m
WASTE_GAP_M = 2400.0  # a planted waste gap: no collection point this close
ELDERLY_POP = 800  # ElderlySettings.min_population
TOILET_MIN_PCT = 60.0  # EnvironmentSettings.toilet_village_min_pct
SCHOOL_KINDS = ("小学", "初中", "九年一贯制学校")
PRIMARY_KINDS = ("小学", "九年一贯制学校")
JUNIOR_KINDS = ("初中", "九年一贯制学校")
ELDERLY_KINDS = ("互助幸福院", "日间照料中心", "老饭桌")
PUBLIC_ORDER = (*SCHOOL_KINDS, "幼儿园", "公共文化室", "综合服务中心", *ELDERLY_KINDS)
SITE_KINDS = ("学校", "幼儿园", "公共文化室", "卫生室", "日间照料中心", "综合服务中心")
# 同心's planted counts, sites and water statistics live in scripts.build_demo.TONGXIN
# (a CountySpec); other counties' in their specs (scripts.build_region.county_spec)


# --------------------------------------------------------------------------- distances


class WalkGraph:
    """Existing roads as an undirected graph of 50 m vertices (metric, EPSG:4544)."""

    def __init__(self, roads_m: gpd.GeoDataFrame) -> None:
        lines = roads_m.loc[roads_m["status"] == "现状"].geometry.to_numpy()
        dense = shapely.segmentize(lines, 50.0)
        coords, part = shapely.get_coordinates(dense, return_index=True)
        key = np.round(coords, 2)
        self.xy, inv = np.unique(key, axis=0, return_inverse=True)
        inv = inv.ravel()
        same = part[1:] == part[:-1]
        a, b = inv[:-1][same], inv[1:][same]
        w = np.hypot(*(self.xy[a] - self.xy[b]).T)
        keep = a != b
        lo, hi, w = np.minimum(a, b)[keep], np.maximum(a, b)[keep], w[keep]
        order = np.lexsort((w, hi, lo))
        lo, hi, w = lo[order], hi[order], w[order]
        first = np.ones(len(lo), dtype=bool)
        first[1:] = (lo[1:] != lo[:-1]) | (hi[1:] != hi[:-1])
        self.edges = (lo[first], hi[first], w[first])
        self.n = len(self.xy)
        self.tree = cKDTree(self.xy)

    def snap(self, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Nearest vertex and distance (inf beyond :data:`SNAP_M`) of each point."""
        d, i = self.tree.query(np.atleast_2d(pts))
        return i, np.where(d <= SNAP_M, d, np.inf)

    def nearest(self, sources: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """Walking distance (m) from each target to its nearest source (inf: none)."""
        sources, targets = np.atleast_2d(sources), np.atleast_2d(targets)
        if len(sources) == 0:
            return np.full(len(targets), np.inf)
        si, sd = self.snap(sources)
        ok = np.isfinite(sd)
        lo, hi, w = self.edges
        sup = self.n  # one super source joined to every source's vertex
        rows = np.concatenate([lo, np.full(ok.sum(), sup)])
        cols = np.concatenate([hi, si[ok]])
        vals = np.concatenate([w, sd[ok] + 1e-6])
        m = sparse.coo_matrix((vals, (rows, cols)), shape=(self.n + 1, self.n + 1)).tocsr()
        dist = csgraph.dijkstra(m, directed=False, indices=sup)
        ti, td = self.snap(targets)
        return dist[ti] + td


def straight(sources: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Straight-line distance (m) from each target to its nearest source."""
    sources, targets = np.atleast_2d(sources), np.atleast_2d(targets)
    if len(sources) == 0:
        return np.full(len(targets), np.inf)
    return cKDTree(sources).query(targets)[0]


# ----------------------------------------------------------------------------- builder


@dataclass
class Public:
    """What :func:`build_public` returns (metric coordinates, EPSG:4544)."""

    layers: dict[str, tuple[pd.DataFrame, list]] = field(default_factory=dict)
    admin_attrs: pd.DataFrame | None = None  # by admin-village code
    village_attrs: pd.DataFrame | None = None  # by natural-village id
    source_attrs: pd.DataFrame | None = None  # by water-source name
    truth: dict = field(default_factory=dict)


class _Builder:
    def __init__(self, world, frames: dict[str, gpd.GeoDataFrame]) -> None:
        self.rng = np.random.default_rng([world.seed, 15])
        self.world = world
        self.spec = world.spec
        self.admin = world.admin.set_index("code", drop=False).rename_axis(None)
        self.nv = world.villages.set_index("id", drop=False).rename_axis(None)
        self.sites = world.sites.set_index("admin_code", drop=False).rename_axis(None)
        self.tw = world.townships.set_index("code", drop=False).rename_axis(None)
        roads = frames["roads"].to_crs(METRIC_EPSG)
        self.walk = WalkGraph(roads)
        existing = roads.loc[roads["status"] == "现状"].geometry.to_numpy()
        self.road_geoms = existing
        self.road_tree = shapely.STRtree(existing)
        clinics = frames["clinics"].to_crs(METRIC_EPSG)
        self.clinics = clinics.loc[(clinics["kind"] == "卫生室") & (clinics["status"] == "现状")]
        self.grids = {g.key: g for g in world.grids}
        self.facilities: list[dict] = []
        self.env: list[dict] = []
        self.hosts = {}  # township → admin village nearest its seat (the 卫生院 host)
        for code, t in self.tw.iterrows():
            m = self.admin.loc[self.admin["township_code"] == code]
            d = np.hypot(m["x"] - t["seat_x"], m["y"] - t["seat_y"])
            self.hosts[code] = str(m.index[int(np.argmin(d.to_numpy()))])
        self.truth: dict = {}
        self.layers: dict[str, tuple[pd.DataFrame, list]] = {}
        self.capacity = frames["water_sources"].set_index("name")["capacity_m3d"]

    # ------------------------------------------------------------------ helpers
    def check(self, ok: bool, problem: str) -> None:
        """Assert a planted gap in the demo county; elsewhere record the miss."""
        if ok:
            return
        if self.spec.strict:
            raise AssertionError(problem)
        log.warning("%s: %s", self.spec.code, problem)
        self.truth.setdefault("warnings", []).append(problem)

    def beside(self, p: np.ndarray, *, off_m: float = 20.0, jitter_m: float = 0.0) -> np.ndarray:
        """A point ``off_m`` from the existing road nearest ``p`` (+ jitter), on its side."""
        p = np.asarray(p, dtype=float) + self.rng.normal(0, jitter_m, 2) * (jitter_m > 0)
        pt = shapely.Point(p)
        j = int(self.road_tree.query_nearest(pt, all_matches=False)[0])
        on = shapely.get_coordinates(shapely.shortest_line(pt, self.road_geoms[j]))[1]
        d = p - on
        norm = float(np.hypot(*d))
        if norm < 1e-6:
            ang = self.rng.uniform(0, 2 * np.pi)
            d, norm = np.array([np.cos(ang), np.sin(ang)]), 1.0
        return on + d / norm * min(off_m, max(norm, 5.0))

    def on_grid(self, code: str, *, reach_m: float = 250.0) -> np.ndarray:
        """A point on a relocation site's street grid, near its centre."""
        g = self.grids[code]
        q = np.array([g.cx, g.cy]) + self.rng.uniform(-1, 1, 2) * min(reach_m, g.half * g.spacing)
        return self.beside(q, off_m=15.0)

    def add(self, kind: str, name: str, p: np.ndarray, av: str, **extra) -> None:
        self.facilities.append(
            {
                "kind": kind,
                "name": name,
                "admin_village_code": av,
                "township_code": av[:9],
                "boarding": bool(extra.get("boarding", False)),
                "serves_codes": ";".join(sorted(extra.get("serves", ()))),
                "status": extra.get("status", "现状"),
                "x": float(p[0]),
                "y": float(p[1]),
            }
        )

    def fac(self, kinds: tuple[str, ...], *, status: str = "现状") -> pd.DataFrame:
        f = pd.DataFrame(self.facilities)
        return f.loc[f["kind"].isin(kinds) & (f["status"] == status)]

    def short(self, code: str) -> str:
        name = self.admin.loc[code, "name"]
        return name[:-1] if name.endswith("村") else name

    @property
    def rural(self) -> pd.DataFrame:
        return self.admin.loc[self.admin["kind"] == "村委会"]

    @property
    def communities(self) -> pd.DataFrame:
        return self.admin.loc[self.admin["kind"] == "社区"]

    def seat_xy(self, code: str) -> np.ndarray:
        return self.admin.loc[code, ["x", "y"]].to_numpy(dtype=float)

    # ------------------------------------------------------------------ education
    def primary(self) -> None:
        """小学 at most village seats; boarding 中心小学 and 教学点 for the far villages.

        After the seat schools, a village committee with natural villages beyond a walk
        of 2.3 km is either put in its township's boarding 中心小学's ``serves_codes``
        (four in five) or given 教学点 (greedy cover). A few villages beyond 2.7 km
        in a straight line are planted as gaps: neither boarding nor near a school.
        """
        rng = self.rng
        town = self.grids[self.spec.town]
        comm = self.communities
        for k in range(4):  # county-town primary schools, on the street grid
            q = np.array([town.cx, town.cy]) + rng.uniform(-1, 1, 2) * 1200
            d = np.hypot(comm["x"] - q[0], comm["y"] - q[1]).to_numpy()
            self.add(
                "小学",
                f"{self.spec.name}第{'一二三四'[k]}小学",
                self.beside(q),
                comm.index[np.argmin(d)],
            )
        for code, av in self.rural.iterrows():
            if av["site"]:
                if code in self.spec.nine_year_sites:
                    name = f"{self.short(code)}九年一贯制学校"
                    self.add("九年一贯制学校", name, self.on_grid(code), code)
                else:
                    self.add("小学", f"{self.short(code)}小学", self.on_grid(code), code)
            elif code in self.hosts.values():
                name = f"{self.tw.loc[av['township_code'], 'name']}中心小学"
                self.add("小学", name, self.beside(self.seat_xy(code), jitter_m=40), code)
            elif rng.random() < 0.85:
                p = self.beside(self.seat_xy(code), jitter_m=40)
                self.add("小学", f"{self.short(code)}小学", p, code)
        nv = self.nv
        xy = nv[["x", "y"]].to_numpy(dtype=float)
        av_of = nv["admin_code"].to_numpy()
        _, snap_d = self.walk.snap(xy)
        reachable = np.isfinite(snap_d)
        ok_m, gap_m = PRIMARY_M - MARGIN_M, PRIMARY_M + MARGIN_M

        def dists() -> tuple[np.ndarray, np.ndarray]:
            pxy = self.fac(PRIMARY_KINDS)[["x", "y"]].to_numpy()
            return self.walk.nearest(pxy, xy), straight(pxy, xy)

        d_net, d_str = dists()
        # most committees with far villages board; so do those the road network does not
        # reach (the hard-road gaps), whose distance cannot be walked
        far_av = sorted(set(av_of[reachable & (d_net > ok_m)]))
        covered = {c for c in far_av if rng.random() < 0.8 and c[:9] != self.spec.town}
        covered |= set(av_of[~reachable | ~np.isfinite(d_net)])
        served = np.isin(av_of, sorted(covered))
        teaching: list[int] = []  # rows of self.facilities
        tried: set[int] = set()
        while True:
            d_net, d_str = dists()
            todo = np.flatnonzero(reachable & ~served & (d_net > ok_m))
            todo = todo[~np.isin(todo, sorted(tried))]  # a 教学点 did not help: give up on it
            if len(todo) == 0:
                break
            # greedy cover: the village that has most of the others within 1.5 km
            near = cKDTree(xy[todo]).query_ball_point(xy[todo], 1500.0)
            i = int(todo[np.argmax([len(n) for n in near])])
            tried.add(i)
            p = self.beside(xy[i], off_m=20.0)
            teaching.append(len(self.facilities))
            self.add("小学", f"{nv['name'].iloc[i]}教学点", p, av_of[i])
        # planted: 教学点 closed (撤点并校) where the villages left behind are all beyond
        # 2.7 km in a straight line and no other village falls between 2.3 and 2.7 km
        planted: list[int] = []
        for k in rng.permutation(teaching):
            if len(planted) >= self.spec.primary_gaps:
                break
            row = self.facilities[k]
            row["status"] = "撤并"  # out of every count below
            d_net, d_str = dists()
            bad = np.flatnonzero(reachable & ~served & (d_net > ok_m))
            new_bad = np.setdiff1d(bad, planted)
            tw_count = {nv["township_code"].iloc[j] for j in planted}
            if (
                len(new_bad)
                and (d_str[new_bad] > gap_m).all()
                and len(new_bad) <= 2
                and nv["township_code"].iloc[new_bad[0]] not in tw_count
            ):
                planted += [int(j) for j in new_bad]
            else:
                row["status"] = "现状"
        self.facilities = [r for r in self.facilities if r["status"] != "撤并"]
        d_net, d_str = dists()
        assert all(d_str[i] > gap_m for i in planted)
        ok = reachable & (d_net <= ok_m)
        self.check(set(np.flatnonzero(reachable & ~ok & ~served)) == set(planted), "primary gaps")
        boarding: dict[str, list[str]] = {}
        for c in sorted(covered):
            boarding.setdefault(c[:9], []).append(c)
        for row in self.facilities:
            t = row["township_code"]
            if t in boarding and row["name"].endswith("中心小学"):
                row["boarding"] = True
                row["serves_codes"] = ";".join(boarding[t])
        planted = sorted(planted)
        beyond_boarding = sorted(nv.index[served & reachable & (d_str > gap_m)])
        unreachable = sorted(nv.index[~reachable | ~np.isfinite(d_net)])
        self.truth["edu_primary"] = {
            "radius_m": PRIMARY_M,
            "basis": "network: existing roads, points joined to the nearest road within 200 m",
            "problem": sorted(nv.index[planted]),
            "problem_distance_m": {
                nv.index[i]: {"straight": round(float(d_str[i]), 1), "network": _round(d_net[i])}
                for i in sorted(planted, key=lambda j: nv.index[j])
            },
            "boarding_serves": {self.hosts[t]: avs for t, avs in sorted(boarding.items())},
            "boarding_admin_villages": sorted(covered),
            "beyond_radius_boarding": beyond_boarding,
            "unreachable_on_network": {
                vid: (
                    "boarding"
                    if served[nv.index.get_loc(vid)]
                    else "no_road_within_200m"
                    if not reachable[nv.index.get_loc(vid)]
                    else "cut_off_road"
                )
                for vid in unreachable
            },
            "ok_villages_max_network_m": round(float(d_net[ok].max()), 1),
            "note": "problem 之外、不在寄宿制服务范围的自然村步行距离均 ≤ 2,300 m；"
            "寄宿制中心小学的 serves_codes 覆盖的村不论距离均达标",
        }

    def junior(self) -> None:
        """初中 per township (boarding), two 九年一贯制 at sites, two villages left out."""
        rng = self.rng
        town = self.grids[self.spec.town]
        comm = self.communities
        for name in (f"{self.spec.name}第一初级中学", f"{self.spec.name}第二初级中学"):
            q = np.array([town.cx, town.cy]) + rng.uniform(-1, 1, 2) * 1000
            d = np.hypot(comm["x"] - q[0], comm["y"] - q[1]).to_numpy()
            self.add("初中", name, self.beside(q), comm.index[np.argmin(d)])
        nv = self.nv
        xy = nv[["x", "y"]].to_numpy(dtype=float)
        # the county town's host is a community: its boarding 初中 stands in the nearest
        # village committee
        seats = dict(self.hosts)
        town_rural = self.rural.loc[self.rural["township_code"] == self.spec.town]
        if len(town_rural):
            d = np.hypot(town_rural["x"] - town.cx, town_rural["y"] - town.cy).to_numpy()
            seats[self.spec.town] = str(town_rural.index[int(np.argmin(d))])
        # the junior-capable schools without the township boarding schools' catchments
        tw_xy = {t: self.beside(self.seat_xy(h), jitter_m=60) for t, h in seats.items()}
        jxy = np.vstack([self.fac(JUNIOR_KINDS)[["x", "y"]].to_numpy(), *tw_xy.values()])
        d_net = self.walk.nearest(jxy, xy)
        d_str = straight(jxy, xy)
        # two admin villages of one township left out of its 初中's 划片 (planted)
        left_out: list[str] = []
        for t in rng.permutation(sorted(self.hosts)):
            if t == self.spec.town or self.spec.junior_left_out == 0:
                continue
            members = self.rural.loc[
                (self.rural["township_code"] == t) & ~self.rural["site"]
            ].index.difference(list(self.hosts.values()))
            far = []
            for av in members:
                i = np.flatnonzero(nv["admin_code"].to_numpy() == av)
                if (d_str[i] > JUNIOR_M + MARGIN_M + 300).all() and np.isfinite(d_net[i]).all():
                    far.append(av)
            n_left = self.spec.junior_left_out
            if len(far) >= n_left:
                left_out = sorted(rng.choice(sorted(far), n_left, replace=False).tolist())
                break
        self.check(
            bool(left_out) or self.spec.junior_left_out == 0,
            "no township has two admin villages beyond 5 km of its 初中",
        )
        for t, host in seats.items():
            members = self.rural.loc[self.rural["township_code"] == t].index
            serves = sorted(set(members) - set(left_out))
            town_school = f"{self.spec.town_short}初级中学"
            name = town_school if t == self.spec.town else f"{self.tw.loc[t, 'name'][:-1]}中学"
            self.add("初中", name, tw_xy[t], host, boarding=True, serves=serves)
        jun = self.fac(JUNIOR_KINDS)
        d_net = self.walk.nearest(jun[["x", "y"]].to_numpy(), xy)
        d_str = straight(jun[["x", "y"]].to_numpy(), xy)
        gaps = sorted(nv.index[nv["admin_code"].isin(left_out)])
        idx = [nv.index.get_loc(v) for v in gaps]
        assert (d_str[idx] > JUNIOR_M + MARGIN_M).all() if idx else True
        within = nv.index[np.isfinite(d_net) & (d_net <= JUNIOR_M - MARGIN_M)]
        self.truth["edu_junior"] = {
            "radius_m": JUNIOR_M,
            "left_out_admin_villages": left_out,
            "problem": gaps,
            "straight_m": {v: round(float(d_str[i]), 1) for v, i in zip(gaps, idx, strict=True)},
            "boarding_schools_serve_every_other_committee": True,
            "within_radius_count": len(within),
            "note": "每个乡镇的初中为寄宿制，serves_codes 列出其划片的全部村委会，只漏了这两个村；"
            "社区无自然村",
        }

    def kindergartens(self) -> None:
        """幼儿园 at township seats (one township without), county town, sites, big villages."""
        rng = self.rng
        hill = self.world.hill
        no_kg = str(rng.choice(hill[1:])) if self.spec.no_kindergarten and hill[1:] else None
        town = self.grids[self.spec.town]
        comm = self.communities
        for k in range(3):
            q = np.array([town.cx, town.cy]) + rng.uniform(-1, 1, 2) * 1200
            d = np.hypot(comm["x"] - q[0], comm["y"] - q[1]).to_numpy()
            self.add(
                "幼儿园",
                f"{self.spec.name}第{'一二三'[k]}幼儿园",
                self.beside(q),
                comm.index[np.argmin(d)],
            )
        for t, host in self.hosts.items():
            if t == no_kg or t == self.spec.town:
                continue
            name = f"{self.tw.loc[t, 'name']}中心幼儿园"
            self.add("幼儿园", name, self.beside(self.seat_xy(host), jitter_m=50), host)
        for code in self.sites.index:
            if self.spec.site_public_gaps.get(code) == "幼儿园":
                name = f"{self.short(code)}幼儿园(规划)"
                self.add("幼儿园", name, self.on_grid(code), code, status="规划")
                continue
            self.add("幼儿园", f"{self.short(code)}幼儿园", self.on_grid(code), code)
        big = self.rural.loc[
            (self.rural["population"] >= 1500)
            & ~self.rural["site"]
            & (self.rural["township_code"] != no_kg)
        ]
        for code in big.index:
            if code not in self.hosts.values() and rng.random() < 0.4:
                self.add(
                    "幼儿园",
                    f"{self.short(code)}幼儿园",
                    self.beside(self.seat_xy(code), jitter_m=40),
                    code,
                )
        kg = self.fac(("幼儿园",))
        self.truth["kindergarten"] = {
            "townships_without": [no_kg] if no_kg else [],
            "township_name": self.tw.loc[no_kg, "name"] if no_kg else "",
            "admin_villages_with": sorted(set(kg["admin_village_code"])),
            "planned_only_at": sorted(
                c for c, k in self.spec.site_public_gaps.items() if k == "幼儿园"
            ),
        }

    # ------------------------------------------------------------ culture, elderly
    def village_centres(self) -> None:
        """公共文化室 and 综合服务中心 in every admin village; elderly care by size."""
        rng = self.rng
        for code, av in self.admin.iterrows():
            at_site = bool(av["site"])
            for kind, suffix in (("公共文化室", "文化室"), ("综合服务中心", "党群服务中心")):
                p = self.on_grid(code) if at_site else self.beside(self.seat_xy(code), jitter_m=50)
                self.add(kind, f"{av['name']}{suffix}", p, code)
        need = self.rural.loc[(self.rural["population"] >= ELDERLY_POP) & ~self.rural["site"]]
        pool = need.index.difference(list(self.hosts.values()))
        n_gaps = min(self.spec.elderly_gaps, len(pool))
        gaps = sorted(rng.choice(sorted(pool), n_gaps, replace=False).tolist())
        for code, av in self.communities.iterrows():
            p = self.beside(self.seat_xy(code), jitter_m=50)
            self.add("日间照料中心", f"{av['name']}日间照料中心", p, code)
        for code in self.sites.index:
            if self.spec.site_public_gaps.get(code) == "日间照料中心":
                self.add("老饭桌", f"{self.short(code)}老饭桌", self.on_grid(code), code)
                continue
            self.add("日间照料中心", f"{self.short(code)}日间照料中心", self.on_grid(code), code)
        for code, av in self.rural.loc[~self.rural["site"]].iterrows():
            if code in gaps:
                continue
            if av["population"] >= ELDERLY_POP or rng.random() < 0.3:
                p = self.beside(self.seat_xy(code), jitter_m=60)
                self.add("互助幸福院", f"{self.short(code)}互助幸福院", p, code)
                if rng.random() < 0.25:
                    p = self.beside(self.seat_xy(code), jitter_m=60)
                    self.add("老饭桌", f"{self.short(code)}老饭桌", p, code)
        el = self.fac(ELDERLY_KINDS)
        required = self.admin.loc[self.admin["population"] >= ELDERLY_POP]
        self.truth["elderly_care"] = {
            "min_population": ELDERLY_POP,
            "required": len(required),
            "problem": gaps,
            "population": {c: int(self.admin.loc[c, "population"]) for c in gaps},
            "not_required_with_facility": int(
                (
                    ~self.admin.index.isin(required.index)
                    & self.admin.index.isin(el["admin_village_code"])
                ).sum()
            ),
        }

    def site_public(self) -> None:
        """Check the sites' public facilities; clear the planted gaps' surroundings."""
        f = pd.DataFrame(self.facilities)
        for code, kind in self.spec.site_public_gaps.items():
            s = self.sites.loc[code]
            d = np.hypot(f["x"] - s["x"], f["y"] - s["y"])
            self.check(
                not ((f["kind"] == kind) & (f["status"] == "现状") & (d < SITE_CLEARANCE_M)).any(),
                f"site {code}: a {kind} within the clearance",
            )
        rows = {}
        for code, s in self.sites.iterrows():
            p = np.array([[s["x"], s["y"]]])
            got = {}
            for kind in SITE_KINDS:
                if kind == "卫生室":
                    xy = self.clinics.geometry.get_coordinates().to_numpy()
                else:
                    kinds = SCHOOL_KINDS if kind == "学校" else (kind,)
                    xy = self.fac(kinds)[["x", "y"]].to_numpy()
                got[kind] = (float(self.walk.nearest(xy, p)[0]), float(straight(xy, p)[0]))
            for kind, (net, st) in got.items():
                if self.spec.site_public_gaps.get(code) == kind:
                    self.check(st > SITE_CLEARANCE_M, f"site {code}: {kind} at {st:.0f} m")
                else:
                    self.check(net <= SITE_NEAR_M, f"site {code}: {kind} at {net:.0f} m")
            rows[s["id"]] = {k: _round(v[0]) for k, v in got.items()}
        sid = self.sites["id"]
        self.truth["site_public"] = {
            "kinds": list(SITE_KINDS),
            "walk_m": SITE_WALK_M,
            "problem": {sid[c]: [k] for c, k in sorted(self.spec.site_public_gaps.items())},
            "ok_sites_all_within_m": SITE_NEAR_M,
            "clearance_m": SITE_CLEARANCE_M,
            "network_m": rows,
            "note": "菊花台只有规划幼儿园（status=规划）；新园有老饭桌而无日间照料中心",
        }

    # ------------------------------------------------------------------ telecom
    def telecom(self) -> tuple[pd.DataFrame, pd.Series]:
        """5G polygons (85 % of admin villages), 4G everywhere, 千兆光纤 and key villages."""
        rng = self.rng
        admin = self.admin
        tw_polys = self.world.township_polys
        # 重点村: key relocation sites, 特色保护 villages and the largest village per township
        key = set(self.sites.loc[self.sites["key_site"], "admin_code"])
        key |= set(admin.index[admin["village_class"] == "特色保护"])
        for t in self.tw.index:
            m = self.rural.loc[(self.rural["township_code"] == t) & ~self.rural["site"]]
            m = m.loc[~m.index.isin(list(self.hosts.values()))]
            if len(m):
                key.add(str(m["population"].idxmax()))
        key = sorted(key)
        no_gigabit = str(rng.choice([k for k in key if admin.loc[k, "kind"] == "村委会"
                                     and not admin.loc[k, "site"]]))  # fmt: skip
        # 5G: uncovered villages are remote committees, far from their seat
        pool = self.rural.loc[~self.rural["site"] & ~self.rural.index.isin(key)]
        pool = pool.loc[~pool.index.isin(list(self.hosts.values()))]
        seat = self.tw.loc[pool["township_code"], ["seat_x", "seat_y"]].to_numpy()
        d = np.hypot(*(pool[["x", "y"]].to_numpy() - seat).T)
        p = d**2 / (d**2).sum()
        n_no = min(self.spec.no_5g, int((p > 0).sum()))
        no_5g = sorted(rng.choice(pool.index.to_numpy(), n_no, replace=False, p=p).tolist())
        xy = admin[["x", "y"]].to_numpy(dtype=float)
        has = ~admin.index.isin(no_5g)
        holes = shapely.union_all(shapely.buffer(shapely.points(xy[~has]), 900.0))
        holes = holes if not holes.is_empty else shapely.Polygon()
        cover = shapely.union_all(shapely.buffer(shapely.points(xy[has]), 2600.0, quad_segs=6))
        cover = shapely.difference(cover, holes)
        geoms, rows = [], []
        for t in self.tw.index:
            part = shapely.intersection(cover, tw_polys[t])
            part = shapely.simplify(part, 20.0)
            geoms.append(part)
            rows.append({"id": f"5G-{t}", "kind": "5G", "operator": "中国移动"})
        for t in self.tw.index:
            geoms.append(shapely.simplify(tw_polys[t], 20.0))
            rows.append({"id": f"4G-{t}", "kind": "4G", "operator": "中国移动"})
        # 千兆光纤: county town, township seats and key villages, except one key village
        seats = self.tw[["seat_x", "seat_y"]].to_numpy()
        centres = [shapely.buffer(shapely.points(seats), 3000.0)]
        k_ok = [k for k in key if k != no_gigabit]
        centres.append(shapely.buffer(shapely.points(xy[admin.index.isin(k_ok)]), 1500.0))
        fibre = shapely.union_all(np.concatenate(centres))
        fibre = shapely.difference(
            fibre, shapely.Point(xy[admin.index.get_loc(no_gigabit)]).buffer(900)
        )
        fibre = shapely.intersection(fibre, self.world.county_m)
        for t in self.tw.index:
            part = shapely.intersection(fibre, tw_polys[t])
            if not part.is_empty:
                geoms.append(shapely.simplify(part, 20.0))
                rows.append({"id": f"QZ-{t}", "kind": "千兆光纤", "operator": "中国电信"})
        # one feature per polygon part (a layer of Polygons, as a Shapefile reads back)
        parts, part_rows = [], []
        for g, row in zip(geoms, rows, strict=True):
            pieces = sorted(shapely.get_parts(_polygonal(g)), key=lambda q: -q.area)
            for k, piece in enumerate(pieces, start=1):
                parts.append(piece)
                part_rows.append({**row, "id": f"{row['id']}-{k:02d}", "status": "现状"})
        geoms = parts
        frame = pd.DataFrame(part_rows)
        # consistency with the attributes
        five = shapely.union_all(
            [g for g, k in zip(geoms, frame["kind"], strict=True) if k == "5G"]
        )
        gig = shapely.union_all(
            [g for g, k in zip(geoms, frame["kind"], strict=True) if k == "千兆光纤"]
        )
        pts = shapely.points(xy)
        in5g = shapely.contains(five, pts)
        self.check(bool((in5g == has).all()), "5G polygons and villages disagree")
        has = in5g
        no_5g = sorted(admin.index[~has])
        has_gig = shapely.contains(gig, pts)
        self.check(
            bool(has_gig[admin.index.isin(k_ok)].all())
            and not has_gig[admin.index.get_loc(no_gigabit)],
            "gigabit polygons and key villages disagree",
        )
        attrs = pd.DataFrame(
            {
                "key_village": admin.index.isin(key),
                "has_gigabit": has_gig,
            },
            index=admin.index,
        )
        self.truth["telecom_5g"] = {
            "source": "telecom_coverage polygons (has_5g attribute absent: NA)",
            "admin_villages": len(admin),
            "without_5g": no_5g,
            "rate_pct": round(100 * has.mean(), 2),
            "target_pct": 80.0,
            "met": bool(100 * has.mean() >= 80.0),
        }
        self.truth["telecom_gigabit"] = {
            "source": "has_gigabit attribute (matches the 千兆光纤 polygons)",
            "key_villages": key,
            "problem": [no_gigabit],
            "rate_pct": round(100 * (len(key) - 1) / len(key), 2),
        }
        self.layers["telecom_coverage"] = (frame, geoms)
        return attrs, pd.Series(has, index=admin.index)

    # --------------------------------------------------------------- environment
    def environment(self) -> pd.DataFrame:
        """Sewage attribute (+ stations), waste collection points, toilets."""
        rng = self.rng
        admin = self.admin
        # sewage: every 城郊融合 village and site, then the villages nearest their seat
        n_target = round(self.spec.sewage_share * len(admin))
        treated = set(admin.index[(admin["village_class"] == "城郊融合") | admin["site"]])
        seat = self.tw.loc[admin["township_code"], ["seat_x", "seat_y"]].to_numpy()
        d = np.hypot(*(admin[["x", "y"]].to_numpy() - seat).T) * rng.uniform(0.7, 1.3, len(admin))
        for code in admin.index[np.argsort(d)]:
            if len(treated) >= n_target:
                break
            treated.add(code)
        sewage = admin.index.isin(sorted(treated))
        # the county town's plant serves its communities and 城郊融合 villages
        town_served = sorted(c for c in treated if c.startswith(self.spec.town))
        town = self.grids[self.spec.town]
        p = self.beside(np.array([town.cx + 2200, town.cy - 1800]))
        self.env.append(_env("污水处理站", f"{self.spec.name}城市污水处理厂", p, town_served))
        for code in sorted(set(treated) - set(town_served)):
            p = self.on_grid(code) if admin.loc[code, "site"] else self.beside(
                self.seat_xy(code) + rng.normal(0, 200, 2))  # fmt: skip
            self.env.append(_env("污水处理站", f"{admin.loc[code, 'name']}污水处理站", p, [code]))
        # waste: a 垃圾收集点 at each seat and near every far village; then a few of the
        # added points removed where the villages left behind are all beyond 2.4 km
        nv = self.nv
        xy = nv[["x", "y"]].to_numpy(dtype=float)
        points = [self.beside(self.seat_xy(c), jitter_m=60) for c in admin.index]
        while True:
            d = straight(np.array(points), xy)
            todo = np.flatnonzero(d > WASTE_M - MARGIN_M)
            if len(todo) == 0:
                break
            i = int(todo[np.argmax(d[todo])])
            q = self.beside(xy[i], off_m=25.0)
            if np.hypot(*(q - xy[i])) > WASTE_M - MARGIN_M:  # no road near: at the village
                q = xy[i] + np.array([25.0, 0.0])
            points.append(q)
        planted: list[int] = []
        kept = np.ones(len(points), dtype=bool)
        for k in rng.permutation(np.arange(len(admin), len(points))):
            if len(planted) >= self.spec.waste_gaps:
                break
            kept[k] = False
            d = straight(np.array(points)[kept], xy)
            new = np.setdiff1d(np.flatnonzero(d > WASTE_M - MARGIN_M), planted)
            avs = set(av_ for av_ in nv["admin_code"].iloc[planted])
            if (
                len(new) == 1
                and d[new[0]] > WASTE_GAP_M
                and nv["admin_code"].iloc[new[0]] not in avs
                and not nv["in_site"].iloc[new[0]]
            ):
                planted.append(int(new[0]))
            else:
                kept[k] = True
        points = [p for p, keep in zip(points, kept, strict=True) if keep]
        for k, p in enumerate(points):
            code = admin.index[k] if k < len(admin) else nv["admin_code"].iloc[
                int(np.argmin(np.hypot(*(xy - p).T)))]  # fmt: skip
            name = f"{admin.loc[code, 'name']}垃圾收集点" + ("" if k < len(admin) else f"{k}")
            self.env.append(_env("垃圾收集点", name, p, []))
        for t, host in self.hosts.items():
            p = self.beside(self.seat_xy(host) + np.array([600.0, -400.0]))
            self.env.append(_env("垃圾转运站", f"{self.tw.loc[t, 'name']}垃圾转运站", p, []))
            p = self.beside(self.seat_xy(host), jitter_m=100)
            self.env.append(_env("公共厕所", f"{self.tw.loc[t, 'name']}公共厕所", p, []))
        for k in range(5):
            q = np.array([town.cx, town.cy]) + rng.uniform(-1, 1, 2) * 1300
            self.env.append(_env("公共厕所", f"县城公共厕所{k + 1}", self.beside(q), []))
        env = pd.DataFrame(self.env)
        pts = env.loc[env["kind"].isin(["垃圾收集点", "垃圾转运站"]), ["x", "y"]].to_numpy()
        d = straight(pts, xy)
        gaps = sorted(nv.index[planted])
        ok = set(np.flatnonzero(d > WASTE_M)) == set(planted)
        ok = ok and bool((d[planted] > WASTE_GAP_M).all())
        self.check(ok and bool((np.delete(d, planted) <= WASTE_M - MARGIN_M).all()), "waste gaps")
        if not ok:  # (other counties) the gaps are where the points left them
            planted = sorted(int(i) for i in np.flatnonzero(d > WASTE_M))
            gaps = sorted(nv.index[planted])
        # toilets: most villages 62–98 %, a few below 60 %; communities and sites ~100 %
        hh = admin["households"].to_numpy()
        share = np.clip(rng.beta(8, 3, len(admin)), 0.62, 0.98)
        urban = (admin["kind"] == "社区").to_numpy() | admin["site"].to_numpy()
        share[urban] = rng.uniform(0.97, 1.0, urban.sum())
        pool = np.flatnonzero(~urban & ~admin.index.isin(list(self.hosts.values())))
        n_low = min(self.spec.toilet_low, len(pool))
        low = np.sort(rng.choice(pool, n_low, replace=False))
        share[low] = rng.uniform(0.36, 0.55, n_low)
        toilets = np.floor(hh * share).astype(int)
        pct = 100 * toilets / np.maximum(hh, 1)
        self.check(
            bool((pct[low] < TOILET_MIN_PCT - 3).all())
            and bool((np.delete(pct, low) >= TOILET_MIN_PCT + 1).all()),
            "toilet shares near the 60 % line",
        )
        self.truth["sewage"] = {
            "source": "sewage_treated attribute (matches the 污水处理站 serves_codes)",
            "treated": int(sewage.sum()),
            "admin_villages": len(admin),
            "rate_pct": round(100 * sewage.mean(), 2),
            "target_pct": 40.0,
            "met": bool(100 * sewage.mean() >= 40.0),
            "untreated": sorted(admin.index[~sewage]),
        }
        bad_av = sorted({nv.loc[v, "admin_code"] for v in gaps})
        self.truth["waste"] = {
            "source": "env_facilities 垃圾收集点/垃圾转运站 (waste_treated attribute absent: NA)",
            "max_m": WASTE_M,
            "villages_beyond": {v: round(float(d[nv.index.get_loc(v)]), 1) for v in gaps},
            "problem": bad_av,
            "rate_pct": round(100 * (1 - len(bad_av) / len(admin)), 2),
            "target_pct": 95.0,
            "note": "社区没有自然村；其余自然村距最近收集点均不超过 1,800 m",
        }
        self.truth["toilets"] = {
            "village_min_pct": TOILET_MIN_PCT,
            "problem": sorted(admin.index[low]),
            "village_pct": {admin.index[i]: round(float(pct[i]), 2) for i in low},
            "county_rate_pct": round(100 * toilets.sum() / hh.sum(), 2),
            "toilet_households": int(toilets.sum()),
            "households": int(hh.sum()),
        }
        return pd.DataFrame(
            {"sewage_treated": sewage, "toilet_households": toilets}, index=admin.index
        )

    # ------------------------------------------------------------------ housing
    def housing(self) -> None:
        """危房/危窑 survey: rectified almost everywhere, a few left in three villages."""
        rng = self.rng
        nv = self.nv.loc[~self.nv["in_site"]]
        picks = nv.iloc[np.sort(rng.choice(len(nv), 52, replace=False))]
        rows = []
        for vid, v in picks.iterrows():
            hilly = v["township_code"] in self.world.hill
            kind = "危窑" if hilly and rng.random() < 0.7 else "危房"
            rows.append((vid, v, kind, 1, True))
        # three committees with dwellings left: one in the loess hills (危窑), two elsewhere
        pool = self.rural.loc[~self.rural["site"]].index.difference(list(self.hosts.values()))
        hill = pool[pool.str[:9].isin(self.world.hill)]
        flat = pool[~pool.str[:9].isin(self.world.hill)]
        n_open = self.spec.housing_open
        if n_open == 3 and len(hill) and len(flat) >= 2:
            open_villages = sorted(
                [str(rng.choice(hill)), *rng.choice(flat, 2, replace=False).tolist()]
            )
        else:
            n_open = min(n_open, len(pool))
            open_villages = sorted(rng.choice(pool, n_open, replace=False).tolist())
        left = {}
        for code, n in zip(open_villages, (2, 2, 1, 1, 1)[:n_open], strict=True):
            vids = nv.index[nv["admin_code"] == code]
            chosen = rng.choice(vids, n, replace=True)
            for k, vid in enumerate(chosen):
                v = nv.loc[vid]
                kind = "危窑" if v["township_code"] in self.world.hill else "危房"
                households = 2 if (code == open_villages[0] and k == 0) else 1
                rows.append((vid, v, kind, households, False))
                left.setdefault(code, {"dwellings": 0, "households": 0, "village_ids": []})
                left[code]["dwellings"] += 1
                left[code]["households"] += households
                left[code]["village_ids"].append(vid)
        out = []
        for k, (vid, v, kind, households, done) in enumerate(rows):
            ang = rng.uniform(0, 2 * np.pi)
            r = rng.uniform(20, 120)
            out.append(
                {
                    "id": f"WF{k + 1:04d}",
                    "admin_village_code": v["admin_code"],
                    "village_id": vid,
                    "kind": kind,
                    "households": households,
                    "rectified": done,
                    "x": float(v["x"] + r * np.cos(ang)),
                    "y": float(v["y"] + r * np.sin(ang)),
                }
            )
        frame = pd.DataFrame(out)
        for code in left:
            left[code]["village_ids"] = sorted(left[code]["village_ids"])
        self.truth["unsafe_housing"] = {
            "surveyed": len(frame),
            "rectified": int(frame["rectified"].sum()),
            "problem": open_villages,
            "unrectified": left,
            "unrectified_dwellings": int((~frame["rectified"]).sum()),
        }
        self.layers["housing_survey"] = (frame, list(shapely.points(frame[["x", "y"]].to_numpy())))

    # ------------------------------------------------------------- the rest
    def children(self) -> pd.DataFrame:
        """School-age children per natural village (模拟: 8–11 % and 3.5–5.5 % of people)."""
        pop = self.nv["population"].to_numpy()
        prim = np.round(pop * self.rng.uniform(0.08, 0.11, len(pop))).astype(int)
        jun = np.round(pop * self.rng.uniform(0.035, 0.055, len(pop))).astype(int)
        out = pd.DataFrame({"primary_children": prim, "junior_children": jun}, index=self.nv.index)
        ep = self.truth["edu_primary"]
        ep["problem_children"] = {v: int(out.loc[v, "primary_children"]) for v in ep["problem"]}
        ep["children_beyond_problem"] = int(out.loc[ep["problem"], "primary_children"].sum())
        ej = self.truth["edu_junior"]
        ej["children_beyond"] = int(out.loc[ej["problem"], "junior_children"].sum())
        return out

    def water(self) -> pd.DataFrame:
        caps = self.capacity
        out = pd.DataFrame(
            {
                "guarantee_rate_pct": {k: v[0] for k, v in self.spec.water_stats.items()},
                "quality_pass_pct": {k: v[1] for k, v in self.spec.water_stats.items()},
            }
        )
        w = caps.reindex(out.index).to_numpy(dtype=float)
        self.truth["water_guarantee"] = {
            "by_source": out["guarantee_rate_pct"].to_dict(),
            "capacity_m3d": dict(zip(out.index, w.tolist(), strict=True)),
            "weighted_pct": round(float(np.average(out["guarantee_rate_pct"], weights=w)), 2),
            "target_pct": 95.0,
            "problem": sorted(out.index[out["guarantee_rate_pct"] < 95.0]),
        }
        self.truth["water_quality"] = {
            "by_source": out["quality_pass_pct"].to_dict(),
            "weighted_pct": round(float(np.average(out["quality_pass_pct"], weights=w)), 2),
            "target_pct": 90.0,
            "problem": sorted(out.index[out["quality_pass_pct"] < 90.0]),
        }
        return out


def _round(v: float) -> float | None:
    return round(float(v), 1) if np.isfinite(v) else None


def _polygonal(g: shapely.Geometry) -> shapely.Geometry:
    """Polygon or MultiPolygon parts of ``g`` only (intersections can leave lines)."""
    parts = [p for p in shapely.get_parts(shapely.make_valid(g)) if p.geom_type == "Polygon"]
    parts = [p for p in parts if p.area > 1.0]
    return parts[0] if len(parts) == 1 else shapely.MultiPolygon(parts)


def _env(kind: str, name: str, p: np.ndarray, serves: list[str]) -> dict:
    return {
        "kind": kind,
        "name": name,
        "serves_codes": ";".join(sorted(serves)),
        "status": "现状",
        "x": float(p[0]),
        "y": float(p[1]),
    }


def build_public(world, frames: dict[str, gpd.GeoDataFrame]) -> Public:
    """Build the issue-15 layers and attributes of the demo county.

    Parameters
    ----------
    world : scripts.build_demo.World
        The finished world (admin villages, natural villages, sites, grids; metric).
    frames : dict of GeoDataFrame
        The eleven original layers as assembled (EPSG:4326): roads and clinics are read.

    Returns
    -------
    Public
        New layers as (rows with x/y or geometries, geometries) in EPSG:4544, the new
        attribute columns and the ``public`` truth section.
    """
    b = _Builder(world, frames)
    b.primary()
    b.junior()
    b.kindergartens()
    b.village_centres()
    b.site_public()
    tele_attrs, _ = b.telecom()
    env_attrs = b.environment()
    b.housing()
    children = b.children()
    water = b.water()
    pub = pd.DataFrame(b.facilities)
    order = {k: i for i, k in enumerate(PUBLIC_ORDER)}
    pub = pub.assign(_o=pub["kind"].map(order)).sort_values(
        ["_o", "admin_village_code", "name"], kind="stable"
    )
    pub = pub.drop(columns="_o").reset_index(drop=True)
    pub.insert(0, "id", [f"GG{k + 1:04d}" for k in range(len(pub))])
    env = pd.DataFrame(b.env).reset_index(drop=True)
    env.insert(0, "id", [f"HW{k + 1:04d}" for k in range(len(env))])
    layers = {
        "public_facilities": (pub, list(shapely.points(pub[["x", "y"]].to_numpy()))),
        "telecom_coverage": b.layers["telecom_coverage"],
        "env_facilities": (env, list(shapely.points(env[["x", "y"]].to_numpy()))),
        "housing_survey": b.layers["housing_survey"],
    }
    admin_attrs = tele_attrs.join(env_attrs)
    admin_attrs["has_5g"] = pd.NA  # 5G from the coverage layer
    admin_attrs["waste_treated"] = pd.NA  # waste from the collection points
    counts = pub["kind"].value_counts()
    b.truth["counts"] = {
        "public_facilities": {k: int(counts.get(k, 0)) for k in order},
        "env_facilities": {k: int(v) for k, v in env["kind"].value_counts().sort_index().items()},
        "telecom_coverage": len(layers["telecom_coverage"][0]),
        "housing_survey": len(layers["housing_survey"][0]),
    }
    log.info("public services, telecom, environment and housing built: %s", b.truth["counts"])
    return Public(
        layers=layers,
        admin_attrs=admin_attrs,
        village_attrs=children,
        source_attrs=water,
        truth=b.truth,
    )
