"""Page layout on a tablet and on paper: styles, the sidebar on a small screen, print blocks.

Every page gets :data:`PAGE_CSS` and :data:`SIDEBAR_JS` from ``app/main.py`` (one place):

* a screen of at most 1024 px (a 1024×768 tablet): the sidebar starts collapsed (it opens
  with its toggle), KPI cards two a row, numbers never cut off ("98.1…"), titles on one line;
* printing (``@media print``): no sidebar, header or widgets (search boxes, select boxes,
  buttons, uploaders), the map at the page's width, each table whole (the canvas grid of
  ``st.dataframe`` cuts rows on paper: :func:`data_table` adds a print-only HTML table), and
  a title block (:func:`print_header`: page, county, township, scenario, data, time).
"""

from __future__ import annotations

import html

import pandas as pd
import streamlit as st

__all__ = [
    "LOADING_ZH",
    "PAGE_CSS",
    "PRINT_MAP_WIDTH_PX",
    "SIDEBAR_JS",
    "TABLET_MAX_PX",
    "data_table",
    "print_header",
]

TABLET_MAX_PX = 1024
"""Widest screen (CSS px) laid out as a tablet: sidebar collapsed, KPI cards two a row."""

PRINT_MAP_WIDTH_PX = 700
"""A map's width on paper (CSS px): A4 portrait less 12 mm margins, 186 mm at 96 dpi."""

LOADING_ZH = "正在加载…"
"""What Streamlit's running indicator reads (its own text is English, with a Stop button)."""

_WIDGETS = (
    "stSidebar",
    "stSidebarCollapsedControl",
    "stExpandSidebarButton",
    "stHeader",
    "stToolbar",
    "stDecoration",
    "stStatusWidget",
    "stTextInput",
    "stTextArea",
    "stNumberInput",
    "stDateInput",
    "stSelectbox",
    "stMultiSelect",
    "stRadio",
    "stCheckbox",
    "stSlider",
    "stFileUploader",
    "stButton",
    "stDownloadButton",
    "stFormSubmitButton",
    "stForm",
    "stCameraInput",
)
_HIDDEN = ",\n  ".join(
    f'[data-testid="{w}"], [data-testid="stElementContainer"]:has([data-testid="{w}"])'
    for w in _WIDGETS
)

PAGE_CSS = f"""
<style>
.gapmap-print-only {{display: none;}}
/* Streamlit's running indicator in Chinese, without the Stop button a leader might tap */
[data-testid="stStatusWidget"] > * {{display: none !important;}}
[data-testid="stStatusWidget"]::after {{content: "{LOADING_ZH}"; font-size: 0.9rem;
  color: #555; white-space: nowrap; padding: 0 0.5rem;}}
/* a metric's number is never cut to "98.1…": it may wrap, never hide */
[data-testid="stMetricValue"], [data-testid="stMetricValue"] > div {{
  overflow: visible !important; text-overflow: clip !important;}}
@media screen and (max-width: {TABLET_MAX_PX}px) {{
  [data-testid="stMainBlockContainer"] {{padding-top: 3.25rem; padding-left: 1.25rem;
    padding-right: 1.25rem;}}
  /* the page title on one line: a smaller size, never a second line */
  [data-testid="stMainBlockContainer"] h1 {{font-size: clamp(1.35rem, 3.3vw, 2.2rem);
    white-space: nowrap; overflow: hidden; text-overflow: ellipsis; padding-bottom: 0.5rem;}}
  /* KPI cards two a row (a row of four becomes 2×2) */
  [class*="st-key-kpigrid_"] [data-testid="stHorizontalBlock"] {{flex-wrap: wrap;
    row-gap: 0.5rem;}}
  [class*="st-key-kpigrid_"] [data-testid="stColumn"] {{
    flex: 1 1 calc(50% - 1rem) !important; min-width: calc(50% - 1rem) !important;}}
  /* other rows of figures wrap rather than squeeze their numbers */
  [data-testid="stHorizontalBlock"]:has([data-testid="stMetric"]) {{flex-wrap: wrap;}}
  [data-testid="stHorizontalBlock"]:has([data-testid="stMetric"]) > [data-testid="stColumn"] {{
    min-width: 10rem;}}
}}
@media print {{
  @page {{size: A4; margin: 12mm;}}
  {_HIDDEN} {{display: none !important;}}
  [data-testid="stTooltipIcon"] {{display: none !important;}}
  /* the app scrolls inside fixed-height boxes: on paper every page, not only the first */
  html, body, .stApp, [data-testid="stAppViewContainer"], [data-testid="stMain"],
  [data-testid="stMainBlockContainer"] {{height: auto !important; overflow: visible !important;
    position: static !important;}}
  [data-testid="stMain"] {{margin-left: 0 !important; width: 100% !important;}}
  [data-testid="stMainBlockContainer"] {{padding: 0 !important; max-width: 100% !important;}}
  iframe {{width: 100% !important; break-inside: avoid;}}
  h1 {{font-size: 1.5rem !important; white-space: normal !important;}}
  [data-testid="stMetric"] {{break-inside: avoid;}}
  /* the canvas grid cuts rows on paper: its print-only HTML twin is printed instead */
  [class*="st-key-ptable_"] [data-testid="stDataFrame"],
  [class*="st-key-ptable_"] [data-testid="stElementContainer"]:has([data-testid="stDataFrame"])
    {{display: none !important;}}
  .gapmap-print-only {{display: block !important;}}
  .gapmap-print-head {{border-bottom: 2px solid #333; margin-bottom: 0.5rem;
    padding-bottom: 0.3rem;}}
  .gapmap-print-head .t {{font-size: 1.1rem; font-weight: 700;}}
  .gapmap-print-head .m {{font-size: 0.8rem; color: #333;}}
  table.gapmap-table {{width: 100%; border-collapse: collapse; font-size: 8.5pt;
    table-layout: auto;}}
  table.gapmap-table th, table.gapmap-table td {{border: 1px solid #999; padding: 2px 4px;
    text-align: left; vertical-align: top; overflow-wrap: anywhere;}}
  table.gapmap-table thead {{display: table-header-group;}}
  table.gapmap-table tr {{break-inside: avoid;}}
  table.gapmap-table th {{background: #eee;}}
}}
</style>
"""
"""The styles of every page (screen ≤ :data:`TABLET_MAX_PX`, print)."""

SIDEBAR_JS = f"""
<script>
(() => {{
  // Once a browser tab: on a screen of at most {TABLET_MAX_PX} px the sidebar starts
  // collapsed (Streamlit's "auto" collapses it only on a phone); its toggle opens it again,
  // and the user's choice is kept from then on.
  const KEY = "gapmap-sidebar-auto";
  if (window.innerWidth > {TABLET_MAX_PX} || sessionStorage.getItem(KEY)) return;
  sessionStorage.setItem(KEY, "1");
  const collapse = (tries) => {{
    const bar = document.querySelector('[data-testid="stSidebar"]');
    const button = document.querySelector('[data-testid="stSidebarCollapseButton"] button');
    if (bar && bar.getAttribute("data-collapsed") === "true") return;
    if (bar && button) {{ button.click(); return; }}
    if (tries > 0) setTimeout(() => collapse(tries - 1), 100);
  }};
  collapse(50);
}})();
(() => {{
  // On paper the map frame is narrower than on screen: Leaflet keeps its top-left corner
  // and the county's east side fell off the page. Before printing, each map's frame takes
  // the paper's width and the map fits what it showed; after printing, back again.
  if (window.gapmapPrintFit) return;
  window.gapmapPrintFit = true;
  const maps = () => [...document.querySelectorAll("iframe")].flatMap((f) => {{
    try {{
      const m = f.contentWindow && f.contentWindow.map;
      return m && m.fitBounds ? [[f, m]] : [];
    }} catch (e) {{ return []; }}  // another origin's frame
  }});
  const refit = (f, m, bounds) => {{
    m.invalidateSize({{animate: false, pan: false}});
    m.fitBounds(bounds, {{animate: false}});
  }};
  window.addEventListener("beforeprint", () => maps().forEach(([f, m]) => {{
    f.gapmapBounds = m.getBounds();
    f.style.setProperty("width", "{PRINT_MAP_WIDTH_PX}px", "important");
    refit(f, m, f.gapmapBounds);
  }}));
  window.addEventListener("afterprint", () => maps().forEach(([f, m]) => {{
    if (!f.gapmapBounds) return;
    f.style.removeProperty("width");
    refit(f, m, f.gapmapBounds);
    delete f.gapmapBounds;
  }}));
}})();
</script>
"""
"""Collapses the sidebar once on a small screen; fits each map to the paper's width when
printed (``st.html``, JavaScript allowed)."""


def print_header(
    *, page_zh: str, county_zh: str, township_zh: str | None, facts: dict[str, str]
) -> None:
    """Draw the print-only title block (hidden on screen).

    Parameters
    ----------
    page_zh : str
        The page's title (总览, 一村一图 …).
    county_zh, township_zh : str
        The county; the chosen township (None: the whole county).
    facts : dict
        More lines of ``label → text`` (方案, 数据, 生成时间).
    """
    place = county_zh + (f" · {township_zh}" if township_zh else "（全县）")
    meta = " ｜ ".join(f"{html.escape(k)}：{html.escape(v)}" for k, v in facts.items())
    st.html(
        '<div class="gapmap-print-only gapmap-print-head">'
        f'<div class="t">乡村短板一张图 · {html.escape(page_zh)} · {html.escape(place)}</div>'
        f'<div class="m">{meta}</div></div>'
    )


def data_table(frame: pd.DataFrame, *, key: str, **dataframe_kwargs):
    """``st.dataframe`` on screen; on paper the same rows whole, as an HTML table.

    The canvas grid shows only the rows of its height and is cut on paper; the HTML twin
    (hidden on screen) prints every row and column, the headers repeated on each sheet.

    Parameters
    ----------
    frame : DataFrame
        What is shown (Chinese headers already).
    key : str
        The grid's widget key (``ptable_<key>`` is its container's).
    **dataframe_kwargs
        Passed to ``st.dataframe`` (``height``, ``column_config`` …); ``hide_index``,
        ``width="stretch"`` and ``placeholder="—"`` are the default.

    Returns
    -------
    The grid's return value (its selection, with ``on_select``).
    """
    from geo.labels import MISSING_ZH  # here: main.py imports this module before the heavy ones

    dataframe_kwargs = {
        "hide_index": True,
        "width": "stretch",
        "placeholder": MISSING_ZH,  # a gap reads "—", the column stays numeric
        **dataframe_kwargs,
    }
    with st.container(key=f"ptable_{key}"):
        event = st.dataframe(frame, key=key, **dataframe_kwargs)
        body = frame.to_html(
            index=not dataframe_kwargs["hide_index"],
            border=0,
            classes="gapmap-table",
            na_rep=MISSING_ZH,
            float_format=lambda x: f"{x:,.2f}".rstrip("0").rstrip("."),
        )
        st.html(f'<div class="gapmap-print-only">{body}</div>')
    return event
