"""Terrain engine: analytic slopes, gdaldem, Tobler, cost-distance by hand and its flat bound."""

import math
import shutil
import subprocess
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from affine import Affine
from pyproj import CRS

from geo.terrain import (
    OCTILE_MAX_RATIO,
    Grid,
    hillshade,
    isochrone,
    least_cost_path,
    population_grid,
    read_dem,
    slope_aspect,
    slope_to_cog,
    tobler_kmh,
    travel_minutes,
    walking_friction,
    write_cog,
    zonal_population,
)
from layers.errors import LayerError

DEM = Path(__file__).resolve().parents[1] / "data" / "demo" / "tongxin_dem.tif"
CRS_GK = CRS.from_epsg(4544)
X0, Y0 = 560_000.0, 4_100_000.0


def _grid(z: np.ndarray, res: float = 30.0) -> Grid:
    return Grid(
        data=np.asarray(z, dtype=float), transform=Affine(res, 0, X0, 0, -res, Y0), crs=CRS_GK
    )


def _xy(shape, res):
    rows, cols = np.indices(shape)
    x = (cols + 0.5) * res  # east
    y = -(rows + 0.5) * res  # north (rows run south)
    return x, y


def test_tobler_reference_values():
    assert tobler_kmh(-0.05) == pytest.approx(6.0)
    assert tobler_kmh(0.0) == pytest.approx(5.04, abs=0.005)
    assert tobler_kmh(0.15) == pytest.approx(3.0, abs=0.03)
    # uphill is slower than the same grade downhill, and both slower than −5 %
    assert tobler_kmh(0.1) < tobler_kmh(-0.1) < 6.0


@pytest.mark.parametrize(("gx", "gy"), [(0.1, 0.05), (-0.3, 0.0), (0.0, 0.7), (0.02, -0.02)])
def test_slope_and_aspect_of_a_plane(gx, gy):
    res = 30.0
    x, y = _xy((40, 50), res)
    z = 1500.0 + gx * x + gy * y  # gx: rise per metre east, gy: rise per metre north
    deg, pct, aspect = slope_aspect(_grid(z, res))
    inner = np.s_[1:-1, 1:-1]
    grade = math.hypot(gx, gy)
    assert np.allclose(deg[inner], math.degrees(math.atan(grade)), atol=0.1)
    assert np.allclose(pct[inner], 100 * grade, atol=1e-6)
    # a slope faces downhill: azimuth of −∇z, clockwise from north
    facing = math.degrees(math.atan2(-gx, -gy)) % 360
    assert np.allclose(aspect[inner], facing, atol=0.1)
    assert np.isnan(deg[0]).all() and np.isnan(deg[:, -1]).all()  # edges, as gdaldem


def test_slope_and_aspect_of_a_cone():
    res, k = 10.0, 0.35  # a cone falling 35 m per 100 m from its apex
    x, y = _xy((121, 121), res)
    cx, cy = x[60, 60], y[60, 60]
    r = np.hypot(x - cx, y - cy)
    z = 2000.0 - k * r
    deg, _, aspect = slope_aspect(_grid(z, res))
    away = r > 10 * res  # Horn's window straddles the apex's kink nearer than that
    away[[0, -1], :] = away[:, [0, -1]] = False
    assert np.abs(deg[away] - math.degrees(math.atan(k))).max() < 0.1
    outward = np.degrees(np.arctan2(x - cx, y - cy)) % 360
    diff = (aspect[away] - outward[away] + 180) % 360 - 180
    assert np.abs(diff).max() < 0.1


def test_flat_cells_have_no_aspect_and_nodata_spreads_like_gdaldem():
    z = np.full((6, 6), 100.0)
    z[3, 3] = np.nan
    deg, _, aspect = slope_aspect(_grid(z))
    assert np.isnan(aspect[1:-1, 1:-1]).all()
    assert deg[1, 1] == 0.0
    assert np.isnan(deg[2:5, 2:5]).all()  # every window that touches the hole


def test_hillshade_faces_the_sun():
    res = 30.0
    x, y = _xy((20, 20), res)
    # a plane facing north-west (the sun's default azimuth 315°) at 45° slope: lit fully
    g = 1.0 / math.sqrt(2)
    z = g * x - g * y  # rises to the east and to the south: faces north-west
    shade = hillshade(_grid(z, res), azimuth_deg=315, altitude_deg=45)
    assert shade[5, 5] == 255
    shade_se = hillshade(_grid(-z, res), azimuth_deg=315, altitude_deg=45)
    assert shade_se[5, 5] == 1  # the opposite face is in shadow (1: gdaldem's 0 is nodata)


@pytest.fixture(scope="module")
def demo_dem():
    return read_dem(DEM, resolution_m=500.0)


def test_read_dem_reprojects_to_the_local_gauss_kruger_zone(demo_dem):
    assert demo_dem.crs.to_epsg() == 4544  # CGCS2000 3° zone, CM 105°E
    assert demo_dem.res_m == 500.0
    z = demo_dem.data[np.isfinite(demo_dem.data)]
    with rasterio.open(DEM) as src:
        raw = src.read(1, masked=True)
    # bilinear resampling stays within the source's range
    assert raw.min() - 1e-3 <= z.min() and z.max() <= raw.max() + 1e-3
    assert np.isnan(demo_dem.data).any()  # beyond the rotated source footprint: nodata


def test_windowed_read_equals_the_same_cells_of_the_full_read(demo_dem):
    minx, miny, _, _ = demo_dem.bounds
    sub = (minx + 20_000, miny + 30_000, minx + 45_000, miny + 50_000)
    part = read_dem(DEM, crs=demo_dem.crs, resolution_m=500.0, bounds=sub)
    c0 = round((part.transform.c - demo_dem.transform.c) / 500.0)
    r0 = round((demo_dem.transform.f - part.transform.f) / 500.0)
    rows, cols = part.shape
    np.testing.assert_allclose(
        part.data, demo_dem.data[r0 : r0 + rows, c0 : c0 + cols], rtol=0, atol=1e-3
    )


def test_read_dem_refuses_a_file_that_is_not_a_dem(tmp_path):
    bad = tmp_path / "villages.tif"
    bad.write_bytes(b"not a raster")
    with pytest.raises(LayerError) as err:
        read_dem(bad)
    assert "高程" in err.value.zh


GDALDEM = shutil.which("gdaldem")


@pytest.mark.skipif(GDALDEM is None, reason="gdaldem (Debian gdal-bin) is not installed")
def test_slope_and_aspect_match_gdaldem_on_the_demo_dem(tmp_path):
    dem = read_dem(DEM, resolution_m=100.0)
    src = write_cog(dem, tmp_path / "dem.tif")
    for what in ("slope", "aspect"):
        subprocess.run([GDALDEM, what, str(src), str(tmp_path / f"{what}.tif"), "-q"], check=True)
    with rasterio.open(tmp_path / "slope.tif") as f:
        g_slope = f.read(1, masked=True).filled(np.nan)
    with rasterio.open(tmp_path / "aspect.tif") as f:
        g_aspect = f.read(1, masked=True).filled(np.nan)
    deg, _, aspect = slope_aspect(dem)
    both = np.isfinite(deg) & np.isfinite(g_slope)
    assert both.sum() > 0.9 * np.isfinite(deg).sum() > 100_000
    assert np.abs(deg[both] - g_slope[both]).max() < 1e-3
    # aspect: the same direction wherever it is defined by more than rounding; on nearly
    # flat cells (< 1°) gdaldem's single-precision gradient turns it by up to tens of degrees
    a_both = np.isfinite(aspect) & np.isfinite(g_aspect) & (deg > 1.0)
    assert a_both.sum() > 0.4 * both.sum()
    diff = (aspect[a_both] - g_aspect[a_both] + 180) % 360 - 180
    assert np.abs(diff).max() < 1e-2
    # gdaldem and we agree on where there is no answer (edges, nodata, flat aspect)
    assert (np.isfinite(deg) == np.isfinite(g_slope)).mean() > 0.999


def test_tiled_slope_equals_the_whole_array_and_is_a_cog(tmp_path, demo_dem):
    src = write_cog(demo_dem, tmp_path / "dem.tif")
    out = slope_to_cog(src, tmp_path / "slope.tif", tile=37)  # odd tiles: halos at every seam
    deg, _, _ = slope_aspect(demo_dem)
    with rasterio.open(out) as f:
        tiled = f.read(1, masked=True).filled(np.nan)
        assert f.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        assert f.profile["compress"].lower() == "deflate" and f.profile["tiled"]
    np.testing.assert_allclose(tiled, deg.astype(np.float32), rtol=0, atol=1e-4, equal_nan=True)
    assert not list(tmp_path.glob(".slope.*"))  # no temporary file left behind


def test_cost_distance_on_a_tiny_grid_by_hand():
    # minutes per metre; 10 m cells; a wall of inf with one gap at the bottom
    f = np.array(
        [
            [1.0, np.inf, 1.0],
            [1.0, np.inf, 1.0],
            [1.0, 3.0, 1.0],
        ]
    )
    t = travel_minutes(_grid(f, 10.0), [(0, 0)]).data
    assert t[0, 0] == 0.0
    assert t[1, 0] == pytest.approx(10.0)  # 10 m × (1 + 1) / 2
    assert t[2, 0] == pytest.approx(20.0)
    # diagonal (1,0) → (2,1): 10·√2 × (1 + 3) / 2; then (2,1) → (1,2): 10·√2 × (3 + 1) / 2
    assert t[2, 1] == pytest.approx(min(20 + 20, 10 + 20 * math.sqrt(2)))
    assert t[1, 2] == pytest.approx(t[2, 1] + 20 * math.sqrt(2))
    assert np.isinf(t[0, 1]) and np.isinf(t[1, 1])


@pytest.mark.parametrize("res", [10.0, 30.0])
def test_flat_cost_distance_is_distance_over_speed_within_the_octile_bound(res):
    speed_kmh = 4.5
    f = np.full((81, 81), 60.0 / (speed_kmh * 1000))  # minutes per metre
    t = travel_minutes(_grid(f, res), [(40, 40)]).data
    rows, cols = np.indices(f.shape)
    straight = np.hypot(rows - 40, cols - 40) * res / (speed_kmh * 1000 / 60)
    off = straight > 0
    ratio = t[off] / straight[off]
    assert ratio.min() >= 1 - 1e-9
    assert ratio.max() <= OCTILE_MAX_RATIO + 1e-9
    axis = (rows == 40) | (cols == 40) | (np.abs(rows - 40) == np.abs(cols - 40))
    np.testing.assert_allclose(t[axis & off], straight[axis & off], rtol=1e-9)
    assert ratio.max() > 1.07  # the bound is attained near 22.5°, so it is tight


def test_walking_friction_on_and_off_road_and_barriers():
    flat = _grid(np.full((30, 30), 1800.0), 30.0)
    road = gpd.GeoSeries(
        [shapely.LineString([(X0, Y0 - 15 * 30 - 15), (X0 + 900, Y0 - 15 * 30 - 15)])],
        crs=CRS_GK,
    )
    lake = gpd.GeoSeries([shapely.box(X0 + 300, Y0 - 300, X0 + 600, Y0 - 150)], crs=CRS_GK)
    f = walking_friction(
        flat,
        flat_kmh=4.5,
        roads=gpd.GeoDataFrame(geometry=road),
        barriers=gpd.GeoDataFrame(geometry=lake),
    ).data
    on_road = 60.0 / 4500.0
    assert f[15, 10] == pytest.approx(on_road)
    assert f[3, 2] == pytest.approx(on_road / 0.6)
    assert np.isinf(f[7, 15])
    # on a 15 % slope, off road: the mean of Tobler's uphill and downhill paces, rescaled
    x, _ = _xy((30, 30), 30.0)
    hill = walking_friction(_grid(1800.0 + 0.15 * x, 30.0), flat_kmh=4.5).data
    pace = 0.5 * (1 / tobler_kmh(0.15) + 1 / tobler_kmh(-0.15)) * (tobler_kmh(0) / 4.5)
    assert hill[10, 10] == pytest.approx(pace * 60 / 1000 / 0.6)


def test_least_cost_path_goes_through_the_gap():
    cost = np.ones((9, 9))
    cost[:, 4] = np.inf
    cost[8, 4] = 1.0  # the only way across
    g = _grid(cost, 10.0)
    start = shapely.Point(X0 + 5, Y0 - 5)  # cell (0, 0)
    target = np.zeros((9, 9), dtype=bool)
    target[0, 8] = True
    line, c = least_cost_path(g, start, target)
    assert line is not None
    cells = [(round((Y0 - y - 5) / 10), round((x - X0 - 5) / 10)) for x, y in line.coords]
    assert cells[0] == (0, 0) and cells[-1] == (0, 8)
    assert (8, 4) in cells
    # (0,0) → (8,4): 8 rows and 4 columns = 4 diagonal + 4 straight steps; the same again
    # from (8,4) up to (0,8): 2 · (4·10·√2 + 4·10)
    assert c == pytest.approx(80 + 80 * math.sqrt(2))
    assert line.length == pytest.approx(c)  # unit cost: the cost is the length


def test_population_beyond_the_limit_per_zone():
    like = _grid(np.zeros((10, 10)), 100.0)
    pts = gpd.GeoSeries(
        [shapely.Point(X0 + 50, Y0 - 50), shapely.Point(X0 + 950, Y0 - 50),
         shapely.Point(X0 + 960, Y0 - 60), shapely.Point(X0 + 50, Y0 - 950)],
        crs=CRS_GK,
    )  # fmt: skip
    pop = population_grid(pts, np.array([100.0, 30.0, 20.0, 7.0]), like)
    assert pop.data.sum() == 157.0 and pop.data[0, 9] == 50.0  # two villages in one cell
    minutes = np.full((10, 10), 5.0)
    minutes[0, 9] = 40.0
    minutes[9, 0] = np.inf  # unreachable
    zones = gpd.GeoDataFrame(
        {"code": ["W", "E"]},
        geometry=[
            shapely.box(X0, Y0 - 1000, X0 + 500, Y0),
            shapely.box(X0 + 500, Y0 - 1000, X0 + 1000, Y0),
        ],
        crs=CRS_GK,
    )
    out = zonal_population(pop, like.like(minutes), zones, limit_min=30).set_index("code")
    assert out.loc["W", "population"] == 107 and out.loc["W", "beyond"] == 7
    assert out.loc["E", "population"] == 50 and out.loc["E", "beyond"] == 50
    assert out.loc["W", "mean_minutes"] == pytest.approx(5.0)
    assert out.loc["E", "beyond_pct"] == 100.0


def test_population_raster_counts_are_kept_on_the_analysis_grid(tmp_path):
    from geo.terrain import read_population

    # 1 km cells in the local GK zone, 12 people each, written in EPSG:4326 (as WorldPop is)
    path = tmp_path / "pop.tif"
    lon0, lat0, step = 105.90, 36.95, 0.01
    counts = np.full((20, 30), 12.0)
    counts[5, 5] = -1.0  # nodata
    with rasterio.open(
        path, "w", driver="GTiff", width=30, height=20, count=1, dtype="float64",
        crs="EPSG:4326", transform=Affine(step, 0, lon0, 0, -step, lat0), nodata=-1.0,
    ) as dst:  # fmt: skip
        dst.write(counts, 1)
    like = read_dem(DEM, resolution_m=250.0)
    pop = read_population(path, like)
    assert pop.data.sum() == pytest.approx(12.0 * (20 * 30 - 1), rel=1e-6)
    assert pop.data.min() >= 0


def test_isochrone_of_a_flat_surface_is_a_disc_of_the_walking_radius():
    speed_kmh, res = 4.5, 20.0
    f = np.full((201, 201), 60.0 / (speed_kmh * 1000))
    grid = _grid(f, res)
    t = travel_minutes(grid, [(100, 100)])
    poly = isochrone(t, limit_min=10.0).to_crs(CRS_GK).iloc[0]
    radius = 10 / 60 * speed_kmh * 1000  # 750 m
    # the octile metric gives an octagon between the disc of radius r / 1.0824 and r
    assert math.pi * (radius / OCTILE_MAX_RATIO) ** 2 < poly.area < math.pi * radius**2 * 1.02
    centre = shapely.Point(X0 + 100.5 * res, Y0 - 100.5 * res)
    assert poly.contains(centre)
    assert isochrone(t, limit_min=0.01).iloc[0].area > 0  # the source cell itself
    assert isochrone(grid.like(np.full(grid.shape, np.inf)), limit_min=5).empty
