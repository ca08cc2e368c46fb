"""Offline map assets: point Folium at the vendored Leaflet files, inline them for export.

Folium and streamlit-folium load Leaflet, jQuery, Bootstrap, Font Awesome and plugins from
CDNs listed in each class's ``default_js``/``default_css``. With no network (a tablet on a
site inspection) the map would be blank, so :func:`use_local_assets` rewrites those lists to
the files that ``scripts/vendor_assets.py`` copied from npm into ``app/static/vendor`` and
Streamlit serves at ``/app/static/vendor/...`` (``enableStaticServing``).
:func:`self_contained_html` inlines the same files (CSS ``url()`` as data: URIs) into one
HTML file that opens from disk with no network. See ``../shared/notes/OFFLINE_MAPS.md``.
"""

from __future__ import annotations

import base64
import functools
import logging
import mimetypes
import re
from pathlib import Path

import folium
import folium.plugins
from folium.elements import JSCSSMixin

__all__ = [
    "LOCAL_URLS",
    "STATIC_ROOT",
    "VENDOR_DIR",
    "remote_assets",
    "self_contained_html",
    "use_local_assets",
]

logger = logging.getLogger(__name__)

STATIC_ROOT = "/app/static"
VENDOR_DIR = Path(__file__).resolve().parents[1] / "static" / "vendor"

# Folium asset name -> file under app/static/vendor (None: drop, not needed by GapMap).
LOCAL_URLS: dict[str, str | None] = {
    "leaflet": "leaflet/dist/leaflet.js",
    "jquery": "jquery/dist/jquery.min.js",
    "bootstrap": "bootstrap/dist/js/bootstrap.bundle.min.js",
    "awesome_markers": "awesome-markers/dist/leaflet.awesome-markers.min.js",
    "leaflet_css": "leaflet/dist/leaflet.css",
    "bootstrap_css": "bootstrap/dist/css/bootstrap.min.css",
    # Glyphicons are Bootstrap 3 icons; GapMap uses Font Awesome ("fa") icons only.
    "glyphicons_css": None,
    "awesome_markers_font_css": "fontawesome/css/all.min.css",
    "awesome_markers_css": "awesome-markers/dist/leaflet.awesome-markers.css",
    "awesome_rotate_css": "folium/leaflet.awesome.rotate.min.css",
    "markerclusterjs": "markercluster/dist/leaflet.markercluster.js",
    "markerclustercss": "markercluster/dist/MarkerCluster.css",
    "markerclusterdefaultcss": "markercluster/dist/MarkerCluster.Default.css",
    "Control_locate_min_js": "locatecontrol/dist/L.Control.Locate.min.js",
    "Control_locate_min_css": "locatecontrol/dist/L.Control.Locate.min.css",
    "Control.Fullscreen.js": "fullscreen/Control.FullScreen.js",
    "Control.FullScreen.css": "fullscreen/Control.FullScreen.css",
}

# The classes GapMap maps use; their asset lists are rewritten.
_CLASSES: tuple[type, ...] = (
    folium.Map,
    folium.plugins.MarkerCluster,
    folium.plugins.LocateControl,
    folium.plugins.Fullscreen,
)


def _local(url_name: str) -> str | None:
    rel = LOCAL_URLS[url_name]
    return None if rel is None else f"{STATIC_ROOT}/vendor/{rel}"


@functools.cache
def use_local_assets() -> None:
    """Point the Folium classes GapMap uses at the vendored files (idempotent).

    Raises
    ------
    FileNotFoundError
        If a vendored file is missing (run ``python -m scripts.vendor_assets``).
    """
    for rel in filter(None, LOCAL_URLS.values()):
        if not (VENDOR_DIR / rel).is_file():
            raise FileNotFoundError(
                f"vendored map asset {rel} is missing under {VENDOR_DIR}; "
                "run `python -m scripts.vendor_assets`"
            )
    for cls in _CLASSES:
        for attr in ("default_js", "default_css"):
            entries = cls.__dict__.get(attr)
            if not entries:
                continue
            new = []
            for name, url in entries:
                if name not in LOCAL_URLS:
                    new.append((name, url))
                    continue
                local = _local(name)
                if local is not None:
                    new.append((name, local))
            setattr(cls, attr, new)
    logger.debug("folium assets rewritten to %s/vendor", STATIC_ROOT)


def remote_assets(m: folium.Map) -> list[str]:
    """Return the asset URLs of ``m`` (and its children) that are not local.

    An empty list means the map needs no network for its code and styles.
    """
    urls: list[str] = []

    def walk(el: object) -> None:
        if isinstance(el, (JSCSSMixin, folium.Map)):
            urls.extend(u for _, u in getattr(el, "default_js", []))
            urls.extend(u for _, u in getattr(el, "default_css", []))
        for child in getattr(el, "_children", {}).values():
            walk(child)

    walk(m)
    return sorted({u for u in urls if not u.startswith(STATIC_ROOT)})


_SCRIPT_RE = re.compile(r'<script src="(/app/static/[^"]+)"></script>')
_LINK_RE = re.compile(r'<link rel="stylesheet" href="(/app/static/[^"]+)"/>')
_URL_RE = re.compile(r"url\((['\"]?)([^)'\"]+)\1\)")


def _vendor_file(url: str) -> Path:
    return VENDOR_DIR / url.removeprefix(f"{STATIC_ROOT}/vendor/")


def _data_uri(path: Path) -> str:
    mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if path.suffix == ".woff2":
        mime = "font/woff2"
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def _inline_css(path: Path) -> str:
    css = path.read_text(encoding="utf-8")

    def repl(match: re.Match[str]) -> str:
        ref = match.group(2)
        if ref.startswith(("data:", "#", "http:", "https:")):
            return match.group(0)
        target = (path.parent / ref.split("?")[0].split("#")[0]).resolve()
        if not target.is_file() or target.suffix in {".ttf", ".eot", ".woff"}:
            # Keep only woff2 fonts (every current browser): ttf/eot fallbacks are dropped.
            return "url(data:,)"
        return f"url({_data_uri(target)})"

    return _URL_RE.sub(repl, css)


_ICON_FIX = (
    "<script>L.Icon.Default.imagePath='';L.Icon.Default.mergeOptions({{"
    "iconUrl:'{icon}',iconRetinaUrl:'{icon2x}',shadowUrl:'{shadow}'}});</script>"
)


def self_contained_html(m: folium.Map) -> str:
    """Render ``m`` to one HTML file with every script, style, image and font inlined.

    The file opens from disk with no network (tile basemaps aside: use the plain basemap).

    Parameters
    ----------
    m : folium.Map
        A map built after :func:`use_local_assets`.

    Returns
    -------
    str
        The HTML text.

    Raises
    ------
    ValueError
        If the map still references remote scripts or styles.
    """
    use_local_assets()
    html = m.get_root().render()
    images = VENDOR_DIR / "leaflet" / "dist" / "images"
    icon_fix = _ICON_FIX.format(
        icon=_data_uri(images / "marker-icon.png"),
        icon2x=_data_uri(images / "marker-icon-2x.png"),
        shadow=_data_uri(images / "marker-shadow.png"),
    )

    def script(match: re.Match[str]) -> str:
        path = _vendor_file(match.group(1))
        code = path.read_text(encoding="utf-8").replace("</script", "<\\/script")
        out = f"<script>{code}</script>"
        return out + icon_fix if path.name == "leaflet.js" else out

    def style(match: re.Match[str]) -> str:
        return f"<style>{_inline_css(_vendor_file(match.group(1)))}</style>"

    html = _SCRIPT_RE.sub(script, html)
    html = _LINK_RE.sub(style, html)
    remote = re.findall(r'<(?:script src|link rel="stylesheet" href)="(https?://[^"]+)"', html)
    if remote:
        raise ValueError(f"map still loads remote assets: {remote}")
    return html
