"""附近的问题: after the 定位 button finds the tablet, the problems nearest to it, listed.

On a site inspection a leader taps 定位; the map then lists the problem features (those in
the problems pane, :data:`app.maps.base.PROBLEM_PANE`) within :data:`NEARBY_RADIUS_M`,
nearest first, with their distance; a tap on one flies to it and opens its popup. Works
offline (the browser's own location, no request) and on every map that has problems.
"""

from __future__ import annotations

from branca.element import MacroElement, Template

__all__ = ["NEARBY_MAX", "NEARBY_RADIUS_M", "ProblemsNearMe"]

NEARBY_RADIUS_M = 10_000.0
"""How far from the tablet a problem is listed (straight line, metres)."""

NEARBY_MAX = 8
"""At most this many problems are listed, nearest first."""

_CSS = """
.gapmap-nearby{background:rgba(255,255,255,.96);padding:6px 10px;border-radius:6px;
 box-shadow:0 1px 4px rgba(0,0,0,.35);font:14px/1.5 'Noto Sans CJK SC','Noto Sans SC',
 'Source Han Sans SC','Microsoft YaHei','PingFang SC',sans-serif;color:#222;max-width:260px;
 max-height:40vh;overflow:auto}
.gapmap-nearby .h{font-weight:600;display:flex;justify-content:space-between;gap:8px}
.gapmap-nearby .x{cursor:pointer;padding:0 4px}
.gapmap-nearby ol{margin:4px 0 0;padding-left:20px}
.gapmap-nearby li{cursor:pointer;padding:3px 0}
.gapmap-nearby li span{color:#666}
@media print{.gapmap-nearby{display:none}}
"""


class ProblemsNearMe(MacroElement):
    """The 附近的问题 panel of a map (:func:`app.maps.base.finish_map` adds it).

    Parameters
    ----------
    radius_m : float
        Problems within this distance of the located position are listed.
    max_items : int
        The most listed.
    problem_pane : str
        The Leaflet pane the problem features are drawn in.
    """

    _template = Template(
        """{% macro header(this, kwargs) %}<style>{{ this.css }}</style>{% endmacro %}
{% macro script(this, kwargs) %}
(function (map) {
    var RADIUS = {{ this.radius_m }}, MAX = {{ this.max_items }}, PANE = {{ this.pane | tojson }};
    var box = L.control({position: "bottomleft"});
    box.onAdd = function () {
        var d = L.DomUtil.create("div", "gapmap-nearby");
        d.style.display = "none";
        L.DomEvent.disableClickPropagation(d);
        L.DomEvent.disableScrollPropagation(d);
        return d;
    };
    box.addTo(map);
    var text = function (s) { return document.createTextNode(s); };
    var km = function (m) {
        return m < 1000 ? Math.round(m) + " 米" : (m / 1000).toFixed(1) + " 公里";
    };
    map.on("locationfound", function (e) {
        var found = [];
        map.eachLayer(function (l) {
            if (l.options && l.options.pane === PANE && l.getLatLng && l.feature) {
                var d = e.latlng.distanceTo(l.getLatLng());
                if (d <= RADIUS) { found.push({layer: l, d: d}); }
            }
        });
        found.sort(function (a, b) { return a.d - b.d; });
        var div = box.getContainer();
        div.textContent = "";
        var head = L.DomUtil.create("div", "h", div);
        var title = L.DomUtil.create("span", "", head);
        title.appendChild(text(found.length
            ? "附近的问题（" + (RADIUS / 1000) + " 公里内 " + found.length + " 个）"
            : (RADIUS / 1000) + " 公里内没有问题"));
        var close = L.DomUtil.create("span", "x", head);
        close.title = "关闭";
        close.appendChild(text("×"));
        close.onclick = function () { div.style.display = "none"; };
        var list = L.DomUtil.create("ol", "", div);
        found.slice(0, MAX).forEach(function (f) {
            var p = f.layer.feature.properties || {};
            var li = L.DomUtil.create("li", "", list);
            li.appendChild(text(String(p.name || "（未命名）") + " "));
            var s = L.DomUtil.create("span", "", li);
            s.appendChild(text(km(f.d)));
            li.onclick = function () {
                var at = f.layer.getLatLng();
                map.flyTo(at, Math.max(map.getZoom(), 14));
                // the popup is bound on the feature's GeoJSON group: a click reaches it
                map.once("moveend", function () { f.layer.fire("click", {latlng: at}, true); });
            };
        });
        div.style.display = "";
    });
})({{ this._parent.get_name() }});
{% endmacro %}"""
    )

    def __init__(
        self,
        *,
        radius_m: float = NEARBY_RADIUS_M,
        max_items: int = NEARBY_MAX,
        problem_pane: str = "gapmap-problems",
    ) -> None:
        super().__init__()
        self._name = "ProblemsNearMe"
        self.radius_m = float(radius_m)
        self.max_items = int(max_items)
        self.pane = problem_pane
        self.css = _CSS
