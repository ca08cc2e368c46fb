"""Static maps for the PDF reports, drawn with matplotlib from the frames the web maps use.

No tiles and no browser: a report made offline looks the same as one made online. Every map
is drawn in the county's metric CRS (:func:`layers.crs.metric_crs`, a CGCS2000 GK zone), so
its scale bar is true and grid north is up (the north arrow; the GK convergence inside a
county is well under a degree). Colours and labels are the web maps' own
(:mod:`app.maps.builders`), so a printed map and the screen agree.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from app.maps.builders import (
    CLINIC_COLORS,
    HARD_ROAD_COLORS,
    HARD_ROAD_LABELS,
    LINK_COLORS,
    LINK_KIND_ZH,
    PROBLEM_STEPS,
    ROAD_COLORS,
    SITE_COLORS,
)
from app.reports.pdf import cjk_font
from geo.assessment import Assessment
from layers.crs import metric_crs
from layers.dataset import Dataset

__all__ = [
    "MapFrame",
    "area_map_figure",
    "area_map_png",
    "legend_rows",
    "village_map_figure",
    "village_map_png",
]

HARD = ("沥青", "水泥")


@dataclass(frozen=True)
class MapFrame:
    """A figure of ``width_mm`` × ``height_mm`` at ``dpi`` (PNG)."""

    width_mm: float = 182.0
    height_mm: float = 120.0
    dpi: int = 200


def _font(size: float, *, bold: bool = False) -> FontProperties:
    f = cjk_font()
    weight = "bold" if bold else "normal"
    if f.family:  # matplotlib's own entry: the right face of a collection (.ttc)
        return FontProperties(family=f.family, weight=weight, size=size)
    return FontProperties(fname=str(f.bold if bold else f.regular), size=size)


def _figure(frame: MapFrame) -> tuple[Figure, Axes]:
    fig = Figure(figsize=(frame.width_mm / 25.4, frame.height_mm / 25.4), dpi=frame.dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.005, 0.005, 0.99, 0.99))
    ax.set_axis_off()
    ax.set_aspect("equal")
    return fig, ax


def _extent(ax: Axes, bounds: Sequence[float], frame: MapFrame, *, pad: float = 0.06) -> None:
    """Fit ``bounds`` (metres) into the axes at the figure's aspect ratio."""
    minx, miny, maxx, maxy = bounds
    w, h = max(maxx - minx, 500.0), max(maxy - miny, 500.0)
    cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
    aspect = frame.width_mm / frame.height_mm
    if w / h < aspect:
        w = h * aspect
    else:
        h = w / aspect
    w, h = w * (1 + 2 * pad), h * (1 + 2 * pad)
    ax.set_xlim(cx - w / 2, cx + w / 2)
    ax.set_ylim(cy - h / 2, cy + h / 2)


def _nice_length(m: float) -> float:
    """The largest 1/2/5 × 10^k not above ``m``."""
    k = 10 ** np.floor(np.log10(m))
    for f in (5, 2, 1):
        if f * k <= m:
            return float(f * k)
    return float(k)


def _scale_bar_and_north(ax: Axes) -> None:
    """A scale bar (bottom left, ~1/5 of the width) and a north arrow (top right)."""
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    w, h = x1 - x0, y1 - y0
    length = _nice_length(w / 5)
    bx, by = x0 + 0.03 * w, y0 + 0.04 * h
    half = length / 2
    for i, colour in enumerate(("#222222", "#ffffff", "#222222", "#ffffff")):
        ax.fill(
            [
                bx + i * half / 2,
                bx + (i + 1) * half / 2,
                bx + (i + 1) * half / 2,
                bx + i * half / 2,
            ],
            [by, by, by + 0.012 * h, by + 0.012 * h],
            facecolor=colour,
            edgecolor="#222222",
            linewidth=0.6,
            zorder=20,
        )
    ax.fill(
        [bx + half, bx + length, bx + length, bx + half],
        [by, by, by + 0.012 * h, by + 0.012 * h],
        facecolor="#222222",
        edgecolor="#222222",
        linewidth=0.6,
        zorder=20,
    )
    label = f"{length / 1000:g} 公里" if length >= 1000 else f"{length:g} 米"
    for x, t in ((bx, "0"), (bx + half, ""), (bx + length, label)):
        if t:
            ax.text(
                x, by + 0.02 * h, t, ha="center", va="bottom", fontproperties=_font(6.5), zorder=20
            )
    nx, ny = x1 - 0.045 * w, y1 - 0.16 * h
    ax.annotate(
        "",
        xy=(nx, ny + 0.1 * h),
        xytext=(nx, ny),
        arrowprops={
            "arrowstyle": "-|>,head_width=0.45,head_length=0.9",
            "color": "#222222",
            "lw": 1.4,
        },
        zorder=20,
    )
    ax.text(
        nx,
        ny + 0.11 * h,
        "北",
        ha="center",
        va="bottom",
        fontproperties=_font(9, bold=True),
        zorder=20,
    )


def _labels(
    ax: Axes,
    points: gpd.GeoSeries,
    texts: Sequence[str],
    *,
    size: float = 6.5,
    color: str = "#222222",
    bold: bool = False,
    dy: float = 0.0,
) -> None:
    """Text labels with a white halo, placed above their points."""
    from matplotlib import patheffects

    halo = [patheffects.withStroke(linewidth=2.2, foreground="white")]
    for x, y, t in zip(points.x, points.y, texts, strict=True):
        if t:
            ax.text(
                x,
                y + dy,
                t,
                ha="center",
                va="bottom",
                fontproperties=_font(size, bold=bold),
                color=color,
                path_effects=halo,
                zorder=15,
            )


def _png(fig: Figure, frame: MapFrame, *, colours: int = 128) -> bytes:
    """The figure as an indexed (palette) PNG.

    Flat-coloured maps need a few dozen colours: quantised, the PNG is a few times smaller
    and the same to the eye. The figure's pixels are quantised straight from the Agg
    buffer (no RGB PNG encoded in between).
    """
    from PIL import Image

    fig.canvas.draw()
    rgba = np.asarray(fig.canvas.buffer_rgba())
    im = Image.fromarray(rgba[..., :3])
    q = im.quantize(colors=colours, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    out = io.BytesIO()
    q.save(out, format="PNG", compress_level=6)
    return out.getvalue()


def _legend(ax: Axes, handles: list, *, loc: str = "lower right", ncol: int = 1) -> None:
    leg = ax.legend(
        handles=handles,
        loc=loc,
        prop=_font(6.5),
        frameon=True,
        framealpha=0.92,
        ncol=ncol,
        borderpad=0.5,
        handlelength=1.8,
        title="图例",
        title_fontproperties=_font(7, bold=True),
    )
    leg.set_zorder(30)


def village_map_png(
    dataset: Dataset, assessment: Assessment, code: str, *, frame: MapFrame = MapFrame()
) -> bytes:
    """:func:`village_map_figure` as an indexed PNG."""
    return _png(village_map_figure(dataset, assessment, code, frame=frame), frame)


def village_map_figure(
    dataset: Dataset, assessment: Assessment, code: str, *, frame: MapFrame = MapFrame()
) -> Figure:
    """一村一图 map of admin village ``code``: its natural villages by 通硬化路 status, the
    roads by surface, the missing links, clinics and relocation sites, names labelled.

    Parameters
    ----------
    dataset : Dataset
        The dataset assessed (in the scenario the report is for).
    assessment : Assessment
    code : str
        The admin village's code.
    frame : MapFrame
        Size and resolution.

    Returns
    -------
    Figure
        matplotlib's (Agg canvas, no pyplot state).
    """
    hr = assessment.hard_road.villages
    hr = hr.loc[hr["admin_village_code"] == code]
    av = dataset["admin_villages"]
    av = av.loc[av["code"] == code]
    crs = metric_crs(dataset["county"])
    pts = pd.concat([hr.geometry, av.geometry]).to_crs(crs)
    minx, miny, maxx, maxy = pts.total_bounds
    pad = 1500.0
    fig, ax = _figure(frame)
    _extent(ax, (minx - pad, miny - pad, maxx + pad, maxy + pad), frame)
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    box = gpd.GeoSeries.from_xy([x0, x1], [y0, y1], crs=crs).to_crs(4326).total_bounds
    tw = dataset["townships"].to_crs(crs)
    tw.boundary.plot(ax=ax, color="#9e9e9e", linewidth=0.8, linestyle="-.", zorder=1)
    roads = dataset["roads"].cx[box[0] : box[2], box[1] : box[3]].to_crs(crs)
    hard = roads["surface"].isin(HARD) & (roads["status"] == "现状")
    planned = roads["status"] == "规划"
    handles: list = []
    for mask, colour, style, label in (
        (~hard & ~planned, ROAD_COLORS["unpaved"], (0, (4, 3)), "砂石/土路"),
        (hard, ROAD_COLORS["hard"], "-", "硬化道路（沥青/水泥）"),
        (planned, ROAD_COLORS["planned"], (0, (2, 2)), "规划道路"),
    ):
        if mask.any():
            roads[mask].plot(ax=ax, color=colour, linewidth=0.9, linestyle=style, zorder=2)
        handles.append(Line2D([], [], color=colour, lw=1.2, ls=style, label=label))
    links = assessment.hard_road.links
    links = links.loc[links["village_id"].isin(hr["id"])]
    if not links.empty:
        links = links.to_crs(crs)
        for kind, group in links.groupby("kind"):
            group.plot(ax=ax, color=LINK_COLORS[kind], linewidth=2.6, zorder=5)
    for kind in LINK_COLORS:  # the missing links are always in the legend (also when none)
        handles.append(
            Line2D([], [], color=LINK_COLORS[kind], lw=2.6, label=f"缺失路段：{LINK_KIND_ZH[kind]}")
        )
    clinics = dataset["clinics"]
    clinics = clinics.loc[clinics["status"] != "规划"].cx[box[0] : box[2], box[1] : box[3]]
    if not clinics.empty:
        c = clinics.to_crs(crs)
        for kind, marker in (("卫生院", "s"), ("卫生室", "P")):
            sel = c.loc[c["kind"] == kind]
            if not sel.empty:
                ax.scatter(
                    sel.geometry.x,
                    sel.geometry.y,
                    marker=marker,
                    s=34,
                    color=CLINIC_COLORS[kind],
                    edgecolor="white",
                    linewidth=0.6,
                    zorder=8,
                )
    for kind, marker in (("卫生院", "s"), ("卫生室", "P")):
        handles.append(
            Line2D(
                [], [], marker=marker, ls="", color=CLINIC_COLORS[kind], markersize=6, label=kind
            )
        )
    sites = assessment.services.units
    sites = sites.loc[sites["admin_village_code"] == code]
    if not sites.empty:
        s = sites.to_crs(crs)
        for ok, group in s.groupby("ok"):
            ax.scatter(
                group.geometry.x,
                group.geometry.y,
                marker="D",
                s=60,
                color=SITE_COLORS[bool(ok)],
                edgecolor="white",
                linewidth=0.8,
                zorder=9,
            )
        # one status, one colour: the sites share the village rows (below), ◆ in the label
    v = hr.to_crs(crs)
    problem = v["status"] == "not_connected"
    for status, colour in HARD_ROAD_COLORS.items():  # problems last: drawn on top
        sel = v.loc[(v["status"] == status) & ~problem]
        if not sel.empty:
            ax.scatter(
                sel.geometry.x,
                sel.geometry.y,
                s=26,
                color=colour,
                edgecolor="white",
                linewidth=0.7,
                zorder=10,
            )
    if problem.any():
        sel = v.loc[problem]
        ax.scatter(
            sel.geometry.x,
            sel.geometry.y,
            s=48,
            color=HARD_ROAD_COLORS["not_connected"],
            edgecolor="black",
            linewidth=0.8,
            zorder=11,
        )
    site_label = {"connected": " / ◆安置区达标", "not_connected": " / ◆安置区缺少设施"}
    for status, label in HARD_ROAD_LABELS.items():
        shared = not sites.empty and status in site_label
        if (v["status"] == status).any() or shared:
            handles.append(
                Line2D(
                    [],
                    [],
                    marker="o",
                    ls="",
                    color=HARD_ROAD_COLORS[status],
                    markersize=6,
                    label=f"自然村{label}" + (site_label[status] if shared else ""),
                )
            )
    _labels(ax, v.geometry, list(v["name"].astype(str)), dy=0.012 * (y1 - y0))
    if not av.empty:
        a_pt = av.to_crs(crs).geometry
        ax.scatter(a_pt.x, a_pt.y, marker="*", s=130, color="#212121", zorder=7)
        _labels(
            ax, a_pt, [f"{av['name'].iloc[0]}（村委会）"], size=8, bold=True, dy=0.022 * (y1 - y0)
        )
        handles.append(
            Line2D([], [], marker="*", ls="", color="#212121", markersize=8, label="村委会")
        )
    _legend(ax, handles, ncol=1)
    _scale_bar_and_north(ax)
    return fig


def legend_rows(fig: Figure) -> list[tuple[str, str]]:
    """A drawn map's legend as (``#rrggbb``, label) rows, for the colour check."""
    from matplotlib.colors import to_hex

    rows = []
    for ax in fig.axes:
        leg = ax.get_legend()
        if leg is None:
            continue
        for handle, text in zip(leg.legend_handles, leg.get_texts(), strict=True):
            colour = handle.get_facecolor() if isinstance(handle, Patch) else handle.get_color()
            rows.append((to_hex(colour), text.get_text()))
    return rows


def area_map_png(dataset: Dataset, units: pd.DataFrame, **kwargs) -> bytes:
    """:func:`area_map_figure` as an indexed PNG (the same keyword arguments)."""
    frame = kwargs.get("frame", MapFrame(height_mm=110.0))
    return _png(area_map_figure(dataset, units, **kwargs), frame)


def area_map_figure(
    dataset: Dataset,
    units: pd.DataFrame,
    *,
    column: str,
    title: str,
    township_code: str | None = None,
    value_labels: pd.Series | None = None,
    frame: MapFrame = MapFrame(height_mm=110.0),
) -> Figure:
    """A map of problem counts: townships (county) or admin villages (one township).

    Parameters
    ----------
    dataset : Dataset
    units : DataFrame
        The roll-up's township rows (county map) or admin village rows (township map):
        ``code``, ``name`` and ``column``.
    column : str
        The problem count drawn (``problems`` or ``problems_<indicator>``).
    title : str
        Printed top left.
    township_code : str, optional
        A township map: its admin villages as graduated points inside its outline.
    value_labels : Series, optional
        Extra text under each unit's name (e.g. the township's rate), indexed by code.
    frame : MapFrame

    Returns
    -------
    Figure
        matplotlib's (Agg canvas, no pyplot state).
    """
    crs = metric_crs(dataset["county"])
    counts = units.set_index("code")[column].astype(float)
    bins = [s for s, _ in PROBLEM_STEPS]
    colours = [c for _, c in PROBLEM_STEPS]

    def colour(n: float) -> str:
        if not np.isfinite(n):
            return "#eeeeee"
        i = int(np.searchsorted(bins, n, side="right")) - 1
        return colours[max(i, 0)]

    fig, ax = _figure(frame)
    tw = dataset["townships"].to_crs(crs)
    county = dataset["county"].to_crs(crs)
    extra = (lambda c: "") if value_labels is None else (lambda c: value_labels.get(c, ""))
    if township_code is None:
        _extent(ax, county.total_bounds, frame, pad=0.03)
        tw.plot(
            ax=ax,
            color=[colour(counts.get(c, np.nan)) for c in tw["code"]],
            edgecolor="#616161",
            linewidth=0.7,
            zorder=1,
        )
        county.boundary.plot(ax=ax, color="#212121", linewidth=1.2, zorder=2)
        reps = tw.geometry.representative_point()
        names = [
            f"{n}\n{int(counts.get(c, 0))} 个问题{extra(c)}"
            if np.isfinite(counts.get(c, np.nan))
            else str(n)
            for n, c in zip(tw["name"], tw["code"], strict=True)
        ]
        _labels(ax, reps, names, size=6.5)
    else:
        mine = tw.loc[tw["code"] == township_code]
        _extent(ax, mine.total_bounds, frame, pad=0.04)
        tw.plot(ax=ax, color="#fafafa", edgecolor="#bdbdbd", linewidth=0.6, zorder=0)
        mine.plot(ax=ax, color="#ffffff", edgecolor="#212121", linewidth=1.2, zorder=1)
        av = dataset["admin_villages"]
        av = av.loc[av["township_code"] == township_code].to_crs(crs)
        n = np.array([counts.get(c, np.nan) for c in av["code"]], dtype=float)
        order = np.argsort(np.nan_to_num(n, nan=-1), kind="stable")  # problems drawn last
        av, n = av.iloc[order], n[order]
        sizes = 18 + 10 * np.sqrt(np.nan_to_num(n))
        ax.scatter(
            av.geometry.x,
            av.geometry.y,
            s=sizes,
            c=[colour(x) for x in n],
            edgecolor="#424242",
            linewidth=0.6,
            zorder=5,
        )
        texts = [
            f"{name} {int(k)}" if np.isfinite(k) and k > 0 else ""
            for name, k in zip(av["name"], n, strict=True)
        ]
        y0, y1 = ax.get_ylim()
        _labels(ax, av.geometry, texts, size=6, dy=0.012 * (y1 - y0))
    handles = []
    for i, (low, c) in enumerate(PROBLEM_STEPS):
        high = PROBLEM_STEPS[i + 1][0] - 1 if i + 1 < len(PROBLEM_STEPS) else None
        label = f"{low}" if high == low else (f"{low}–{high}" if high is not None else f"≥ {low}")
        handles.append(Patch(facecolor=c, edgecolor="#616161", label=f"{label} 个问题"))
    _legend(ax, handles, loc="lower right")
    ax.text(
        0.01,
        0.99,
        title,
        transform=ax.transAxes,
        ha="left",
        va="top",
        fontproperties=_font(9, bold=True),
        zorder=30,
    )
    _scale_bar_and_north(ax)
    return fig
