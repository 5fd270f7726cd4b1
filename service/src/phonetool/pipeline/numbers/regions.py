"""China's provinces: how the geocoder writes them, and how members may name them."""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple


class Province(NamedTuple):
    short: str  # as a prefix of the geocoder's Chinese description: "江苏"
    name: str  # the full Chinese name: "江苏省"
    name_en: str


PROVINCES: tuple[Province, ...] = (
    Province("北京", "北京市", "Beijing"),
    Province("天津", "天津市", "Tianjin"),
    Province("上海", "上海市", "Shanghai"),
    Province("重庆", "重庆市", "Chongqing"),
    Province("河北", "河北省", "Hebei"),
    Province("山西", "山西省", "Shanxi"),
    Province("辽宁", "辽宁省", "Liaoning"),
    Province("吉林", "吉林省", "Jilin"),
    Province("黑龙江", "黑龙江省", "Heilongjiang"),
    Province("江苏", "江苏省", "Jiangsu"),
    Province("浙江", "浙江省", "Zhejiang"),
    Province("安徽", "安徽省", "Anhui"),
    Province("福建", "福建省", "Fujian"),
    Province("江西", "江西省", "Jiangxi"),
    Province("山东", "山东省", "Shandong"),
    Province("河南", "河南省", "Henan"),
    Province("湖北", "湖北省", "Hubei"),
    Province("湖南", "湖南省", "Hunan"),
    Province("广东", "广东省", "Guangdong"),
    Province("海南", "海南省", "Hainan"),
    Province("四川", "四川省", "Sichuan"),
    Province("贵州", "贵州省", "Guizhou"),
    Province("云南", "云南省", "Yunnan"),
    Province("陕西", "陕西省", "Shaanxi"),
    Province("甘肃", "甘肃省", "Gansu"),
    Province("青海", "青海省", "Qinghai"),
    Province("台湾", "台湾省", "Taiwan"),
    Province("内蒙古", "内蒙古自治区", "Inner Mongolia"),
    Province("广西", "广西壮族自治区", "Guangxi"),
    Province("西藏", "西藏自治区", "Tibet"),
    Province("宁夏", "宁夏回族自治区", "Ningxia"),
    Province("新疆", "新疆维吾尔自治区", "Xinjiang"),
    Province("香港", "香港特别行政区", "Hong Kong"),
    Province("澳门", "澳门特别行政区", "Macau"),
)

_BY_KEY: dict[str, Province] = {}
for _p in PROVINCES:
    for _key in (_p.short, _p.name, _p.name_en.lower(), _p.name_en.lower().replace(" ", "")):
        _BY_KEY[_key] = _p


def find_province(name: str) -> Province | None:
    """A province by any of its names: 广东, 广东省, Guangdong, guangdong."""
    key = name.strip()
    return _BY_KEY.get(key) or _BY_KEY.get(key.lower().replace(" ", ""))


@lru_cache(maxsize=4096)  # a few hundred cities: the answers repeat for every number
def split_description(zh: str) -> tuple[Province | None, str | None]:
    """Split the geocoder's "江苏省连云港市" into the province and "连云港市"."""
    for province in PROVINCES:
        if zh.startswith(province.short):
            rest = zh[len(province.short) :]
            for suffix in (
                "特别行政区",
                "维吾尔自治区",
                "回族自治区",
                "壮族自治区",
                "自治区",
                "省",
                "市",
            ):
                if rest.startswith(suffix):
                    rest = rest[len(suffix) :]
                    break
            return province, rest or province.name
    return None, None
