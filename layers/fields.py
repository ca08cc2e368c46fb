"""Field-name aliases: the Chinese names and pinyin-initial codes county GIS offices use.

County data arrives with columns such as ``户数``, ``路面类型`` or the pinyin-initial codes
of national data standards (``XZQDM``/``XZQMC`` for 行政区代码/名称, ``LMLX`` for 路面类型,
``XZDJ`` for 行政等级 ...). :func:`column_mapping` maps them to GapMap's English field
names. Matching ignores case, surrounding blanks and a trailing unit in brackets
(``路面宽度(米)``, ``路面宽度（m）``), and accepts the forms Shapefile writers cut field
names to (10 bytes: ``admin_vill``, ``道路等``; :func:`truncated_aliases`). A column that
matches nothing is kept unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import cache
from types import MappingProxyType

from layers.schema import LayerSchema

__all__ = [
    "ALIASES",
    "DBF_NAME_BYTES",
    "LAYER_ALIASES",
    "column_mapping",
    "fold_name",
    "truncated_aliases",
]

ALIASES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "id": ("编号", "标识码", "BSM", "ID", "要素编号", "自然村编号", "设施编号", "道路编号",
               "机构编号", "安置区编号", "路线编码", "LXBM"),
        "name": ("名称", "名字", "MC", "NAME", "村名", "自然村名称", "自然村名", "设施名称",
                 "机构名称", "安置区名称", "道路名称", "路线名称", "LXMC", "节点名", "管道名",
                 "水源节点名"),
        "households": ("户数", "常住户数", "HS", "CZHS", "总户数", "安置户数"),
        "population": ("人口", "常住人口", "RK", "CZRK", "人口数", "总人口", "安置人口"),
        "admin_village_code": ("行政村代码", "所属行政村代码", "所在行政村代码", "村代码",
                               "XZCDM", "CDM", "SSXZCDM"),
        "township_code": ("乡镇代码", "所属乡镇代码", "所在乡镇代码", "XZDM", "SSXZDM"),
        "relocation_planned": ("规划搬迁", "规划搬迁撤并", "是否搬迁", "搬迁撤并", "SFBQ"),
        "key_site": ("重点移民村", "是否重点", "重点", "SFZD"),
        "road_class": ("道路等级", "行政等级", "公路等级", "XZDJ", "DLDJ"),
        "surface": ("路面类型", "路面材质", "面层类型", "路面", "LMLX"),
        "width_m": ("路面宽度", "路面宽", "宽度", "LMKD", "width"),
        "status": ("状态", "建设状态", "规划状态", "现状规划", "ZT"),
        "kind": ("类型", "类别", "设施类型", "设施类别", "机构类型", "机构类别", "LX", "LB",
                 "水源类型", "水源类别"),
        "doctors": ("医生数", "医生人数", "村医人数", "乡村医生", "乡村医生人数", "YSS"),
        "serves_codes": ("联合设置", "服务行政村", "联合设置服务的行政村代码"),
        "village_class": ("村庄分类", "村庄类型", "村庄类别", "CZFL"),
        "storeys": ("层数", "建筑层数", "主要建筑层数", "CS"),
        "water_node": ("供水节点", "所属供水节点", "GSJD"),
        "elevation_m": ("高程", "elevation", "GC", "地面高程"),
        "head_m": ("水头", "总水头", "base_head", "SLT"),
        "capacity_m3d": ("供水能力", "设计规模", "日供水量", "供水规模"),
        "node_type": ("节点类型", "JDLX"),
        "start_node_name": ("起点", "起点节点", "起始节点", "QD", "start_node"),
        "end_node_name": ("终点", "终点节点", "终止节点", "ZD", "end_node"),
        "length_m": ("长度", "管长", "CD", "length"),
        "diameter_mm": ("管径", "DN", "GJ", "公称直径"),
        "roughness": ("海曾威廉系数", "C值", "粗糙系数", "HW_C"),
        "initial_status": ("初始状态",),
        "init_level_m": ("初始水位", "init_level"),
        "min_level_m": ("最低水位", "min_level"),
        "max_level_m": ("最高水位", "max_level"),
        "tank_diameter_m": ("水池直径",),
        "title": ("水源名称",),
        "key_village": ("重点村", "是否重点村", "SFZDC"),
        "has_5g": ("通5G", "是否通5G", "5G覆盖", "5G", "SFT5G"),
        "has_gigabit": ("通千兆光纤", "千兆光纤", "是否通千兆", "千兆宽带", "SFTQZ"),
        "sewage_treated": ("生活污水治理", "污水治理", "生活污水得到治理", "是否治理污水",
                           "WSZL"),
        "waste_treated": ("生活垃圾处理", "垃圾处理", "生活垃圾得到收运处理", "垃圾收运",
                          "LJCL"),
        "toilet_households": ("卫生厕所户数", "卫厕户数", "改厕户数", "WCHS"),
        "primary_children": ("小学适龄儿童数", "小学适龄儿童", "小学生数", "XXSL"),
        "junior_children": ("初中适龄少年数", "初中适龄少年", "初中生数", "CZSL"),
        "guarantee_rate_pct": ("供水保证率", "保证率", "GSBZL"),
        "quality_pass_pct": ("水质达标率", "水质合格率", "SZDBL"),
        "boarding": ("寄宿制", "是否寄宿", "寄宿", "SFJS"),
        "village_id": ("所属自然村编号", "ZRCBH"),
        "rectified": ("已改造", "是否改造", "改造完成", "已销号", "SFGZ"),
        "operator": ("运营商", "YYS"),
        "source": ("来源", "数据来源", "LY", "SJLY"),
    }
)  # fmt: skip
"""Aliases shared by every layer: GapMap field name → accepted column names."""

LAYER_ALIASES: Mapping[str, Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {
        # For boundary layers, XZQDM/XZQMC name the unit itself.
        "county": {"code": ("XZQDM", "行政区代码", "行政区划代码", "县代码", "区划代码", "代码"),
                   "name": ("XZQMC", "行政区名称", "县名称", "县名")},
        "townships": {"code": ("XZQDM", "乡镇代码", "行政区代码", "区划代码", "代码", "XZDM"),
                      "name": ("XZQMC", "乡镇名称", "乡镇名", "XZMC")},
        "admin_villages": {"code": ("XZQDM", "行政村代码", "村代码", "区划代码", "代码", "CDM"),
                           "name": ("XZQMC", "行政村名称", "行政村名", "村名", "CMC")},
        # a house's own number is its id; 自然村编号 there names the village it stands in
        "housing_survey": {"id": ("房屋编号", "户编号", "FWBH"),
                           "village_id": ("自然村编号", "所在自然村编号", "自然村代码"),
                           "kind": ("危房类别", "危房类型", "房屋类别", "鉴定类别", "WFLB"),
                           "households": ("涉及户数", "户数"),
                           "rectified": ("是否完成改造", "改造情况", "已改造")},
        "public_facilities": {"id": ("学校编号", "学校代码", "设施编号"),
                              "name": ("学校名称", "设施名称"),
                              "kind": ("学校类型", "学校类别", "办学类型", "设施类型", "XXLX"),
                              "boarding": ("寄宿制", "是否寄宿制", "寄宿制学校", "是否寄宿"),
                              "serves_codes": ("服务范围", "服务村", "服务行政村", "划片范围",
                                               "学区范围", "服务行政村代码")},
        "telecom_coverage": {"id": ("覆盖区编号", "编号"),
                             "kind": ("网络类型", "网络类别", "网络制式", "覆盖类型", "WLLX"),
                             "operator": ("运营商", "所属运营商", "YYS")},
        "env_facilities": {"serves_codes": ("服务范围", "服务村", "服务行政村", "服务行政村代码",
                                            "收集范围")},
    }
)  # fmt: skip
"""Per-layer aliases, consulted before :data:`ALIASES`."""

# a bracketed unit at the end, closed or cut off (路面宽度(米) cut to 10 bytes: 路面宽度()
_UNIT_SUFFIX = re.compile(r"\s*[（(\[【][^）)\]】]*[）)\]】]?\s*$")


def fold_name(column: str) -> str:
    """Fold a column name for matching: strip, drop a bracketed unit suffix, lower-case.

    Examples
    --------
    >>> fold_name(" 路面宽度（米） ")
    '路面宽度'
    >>> fold_name("XZQDM")
    'xzqdm'
    """
    return _UNIT_SUFFIX.sub("", str(column).strip()).strip().lower()


@cache
def _folded(names: tuple[str, ...]) -> frozenset[str]:
    """``{fold_name(n) for n in names}``, once per tuple of aliases (they are constants)."""
    return frozenset(fold_name(n) for n in names)


DBF_NAME_BYTES = 10
"""A dBase (.dbf) field name holds at most 10 bytes: Shapefile writers cut longer names."""


def _cut(name: str, encoding: str) -> str:
    """``name`` cut to :data:`DBF_NAME_BYTES` bytes in ``encoding``, at a character boundary."""
    try:
        raw = name.encode(encoding)
    except UnicodeEncodeError:
        return name
    return raw[:DBF_NAME_BYTES].decode(encoding, "ignore")


@cache
def truncated_aliases(layer: str) -> Mapping[str, str]:
    """Folded names a Shapefile writer makes of a layer's field names and aliases → field.

    QGIS, ArcGIS and GDAL cut a .dbf field name to 10 bytes: ``admin_village_code`` →
    ``admin_vill``, UTF-8 ``道路等级`` (12 bytes) → ``道路等``, GBK ``所属行政村代码`` →
    ``所属行政村`` (5 characters). Every name longer than 10 bytes in UTF-8 or GBK is cut
    both ways; a cut form that two fields share, or that is already another field's full
    name or alias, is left out (ambiguous).
    """
    from layers.schema import get_schema

    schema = get_schema(layer)
    layer_aliases = LAYER_ALIASES.get(layer, {})
    full: dict[str, str] = {}
    cut: dict[str, set[str]] = {}
    for f in schema.fields:
        names = (f.name, *layer_aliases.get(f.name, ()), *ALIASES.get(f.name, ()))
        for n in names:
            full.setdefault(fold_name(n), f.name)
            for encoding in ("utf-8", "gbk"):
                for form in (n, fold_name(n)):
                    c = fold_name(_cut(form, encoding))
                    if c and c != fold_name(n):
                        cut.setdefault(c, set()).add(f.name)
    return MappingProxyType(
        {c: next(iter(fs)) for c, fs in cut.items() if len(fs) == 1 and c not in full}
    )


def column_mapping(columns: Iterable[str], schema: LayerSchema) -> dict[str, str]:
    """Map a file's column names to the GapMap field names of ``schema``.

    Parameters
    ----------
    columns : iterable of str
        Column names as read (the geometry column excluded).
    schema : LayerSchema
        The layer the columns belong to.

    Returns
    -------
    dict
        ``{original column: field name}`` for every column that maps to a declared
        field and is not already spelled that way. Each field is taken by the first
        column that matches it: an exact English name first, then the layer's own
        aliases, then the shared ones. Columns that match nothing are left out (and
        kept unchanged by the reader).
    """
    columns = list(columns)
    folded = {c: fold_name(c) for c in columns}
    layer_aliases = LAYER_ALIASES.get(schema.name, {})
    taken: set[str] = set()
    mapping: dict[str, str] = {}
    # Pass 1: exact English names win and are never renamed.
    for c in columns:
        if folded[c] in schema.field_names and folded[c] not in taken:
            taken.add(folded[c])
            if c != folded[c]:
                mapping[c] = folded[c]
    # Pass 2: aliases, per-layer before shared.
    for source in (layer_aliases, ALIASES):
        for field_name in schema.field_names:
            if field_name in taken:
                continue
            wanted = _folded(source.get(field_name, ()))
            for c in columns:
                if c in mapping or folded[c] in schema.field_names:
                    continue
                if folded[c] in wanted:
                    mapping[c] = field_name
                    taken.add(field_name)
                    break
    # Pass 3: names a Shapefile writer cut to 10 bytes (admin_vill, 道路等 ...).
    cut = truncated_aliases(schema.name)
    for c in columns:
        if c in mapping or folded[c] in schema.field_names:
            continue
        field_name = cut.get(folded[c])
        if field_name is not None and field_name not in taken:
            mapping[c] = field_name
            taken.add(field_name)
    return mapping
