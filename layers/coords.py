"""Coordinate declarations and conversions to EPSG:4326.

County data arrives in five kinds of coordinates (see ``../shared/STANDARDS.md``,
section *Coordinates*):

- ``wgs84`` — EPSG:4326, GPS and most GIS exports;
- ``cgcs2000`` — EPSG:4490, China's national datum; equal to WGS84 at metre level, so it
  is relabelled EPSG:4326 (and the relabelling is recorded), never shifted;
- ``gcj02`` — the obfuscated "Mars" coordinates of Amap (高德) and Tencent (腾讯) maps,
  shifted 350–470 m in Ningxia;
- ``bd09`` — Baidu's (百度) lon/lat, GCJ-02 shifted again, ≈ 1.1–1.3 km in Ningxia;
- an EPSG code — typically a CGCS2000 Gauss-Krüger zone: 3-degree zones EPSG:4534–4554
  (no zone prefix in the easting) and EPSG:4513–4533 (with it), 6-degree zones
  EPSG:4502–4512 and EPSG:4491–4501. Ningxia: EPSG:4544 (CM 105°E) and EPSG:4545
  (CM 108°E).

:func:`parse_coords` turns what a user typed into a :class:`CoordsDeclaration`;
:func:`to_wgs84` reconciles the declaration with the CRS the file carries, converts
geometries to EPSG:4326 and reports disagreements as :class:`~layers.errors.Problem`
records. The GCJ-02 and BD-09 functions are vectorised NumPy versions of the formulas
shared by the public reference implementations (eviltransform, PRCoords, coordtransform):
the forward formulas exactly, the inverses by fixed-point iteration to 1e-9 degrees
(≈ 0.1 mm) instead of the one-step approximation (≈ 1 m) most of them use. Like those
implementations, points outside a rough rectangle around China are left unchanged.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import replace as dataclasses_replace
from typing import Literal

import geopandas as gpd
import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError as ProjCRSError

from layers.errors import CRSError, Problem, ProblemKind, Severity

__all__ = [
    "CHINA_LAT_DEG",
    "CHINA_LON_DEG",
    "CoordsCandidate",
    "CoordsCheck",
    "CoordsDeclaration",
    "CoordsResult",
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "check_coords",
    "check_layer_coords",
    "conversion_zh",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "guess_projected_epsg",
    "looks_like_lonlat_in_china",
    "out_of_china",
    "parse_coords",
    "to_wgs84",
    "transform_lonlat",
    "wgs84_to_bd09",
    "wgs84_to_gcj02",
]

logger = logging.getLogger(__name__)

CoordsKind = Literal["wgs84", "cgcs2000", "gcj02", "bd09", "epsg"]

CHINA_LON_DEG = (73.0, 136.0)
"""Longitude range (degrees east) taken as "inside China" when guessing what values are."""
CHINA_LAT_DEG = (3.0, 54.0)
"""Latitude range (degrees north) taken as "inside China" when guessing what values are."""

# The rectangle eviltransform and PRCoords use to decide whether to obfuscate at all.
_GCJ_LON_DEG = (72.004, 137.8347)
_GCJ_LAT_DEG = (0.8293, 55.8271)

# GCJ-02 constants: Krasovsky 1940 semi-major axis and first eccentricity squared.
_KRASOVSKY_A_M = 6378245.0
_KRASOVSKY_EE = 0.00669342162296594323
# BD-09 constants, from the leaked Baidu formula (x_pi = pi * 3000 / 180).
_BD_X_PI = np.pi * 3000.0 / 180.0
_BD_DLON_DEG = 0.0065
_BD_DLAT_DEG = 0.006

_INVERSE_TOL_DEG = 1e-9
_INVERSE_MAX_ITER = 30

_WGS84_EPSG, _CGCS2000_EPSG = 4326, 4490

_KIND_LABELS: dict[str, tuple[str, str]] = {
    "wgs84": ("WGS84 (EPSG:4326)", "WGS84 经纬度"),
    "cgcs2000": ("CGCS2000 (EPSG:4490)", "CGCS2000 国家大地坐标系经纬度"),
    "gcj02": ("GCJ-02 (Amap/Tencent)", "GCJ-02 火星坐标（高德/腾讯）"),
    "bd09": ("BD-09 (Baidu)", "BD-09 百度坐标"),
}

_ALIASES: dict[str, tuple[str, ...]] = {
    "wgs84": ("wgs84", "wgs1984", "wgs", "gps", "epsg4326", "4326", "crs84", "ogccrs84"),
    "cgcs2000": (
        "cgcs2000", "cgcs", "epsg4490", "4490", "国家2000", "2000国家大地坐标系",
        "国家大地坐标系2000", "2000坐标系", "天地图", "tianditu",
    ),
    "gcj02": (
        "gcj02", "gcj", "mars", "火星", "火星坐标", "火星坐标系", "国测局", "国测局坐标",
        "高德", "amap", "gaode", "autonavi", "腾讯", "tencent", "qq",
    ),
    "bd09": ("bd09", "bd09ll", "baidu", "百度", "百度坐标", "百度经纬度"),
}  # fmt: skip
_ALIAS_TO_KIND = {alias: kind for kind, aliases in _ALIASES.items() for alias in aliases}

_FIX_ZH = (
    '导入时请声明坐标系：coords="wgs84"、"cgcs2000"、"gcj02"（高德/腾讯）、'
    '"bd09"（百度）或 EPSG 代码（如高斯投影3度带 "EPSG:4544"）'
)


# --------------------------------------------------------------------- declarations


@dataclass(frozen=True)
class CoordsDeclaration:
    """What a user says the coordinates of a file are.

    Attributes
    ----------
    kind : {"wgs84", "cgcs2000", "gcj02", "bd09", "epsg"}
        The kind of declaration.
    epsg : int
        The CRS the raw values are in: 4326 for ``wgs84``, ``gcj02`` and ``bd09``
        (obfuscated lon/lat on the WGS84 datum), 4490 for ``cgcs2000``, the code itself
        for ``epsg``.
    label : str
        English description, for provenance and logs.
    label_zh : str
        Chinese description, for messages.
    """

    kind: CoordsKind
    epsg: int
    label: str
    label_zh: str

    @property
    def crs(self) -> CRS:
        """The pyproj CRS of the raw values."""
        return CRS.from_epsg(self.epsg)

    @property
    def obfuscated(self) -> bool:
        """True for GCJ-02 and BD-09, which need more than a CRS transformation."""
        return self.kind in ("gcj02", "bd09")

    def __str__(self) -> str:
        return self.label


def _fold(text: str) -> str:
    return re.sub(r"[\s_\-:：()（）]+", "", text.strip().lower())


def parse_coords(coords: str | int | CoordsDeclaration | None) -> CoordsDeclaration | None:
    """Parse a coordinate declaration.

    Parameters
    ----------
    coords : str, int, CoordsDeclaration or None
        ``"wgs84"``, ``"cgcs2000"``, ``"gcj02"``, ``"bd09"`` (case, blanks and hyphens
        ignored; Chinese names such as ``"高德"``, ``"百度"``, ``"国家2000"`` accepted), or an
        EPSG code as ``4545``, ``"4545"`` or ``"EPSG:4545"``. ``None`` means "not declared".

    Returns
    -------
    CoordsDeclaration or None

    Raises
    ------
    CRSError
        If the declaration is not understood or the EPSG code does not exist.

    Examples
    --------
    >>> parse_coords("GCJ-02").kind
    'gcj02'
    >>> parse_coords("EPSG:4545").epsg
    4545
    >>> parse_coords(4326).kind
    'wgs84'
    """
    if coords is None or isinstance(coords, CoordsDeclaration):
        return coords
    if isinstance(coords, bool) or not isinstance(coords, (str, int, np.integer)):
        raise CRSError(
            f"coords must be a name or an EPSG code, not {type(coords).__name__}",
            zh=f"坐标系声明应为名称或 EPSG 代码，而不是 {type(coords).__name__}。{_FIX_ZH}",
        )
    text = str(coords)
    folded = _fold(text)
    if folded in ("bd09mc", "baidumercator", "百度墨卡托"):
        raise CRSError(
            "Baidu Mercator (bd09mc) is not supported; export Baidu lon/lat (bd09ll) and "
            "declare coords='bd09'",
            zh='不支持百度墨卡托坐标（bd09mc），请导出百度经纬度（bd09ll）后声明 coords="bd09"',
        )
    kind = _ALIAS_TO_KIND.get(folded)
    if kind is not None:
        epsg = _CGCS2000_EPSG if kind == "cgcs2000" else _WGS84_EPSG
        label, label_zh = _KIND_LABELS[kind]
        return CoordsDeclaration(kind, epsg, label, label_zh)  # type: ignore[arg-type]
    m = re.fullmatch(r"(?:epsg)?(\d{4,6})", folded)
    if m is None:
        raise CRSError(
            f"unknown coordinate declaration {text!r}; use wgs84, cgcs2000, gcj02, bd09 or an "
            "EPSG code such as 'EPSG:4545'",
            zh=f"无法识别的坐标系声明“{text}”。{_FIX_ZH}",
        )
    epsg = int(m.group(1))
    if epsg == _WGS84_EPSG:
        return parse_coords("wgs84")
    if epsg == _CGCS2000_EPSG:
        return parse_coords("cgcs2000")
    try:
        crs = CRS.from_epsg(epsg)
    except ProjCRSError:
        raise CRSError(
            f"EPSG:{epsg} is not a known coordinate reference system; check the code "
            "(CGCS2000 3-degree Gauss-Krüger zones are EPSG:4513–4554)",
            zh=f"EPSG:{epsg} 不是有效的坐标系代码，请核对（CGCS2000 高斯投影3度带为 "
            "EPSG:4513–4554，宁夏常用 4544、4545）",
        ) from None
    return CoordsDeclaration("epsg", epsg, f"EPSG:{epsg} {crs.name}", f"EPSG:{epsg}（{crs.name}）")


# ----------------------------------------------------------------- GCJ-02 and BD-09


def _as_float(lon: ArrayLike, lat: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    x, y = np.broadcast_arrays(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    return x.astype(float, copy=True), y.astype(float, copy=True)


def out_of_china(lon: ArrayLike, lat: ArrayLike) -> NDArray[np.bool_]:
    """Return True where a point lies outside the rectangle GCJ-02 is applied in.

    The rectangle (72.004–137.8347°E, 0.8293–55.8271°N) is the one eviltransform and
    PRCoords use. It is rough on purpose: it includes neighbours (Mongolia, Korea) and
    only serves to leave clearly foreign points (and NaN) unchanged.

    Parameters
    ----------
    lon, lat : array_like
        Degrees.

    Returns
    -------
    ndarray of bool
    """
    x, y = _as_float(lon, lat)
    with np.errstate(invalid="ignore"):
        inside = (
            (x >= _GCJ_LON_DEG[0])
            & (x <= _GCJ_LON_DEG[1])
            & (y >= _GCJ_LAT_DEG[0])
            & (y <= _GCJ_LAT_DEG[1])
        )
    return ~inside


def _gcj_offset_deg(
    lon: NDArray[np.float64], lat: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """GCJ-02 offset (degrees) at WGS84 lon/lat: the published forward formula."""
    x, y = lon - 105.0, lat - 35.0
    xp, yp = x * np.pi, y * np.pi
    common = 20.0 * np.sin(6.0 * xp) + 20.0 * np.sin(2.0 * xp)
    dlat_m = (
        (
            common
            + 20.0 * np.sin(yp)
            + 40.0 * np.sin(yp / 3.0)
            + 160.0 * np.sin(yp / 12.0)
            + 320.0 * np.sin(yp / 30.0)
        )
        * 2.0
        / 3.0
    )
    dlat_m += -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    dlon_m = (
        (
            common
            + 20.0 * np.sin(xp)
            + 40.0 * np.sin(xp / 3.0)
            + 150.0 * np.sin(xp / 12.0)
            + 300.0 * np.sin(xp / 30.0)
        )
        * 2.0
        / 3.0
    )
    dlon_m += 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    rad = np.radians(lat)
    magic = 1.0 - _KRASOVSKY_EE * np.sin(rad) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = (
        dlat_m * 180.0 / ((_KRASOVSKY_A_M * (1.0 - _KRASOVSKY_EE)) / (magic * sqrt_magic) * np.pi)
    )
    dlon = dlon_m * 180.0 / (_KRASOVSKY_A_M / sqrt_magic * np.cos(rad) * np.pi)
    return dlon, dlat


def _invert(
    forward: Callable[
        [NDArray[np.float64], NDArray[np.float64]],
        tuple[NDArray[np.float64], NDArray[np.float64]],
    ],
    x: NDArray[np.float64],
    y: NDArray[np.float64],
    gx: NDArray[np.float64],
    gy: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Refine a first guess ``(gx, gy)`` so that ``forward(guess) == (x, y)``.

    Fixed-point iteration ``guess -= forward(guess) - target``: the obfuscations move a
    point by less than 1 km and their offsets change by under 1 % per km, so each step
    gains two digits; 4–5 steps reach 1e-9 degrees.
    """
    active = np.isfinite(x) & np.isfinite(y)
    for _ in range(_INVERSE_MAX_ITER):
        if not active.any():
            break
        fx, fy = forward(gx[active], gy[active])
        ex, ey = fx - x[active], fy - y[active]
        gx[active] -= ex
        gy[active] -= ey
        done = (np.abs(ex) < _INVERSE_TOL_DEG) & (np.abs(ey) < _INVERSE_TOL_DEG)
        idx = np.flatnonzero(active)
        active[idx[done]] = False
    return gx, gy


def _gcj_forward(
    lon: NDArray[np.float64], lat: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    dlon, dlat = _gcj_offset_deg(lon, lat)
    return lon + dlon, lat + dlat


def wgs84_to_gcj02(
    lon: ArrayLike, lat: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Obfuscate WGS84 lon/lat to GCJ-02 (the forward formula, exact).

    Parameters
    ----------
    lon, lat : array_like
        WGS84 degrees; broadcast together.

    Returns
    -------
    lon, lat : ndarray
        GCJ-02 degrees; points outside China (:func:`out_of_china`) are unchanged.
    """
    x, y = _as_float(lon, lat)
    inside = ~out_of_china(x, y)
    gx, gy = _gcj_forward(x[inside], y[inside])
    x[inside], y[inside] = gx, gy
    return x, y


def gcj02_to_wgs84(
    lon: ArrayLike, lat: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Recover WGS84 lon/lat from GCJ-02 (iterative inverse to 1e-9 degrees, ≈ 0.1 mm).

    Parameters
    ----------
    lon, lat : array_like
        GCJ-02 degrees (Amap, Tencent); broadcast together.

    Returns
    -------
    lon, lat : ndarray
        WGS84 degrees; points outside China are unchanged.
    """
    x, y = _as_float(lon, lat)
    inside = ~out_of_china(x, y)
    gx, gy = x[inside], y[inside]
    dlon, dlat = _gcj_offset_deg(gx, gy)
    wx, wy = _invert(_gcj_forward, gx, gy, gx - dlon, gy - dlat)
    x[inside], y[inside] = wx, wy
    return x, y


def _bd_forward(
    lon: NDArray[np.float64], lat: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    z = np.hypot(lon, lat) + 0.00002 * np.sin(lat * _BD_X_PI)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * _BD_X_PI)
    return z * np.cos(theta) + _BD_DLON_DEG, z * np.sin(theta) + _BD_DLAT_DEG


def gcj02_to_bd09(
    lon: ArrayLike, lat: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Obfuscate GCJ-02 lon/lat further to Baidu's BD-09 (exact forward formula).

    Parameters
    ----------
    lon, lat : array_like
        GCJ-02 degrees.

    Returns
    -------
    lon, lat : ndarray
        BD-09 degrees; points outside China are unchanged.
    """
    x, y = _as_float(lon, lat)
    inside = ~out_of_china(x, y)
    bx, by = _bd_forward(x[inside], y[inside])
    x[inside], y[inside] = bx, by
    return x, y


def bd09_to_gcj02(
    lon: ArrayLike, lat: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Recover GCJ-02 lon/lat from BD-09 (iterative inverse to 1e-9 degrees).

    Parameters
    ----------
    lon, lat : array_like
        BD-09 degrees (Baidu lon/lat, ``bd09ll``).

    Returns
    -------
    lon, lat : ndarray
        GCJ-02 degrees; points outside China are unchanged.
    """
    x, y = _as_float(lon, lat)
    inside = ~out_of_china(x, y)
    bx, by = x[inside], y[inside]
    # the usual one-step inverse as the first guess
    dx, dy = bx - _BD_DLON_DEG, by - _BD_DLAT_DEG
    z = np.hypot(dx, dy) - 0.00002 * np.sin(dy * _BD_X_PI)
    theta = np.arctan2(dy, dx) - 0.000003 * np.cos(dx * _BD_X_PI)
    gx, gy = _invert(_bd_forward, bx, by, z * np.cos(theta), z * np.sin(theta))
    x[inside], y[inside] = gx, gy
    return x, y


def wgs84_to_bd09(
    lon: ArrayLike, lat: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """WGS84 → GCJ-02 → BD-09 (degrees); points outside China are unchanged."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(
    lon: ArrayLike, lat: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """BD-09 → GCJ-02 → WGS84 (degrees); points outside China are unchanged."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


def transform_lonlat(
    geoms: ArrayLike,
    func: Callable[[ArrayLike, ArrayLike], tuple[NDArray[np.float64], NDArray[np.float64]]],
) -> NDArray[np.object_]:
    """Apply a lon/lat conversion such as :func:`gcj02_to_wgs84` to every vertex.

    Parameters
    ----------
    geoms : array_like of shapely.Geometry
        Any geometry types; Z values are kept, missing geometries stay missing.
    func : callable
        ``func(lon, lat) -> (lon, lat)`` on arrays.

    Returns
    -------
    ndarray of shapely.Geometry
    """

    def apply(
        x: NDArray[np.float64], y: NDArray[np.float64], z: NDArray[np.float64] | None = None
    ) -> tuple[NDArray[np.float64], ...]:
        nx, ny = func(x, y)
        return (nx, ny) if z is None else (nx, ny, z)

    return shapely.transform(
        np.asarray(geoms, dtype=object), apply, include_z=None, interleaved=False
    )


# ------------------------------------------------------------------- guessing values


def _centres(geoms: gpd.GeoSeries) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    arr = geoms.to_numpy()
    present = ~(shapely.is_missing(arr) | shapely.is_empty(arr))
    if not present.any():
        return np.empty(0), np.empty(0)
    b = shapely.bounds(arr[present])
    cx, cy = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2
    ok = np.isfinite(cx) & np.isfinite(cy)
    return cx[ok], cy[ok]


def looks_like_lonlat_in_china(x: ArrayLike, y: ArrayLike, *, min_share: float = 0.5) -> bool:
    """Return True when at least ``min_share`` of the points are lon/lat inside China.

    Parameters
    ----------
    x, y : array_like
        Coordinates of feature centres, in whatever unit the file has.
    min_share : float
        Share of points (0–1) that must fall in :data:`CHINA_LON_DEG` × :data:`CHINA_LAT_DEG`.
        A few swapped or wrong rows do not change the verdict; validation reports them.
    """
    x, y = _as_float(x, y)
    if x.size == 0:
        return True
    inside = ((x >= CHINA_LON_DEG[0]) & (x <= CHINA_LON_DEG[1]) & (y >= CHINA_LAT_DEG[0])) & (
        y <= CHINA_LAT_DEG[1]
    )
    return bool(inside.mean() >= min_share)


def guess_projected_epsg(x: ArrayLike, y: ArrayLike) -> tuple[int, ...]:
    """Guess which CGCS2000 Gauss-Krüger EPSG codes metre values could be in.

    Parameters
    ----------
    x, y : array_like
        Easting and northing (metres) of feature centres.

    Returns
    -------
    tuple of int
        With a zone prefix in the easting (``36 500 000``): the one matching code
        (3-degree zones 25–45 → EPSG:4513–4533, 6-degree zones 13–23 → EPSG:4491–4501).
        Without one (easting 0–1,000,000 m): Ningxia's candidates, EPSG:4544 (3°, CM 105°E),
        EPSG:4545 (3°, CM 108°E) and EPSG:4507 (6°, CM 105°E). Empty when the values
        look like neither.
    """
    x, y = _as_float(x, y)
    if x.size == 0:
        return ()
    mx, my = float(np.median(x)), float(np.median(y))
    if not 300_000 < my < 6_200_000:  # northings of 3–55°N
        return ()
    if 10_000_000 <= mx < 100_000_000:
        zone = int(mx // 1_000_000)
        if 25 <= zone <= 45:
            return (4513 + zone - 25,)
        if 13 <= zone <= 23:
            return (4491 + zone - 13,)
        return ()
    if 100_000 < mx < 900_000:
        return (4544, 4545, 4507)
    return ()


def _epsg_hint(x: NDArray[np.float64], y: NDArray[np.float64]) -> tuple[str, str]:
    codes = guess_projected_epsg(x, y)
    if not codes:
        return "", ""
    if len(codes) == 1:
        name = CRS.from_epsg(codes[0]).name
        return (
            f"; the easting carries a zone number: probably EPSG:{codes[0]} ({name})",
            f'；东坐标带有带号，可能是 EPSG:{codes[0]}（{name}），请声明 coords="EPSG:{codes[0]}"',
        )
    listed = ", ".join(f"EPSG:{c}" for c in codes)
    return (
        f"; they look like Gauss-Krüger metres without a zone number ({listed} in Ningxia)",
        "；像是不带带号的高斯投影坐标（米），宁夏常用 EPSG:4544（3度带 中央经线105°E）、"
        "EPSG:4545（3度带 108°E）或 EPSG:4507（6度带 105°E），请按数据说明声明",
    )


# ------------------------------------------------------------------- CRS handling


def _crs_label(crs: CRS | None) -> str | None:
    if crs is None:
        return None
    code = crs.to_epsg(min_confidence=70)
    return f"EPSG:{code}" if code else crs.name


def _datum_family(crs: CRS) -> str:
    """Return ``"wgs84"``, ``"cgcs2000"`` or ``"other"`` for the CRS's datum."""
    datum = crs.datum
    name = _fold(datum.name if datum is not None else crs.name).replace(".", "")
    if "china2000" in name or "cgcs2000" in name:
        return "cgcs2000"
    if "wgs84" in name or "wgs1984" in name or "worldgeodeticsystem1984" in name:
        return "wgs84"
    return "other"


def _same_crs(a: CRS, b: CRS) -> bool:
    if a.equals(b, ignore_axis_order=True):
        return True
    # Geographic WGS84 and CGCS2000 are treated as one datum at metre level.
    return (
        a.is_geographic
        and b.is_geographic
        and _datum_family(a) != "other"
        and _datum_family(b) != "other"
    )


@dataclass(frozen=True)
class CoordsResult:
    """Geometries in EPSG:4326 and a record of how they got there.

    Attributes
    ----------
    geometry : geopandas.GeoSeries
        In EPSG:4326, or with no CRS when the coordinates could not be placed (an error
        problem says why).
    source_crs : str or None
        The file's own CRS (``"EPSG:4545"``, or its name), None if it had none.
    declared : str or None
        The declaration used, as text.
    steps : tuple of str
        What was done, in order (English), e.g. ``("EPSG:4545 → EPSG:4490 (inverse
        projection)", "CGCS2000 taken as WGS84: relabelled EPSG:4326")``.
    problems : tuple of Problem
        Missing, assumed or disagreeing coordinate systems (kind ``crs_missing``).
    """

    geometry: gpd.GeoSeries
    source_crs: str | None
    declared: str | None
    steps: tuple[str, ...]
    problems: tuple[Problem, ...]

    @property
    def conversion(self) -> str:
        """The steps as one line (``"none"`` if nothing was done)."""
        return "; ".join(self.steps) if self.steps else "none"


_STEP_ZH: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), zh)
    for pattern, zh in (
        (r"^none$", "无需转换"),
        (r"^none: longitude and latitude look swapped \(not converted\)$",
         "未转换：经度、纬度疑似填反"),
        (r"^(.+) → EPSG:4326 \(pyproj\)$", r"\1 → EPSG:4326（pyproj 坐标转换）"),
        (r"^(.+) → EPSG:4490 \(inverse projection, pyproj\)$",
         r"\1 → EPSG:4490（投影坐标反算为经纬度，pyproj）"),
        (r"^CGCS2000 taken as WGS84 \(equal at metre level\): relabelled EPSG:4326$",
         "CGCS2000 与 WGS84 在米级一致：按 EPSG:4326 标注"),
        (r"^(.+) → EPSG:4326 \(pyproj: (.+)\)$", r"\1 → EPSG:4326（pyproj：\2）"),
        (r"^no CRS in file; lon/lat values in China taken as WGS84$",
         "文件未带坐标系；经纬度在中国范围内，按 WGS84 处理"),
        (r"^no CRS in file; declared (.+)$", r"文件未带坐标系；按声明的 \1 处理"),
        (r"^file CRS (.+) overridden by declared (.+)$", r"文件坐标系 \1 改按声明的 \2 处理"),
        (r"^GCJ-02 → WGS84 \(iterative inverse, < 1e-9°\)$",
         "GCJ-02 → WGS84（迭代反算，误差 < 1e-9°）"),
        (r"^BD-09 → GCJ-02 → WGS84 \(iterative inverse, < 1e-9°\)$",
         "BD-09 → GCJ-02 → WGS84（迭代反算，误差 < 1e-9°）"),
    )
)  # fmt: skip


def conversion_zh(conversion: str) -> str:
    """Return a layer's coordinate handling (:attr:`CoordsResult.conversion`) in Chinese.

    Each ``; ``-separated step of the record is put into Chinese (labels and EPSG codes
    kept); a step it does not know stays as recorded. ``""`` and ``none`` read 无需转换.
    """
    glued = str(conversion or "none").replace("no CRS in file; ", "no CRS in file\0")
    for label, label_zh in _KIND_LABELS.values():  # the declarations' own Chinese names
        glued = glued.replace(label, label_zh)
    steps = [s.strip().replace("\0", "; ") for s in glued.split("; ") if s.strip()]
    out = []
    for step in steps or ["none"]:
        for pattern, zh in _STEP_ZH:
            if pattern.match(step):
                out.append(pattern.sub(zh, step))
                break
        else:
            out.append(step)
    return "；".join(out)


class _Report:
    def __init__(self, file: str, layer: str) -> None:
        self.file, self.layer = file, layer
        self.steps: list[str] = []
        self.problems: list[Problem] = []

    def problem(
        self, *, zh: str, fix: str, en: str, severity: Severity, value: str | None = None
    ) -> None:
        self.problems.append(
            Problem(
                kind=ProblemKind.CRS_MISSING,
                file=self.file,
                layer=self.layer,
                row=None,
                feature_id=None,
                field=None,
                message_zh=zh,
                fix_zh=fix,
                message=en,
                severity=severity,
                value=value,
            )
        )


def _project_to_4326(geoms: gpd.GeoSeries, report: _Report) -> gpd.GeoSeries:
    """Transform from the series' CRS to EPSG:4326; CGCS2000 is relabelled, not shifted."""
    src = geoms.crs
    assert src is not None
    label = _crs_label(src)
    family = _datum_family(src)
    if family == "wgs84":
        if src.equals(CRS.from_epsg(_WGS84_EPSG), ignore_axis_order=True):
            return geoms.set_crs(_WGS84_EPSG, allow_override=True)
        report.steps.append(f"{label} → EPSG:4326 (pyproj)")
        return geoms.to_crs(_WGS84_EPSG)
    if family == "cgcs2000":
        if not src.is_geographic:
            report.steps.append(f"{label} → EPSG:4490 (inverse projection, pyproj)")
            geoms = geoms.to_crs(_CGCS2000_EPSG)
        report.steps.append("CGCS2000 taken as WGS84 (equal at metre level): relabelled EPSG:4326")
        return geoms.set_crs(_WGS84_EPSG, allow_override=True)
    transformer = Transformer.from_crs(src, _WGS84_EPSG, always_xy=True)
    report.steps.append(f"{label} → EPSG:4326 (pyproj: {transformer.description})")
    datum = src.datum.name if src.datum is not None else src.name
    if transformer.accuracy < 0 or "ballpark" in transformer.description.lower():
        report.problem(
            zh=f"坐标系 {label} 的基准面（{datum}）与 WGS84 之间没有精确的转换参数，"
            "转换后位置可能偏差数十至上百米",
            fix="请用官方七参数先转换为 CGCS2000 或 WGS84 后再导入",
            en=f"no accurate datum shift from {datum} to WGS84 is available; positions may be "
            "off by tens to hundreds of metres; convert to CGCS2000/WGS84 with official "
            "parameters first",
            severity=Severity.WARNING,
            value=label,
        )
    return geoms.to_crs(_WGS84_EPSG)


def _degrees_ok(x: NDArray[np.float64], y: NDArray[np.float64]) -> bool:
    """Return True when most values could be degrees (a few swapped rows do not count)."""
    if x.size == 0:
        return True
    return bool(((np.abs(x) <= 180) & (np.abs(y) <= 90)).mean() >= 0.5)


def to_wgs84(
    geoms: gpd.GeoSeries,
    coords: str | int | CoordsDeclaration | None = None,
    *,
    file: str = "",
    layer: str = "",
) -> CoordsResult:
    """Convert geometries to EPSG:4326 from their own CRS and/or a declaration.

    Rules:

    - The file's CRS alone: transform it (CGCS2000 is relabelled, not shifted; another
      datum gets a warning when pyproj only has a ballpark shift).
    - A declaration alone (CSV/XLSX, a shapefile without ``.prj``): use it.
    - Both: GCJ-02/BD-09/WGS84/CGCS2000 lon/lat agree with a geographic WGS84 or CGCS2000
      file CRS (web-map coordinates are stored as "WGS84"); ``wgs84``/``cgcs2000`` also
      agree with a projected CRS on those datums, whose projection is then used; an EPSG
      code agrees with the same CRS. Otherwise they disagree: the declaration is used and
      a problem is reported — a warning if the result lies in China, an error if not.
    - Neither: values that look like lon/lat in China are taken as WGS84 with a warning;
      anything else is an error asking for ``coords=`` (with a Gauss-Krüger zone guess).

    Parameters
    ----------
    geoms : geopandas.GeoSeries
        Geometries as read, with the file's CRS or none.
    coords : str, int, CoordsDeclaration, optional
        The user's declaration (see :func:`parse_coords`).
    file, layer : str
        For the problem records.

    Returns
    -------
    CoordsResult

    Raises
    ------
    CRSError
        If ``coords`` cannot be parsed.
    """
    declared = parse_coords(coords)
    report = _Report(file, layer)
    src: CRS | None = geoms.crs
    src_label = _crs_label(src)
    x, y = _centres(geoms)

    def result(out: gpd.GeoSeries) -> CoordsResult:
        return CoordsResult(
            out,
            src_label,
            None if declared is None else declared.label,
            tuple(report.steps),
            tuple(report.problems),
        )

    if declared is None:
        if src is None:
            if x.size == 0:  # nothing to place (no rows, or no coordinates at all)
                return result(geoms.set_crs(_WGS84_EPSG))
            if looks_like_lonlat_in_china(x, y):
                report.steps.append("no CRS in file; lon/lat values in China taken as WGS84")
                report.problem(
                    zh="文件没有坐标系信息，坐标值像中国境内的经纬度，已按 WGS84 处理",
                    fix='如果坐标来自高德/腾讯地图请声明 coords="gcj02"，来自百度地图请声明 '
                    'coords="bd09"；否则声明 coords="wgs84" 或 "cgcs2000" 即可消除此提示',
                    en="no CRS in the file; values look like lon/lat in China and were taken as "
                    "WGS84; declare coords= (gcj02 for Amap/Tencent, bd09 for Baidu) if not",
                    severity=Severity.WARNING,
                )
                return result(geoms.set_crs(_WGS84_EPSG))
            hint_en, hint_zh = _epsg_hint(x, y)
            report.problem(
                zh=f"文件没有坐标系信息，坐标值也不是中国境内的经纬度"
                f"（如 x={np.median(x):.1f}, y={np.median(y):.1f}）{hint_zh}",
                fix=_FIX_ZH + "，或为文件补充 .prj",
                en="no CRS in the file and the values are not lon/lat in China (median "
                f"x={np.median(x):.1f}, y={np.median(y):.1f}){hint_en}; pass coords= (an EPSG "
                "code) or add a .prj",
                severity=Severity.ERROR,
                value=f"{np.median(x):.1f}, {np.median(y):.1f}",
            )
            return result(geoms)
        if src.is_geographic and not _degrees_ok(x, y):
            hint_en, hint_zh = _epsg_hint(x, y)
            report.problem(
                zh=f"文件声明的坐标系 {src_label} 是经纬度，但坐标值不是度"
                f"（如 x={np.median(x):.1f}, y={np.median(y):.1f}）{hint_zh}",
                fix=_FIX_ZH,
                en=f"the file says {src_label} (degrees) but the values are not degrees "
                f"(median x={np.median(x):.1f}, y={np.median(y):.1f}){hint_en}; pass coords=",
                severity=Severity.ERROR,
                value=src_label,
            )
            return result(geoms.set_crs(None, allow_override=True))
        return result(_project_to_4326(geoms, report))

    # A declaration was given.
    same_datum = src is not None and _datum_family(src) != "other"
    agree = src is None or (
        (declared.kind != "epsg" and src.is_geographic and same_datum)
        or _same_crs(src, declared.crs)
    )
    if src is None:
        report.steps.append(f"no CRS in file; declared {declared.label}")
        base = geoms.set_crs(declared.crs)
    elif declared.kind in ("wgs84", "cgcs2000") and same_datum:
        # "wgs84"/"cgcs2000" name a datum; a file CRS on it (e.g. a GK zone) is more specific
        agree = True
        base = geoms
    else:
        if not agree:
            report.steps.append(f"file CRS {src_label} overridden by declared {declared.label}")
        base = geoms.set_crs(declared.crs, allow_override=True)
    out = _project_to_4326(base, report)
    if declared.kind == "gcj02":
        out = gpd.GeoSeries(transform_lonlat(out.to_numpy(), gcj02_to_wgs84), index=out.index)
        out = out.set_crs(_WGS84_EPSG)
        report.steps.append("GCJ-02 → WGS84 (iterative inverse, < 1e-9°)")
    elif declared.kind == "bd09":
        out = gpd.GeoSeries(transform_lonlat(out.to_numpy(), bd09_to_wgs84), index=out.index)
        out = out.set_crs(_WGS84_EPSG)
        report.steps.append("BD-09 → GCJ-02 → WGS84 (iterative inverse, < 1e-9°)")
    ox, oy = _centres(out)
    plausible = looks_like_lonlat_in_china(ox, oy)
    where = f"{np.median(ox):.4f}, {np.median(oy):.4f}" if ox.size else ""
    if not agree:
        assert src is not None
        report.problem(
            zh=f"文件自带的坐标系是 {src_label}，与声明的 {declared.label_zh} 不一致；已按声明转换"
            + ("" if plausible else f"，但结果不在中国境内（中心约 {where}）"),
            fix="请确认坐标来源：声明正确就可忽略此提示（可删除错误的 .prj）；否则去掉 coords= "
            "按文件自带坐标系读取，或改为正确的声明",
            en=f"the file says {src_label} but coords= declares {declared.label}; the "
            "declaration was used"
            + ("" if plausible else f", and the result lies outside China (centre {where})"),
            severity=Severity.WARNING if plausible else Severity.ERROR,
            value=f"{src_label} ≠ {declared.label}",
        )
    elif not plausible:
        hint_en, hint_zh = ("", "")
        if declared.kind != "epsg" and not _degrees_ok(x, y):
            hint_en, hint_zh = _epsg_hint(x, y)
        report.problem(
            zh=f"按声明的 {declared.label_zh} 转换后，数据不在中国境内（中心约 {where}）{hint_zh}",
            fix="请核对坐标系声明（经纬度还是投影坐标、哪个投影带）以及经纬度列是否颠倒",
            en=f"converted from the declared {declared.label}, the data lies outside China "
            f"(centre {where}){hint_en}; check coords=",
            severity=Severity.ERROR,
            value=declared.label,
        )
    return result(out)


# ------------------------------------------------------------ coordinate sanity checks

_SAMPLE_POINTS = 2000
_MARKED_RATIO = 0.5  # an alternative is "markedly" better at half the road distance ...
_MARKED_MIN_M = 50.0  # ... and at least this much nearer
_MARKED_INSIDE = 0.2  # or with this much larger a share inside the county


@dataclass(frozen=True)
class CoordsCandidate:
    """One reading of a layer's raw coordinates, with the evidence for it.

    Attributes
    ----------
    coords : str
        A declaration :func:`parse_coords` accepts (``"wgs84"``, ``"gcj02"``, ``"bd09"``,
        ``"EPSG:4544"`` ...).
    swapped : bool
        True when the reading takes x as the latitude/northing (columns or axes swapped);
        the file or the column choice must be fixed, a declaration cannot say it.
    reason, reason_zh : str
        What in the values supports the reading (English / Chinese).
    road_median_m : float or None
        Median distance (metres) from the converted features to the nearest reference road;
        None without roads.
    inside_share : float or None
        Share (0–1) of converted features inside the reference county boundary; None
        without a boundary.
    """

    coords: str
    swapped: bool
    reason: str
    reason_zh: str
    road_median_m: float | None = None
    inside_share: float | None = None

    @property
    def label_zh(self) -> str:
        """Chinese name of the reading (with 经纬度颠倒 when swapped)."""
        decl = parse_coords(self.coords)
        assert decl is not None
        return decl.label_zh + ("（x、y 颠倒）" if self.swapped else "")

    def fit_zh(self) -> str:
        """Return the fit numbers in Chinese (empty without a reference)."""
        parts = []
        if self.road_median_m is not None:
            parts.append(f"到路网距离中位数 {self.road_median_m:,.0f} 米")
        if self.inside_share is not None:
            parts.append(f"县界内 {100 * self.inside_share:.0f}%")
        return "，".join(parts)


@dataclass(frozen=True)
class CoordsCheck:
    """What a layer's raw coordinates look like, beyond what the file or user declares.

    Attributes
    ----------
    unit : {"degrees", "metres", "unknown"}
        What the values are (swapped readings included).
    candidates : tuple of CoordsCandidate
        Readings that fit the values, best first (by fit to the reference boundary and
        roads when given; otherwise in a fixed order: as declared, WGS84, GCJ-02, BD-09,
        EPSG:4544, 4545, 4507).
    declared : CoordsCandidate or None
        The declaration (or the file's CRS), evaluated the same way; None if there was none.
    findings, findings_zh : tuple of str
        Evidence, one sentence each (English / Chinese), for the user to confirm.
    problems : tuple of Problem
        Warnings when the declaration disagrees with the values or with the references
        (a markedly better reading exists). Nothing is ever converted by this check.
    """

    unit: Literal["degrees", "metres", "unknown"]
    candidates: tuple[CoordsCandidate, ...]
    declared: CoordsCandidate | None
    findings: tuple[str, ...]
    findings_zh: tuple[str, ...]
    problems: tuple[Problem, ...]

    @property
    def best(self) -> CoordsCandidate | None:
        """The best reading, or None when the values fit none."""
        return self.candidates[0] if self.candidates else None

    @property
    def needs_confirmation(self) -> bool:
        """True when the user must confirm: a warning, no declaration, or an ambiguous guess."""
        return bool(self.problems) or self.declared is None or self.best is None


def _declared_text(decl: CoordsDeclaration) -> str:
    return decl.kind if decl.kind != "epsg" else f"EPSG:{decl.epsg}"


def _fit(
    x: NDArray[np.float64],
    y: NDArray[np.float64],
    coords: str,
    *,
    boundary_m: shapely.Geometry | None,
    roads_tree: shapely.STRtree | None,
    metric: CRS | None,
) -> tuple[float | None, float | None]:
    """Median road distance (m) and share inside the boundary after reading as ``coords``."""
    if metric is None:
        return None, None
    pts = gpd.GeoSeries(shapely.points(x, y))
    out = to_wgs84(pts, coords).geometry
    if out.crs is None:
        return None, None
    with np.errstate(invalid="ignore", over="ignore"):
        geoms = out.to_crs(metric).to_numpy()
    ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    cx, cy = shapely.get_x(geoms), shapely.get_y(geoms)
    ok &= np.isfinite(cx) & np.isfinite(cy)
    road = inside = None
    if roads_tree is not None:
        if ok.any():
            _, dist = roads_tree.query_nearest(geoms[ok], return_distance=True, all_matches=False)
            d = np.full(len(geoms), np.inf)
            d[np.flatnonzero(ok)] = dist
            road = float(np.median(d))
        else:
            road = float("inf")
    if boundary_m is not None:
        hit = np.zeros(len(geoms), dtype=bool)
        hit[ok] = shapely.intersects(boundary_m, geoms[ok])
        inside = float(hit.mean())
    return road, inside


def _rank_key(c: CoordsCandidate) -> tuple[float, float]:
    inside = -round((c.inside_share or 0.0) / 0.05) if c.inside_share is not None else 0.0
    road = c.road_median_m if c.road_median_m is not None else 0.0
    return inside, road


def _markedly_better(best: CoordsCandidate, ref: CoordsCandidate) -> bool:
    if (
        best.inside_share is not None
        and ref.inside_share is not None
        and best.inside_share - ref.inside_share >= _MARKED_INSIDE
    ):
        return True
    if best.road_median_m is not None and ref.road_median_m is not None:
        return (
            best.road_median_m <= _MARKED_RATIO * ref.road_median_m
            and ref.road_median_m - best.road_median_m >= _MARKED_MIN_M
        )
    return False


def _digits(v: float) -> int:
    return len(str(int(abs(v)))) if np.isfinite(v) else 0


def check_coords(
    x: ArrayLike,
    y: ArrayLike,
    *,
    declared: str | int | CoordsDeclaration | None = None,
    boundary: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
    roads: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
    file: str = "",
    layer: str = "",
    max_points: int = _SAMPLE_POINTS,
) -> CoordsCheck:
    """Say what raw coordinates are, with evidence; flag a declaration the values contradict.

    Detects lon/lat degrees vs metres; Gauss-Krüger eastings with the zone prefix (8 digits,
    ``35 512 345``) and without (6 digits); swapped axes (x holds the latitude/northing);
    and, given reference layers, a systematic GCJ-02 or BD-09 offset: the candidate readings
    are converted and compared by the median distance to the road network and by the
    share of features inside the county boundary. A reading markedly better than the
    declared one (half the road distance and ≥ 50 m nearer, or ≥ 20 points more inside
    the county) gives a warning. Nothing is converted: the user confirms.

    Parameters
    ----------
    x, y : array_like
        Raw coordinates of feature centres, in the file's units (before any conversion).
    declared : str, int or CoordsDeclaration, optional
        The user's declaration or the file's CRS as an EPSG code.
    boundary : GeoDataFrame or GeoSeries, optional
        The county boundary (any CRS), as a reference.
    roads : GeoDataFrame or GeoSeries, optional
        The road network (any CRS), as a reference.
    file, layer : str
        For the problem records.
    max_points : int
        At most this many features are compared (a fixed random sample).

    Returns
    -------
    CoordsCheck
    """
    x, y = _as_float(x, y)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if x.size > max_points:
        pick = np.sort(np.random.default_rng(0).choice(x.size, max_points, replace=False))
        x, y = x[pick], y[pick]
    decl = parse_coords(declared)
    findings: list[str] = []
    findings_zh: list[str] = []
    raw: list[tuple[str, bool, str, str]] = []  # coords, swapped, reason, reason_zh
    unit: Literal["degrees", "metres", "unknown"] = "unknown"
    if x.size == 0:
        return CoordsCheck("unknown", (), None, ("no coordinates",), ("没有坐标",), ())
    mx, my = float(np.median(x)), float(np.median(y))
    fmt = ",.4f" if abs(mx) < 1000 else ",.0f"
    where = f"median x={mx:{fmt}}, y={my:{fmt}}"
    where_zh = f"x 中位数 {mx:{fmt}}，y 中位数 {my:{fmt}}"
    if looks_like_lonlat_in_china(x, y):
        unit = "degrees"
        en, zh = f"lon/lat degrees in China ({where})", f"数值是中国境内的经纬度（度，{where_zh}）"
        raw += [(k, False, en, zh) for k in ("wgs84", "gcj02", "bd09")]
    elif looks_like_lonlat_in_china(y, x):
        unit = "degrees"
        en = f"x holds latitudes and y longitudes ({where}): the axes are swapped"
        zh = f"x 是纬度、y 是经度（{where_zh}）：经纬度颠倒"
        raw += [(k, True, en, zh) for k in ("wgs84", "gcj02", "bd09")]
    for swapped, (a, b) in ((False, (x, y)), (True, (y, x))):
        codes = guess_projected_epsg(a, b)
        if not codes:
            continue
        unit = "metres"
        ea = float(np.median(a))
        if len(codes) == 1:
            en = (
                f"metres; the easting has {_digits(ea)} digits ({ea:,.0f}) starting with the "
                f"zone number {int(ea // 1_000_000)}: Gauss-Krüger with the zone prefix"
            )
            zh = (
                f"数值是米；东坐标 {_digits(ea)} 位（{ea:,.0f}），前两位 {int(ea // 1_000_000)} "
                "是带号：带带号的高斯-克吕格投影"
            )
        else:
            en = (
                f"metres; the easting has {_digits(ea)} digits ({ea:,.0f}): Gauss-Krüger "
                "without the zone prefix (which zone cannot be read from the values)"
            )
            zh = (
                f"数值是米；东坐标 {_digits(ea)} 位（{ea:,.0f}）：不带带号的高斯-克吕格投影"
                "（数值本身看不出是哪个带）"
            )
        if swapped:
            en, zh = en + "; x and y are swapped", zh + "；x、y 颠倒"
        raw += [(f"EPSG:{c}", swapped, en, zh) for c in codes]
    if not raw:
        findings.append(
            f"the values are neither lon/lat in China nor Gauss-Krüger metres ({where})"
        )
        findings_zh.append(f"数值既不是中国境内的经纬度，也不像高斯投影坐标（{where_zh}）")
    else:
        findings.append(raw[0][2])
        findings_zh.append(raw[0][3])

    # references, in the metric CRS of the county (or of the roads)
    metric = boundary_m = tree = None
    refs = [r for r in (boundary, roads) if r is not None and len(r) and r.crs is not None]
    if refs:
        from layers.crs import metric_crs

        metric = metric_crs(refs[0])
        if boundary is not None and len(boundary) and boundary.crs is not None:
            g = boundary.geometry if isinstance(boundary, gpd.GeoDataFrame) else boundary
            boundary_m = shapely.union_all(shapely.make_valid(g.to_crs(metric).to_numpy()))
            shapely.prepare(boundary_m)
        if roads is not None and len(roads) and roads.crs is not None:
            g = roads.geometry if isinstance(roads, gpd.GeoDataFrame) else roads
            arr = g.to_crs(metric).to_numpy()
            tree = shapely.STRtree(arr[~(shapely.is_missing(arr) | shapely.is_empty(arr))])

    def evaluate(coords: str, swapped: bool, en: str, zh: str) -> CoordsCandidate:
        a, b = (y, x) if swapped else (x, y)
        road, inside = _fit(a, b, coords, boundary_m=boundary_m, roads_tree=tree, metric=metric)
        return CoordsCandidate(coords, swapped, en, zh, road, inside)

    cands = [evaluate(*r) for r in raw]

    def as_declared(c: CoordsCandidate) -> bool:
        """Return True when ``c`` reads the values as declared (CGCS2000 = WGS84)."""
        if decl is None or c.swapped:
            return False
        k = parse_coords(c.coords)
        assert k is not None
        if decl.kind in ("wgs84", "cgcs2000"):
            return k.kind == "wgs84"
        return k.kind == decl.kind and k.epsg == decl.epsg

    declared_c: CoordsCandidate | None = None
    fits = False
    if decl is not None:
        text = _declared_text(decl)
        same = [c for c in cands if as_declared(c)]
        fits = bool(same)
        if same:
            declared_c = dataclasses_replace(same[0], coords=text)
        else:
            declared_c = CoordsCandidate(
                text, False, "the declaration does not fit the values", "声明与数值不符"
            )
    if metric is not None:
        cands.sort(key=_rank_key)
    elif declared_c is not None:  # without references the declaration stays first
        cands.sort(key=lambda c: not as_declared(c))
    problems: list[Problem] = []

    def warn(zh: str, en: str, kind: ProblemKind = ProblemKind.CRS_MISSING) -> None:
        findings.append(en)
        findings_zh.append(zh)
        problems.append(
            Problem(
                kind=kind,
                file=file,
                layer=layer,
                row=None,
                feature_id=None,
                field=None,
                message_zh=zh,
                fix_zh="请核对数据说明或坐标来源后确认坐标系声明；GapMap 不会自动改变坐标",
                message=en + "; check the data description and confirm the declaration "
                "(GapMap never converts silently)",
                severity=Severity.WARNING,
                value=None if declared_c is None else declared_c.coords,
            )
        )

    best = cands[0] if cands else None
    if best is not None and best.swapped:
        warn(
            f"坐标 x、y 颠倒：{best.reason_zh}",
            f"x and y are swapped: {best.reason}",
            ProblemKind.SWAPPED_LONLAT,
        )
    if decl is not None and declared_c is not None and best is not None:
        if not fits:
            unit_zh = "经纬度" if decl.crs.is_geographic else "投影坐标（米）"
            warn(
                f"声明的 {decl.label_zh} 是{unit_zh}，但数值不符：{best.reason_zh}",
                f"the declared {decl.label} does not fit the values: {best.reason}",
            )
        elif not as_declared(best) and _markedly_better(best, declared_c):
            warn(
                f"按 {best.label_zh} 读取明显更吻合：{best.fit_zh()}；"
                f"按声明的 {decl.label_zh}：{declared_c.fit_zh()}",
                f"reading as {best.coords} fits markedly better ({_fit_en(best)}) than the "
                f"declared {declared_c.coords} ({_fit_en(declared_c)})",
            )
    elif decl is None and best is not None and metric is None and len(cands) > 1:
        findings.append("no reference layer: the candidates cannot be told apart by fit")
        findings_zh.append(
            "没有参照图层（县界、道路），无法比较各候选坐标系的吻合程度，请按数据说明确认"
        )
    return CoordsCheck(
        unit, tuple(cands), declared_c, tuple(findings), tuple(findings_zh), tuple(problems)
    )


def _fit_en(c: CoordsCandidate) -> str:
    parts = []
    if c.road_median_m is not None:
        parts.append(f"median distance to roads {c.road_median_m:,.0f} m")
    if c.inside_share is not None:
        parts.append(f"{100 * c.inside_share:.0f}% inside the county")
    return ", ".join(parts) or "no reference"


def check_layer_coords(
    geoms: gpd.GeoSeries,
    *,
    declared: str | int | CoordsDeclaration | None = None,
    boundary: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
    roads: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
    file: str = "",
    layer: str = "",
) -> CoordsCheck:
    """:func:`check_coords` on a layer's geometries as read (feature-extent centres).

    ``declared`` defaults to the series' own CRS (its EPSG code), so a file whose CRS
    contradicts its values is flagged too.
    """
    if declared is None and geoms.crs is not None:
        code = geoms.crs.to_epsg(min_confidence=70)
        declared = code if code else None
    x, y = _centres(geoms)
    return check_coords(
        x, y, declared=declared, boundary=boundary, roads=roads, file=file, layer=layer
    )
