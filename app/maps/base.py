"""Map scaffolding shared by every GapMap map: basemaps, controls, legend, GeoJSON layers.

Every map has a Chinese legend, a layer control, a scale bar, a 定位 (locate) button for site
inspections, a full-screen button, and fits the area it shows. Basemaps: 地形晕渲 (a shaded
relief of the dataset's own DEM, :mod:`app.maps.relief`; the default: no network needed),
本地瓦片 (the user's own tile cache, unpacked to ``app/static/tiles`` by
:mod:`layers.tiles`), 无底图 (no tiles: the county and township outlines only), 天地图 (needs
a key: ``TIANDITU_KEY`` env var or the app setting) and OpenStreetMap. A remote basemap
whose tiles all fail (no network) gives way to the relief (or 无底图) by itself.

A 天地图 key travels to the browser inside every tile URL. In server mode
(``GAPMAP_MODE=server``) the server's ``TIANDITU_KEY`` is therefore never used: each user
enters their own key, kept in their session only (:func:`env_tianditu_key`).
"""

from __future__ import annotations

import dataclasses
import html
import json
import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import folium
import folium.plugins
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.element import MacroElement, Template

from app.maps.assets import STATIC_ROOT, use_local_assets
from app.maps.nearby import ProblemsNearMe

logger = logging.getLogger(__name__)

if TYPE_CHECKING:  # app.maps.relief draws through app.maps.terrain, which imports this module
    from app.maps.relief import Relief
    from layers.tiles import TileSet

__all__ = [
    "BASEMAPS",
    "CONTROL_TITLES_ZH",
    "LABEL_FONT",
    "MET_PANE",
    "OTHER_PANE",
    "PANES",
    "PROBLEM_PANE",
    "LabelSet",
    "LegendItem",
    "MapOptions",
    "add_labels",
    "add_legend",
    "add_panes",
    "base_map",
    "cross_layer",
    "env_tianditu_key",
    "finish_map",
    "geojson_layer",
    "label_rows",
    "legend_items",
    "map_labels",
    "point_layer",
    "popup_table",
    "safe_tooltip",
]

# ---- basemaps (tile layers and the relief image) ------------------------------------------
BASEMAPS = {
    "relief": "地形晕渲（离线可用）",
    "tiles": "本地瓦片（离线可用）",
    "plain": "无底图",
    "tianditu": "天地图",
    "osm": "OpenStreetMap",
}
"""Basemap choices (key → sidebar label); 地形晕渲 is the default."""
OFFLINE_BASEMAPS = ("relief", "tiles", "plain")
"""Basemaps that need no network."""

_BLANK_TILE = "data:image/gif;base64,R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw=="
_TDT = (
    "https://t{{s}}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
    "&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={{z}}&TILEROW={{y}}"
    "&TILECOL={{x}}&tk={key}"
)


@dataclass(frozen=True)
class MapOptions:
    """How maps are drawn (from the app's sidebar).

    Attributes
    ----------
    basemap : {"relief", "tiles", "plain", "tianditu", "osm"}
        The basemap shown first (:data:`BASEMAPS`); the others stay in the layer control.
        One that is not available (no DEM, no tile cache, no key, offline) gives way to
        地形晕渲, else 无底图.
    tianditu_key : str
        天地图 key; empty means read ``TIANDITU_KEY`` from the environment (local mode
        only: in server mode the environment's key is never sent to a browser).
    offline : bool
        For a self-contained file: no remote tiles, no key, the relief as a data: URI.
    relief : Relief, optional
        The dataset's 地形晕渲 (:func:`app.maps.relief.relief_image`); None without a DEM.
    tiles : tuple of TileSet
        The user's own tile caches, unpacked under ``app/static/tiles`` (not offline).
    simplify_m : float
        Polygon simplification tolerance for display, metres.
    height_px : int
        Map height in the app.
    """

    basemap: str = "relief"
    tianditu_key: str = ""
    offline: bool = False
    relief: Relief | None = None
    tiles: tuple[TileSet, ...] = ()
    simplify_m: float = 50.0
    height_px: int = 560

    def for_file(self) -> MapOptions:
        """These options for a self-contained file: offline (the relief inside), no key."""
        return dataclasses.replace(self, offline=True, tianditu_key="", tiles=())

    @property
    def key(self) -> str:
        """The 天地图 key in use (the user's, then the local environment's; none offline)."""
        if self.offline:
            return ""
        return self.tianditu_key or env_tianditu_key()


def value_text(value: float, unit: str) -> str:
    """An indicator value as shown: ``96.1%``, ``5 个``, ``无数据`` (NaN / NA)."""
    if pd.isna(value):
        return "无数据"
    if unit == "%":
        return f"{value:.1f}%"
    return f"{value:g} {unit}".strip()


def env_tianditu_key() -> str:
    """The ``TIANDITU_KEY`` of the environment, in local mode; ``""`` in server mode.

    In server mode (``GAPMAP_MODE=server``) a page would hand the server's key to every
    visitor (it is part of each tile URL), so there each user gives their own.
    """
    if os.environ.get("GAPMAP_MODE", "").strip().lower() == "server":
        return ""
    return os.environ.get("TIANDITU_KEY", "")


@dataclass(frozen=True)
class LegendItem:
    """One legend row: a colour swatch and a Chinese label.

    ``shape`` is ``"circle"``, ``"line"``, ``"square"`` or ``"circle+line"`` (one meaning
    drawn both as points and as lines: one row, so one colour means one thing).
    """

    color: str
    label: str
    shape: str = "circle"


def base_map(bounds: Sequence[float], options: MapOptions) -> folium.Map:
    """Return an empty map fitted to ``bounds`` (minx, miny, maxx, maxy in EPSG:4326).

    Parameters
    ----------
    bounds : sequence of float
        Area to show.
    options : MapOptions
        Basemap choice and key.

    Returns
    -------
    folium.Map
    """
    use_local_assets()
    minx, miny, maxx, maxy = (float(v) for v in bounds)
    m = folium.Map(
        location=[(miny + maxy) / 2, (minx + maxx) / 2],
        zoom_start=9,
        tiles=None,
        control_scale=False,  # a metric-only scale bar is added by finish_map
        prefer_canvas=False,
        max_zoom=18,
        zoom_snap=0.25,  # fit the county snugly on a tablet, not at the next whole zoom
        zoom_delta=0.5,
    )
    m.options["maxZoom"] = 18  # MarkerCluster needs it when tiles=None
    _add_basemaps(m, options, bounds=(minx, miny, maxx, maxy))
    m.fit_bounds([[miny, minx], [maxy, maxx]])
    add_panes(m)  # drawing order: met below, problems on top, labels above (see below)
    return m


RELIEF_CROP_MARGIN = 1.0
"""An offline file keeps the relief around the map's area and this much again on each side."""


def _static_tiles_url(tileset: TileSet) -> str:
    rel = tileset.folder.resolve().relative_to(_STATIC_DIR.resolve()).as_posix()
    return f"{STATIC_ROOT}/{rel}/{{z}}/{{x}}/{{y}}.{tileset.ext}"


_STATIC_DIR = Path(__file__).resolve().parents[1] / "static"


def _relief_layer(
    options: MapOptions, bounds: tuple[float, float, float, float], show: bool
) -> folium.raster_layers.ImageOverlay | None:
    relief = options.relief
    if relief is None:
        return None
    if options.offline:  # a file on a tablet: the relief inside it, cropped to the area shown
        relief = relief.cropped(bounds, margin=RELIEF_CROP_MARGIN) or relief
        url = relief.data_uri()
    else:  # the app: a static file the browser caches
        try:
            relief.publish()
            url = relief.url
        except OSError as exc:  # a read-only app folder: inside the page, every run
            logger.warning("relief basemap sent inline (cannot write it under static): %s", exc)
            url = relief.data_uri()
    layer = folium.raster_layers.ImageOverlay(
        image=_BLANK_TILE,
        bounds=[list(relief.bounds[0]), list(relief.bounds[1])],
        name=BASEMAPS["relief"],
        overlay=False,  # a base layer (a radio button in the layer control)
        show=show,
        pixelated=False,
        interactive=False,
        pane="tilePane",  # under every vector layer
        className="gapmap-relief",
        attribution="地形晕渲：本县 DEM",
    )
    layer.url = url  # set after: folium would read a root-relative URL as a file name
    return layer


def _add_basemaps(
    m: folium.Map, options: MapOptions, *, bounds: tuple[float, float, float, float]
) -> None:
    """Add the basemaps of ``options`` to ``m``; the chosen (or first available) one shown."""
    specs: dict[str, list[dict[str, object]]] = {}
    if options.relief is not None:
        specs["relief"] = []  # an image overlay, see _relief_layer
    if options.tiles and not options.offline:
        specs["tiles"] = [
            {
                "tiles": _static_tiles_url(t),
                "attr": t.attribution or f"本地瓦片：{t.name}",
                "name": f"本地瓦片：{t.name}",
                "min_zoom": 0,
                "max_native_zoom": t.max_zoom,
            }
            for t in options.tiles
        ]
    specs["plain"] = [{"tiles": _BLANK_TILE, "attr": "GapMap（无底图）"}]
    if options.key:
        specs["tianditu"] = [
            {
                "tiles": _TDT.format(layer="vec", key=options.key),
                "attr": "© 天地图 GS(2024)0568号",
                "subdomains": "01234567",
            }
        ]
    if not options.offline:  # exported files carry no remote tiles and no key
        specs["osm"] = [{"tiles": "OpenStreetMap", "attr": "© OpenStreetMap"}]
    first = options.basemap if options.basemap in specs else next(iter(specs))
    for name in [first, *[n for n in specs if n != first]]:
        if name == "relief":
            layer = _relief_layer(options, bounds, show=name == first)
            if layer is not None:
                layer.add_to(m)
            continue
        for i, spec in enumerate(specs[name]):
            # Leaflet draws every base layer added with show=True: only the first is shown.
            kwargs = {"name": BASEMAPS[name], **spec}
            folium.TileLayer(**kwargs, max_zoom=18, show=name == first and i == 0).add_to(m)
    if "tianditu" in specs:
        folium.TileLayer(
            tiles=_TDT.format(layer="cva", key=options.key),
            attr="© 天地图",
            name="天地图注记",
            subdomains="01234567",
            overlay=True,
            show=first == "tianditu",
            max_zoom=18,
        ).add_to(m)
    if first in ("tianditu", "osm"):
        m.add_child(_OfflineFallback(m))


class _OfflineFallback(MacroElement):
    """When the shown remote basemap loads no tile at all (no network), show the relief.

    Leaflet fires ``tileerror`` for each tile that fails; after the first few errors with no
    tile loaded, the remote layer is removed and the first offline base layer added (the
    layer control follows: it listens to the map's layer events).
    """

    _template = Template(
        """{% macro script(this, kwargs) %}
(function () {
    var map = {{ this._parent.get_name() }}, errors = 0, loaded = 0;
    var remote = [], offline = null;
    map.eachLayer(function (l) {
        if (l instanceof L.TileLayer && /^https?:/.test(l._url || "")) { remote.push(l); }
    });
    function offlineLayer() {
        var found = null;
        {% for name in this.offline_names %}
        if (!found && typeof {{ name }} !== "undefined") { found = {{ name }}; }
        {% endfor %}
        return found;
    }
    remote.forEach(function (l) {
        l.on("tileload", function () { loaded += 1; });
        l.on("tileerror", function () {
            errors += 1;
            if (loaded === 0 && errors === 4) {
                var off = offlineLayer();
                remote.forEach(function (r) { if (map.hasLayer(r)) { map.removeLayer(r); } });
                if (off && !map.hasLayer(off)) { off.addTo(map); }
            }
        });
    });
})();
{% endmacro %}"""
    )

    def __init__(self, m: folium.Map) -> None:
        super().__init__()
        self._name = "OfflineFallback"
        layers = [c for c in m._children.values() if isinstance(c, folium.map.Layer)]
        # the relief first, then the local tiles and 无底图 (in the order they were added)
        self.offline_names = [
            c.get_name()
            for c in sorted(
                (c for c in layers if not c.overlay),
                key=lambda c: not isinstance(c, folium.raster_layers.ImageOverlay),
            )
            if isinstance(c, folium.raster_layers.ImageOverlay)
            or not str(getattr(c, "tiles", "")).startswith(("http:", "https:"))
        ]


# ---- controls and legend ------------------------------------------------------------------


def finish_map(m: folium.Map, legend: Iterable[LegendItem], *, title: str = "") -> folium.Map:
    """Add the controls every map has: legend, layers, locate (with 附近的问题), full screen."""
    m.add_child(_MetricScale())
    add_legend(m, legend, title=title)
    folium.plugins.LocateControl(
        position="topleft",
        strings={"title": "定位：显示我的位置", "popup": "您在这里（精度 {distance} 米）"},
        flyTo=True,
        keepCurrentZoomLevel=False,
        locateOptions={"enableHighAccuracy": True, "maxZoom": 15},
    ).add_to(m)
    folium.plugins.Fullscreen(
        position="topleft", title="全屏", title_cancel="退出全屏", force_separate_button=True
    ).add_to(m)
    folium.LayerControl(collapsed=True, position="topright").add_to(m)
    m.add_child(_ChineseControls())
    m.add_child(ProblemsNearMe(problem_pane=PROBLEM_PANE))  # 附近的问题, after 定位
    return m


_LEGEND_CSS = """
.leaflet-container{background:#f2efe9}
.gapmap-legend{background:rgba(255,255,255,.94);padding:8px 10px;border-radius:6px;
 box-shadow:0 1px 4px rgba(0,0,0,.35);font:14px/1.45 'Noto Sans CJK SC','Noto Sans SC',
 'Source Han Sans SC','Microsoft YaHei','PingFang SC','WenQuanYi Micro Hei',sans-serif;
 color:#222;max-height:75vh;overflow:auto}
.gapmap-legend .t{font-weight:600;margin-bottom:4px;cursor:pointer}
.gapmap-legend details:not([open]) .t{margin-bottom:0}
.gapmap-legend .r{display:flex;align-items:center;gap:6px;white-space:nowrap}
.gapmap-legend .c{display:inline-block;width:12px;height:12px;border-radius:50%;
 border:1px solid #333}
.gapmap-legend .l{display:inline-block;width:22px;height:0;border-top-width:4px;
 border-top-style:solid}
.gapmap-legend .s{display:inline-block;width:16px;height:12px;opacity:.7;border:1px solid #555}
@media print{.leaflet-control-zoom,.leaflet-control-locate,.leaflet-control-layers,
 .leaflet-control-zoom-fullscreen{display:none}}
"""


LEGEND_CLOSED_UP_TO_PX = 1024
"""On a screen this wide or narrower (a tablet, a phone) a map's legend starts closed."""


class _Legend(MacroElement):
    """A Leaflet control (bottom left) with the legend; it stays visible in full screen."""

    _template = Template(
        """
{% macro header(this, kwargs) %}<style>{{ this.css }}</style>{% endmacro %}
{% macro script(this, kwargs) %}
var {{ this.get_name() }} = L.control({position: "bottomleft"});
{{ this.get_name() }}.onAdd = function () {
    var div = L.DomUtil.create("div", "gapmap-legend");
    div.innerHTML = {{ this.body | tojson }};
    // open on a large screen; closed (its title only, a tap opens it) on a tablet or phone,
    // where it would cover the map; always open on paper
    var box = div.querySelector("details"), width = window.innerWidth;
    try { width = window.top.innerWidth; } catch (e) {}
    box.open = width > {{ this.small_screen_px }};
    window.addEventListener("beforeprint", function () { box.open = true; });
    L.DomEvent.disableClickPropagation(div);
    L.DomEvent.disableScrollPropagation(div);
    return div;
};
{{ this.get_name() }}.addTo({{ this._parent.get_name() }});
{% endmacro %}
"""
    )

    def __init__(self, items: list[LegendItem], title: str) -> None:
        super().__init__()
        self._name = "Legend"
        self.items = tuple(items)
        self.css = _LEGEND_CSS
        self.small_screen_px = LEGEND_CLOSED_UP_TO_PX
        rows = [f"<summary class='t'>{html.escape(title or '图例')}</summary>"]
        for item in items:
            color = html.escape(item.color)
            if item.shape == "circle+line":  # one meaning drawn as points and as lines
                swatch = (
                    f"<span class='c' style='background:{color}'></span>"
                    f"<span class='l' style='border-top-color:{color}'></span>"
                )
            elif item.shape == "line":
                swatch = f"<span class='l' style='border-top-color:{color}'></span>"
            elif item.shape == "square":
                swatch = f"<span class='s' style='background:{color}'></span>"
            else:
                swatch = f"<span class='c' style='background:{color}'></span>"
            rows.append(f"<div class='r'>{swatch}<span>{html.escape(item.label)}</span></div>")
        self.body = f"<details open>{''.join(rows)}</details>"


class _MetricScale(MacroElement):
    _template = Template(
        """{% macro script(this, kwargs) %}
L.control.scale({imperial: false, maxWidth: 160}).addTo({{ this._parent.get_name() }});
{% endmacro %}"""
    )


def add_legend(m: folium.Map, items: Iterable[LegendItem], *, title: str = "") -> None:
    """Add a Chinese legend control (bottom left) to ``m``."""
    m.add_child(_Legend(list(items), title))


def legend_items(m: folium.Map) -> list[LegendItem]:
    """The rows of every legend of ``m``, in order (what :func:`add_legend` was given)."""
    return [item for c in m._children.values() if isinstance(c, _Legend) for item in c.items]


DISPLAY_GRID_DEG = 1e-5
"""Coordinates sent to the browser are rounded to this grid (about 1 m): half the bytes."""


def _display_frame(frame: gpd.GeoDataFrame, fields: Sequence[str]) -> gpd.GeoDataFrame:
    keep = [c for c in fields if c in frame.columns]
    out = frame[[*keep, "geometry"]].copy()
    out["geometry"] = shapely.set_precision(
        out.geometry.to_numpy(), DISPLAY_GRID_DEG, mode="pointwise"
    )
    for col in keep:
        series = out[col]
        if pd.api.types.is_bool_dtype(series):
            out[col] = np.where(series, "是", "否")
        elif pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_float_dtype(series):
            pass
        elif pd.api.types.is_float_dtype(series):
            out[col] = series.replace([np.inf, -np.inf], np.nan).round(2)
            out[col] = out[col].astype(object).where(out[col].notna(), "—")
        else:
            # Names come from user files: escaped, since Leaflet puts them into innerHTML.
            text = series.astype(object).where(series.notna(), "—").astype(str)
            out[col] = text.map(html.escape)
    return out


def popup_table(row: pd.Series, labels: dict[str, str]) -> str:
    """Return an HTML table of ``row``'s fields (already escaped by the layer builders)."""
    cells = "".join(
        f"<tr><th style='text-align:left;padding-right:8px'>{html.escape(label)}</th>"
        f"<td>{row.get(col, '—')}</td></tr>"
        for col, label in labels.items()
    )
    return f"<table style='font-size:13px'>{cells}</table>"


def geojson_layer(
    frame: gpd.GeoDataFrame,
    *,
    name: str,
    labels: dict[str, str],
    color: str | pd.Series = "#3366cc",
    weight: float = 2.0,
    fill_opacity: float = 0.25,
    dash: str | None = None,
    show: bool = True,
    tooltip_field: str | None = "name",
    simplify_m: float = 0.0,
    pane: str | None = None,
) -> folium.FeatureGroup:
    """Return a feature group with ``frame``'s lines or polygons, styled and with popups.

    Parameters
    ----------
    frame : GeoDataFrame
        EPSG:4326 lines or polygons.
    name : str
        Layer name in the layer control.
    labels : dict
        Field → Chinese label for popups (and the tooltip field).
    color : str or Series
        One colour, or one per row (aligned with ``frame``).
    simplify_m : float
        Display simplification tolerance in metres (0 = none).
    pane : str, optional
        Leaflet pane (:data:`PANES`: problems on top); default Leaflet's overlay pane.
    """
    group = folium.FeatureGroup(name=name, show=show)
    if frame.empty:
        return group
    out = _display_frame(frame, list(labels))
    colors = color if isinstance(color, pd.Series) else pd.Series(color, index=frame.index)
    out["_color"] = colors.reindex(frame.index).fillna("#888888").to_numpy()
    if simplify_m > 0:
        out["geometry"] = out.geometry.simplify(simplify_m / 111_000, preserve_topology=True)
    fields = [c for c in labels if c in out.columns]
    # Polylines are never filled (Leaflet would shade the area a bent line encloses).
    lines = bool(out.geom_type.isin(["LineString", "MultiLineString"]).all())
    fill = fill_opacity > 0 and not lines
    folium.GeoJson(
        json.loads(out.to_json(drop_id=True)),
        name=name,
        style_function=lambda f: {
            "color": f["properties"]["_color"],
            "weight": weight,
            # An unfilled outline must not catch clicks meant for what lies inside it.
            "fill": fill,
            "fillOpacity": fill_opacity,
            "dashArray": dash,
        },
        highlight_function=lambda f: {"weight": weight + 3},
        tooltip=folium.GeoJsonTooltip(fields=[tooltip_field], labels=False, sticky=False)
        if tooltip_field in fields
        else None,
        popup=folium.GeoJsonPopup(fields=fields, aliases=[labels[c] for c in fields])
        if fields
        else None,
        **({"pane": pane} if pane else {}),
    ).add_to(group)
    return group


def safe_tooltip(text: str) -> str:
    """Text for ``folium.Tooltip``/``Marker(tooltip=)``: HTML-escaped, no JS template breaks.

    Folium puts tooltip text raw into a JavaScript template literal, so a backtick or
    ``${`` in a village name would break the map script, and ``<`` would be markup.
    """
    return html.escape(text).replace("`", "&#96;").replace("$", "&#36;")


def cross_layer(
    frame: gpd.GeoDataFrame,
    *,
    name: str,
    labels: dict[str, str],
    color: str,
    size_px: int = 14,
    show: bool = True,
) -> folium.FeatureGroup:
    """Health facilities as a white square with a coloured cross (pure CSS, works offline)."""
    group = folium.FeatureGroup(name=name, show=show)
    if frame.empty:
        return group
    out = _display_frame(frame, list(labels))
    html_icon = (
        f"<div style='width:{size_px}px;height:{size_px}px;background:#fff;"
        f"border:1.5px solid {color};border-radius:2px;color:{color};font:bold "
        f"{size_px}px/{size_px - 2}px sans-serif;text-align:center'>+</div>"
    )
    for row, geom in zip(out.itertuples(index=False), frame.geometry, strict=True):
        p = geom.representative_point()
        folium.Marker(
            [p.y, p.x],
            icon=folium.DivIcon(
                html=html_icon,
                icon_size=(size_px, size_px),
                icon_anchor=(size_px // 2, size_px // 2),
            ),
            tooltip=safe_tooltip(str(getattr(row, "name", ""))),
            popup=folium.Popup(popup_table(pd.Series(row._asdict()), labels), max_width=320),
        ).add_to(group)
    return group


def point_layer(
    frame: gpd.GeoDataFrame,
    *,
    name: str,
    labels: dict[str, str],
    color: str | pd.Series = "#3366cc",
    radius_px: float = 5.0,
    show: bool = True,
    tooltip_field: str | None = "name",
    pane: str | None = None,
    fill_opacity: float = 0.9,
) -> folium.FeatureGroup:
    """Return a feature group with ``frame``'s points as circle markers with popups.

    ``pane`` is one of :data:`PANES` (problems on top, met below) or None (Leaflet's overlay
    pane); met points are drawn with a lower ``fill_opacity`` (:data:`MET_FILL_OPACITY`).
    """
    group = folium.FeatureGroup(name=name, show=show)
    if frame.empty:
        return group
    out = _display_frame(frame, list(labels))
    colors = color if isinstance(color, pd.Series) else pd.Series(color, index=frame.index)
    out["_color"] = colors.reindex(frame.index).fillna("#888888").to_numpy()
    out["geometry"] = out.geometry.representative_point()
    fields = [c for c in labels if c in out.columns]
    folium.GeoJson(
        json.loads(out.to_json(drop_id=True)),
        name=name,
        marker=folium.CircleMarker(
            radius=radius_px, weight=1, fill=True, fill_opacity=fill_opacity
        ),
        # folium drops a marker's pane option: the style (merged into it) carries it
        style_function=lambda f: {
            "color": "#222222" if fill_opacity >= 0.8 else "#555555",
            "fillColor": f["properties"]["_color"],
            "radius": radius_px,
            **({"pane": pane} if pane else {}),
        },
        tooltip=folium.GeoJsonTooltip(fields=[tooltip_field], labels=False)
        if tooltip_field in fields
        else None,
        popup=folium.GeoJsonPopup(fields=fields, aliases=[labels[c] for c in fields])
        if fields
        else None,
        **({"pane": pane} if pane else {}),
    ).add_to(group)
    return group


# ---------------------------------------------------------------------------------------
# Legibility on a tablet (no hover) and on paper: drawing order, labels, Chinese controls.
# (Issue 17. The basemap and tile code above is separate.)
# ---------------------------------------------------------------------------------------

PANES: dict[str, int] = {"gapmap-met": 410, "gapmap-other": 420, "gapmap-problems": 450}
"""Leaflet panes (z-index) for point and line features, by what they show.

Met features (已通硬化路, 达标) lie lowest and are drawn smaller and paler, the other
statuses (不足20户, 不纳入, 无数据) above them, and problems (未通硬化路, 未达标, 缺少设施)
on top, so that 23 red villages are never buried under 670 green ones. All three lie above
Leaflet's ``overlayPane`` (400: outlines, roads, areas) and below its ``markerPane`` (600:
facility icons, labels) and popups."""
PROBLEM_PANE = "gapmap-problems"
MET_PANE = "gapmap-met"
OTHER_PANE = "gapmap-other"
LABEL_PANE = "gapmap-labels"
LABEL_PANE_Z = 620
"""Labels lie above every feature; they let taps through to the feature under them."""

MET_FILL_OPACITY = 0.55
"""Fill opacity of met points (problems are drawn at 0.9)."""


def add_panes(m: folium.Map) -> None:
    """Create the :data:`PANES` and the label pane on ``m`` (once; :func:`base_map` does)."""
    have = {c.name for c in m._children.values() if isinstance(c, folium.map.CustomPane)}
    for name, z in PANES.items():
        if name not in have:
            folium.map.CustomPane(name, z_index=z, pointer_events=True).add_to(m)
    if LABEL_PANE not in have:
        folium.map.CustomPane(LABEL_PANE, z_index=LABEL_PANE_Z, pointer_events=False).add_to(m)


LABEL_FONT = (
    "'Noto Sans CJK SC','Noto Sans SC','Source Han Sans SC','Microsoft YaHei',"
    "'PingFang SC','WenQuanYi Micro Hei',sans-serif"
)
"""Font stack of map labels and legends: the Chinese fonts of Linux, Windows and iPad."""

_LABEL_CSS = (
    ".gapmap-label-icon{background:none;border:none}"
    ".gapmap-label{position:absolute;transform:translate(-50%,-50%);white-space:nowrap;"
    f"pointer-events:none;font:600 13px/1.2 {LABEL_FONT};color:#111;text-align:center;"
    "text-shadow:0 0 2px #fff,0 0 3px #fff,0 0 4px #fff}"
    ".gapmap-label .sub{font-weight:400;font-size:11px}"
    ".gapmap-label.small{font-size:11px;font-weight:500}"
    ".gapmap-label.problem{color:#b71c1c;font-size:12px;transform:translate(8px,-50%)}"
    ".gapmap-label.village{font-size:11px;font-weight:500;color:#333;"
    "transform:translate(7px,-50%)}"
)


@dataclass(frozen=True)
class LabelSet:
    """Names written on the map (no hover needed), shown from ``min_zoom`` on.

    Attributes
    ----------
    rows : tuple of (lat, lon, text, sub)
        Label anchor (EPSG:4326), its text and an optional second, smaller line. Rows come
        first-most-important: where two labels would overlap on screen the later one is
        hidden until the map is zoomed in far enough to part them.
    css_class : str
        ``""`` (area names, centred), ``"small"``, ``"problem"`` (a problem feature's
        name, red, beside its point) or ``"village"`` (beside its point).
    min_zoom : float
        Lowest zoom at which the labels are shown (13: village names at close zoom).
    rank : int
        Order among the map's label sets when they overlap (lower wins).
    """

    rows: tuple[tuple[float, float, str, str], ...]
    css_class: str = ""
    min_zoom: float = 0.0
    rank: int = 1


def label_rows(
    frame: gpd.GeoDataFrame, field: str = "name", *, sub: pd.Series | None = None
) -> tuple[tuple[float, float, str, str], ...]:
    """Label rows of ``frame`` (EPSG:4326): at a point inside each feature, its ``field``."""
    if frame.empty:
        return ()
    spots = frame.geometry.representative_point()
    texts = frame[field].astype(object).where(frame[field].notna(), "").astype(str)
    subs = sub.reindex(frame.index).fillna("").astype(str) if sub is not None else None
    return tuple(
        (round(p.y, 5), round(p.x, 5), t, "" if subs is None else subs.iloc[i])
        for i, (p, t) in enumerate(zip(spots, texts, strict=True))
        if t and p is not None and not p.is_empty
    )


class _Labels(MacroElement):
    """One :class:`LabelSet` as non-interactive DivIcon markers in the label pane.

    The text is set with ``textContent`` (names come from user files: never markup). A
    shared routine hides, after every zoom or pan, each label that overlaps a more
    important one already shown (all label sets of the map, by rank then row order).
    """

    _template = Template(
        """
{% macro header(this, kwargs) %}<style>{{ this.css }}</style>{% endmacro %}
{% macro script(this, kwargs) %}
(function (map) {
    if (!map._gapmapLabels) {
        map._gapmapLabels = [];
        var declutter = function () {
            var kept = [], view = map.getBounds().pad(0.05);
            map._gapmapLabels.slice().sort(function (a, b) { return a.rank - b.rank; })
              .forEach(function (set) {
                if (!map.hasLayer(set.group)) return;
                set.markers.forEach(function (mk) {
                    var el = mk.getElement();
                    if (!el) return;
                    var box = el.firstChild;
                    if (!view.contains(mk.getLatLng())) { box.style.visibility = "hidden"; return; }
                    box.style.visibility = "visible";
                    var r = box.getBoundingClientRect();
                    var hit = kept.some(function (k) {
                        return r.left < k.right + 2 && r.right > k.left - 2 &&
                               r.top < k.bottom + 1 && r.bottom > k.top - 1;
                    });
                    if (hit) { box.style.visibility = "hidden"; } else { kept.push(r); }
                });
            });
        };
        map._gapmapDeclutter = declutter;
        map.on("zoomend moveend resize", function () {
            map._gapmapLabels.forEach(function (set) { set.sync(); });
            declutter();
        });
        map.whenReady(function () { setTimeout(declutter, 0); });
    }
    var rows = {{ this.rows | tojson }}, cls = {{ this.css_class | tojson }};
    var set = {group: L.layerGroup(), markers: [], rank: {{ this.rank | tojson }}};
    rows.forEach(function (r) {
        var el = document.createElement("div");
        el.className = "gapmap-label " + cls;
        var main = document.createElement("span");
        main.textContent = r[2];
        el.appendChild(main);
        if (r[3]) {
            el.appendChild(document.createElement("br"));
            var sub = document.createElement("span");
            sub.className = "sub";
            sub.textContent = r[3];
            el.appendChild(sub);
        }
        var icon = L.divIcon({className: "gapmap-label-icon", html: el, iconSize: null});
        set.markers.push(L.marker([r[0], r[1]], {
            icon: icon, interactive: false, keyboard: false, pane: {{ this.pane | tojson }}
        }).addTo(set.group));
    });
    set.sync = function () {
        var on = map.getZoom() >= {{ this.min_zoom | tojson }};
        if (on && !map.hasLayer(set.group)) { set.group.addTo(map); }
        if (!on && map.hasLayer(set.group)) { map.removeLayer(set.group); }
    };
    map._gapmapLabels.push(set);
    set.sync();
})({{ this._parent.get_name() }});
{% endmacro %}
"""
    )

    def __init__(self, labels: LabelSet) -> None:
        super().__init__()
        self._name = "Labels"
        self.labels = labels
        self.rows = [list(r) for r in labels.rows]
        self.css_class = labels.css_class
        self.min_zoom = float(labels.min_zoom)
        self.rank = int(labels.rank)
        self.pane = LABEL_PANE
        self.css = _LABEL_CSS


def add_labels(m: folium.Map, labels: LabelSet) -> None:
    """Write ``labels`` on ``m`` (nothing when it has no rows)."""
    if labels.rows:
        m.add_child(_Labels(labels))


def map_labels(m: folium.Map) -> list[LabelSet]:
    """Every :class:`LabelSet` written on ``m``, in the order added."""
    return [c.labels for c in m._children.values() if isinstance(c, _Labels)]


CONTROL_TITLES_ZH: dict[str, str] = {
    ".leaflet-control-zoom-in": "放大",
    ".leaflet-control-zoom-out": "缩小",
    ".leaflet-control-layers-toggle": "图层：底图与图层开关",
}
"""Chinese titles (tooltip and screen-reader name) of Leaflet's own English controls.

The 定位 and 全屏 buttons get theirs from their plugin options (:func:`finish_map`)."""


class _ChineseControls(MacroElement):
    """Gives Leaflet's zoom and layer buttons Chinese titles (Leaflet hard-codes English)."""

    _template = Template(
        """{% macro script(this, kwargs) %}
(function (map) {
    var titles = {{ this.titles | tojson }};
    var apply = function () {
        Object.keys(titles).forEach(function (sel) {
            map.getContainer().querySelectorAll(sel).forEach(function (el) {
                el.title = titles[sel];
                el.setAttribute("aria-label", titles[sel]);
            });
        });
    };
    apply();
    map.whenReady(function () { setTimeout(apply, 0); });
})({{ this._parent.get_name() }});
{% endmacro %}"""
    )

    def __init__(self) -> None:
        super().__init__()
        self._name = "ChineseControls"
        self.titles = CONTROL_TITLES_ZH
