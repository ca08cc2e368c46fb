"""One declarative schema per GapMap layer.

A schema says which geometry types a layer may hold, which fields it has (English
snake_case names, types, units in the name, allowed values) and which field is its id.
Chinese and pinyin-code field names are mapped to these names by :mod:`layers.fields`;
allowed values accept the synonyms in ``Field.value_aliases``.

Layer overview (see ``../shared/STANDARDS.md`` for where the rules come from):

================  ======================  ===========================================
layer             geometry                key fields
================  ======================  ===========================================
county            polygon                 code (6 digits), name
townships         polygon                 code (9 digits), name
admin_villages    polygon or point        code (12 digits), name, township_code,
                                          village_class, population
natural_villages  point                   id, name, admin_village_code, households,
                                          population, relocation_planned
relocation_sites  point or polygon        id, name, admin_village_code, households,
                                          population, key_site
roads             line                    id, road_class, surface, width_m, status
clinics           point                   id, name, kind, admin_village_code, doctors
service_points    point                   id, name, kind
water_sources     point                   name, kind, head_m, capacity_m3d
water_nodes       point                   name, node_type, elevation_m (+ tank levels)
water_pipes       line                    name, start_node_name, end_node_name,
                                          length_m, diameter_mm, roughness
public_facilities point                   id, name, kind (学校, 幼儿园, 养老, 文化 …),
                                          boarding, serves_codes
telecom_coverage  polygon                 id, kind (5G, 千兆光纤, 4G)
env_facilities    point                   id, name, kind (污水处理站, 垃圾收集点 …),
                                          serves_codes
housing_survey    point                   id, admin_village_code, kind (危房/危窑),
                                          rectified
================  ======================  ===========================================

Optional attributes without a default (``key_village``, ``has_5g``, ``sewage_treated`` …
on admin villages, ``primary_children`` on natural villages, ``quality_pass_pct`` on
water sources) are NA where absent or empty: the indicator that needs them says 无数据
(STANDARDS §5), never 否 and never 0.

Water layers map one to one onto WNTR's GIS conversion (``wntr.network.from_gis``):
``water_sources`` are reservoirs (``base_head`` = ``head_m``), ``water_nodes`` are
junctions and tanks, ``water_pipes`` are pipes (``diameter`` = ``diameter_mm``/1000).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Literal

__all__ = [
    "CORE_LAYERS",
    "LAYERS",
    "LAYER_ORDER",
    "Field",
    "LayerSchema",
    "get_schema",
    "split_codes",
]

FieldType = Literal["str", "int", "float", "bool"]

POLYGON = ("Polygon", "MultiPolygon")
POINT = ("Point",)
LINE = ("LineString", "MultiLineString")


@dataclass(frozen=True)
class Field:
    """One attribute of a layer.

    Attributes
    ----------
    name : str
        English snake_case name used in code; units in the name (``width_m``).
    dtype : {"str", "int", "float", "bool"}
        Type after normalisation. Codes are strings (leading zeros matter).
    required : bool
        A missing column or an empty value is an error.
    title_zh : str
        Chinese label for reports and the app.
    allowed : tuple of str, optional
        The only values allowed (after ``value_aliases`` are applied).
    value_aliases : mapping, optional
        Synonyms accepted on read, mapped to an allowed value (``沥青混凝土`` → ``沥青``).
    pattern : str, optional
        Regular expression a string value must match in full (a 12-digit code).
    min_value, max_value : float, optional
        Inclusive bounds for numbers.
    default : object, optional
        Value filled in when an optional column is absent or a value is empty.
    """

    name: str
    dtype: FieldType
    required: bool
    title_zh: str
    allowed: tuple[str, ...] | None = None
    value_aliases: Mapping[str, str] = field(default_factory=dict)
    pattern: str | None = None
    min_value: float | None = None
    max_value: float | None = None
    default: object = None


@dataclass(frozen=True)
class LayerSchema:
    """The schema of one GapMap layer.

    Attributes
    ----------
    name : str
        Layer name, also the GeoPackage layer name.
    title_zh : str
        Chinese name for the app.
    geometry_types : tuple of str
        Shapely geometry type names allowed.
    fields : tuple of Field
        Declared fields, in output order.
    id_field : str
        The field that identifies a feature; values must be unique.
    """

    name: str
    title_zh: str
    geometry_types: tuple[str, ...]
    fields: tuple[Field, ...]
    id_field: str

    @cached_property
    def field_names(self) -> tuple[str, ...]:
        """Names of the declared fields, in order (fields are frozen: computed once)."""
        return tuple(f.name for f in self.fields)

    @property
    def required(self) -> tuple[str, ...]:
        """Names of the required fields."""
        return tuple(f.name for f in self.fields if f.required)

    def field(self, name: str) -> Field:
        """Return the declared field called ``name``.

        Raises
        ------
        KeyError
            If the layer has no such field.
        """
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"layer {self.name!r} has no field {name!r}")


# ---------------------------------------------------------------- value vocabularies

ROAD_CLASSES = ("国道", "省道", "县道", "乡道", "村道", "入户路", "其他")
ROAD_CLASS_ALIASES = {
    # 公路行政等级代码 (JT/T 132): G 国道, S 省道, X 县道, Y 乡道, C 村道, Z 专用公路
    "G": "国道", "S": "省道", "X": "县道", "Y": "乡道", "C": "村道", "Z": "其他",
    "高速公路": "国道", "高速": "国道", "国道公路": "国道", "省道公路": "省道",
    "县道公路": "县道", "乡道公路": "乡道", "通村路": "村道", "村组路": "村道",
    "通组路": "村道", "村级道路": "村道", "村路": "村道", "入户道路": "入户路",
    "巷道": "入户路", "专用公路": "其他",
}  # fmt: skip

SURFACES = ("沥青", "水泥", "块石", "砂石", "土路", "其他", "未知")
SURFACE_ALIASES = {
    "沥青混凝土": "沥青", "沥青路": "沥青", "沥青路面": "沥青", "柏油": "沥青",
    "柏油路": "沥青", "asphalt": "沥青",
    "水泥混凝土": "水泥", "水泥路": "水泥", "水泥路面": "水泥", "水泥砼": "水泥",
    "砼": "水泥", "混凝土": "水泥", "concrete": "水泥",
    "块石路": "块石", "砖": "块石", "砖铺": "块石", "石板": "块石", "彩砖": "块石",
    "paving_stones": "块石", "sett": "块石",
    "砂石路": "砂石", "砂砾": "砂石", "碎石": "砂石", "泥结碎石": "砂石",
    "级配碎石": "砂石", "gravel": "砂石",
    "土": "土路", "土质": "土路", "土路面": "土路", "dirt": "土路", "earth": "土路",
    "ground": "土路", "unpaved": "土路",
    "": "未知", "无": "未知", "不详": "未知", "unknown": "未知",
}  # fmt: skip

STATUSES = ("现状", "规划")
STATUS_ALIASES = {
    "已建": "现状", "在用": "现状", "现有": "现状", "existing": "现状",
    "拟建": "规划", "新建": "规划", "planned": "规划", "规划新建": "规划",
}  # fmt: skip

VILLAGE_CLASSES = ("集聚提升", "城郊融合", "特色保护", "搬迁撤并", "其他")
VILLAGE_CLASS_ALIASES = {
    "集聚提升类": "集聚提升", "城郊融合类": "城郊融合", "特色保护类": "特色保护",
    "搬迁撤并类": "搬迁撤并", "暂不分类": "其他", "其他类": "其他", "待定": "其他",
}  # fmt: skip

ADMIN_VILLAGE_KINDS = ("村委会", "社区", "其他")
ADMIN_VILLAGE_KIND_ALIASES = {
    "村": "村委会", "行政村": "村委会", "村民委员会": "村委会", "居委会": "社区",
    "居民委员会": "社区", "移民社区": "社区",
}  # fmt: skip

CLINIC_KINDS = ("卫生院", "卫生室", "其他")
CLINIC_KIND_ALIASES = {
    "乡镇卫生院": "卫生院", "中心卫生院": "卫生院", "乡卫生院": "卫生院",
    "镇卫生院": "卫生院", "社区卫生服务中心": "卫生院",
    "村卫生室": "卫生室", "社区卫生服务站": "卫生室", "卫生服务站": "卫生室",
    "诊所": "其他", "医院": "其他",
}  # fmt: skip

SERVICE_KINDS = ("综合超市", "便利菜店", "药店", "公交站点", "电商网店", "物流配送站点", "其他")
SERVICE_KIND_ALIASES = {
    "超市": "综合超市", "购物中心": "综合超市", "supermarket": "综合超市",
    "便利店": "便利菜店", "菜店": "便利菜店", "蔬菜店": "便利菜店", "菜市场": "便利菜店",
    "小卖部": "便利菜店", "convenience": "便利菜店", "greengrocer": "便利菜店",
    "药房": "药店", "社区药店": "药店", "大药房": "药店", "pharmacy": "药店",
    "公交站": "公交站点", "公交车站": "公交站点", "候车亭": "公交站点", "招呼站": "公交站点",
    "bus_stop": "公交站点",
    "电商服务站": "电商网店", "电商": "电商网店", "快递点": "物流配送站点",
    "物流点": "物流配送站点", "快递驿站": "物流配送站点",
}  # fmt: skip

WATER_SOURCE_KINDS = ("水库", "机井", "泉水", "黄河扬水", "水厂", "其他")
WATER_SOURCE_KIND_ALIASES = {
    "井": "机井", "水井": "机井", "地下水": "机井", "泉": "泉水", "扬水": "黄河扬水",
    "扬黄": "黄河扬水", "净水厂": "水厂", "自来水厂": "水厂",
}  # fmt: skip

NODE_TYPES = ("Junction", "Tank")
NODE_TYPE_ALIASES = {
    "节点": "Junction", "junction": "Junction", "接点": "Junction", "用水点": "Junction",
    "水池": "Tank", "蓄水池": "Tank", "高位水池": "Tank", "水塔": "Tank", "tank": "Tank",
}  # fmt: skip

PIPE_STATUSES = ("Open", "Closed", "CV")
PIPE_STATUS_ALIASES = {"开": "Open", "open": "Open", "关": "Closed", "closed": "Closed"}

PUBLIC_KINDS = (
    "小学", "初中", "九年一贯制学校", "幼儿园", "公共文化室", "日间照料中心", "互助幸福院",
    "老饭桌", "综合服务中心", "其他",
)  # fmt: skip
PUBLIC_KIND_ALIASES = {
    "村小": "小学", "完小": "小学", "完全小学": "小学", "中心小学": "小学", "教学点": "小学",
    "小学校": "小学", "中学": "初中", "初级中学": "初中", "初中学校": "初中",
    "九年制学校": "九年一贯制学校", "九年一贯制": "九年一贯制学校", "九年制": "九年一贯制学校",
    "中心幼儿园": "幼儿园", "村幼儿园": "幼儿园", "学前教育": "幼儿园", "幼儿园(所)": "幼儿园",
    "文化室": "公共文化室", "文化活动室": "公共文化室", "综合文化服务中心": "公共文化室",
    "农家书屋": "公共文化室", "文化广场": "公共文化室",
    "日间照料": "日间照料中心", "日间照料站": "日间照料中心", "老年日间照料中心": "日间照料中心",
    "幸福院": "互助幸福院", "农村互助幸福院": "互助幸福院", "老年幸福院": "互助幸福院",
    "老年饭桌": "老饭桌", "长者食堂": "老饭桌", "老年餐桌": "老饭桌", "爱心食堂": "老饭桌",
    "便民服务中心": "综合服务中心", "党群服务中心": "综合服务中心", "为民服务中心": "综合服务中心",
    "综合服务站": "综合服务中心", "村级综合服务中心": "综合服务中心",
    "九年一贯制学校(小学部)": "九年一贯制学校", "一贯制学校": "九年一贯制学校",
    "初级中学(寄宿制)": "初中", "寄宿制初中": "初中", "寄宿制小学": "小学",
}  # fmt: skip

TELECOM_KINDS = ("5G", "千兆光纤", "4G")
TELECOM_KIND_ALIASES = {
    "5g": "5G", "5G网络": "5G", "5g网络": "5G", "千兆": "千兆光纤", "光纤": "千兆光纤",
    "千兆宽带": "千兆光纤", "ftth": "千兆光纤", "4g": "4G", "4G网络": "4G",
}  # fmt: skip

ENV_KINDS = ("污水处理站", "垃圾收集点", "垃圾转运站", "公共厕所", "其他")
ENV_KIND_ALIASES = {
    "污水处理厂": "污水处理站", "污水站": "污水处理站", "一体化污水处理设备": "污水处理站",
    "污水处理设施": "污水处理站", "垃圾收集房": "垃圾收集点", "垃圾收集池": "垃圾收集点",
    "垃圾箱": "垃圾收集点", "垃圾池": "垃圾收集点", "收集点": "垃圾收集点",
    "垃圾中转站": "垃圾转运站", "转运站": "垃圾转运站", "公厕": "公共厕所", "厕所": "公共厕所",
}  # fmt: skip

HOUSING_KINDS = ("危房", "危窑")
HOUSING_KIND_ALIASES = {
    "危窑洞": "危窑", "窑洞": "危窑", "危旧窑洞": "危窑", "危旧房": "危房", "C级危房": "危房",
    "D级危房": "危房", "农村危房": "危房", "C级": "危房", "D级": "危房", "危房(C级)": "危房",
    "危房(D级)": "危房",
}  # fmt: skip

CODE6, CODE9, CODE12 = r"\d{6}", r"\d{9}", r"\d{12}"

_CODE_LIST_SEPARATORS = re.compile(r"[;；,，\s]+")


def split_codes(text: object) -> list[str]:
    """Return the codes of a code list (``serves_codes``): separated by ; ； , ， or blanks.

    Examples
    --------
    >>> split_codes("640324100201；640324100202, 640324100203")
    ['640324100201', '640324100202', '640324100203']
    >>> split_codes(None)
    []
    """
    if text is None or (isinstance(text, float) and text != text):
        return []
    return [c for c in _CODE_LIST_SEPARATORS.split(str(text)) if c]


def _source() -> Field:
    return Field("source", "str", False, "数据来源", default="")


def _status() -> Field:
    return Field(
        "status", "str", False, "状态", allowed=STATUSES, value_aliases=STATUS_ALIASES,
        default="现状",
    )  # fmt: skip


def _count(name: str, title: str, *, required: bool = True) -> Field:
    return Field(name, "int", required, title, min_value=0, max_value=1_000_000)


# -------------------------------------------------------------------------- schemas

_SCHEMAS = (
    LayerSchema(
        "county", "县界", POLYGON, id_field="code",
        fields=(
            Field("code", "str", True, "县级行政区划代码", pattern=CODE6),
            Field("name", "str", True, "名称"),
            _source(),
        ),
    ),
    LayerSchema(
        "townships", "乡镇", POLYGON, id_field="code",
        fields=(
            Field("code", "str", True, "乡镇代码", pattern=CODE9),
            Field("name", "str", True, "名称"),
            _source(),
        ),
    ),
    LayerSchema(
        "admin_villages", "行政村", (*POLYGON, *POINT), id_field="code",
        fields=(
            Field("code", "str", True, "行政村代码", pattern=CODE12),
            Field("name", "str", True, "名称"),
            Field("township_code", "str", True, "乡镇代码", pattern=CODE9),
            Field("village_class", "str", True, "村庄分类", allowed=VILLAGE_CLASSES,
                  value_aliases=VILLAGE_CLASS_ALIASES),
            _count("population", "常住人口"),
            _count("households", "常住户数", required=False),
            Field("kind", "str", False, "类别", allowed=ADMIN_VILLAGE_KINDS,
                  value_aliases=ADMIN_VILLAGE_KIND_ALIASES, default="村委会"),
            # per-village attributes of the 通信 and 人居环境 indicators (STANDARDS §5):
            # no default, so an absent column or an empty cell is 无数据, never 否 or 0
            Field("key_village", "bool", False, "重点村"),
            Field("has_5g", "bool", False, "通5G"),
            Field("has_gigabit", "bool", False, "通千兆光纤"),
            Field("sewage_treated", "bool", False, "生活污水得到治理"),
            Field("waste_treated", "bool", False, "生活垃圾得到收运处理"),
            Field("toilet_households", "int", False, "卫生厕所户数", min_value=0,
                  max_value=1_000_000),
            _source(),
        ),
    ),
    LayerSchema(
        "natural_villages", "自然村", POINT, id_field="id",
        fields=(
            Field("id", "str", True, "自然村编号"),
            Field("name", "str", True, "名称"),
            Field("admin_village_code", "str", True, "行政村代码", pattern=CODE12),
            _count("households", "常住户数"),
            _count("population", "常住人口"),
            Field("relocation_planned", "bool", False, "规划搬迁撤并", default=False),
            Field("storeys", "int", False, "主要建筑层数", min_value=1, max_value=30, default=1),
            Field("water_node", "str", False, "供水节点", default=""),
            # 义务教育就近入学: school-age children where the county has them (else 无数据)
            Field("primary_children", "int", False, "小学适龄儿童数", min_value=0,
                  max_value=100_000),
            Field("junior_children", "int", False, "初中适龄少年数", min_value=0,
                  max_value=100_000),
            _source(),
        ),
    ),
    LayerSchema(
        "relocation_sites", "移民安置区", (*POINT, *POLYGON), id_field="id",
        fields=(
            Field("id", "str", True, "安置区编号"),
            Field("name", "str", True, "名称"),
            Field("admin_village_code", "str", True, "行政村代码", pattern=CODE12),
            _count("households", "安置户数"),
            _count("population", "安置人口"),
            Field("key_site", "bool", False, "重点移民村", default=False),
            _source(),
        ),
    ),
    LayerSchema(
        "roads", "道路", LINE, id_field="id",
        fields=(
            Field("id", "str", True, "道路编号"),
            Field("name", "str", False, "名称", default=""),
            Field("road_class", "str", True, "道路等级", allowed=ROAD_CLASSES,
                  value_aliases=ROAD_CLASS_ALIASES),
            Field("surface", "str", True, "路面类型", allowed=SURFACES,
                  value_aliases=SURFACE_ALIASES),
            Field("width_m", "float", True, "路面宽度(米)", min_value=0.5, max_value=80.0),
            _status(),
            _source(),
        ),
    ),
    LayerSchema(
        "clinics", "医疗机构", POINT, id_field="id",
        fields=(
            Field("id", "str", True, "机构编号"),
            Field("name", "str", True, "名称"),
            Field("kind", "str", True, "机构类别", allowed=CLINIC_KINDS,
                  value_aliases=CLINIC_KIND_ALIASES),
            Field("admin_village_code", "str", False, "所在行政村代码", pattern=CODE12,
                  default=""),
            Field("township_code", "str", False, "所在乡镇代码", pattern=CODE9, default=""),
            _count("doctors", "乡村医生/执业(助理)医师人数"),
            Field("serves_codes", "str", False, "联合设置服务的行政村代码(分号分隔)",
                  default=""),
            _status(),
            _source(),
        ),
    ),
    LayerSchema(
        "service_points", "便民服务设施", POINT, id_field="id",
        fields=(
            Field("id", "str", True, "设施编号"),
            Field("name", "str", True, "名称"),
            Field("kind", "str", True, "设施类别", allowed=SERVICE_KINDS,
                  value_aliases=SERVICE_KIND_ALIASES),
            _status(),
            _source(),
        ),
    ),
    LayerSchema(
        "water_sources", "水源", POINT, id_field="name",
        fields=(
            Field("name", "str", True, "水源节点名"),
            Field("title", "str", False, "水源名称", default=""),
            Field("kind", "str", True, "水源类别", allowed=WATER_SOURCE_KINDS,
                  value_aliases=WATER_SOURCE_KIND_ALIASES),
            Field("head_m", "float", True, "总水头(米)", min_value=0, max_value=9000),
            Field("capacity_m3d", "float", True, "供水能力(立方米/日)", min_value=0,
                  max_value=10_000_000),
            # the water works' own statistics (STANDARDS §5, 供水): absent = 无数据
            Field("guarantee_rate_pct", "float", False, "供水保证率(%)", min_value=0,
                  max_value=100),
            Field("quality_pass_pct", "float", False, "水质达标率(%)", min_value=0,
                  max_value=100),
            _source(),
        ),
    ),
    LayerSchema(
        "water_nodes", "供水节点", POINT, id_field="name",
        fields=(
            Field("name", "str", True, "节点名"),
            Field("node_type", "str", True, "节点类型", allowed=NODE_TYPES,
                  value_aliases=NODE_TYPE_ALIASES),
            Field("elevation_m", "float", True, "高程(米)", min_value=-500, max_value=9000),
            Field("init_level_m", "float", False, "水池初始水位(米)", min_value=0, default=0.0),
            Field("min_level_m", "float", False, "水池最低水位(米)", min_value=0, default=0.0),
            Field("max_level_m", "float", False, "水池最高水位(米)", min_value=0, default=0.0),
            Field("tank_diameter_m", "float", False, "水池直径(米)", min_value=0, default=0.0),
            _source(),
        ),
    ),
    LayerSchema(
        "water_pipes", "供水管道", LINE, id_field="name",
        fields=(
            Field("name", "str", True, "管道名"),
            Field("start_node_name", "str", True, "起点节点"),
            Field("end_node_name", "str", True, "终点节点"),
            Field("length_m", "float", True, "管长(米)", min_value=0.01, max_value=200_000),
            Field("diameter_mm", "float", True, "管径(毫米)", min_value=1, max_value=5000),
            Field("roughness", "float", False, "海曾-威廉系数", min_value=1, max_value=200,
                  default=130.0),
            Field("initial_status", "str", False, "初始状态", allowed=PIPE_STATUSES,
                  value_aliases=PIPE_STATUS_ALIASES, default="Open"),
            _status(),
            _source(),
        ),
    ),
    LayerSchema(
        "public_facilities", "公共服务设施", POINT, id_field="id",
        fields=(
            Field("id", "str", True, "设施编号"),
            Field("name", "str", True, "名称"),
            Field("kind", "str", True, "设施类别", allowed=PUBLIC_KINDS,
                  value_aliases=PUBLIC_KIND_ALIASES),
            Field("admin_village_code", "str", False, "所在行政村代码", pattern=CODE12,
                  default=""),
            Field("township_code", "str", False, "所在乡镇代码", pattern=CODE9, default=""),
            Field("boarding", "bool", False, "寄宿制", default=False),
            Field("serves_codes", "str", False, "服务范围行政村代码(分号分隔)", default=""),
            _status(),
            _source(),
        ),
    ),
    LayerSchema(
        "telecom_coverage", "通信覆盖", POLYGON, id_field="id",
        fields=(
            Field("id", "str", True, "覆盖区编号"),
            Field("kind", "str", True, "网络类别", allowed=TELECOM_KINDS,
                  value_aliases=TELECOM_KIND_ALIASES),
            Field("operator", "str", False, "运营商", default=""),
            _status(),
            _source(),
        ),
    ),
    LayerSchema(
        "env_facilities", "环卫设施", POINT, id_field="id",
        fields=(
            Field("id", "str", True, "设施编号"),
            Field("name", "str", True, "名称"),
            Field("kind", "str", True, "设施类别", allowed=ENV_KINDS,
                  value_aliases=ENV_KIND_ALIASES),
            Field("serves_codes", "str", False, "服务的行政村代码(分号分隔)", default=""),
            _status(),
            _source(),
        ),
    ),
    LayerSchema(
        "housing_survey", "农村住房安全排查", POINT, id_field="id",
        fields=(
            Field("id", "str", True, "房屋编号"),
            Field("admin_village_code", "str", True, "行政村代码", pattern=CODE12),
            Field("village_id", "str", False, "自然村编号", default=""),
            Field("kind", "str", True, "危房类别", allowed=HOUSING_KINDS,
                  value_aliases=HOUSING_KIND_ALIASES),
            Field("households", "int", False, "户数", min_value=1, max_value=1000, default=1),
            Field("rectified", "bool", False, "已改造", default=False),
            _source(),
        ),
    ),
)  # fmt: skip

LAYERS: Mapping[str, LayerSchema] = MappingProxyType({s.name: s for s in _SCHEMAS})
"""All layer schemas by name."""

LAYER_ORDER: tuple[str, ...] = tuple(s.name for s in _SCHEMAS)
"""Layer names in dependency order (boundaries first)."""


CORE_LAYERS: tuple[str, ...] = (
    "county",
    "townships",
    "admin_villages",
    "natural_villages",
    "roads",
    "clinics",
)
"""Layers a county analysis cannot do without: each must be present and non-empty.

The county boundary places everything; townships and admin villages are the roll-up
units; natural villages and roads are the 通硬化路 analysis; clinics are the blank-spot
analysis (an empty clinics layer would make every admin village a blank spot). The other
layers are optional: an absent facility layer gives its analysis's 无数据 answer
(STANDARDS §5), never "met" and never zero.
"""


def get_schema(layer: str) -> LayerSchema:
    """Return the schema of ``layer``.

    Raises
    ------
    LayerError
        If there is no such layer; the message lists the known layers.
    """
    from layers.errors import LayerError

    try:
        return LAYERS[layer]
    except KeyError:
        known = ", ".join(LAYER_ORDER)
        raise LayerError(
            f"unknown layer {layer!r}; use one of: {known}",
            zh=f"未知图层“{layer}”，可用图层：{known}",
        ) from None
