"""The unified schema: one table per kind of feature, whatever business system it came from.

Modelled on TD/T 1066 (不动产登记数据库标准). Field names are English; each field keeps the standard's
code as its database column (``db_column``) and in its verbose name, so SQL users and exports speak TD/T 1066
(``zddm``, ``zl``, ``zdmj`` ...). Geometry is stored in CGCS2000 lon/lat (EPSG:4490); areas are never
computed from it in degrees (see :mod:`layers.selectors`).

Every unified row carries its lineage (which system, file, row and load produced it) and a version number.
A trigger (migration 0002) copies the old row into ``<table>_history`` before every real update and on
delete, so nothing is overwritten without a trace, whichever code path (ORM, bulk SQL, COPY) writes.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.gis.db import models
from django.contrib.postgres.indexes import GinIndex
from django.db.models.functions import Collate, Upper
from django.utils import timezone

SRID = 4490  # CGCS2000


class Lineage(models.Model):
    """Where a unified row came from. ``load_run`` is the id of ``etl.LoadRun`` (kept as a plain integer:
    the schema app imports no other app of ours)."""

    src_system = models.CharField("来源系统 source system", max_length=32)
    src_file = models.CharField("来源文件 source file", max_length=500, blank=True)
    src_checksum = models.CharField("文件校验和 file SHA-256", max_length=64, blank=True)
    src_layer = models.CharField("来源图层 source layer", max_length=200, blank=True)
    src_row = models.IntegerField("来源行号 source row", null=True, blank=True)
    load_run = models.BigIntegerField("加载批次 load run", null=True, blank=True, db_index=True)
    mapping_version = models.CharField("映射版本 mapping version", max_length=64, blank=True)
    loaded_at = models.DateTimeField("加载时间 loaded at", default=timezone.now)
    version = models.IntegerField("版本 row version", default=1, editable=False)
    # md5 of the normalised values and geometry: lets a re-load tell "unchanged" without comparing geometries
    content_hash = models.CharField("内容摘要 content hash", max_length=32, blank=True, editable=False)

    class Meta:
        abstract = True
        # Plain btree indexes declared here rather than ``db_index=True``: on PostgreSQL Django adds a second
        # ``varchar_pattern_ops`` index to every indexed or unique CharField (for LIKE), which nothing here
        # uses and every load pays for. Natural keys are UniqueConstraints for the same reason.
        indexes = [models.Index(fields=["src_system"], name="%(class)s_src_system")]


def code_search_index(field: str, name: str) -> models.Index:
    """The index of the search box's case-insensitive prefix match on a business code (``layers.search``):
    byte order ("C") serves both ``LIKE 'ABC%'`` and the order of the suggestions, whatever the database's
    collation."""
    return models.Index(Collate(Upper(field), "C"), name=name)


def text_search_index(field: str, name: str) -> GinIndex:
    """The trigram index of the search box's substring match on an address or a project name."""
    return GinIndex(fields=[field], opclasses=["gin_trgm_ops"], name=name)


# The lineage columns in definition order (the ETL stages them in this order).
LINEAGE_FIELDS = tuple(f.name for f in Lineage._meta.fields)


class Parcel(Lineage):
    """宗地 (ZDJBXX 宗地基本信息)."""

    class Status(models.TextChoices):
        CURRENT = "current", "现势"
        HISTORIC = "historic", "历史"
        PENDING = "pending", "临时"

    bsm = models.BigIntegerField("标识码 BSM", null=True, blank=True, db_column="bsm")
    zddm = models.CharField("宗地代码 ZDDM", max_length=19, db_column="zddm")
    bdcdyh = models.CharField("不动产单元号 BDCDYH", max_length=28, blank=True, db_column="bdcdyh")
    county_code = models.CharField("区县代码 QXDM", max_length=6, db_column="qxdm")
    address = models.CharField("坐落 ZL", max_length=300, blank=True, db_column="zl")
    declared_area = models.DecimalField(
        "宗地面积(m²) ZDMJ", max_digits=14, decimal_places=2, null=True, blank=True, db_column="zdmj"
    )
    land_use = models.CharField("用途 YT (GB/T 21010-2017)", max_length=8, blank=True, db_column="yt")
    right_type = models.CharField("权利类型 QLLX", max_length=8, blank=True, db_column="qllx")
    right_nature = models.CharField("权利性质 QLXZ", max_length=8, blank=True, db_column="qlxz")
    right_setting = models.CharField("权利设定方式 QLSDFS", max_length=8, blank=True, db_column="qlsdfs")
    plot_ratio = models.DecimalField(
        "容积率 RJL", max_digits=8, decimal_places=2, null=True, blank=True, db_column="rjl"
    )
    building_density = models.DecimalField(
        "建筑密度(%) JZMD", max_digits=8, decimal_places=2, null=True, blank=True, db_column="jzmd"
    )
    height_limit = models.DecimalField(
        "建筑限高(m) JZXG", max_digits=8, decimal_places=2, null=True, blank=True, db_column="jzxg"
    )
    holder = models.CharField("权利人 QLR", max_length=300, blank=True, db_column="qlr")
    registered_on = models.DateField("登记时间 DJSJ", null=True, blank=True, db_column="djsj")
    registrar = models.CharField("登簿人 DBR", max_length=100, blank=True, db_column="dbr")
    status = models.CharField(
        "状态 ZT", max_length=16, choices=Status.choices, default=Status.CURRENT, db_column="zt"
    )
    remarks = models.TextField("备注 BZ", blank=True, db_column="bz")
    geom = models.MultiPolygonField("宗地范围 geometry", srid=SRID)

    class Meta(Lineage.Meta):
        verbose_name = "宗地 parcel"
        verbose_name_plural = "宗地 parcels"
        indexes = [
            *Lineage.Meta.indexes,
            models.Index(fields=["county_code"], name="parcel_qxdm"),
            code_search_index("zddm", "parcel_zddm_search"),
            code_search_index("bdcdyh", "parcel_bdcdyh_search"),
            text_search_index("address", "parcel_zl_search"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["zddm"], name="parcel_natural_key"),
            models.CheckConstraint(condition=models.Q(declared_area__gte=0), name="parcel_area_not_negative"),
        ]

    def __str__(self) -> str:
        return self.zddm


class Building(Lineage):
    """自然幢 (ZRZ). ``zddm`` is the parcel code as the source states it, not a foreign key: a building that
    names a missing parcel is a finding for the consistency checks, not a load error."""

    bsm = models.BigIntegerField("标识码 BSM", null=True, blank=True, db_column="bsm")
    bdcdyh = models.CharField("不动产单元号 BDCDYH", max_length=28, db_column="bdcdyh")
    zddm = models.CharField("宗地代码 ZDDM", max_length=19, blank=True, db_column="zddm")
    zrzh = models.CharField("自然幢号 ZRZH", max_length=24, db_column="zrzh")
    project_name = models.CharField("项目名称 XMMC", max_length=300, blank=True, db_column="xmmc")
    name = models.CharField("建筑物名称 JZWMC", max_length=300, blank=True, db_column="jzwmc")
    completed_on = models.DateField("竣工日期 JGRQ", null=True, blank=True, db_column="jgrq")
    height = models.DecimalField(
        "建筑物高度(m) JZWGD", max_digits=8, decimal_places=2, null=True, blank=True, db_column="jzwgd"
    )
    footprint_area = models.DecimalField(
        "幢占地面积(m²) ZZDMJ", max_digits=14, decimal_places=2, null=True, blank=True, db_column="zzdmj"
    )
    floor_area = models.DecimalField(
        "实测建筑面积(m²) SCJZMJ", max_digits=14, decimal_places=2, null=True, blank=True, db_column="scjzmj"
    )
    planned_floor_area = models.DecimalField(
        "预测建筑面积(m²) YCJZMJ", max_digits=14, decimal_places=2, null=True, blank=True, db_column="ycjzmj"
    )
    floors = models.IntegerField("总层数 ZCS", null=True, blank=True, db_column="zcs")
    floors_above = models.IntegerField("地上层数 DSCS", null=True, blank=True, db_column="dscs")
    floors_below = models.IntegerField("地下层数 DXCS", null=True, blank=True, db_column="dxcs")
    planned_use = models.CharField("规划用途 GHYT", max_length=8, blank=True, db_column="ghyt")
    structure = models.CharField("房屋结构 FWJG", max_length=8, blank=True, db_column="fwjg")
    units = models.IntegerField("总套数 ZTS", null=True, blank=True, db_column="zts")
    geom = models.MultiPolygonField("幢轮廓 footprint", srid=SRID)

    class Meta(Lineage.Meta):
        verbose_name = "自然幢 building"
        verbose_name_plural = "自然幢 buildings"
        indexes = [
            *Lineage.Meta.indexes,
            models.Index(fields=["zddm"], name="building_zddm"),
            code_search_index("bdcdyh", "building_bdcdyh_search"),
            code_search_index("zddm", "building_zddm_search"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["bdcdyh", "zrzh"], name="building_natural_key"),
        ]

    def __str__(self) -> str:
        return f"{self.bdcdyh}/{self.zrzh}"


class PlanningPermit(Lineage):
    """规划许可证. There is no TD/T table for permits; the fields are those printed on the permit."""

    class Kind(models.TextChoices):
        LAND = "land", "建设用地规划许可证"
        WORKS = "works", "建设工程规划许可证"

    permit_no = models.CharField("许可证号", max_length=64)
    kind = models.CharField("证件类型", max_length=8, choices=Kind.choices)
    project_name = models.CharField("项目名称", max_length=300, blank=True)
    developer = models.CharField("建设单位", max_length=300, blank=True)
    land_use = models.CharField("用地性质 (GB/T 21010-2017)", max_length=8, blank=True)
    land_area = models.DecimalField("用地面积(m²)", max_digits=14, decimal_places=2, null=True, blank=True)
    floor_area = models.DecimalField("建筑面积(m²)", max_digits=14, decimal_places=2, null=True, blank=True)
    issued_on = models.DateField("发证日期", null=True, blank=True)
    geom = models.MultiPolygonField("用地红线 red line", srid=SRID)

    class Meta(Lineage.Meta):
        verbose_name = "规划许可 planning permit"
        verbose_name_plural = "规划许可 planning permits"
        indexes = [
            *Lineage.Meta.indexes,
            code_search_index("permit_no", "permit_no_search"),
            text_search_index("project_name", "permit_project_search"),
        ]
        constraints = [models.UniqueConstraint(fields=["permit_no"], name="permit_natural_key")]

    def __str__(self) -> str:
        return self.permit_no


class LandSupply(Lineage):
    """供地 (出让合同 / 划拨决定书 / 租赁合同): the record the idle-land analyses start from."""

    class Method(models.TextChoices):
        TRANSFER = "transfer", "出让"
        ALLOCATION = "allocation", "划拨"
        LEASE = "lease", "租赁"

    contract_no = models.CharField("合同编号/划拨决定书号", max_length=100)
    method = models.CharField("供地方式", max_length=16, choices=Method.choices)
    zddm = models.CharField("宗地代码 ZDDM", max_length=19, blank=True)
    project_name = models.CharField("项目名称", max_length=300, blank=True)
    grantee = models.CharField("受让人/用地单位", max_length=300, blank=True)
    address = models.CharField("坐落", max_length=300, blank=True)
    county_code = models.CharField("区县代码", max_length=6, blank=True)
    land_use = models.CharField("土地用途 (GB/T 21010-2017)", max_length=8, blank=True)
    area = models.DecimalField("供地面积(m²)", max_digits=14, decimal_places=2, null=True, blank=True)
    price_wan = models.DecimalField("成交价款(万元)", max_digits=16, decimal_places=2, null=True, blank=True)
    supplied_on = models.DateField("供地日期/签订日期", null=True, blank=True)
    agreed_start_on = models.DateField("约定开工日期", null=True, blank=True)
    agreed_completion_on = models.DateField("约定竣工日期", null=True, blank=True)
    actual_start_on = models.DateField("实际开工日期", null=True, blank=True)
    actual_completion_on = models.DateField("实际竣工日期", null=True, blank=True)
    investment_planned_wan = models.DecimalField(
        "计划投资(万元)", max_digits=16, decimal_places=2, null=True, blank=True
    )
    investment_done_wan = models.DecimalField(
        "已完成投资(万元)", max_digits=16, decimal_places=2, null=True, blank=True
    )
    geom = models.MultiPolygonField("供地范围 parcel polygon", srid=SRID)

    class Meta(Lineage.Meta):
        verbose_name = "土地供应 land supply"
        verbose_name_plural = "土地供应 land supply"
        indexes = [
            *Lineage.Meta.indexes,
            models.Index(fields=["zddm"], name="landsupply_zddm"),
            models.Index(fields=["county_code"], name="landsupply_county"),
            code_search_index("contract_no", "landsupply_contract_search"),
            code_search_index("zddm", "landsupply_zddm_search"),
            text_search_index("project_name", "landsupply_project_search"),
        ]
        constraints = [models.UniqueConstraint(fields=["contract_no"], name="landsupply_natural_key")]

    def __str__(self) -> str:
        return self.contract_no


class AdminDivision(models.Model):
    """区县 (GB/T 2260). Codes change over time (开县 → 开州区), so each polygon has a validity period."""

    code = models.CharField("行政区划代码", max_length=6, db_index=True)
    name = models.CharField("名称", max_length=100)
    valid_from = models.DateField("启用日期", null=True, blank=True)
    valid_to = models.DateField("停用日期", null=True, blank=True)
    source = models.CharField("来源", max_length=200, blank=True)
    geom = models.MultiPolygonField("范围", srid=SRID)

    class Meta:
        verbose_name = "行政区 administrative division"
        verbose_name_plural = "行政区 administrative divisions"
        constraints = [
            models.UniqueConstraint(fields=["code", "valid_from"], name="admindivision_code_period"),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


# --- history -------------------------------------------------------------------------------------------


class History(models.Model):
    """An old version of a unified row, written by the database trigger, never by application code."""

    class Op(models.TextChoices):
        UPDATE = "U", "更新 update"
        DELETE = "D", "删除 delete"

    record_id = models.BigIntegerField("记录ID", db_index=True)
    version = models.IntegerField("被替换的版本 replaced version")
    op = models.CharField(max_length=1, choices=Op.choices)
    data = models.JSONField("旧值 old values (without geometry)")
    changed_at = models.DateTimeField("变更时间")
    changed_by_run = models.BigIntegerField("变更批次 load run that replaced it", null=True, blank=True)

    class Meta:
        abstract = True
        ordering = ["record_id", "version"]


class ParcelHistory(History):
    geom = models.MultiPolygonField(srid=SRID, null=True)

    class Meta(History.Meta):
        db_table = "layers_parcel_history"


class BuildingHistory(History):
    geom = models.MultiPolygonField(srid=SRID, null=True)

    class Meta(History.Meta):
        db_table = "layers_building_history"


class PlanningPermitHistory(History):
    geom = models.MultiPolygonField(srid=SRID, null=True)

    class Meta(History.Meta):
        db_table = "layers_planningpermit_history"


class LandSupplyHistory(History):
    geom = models.MultiPolygonField(srid=SRID, null=True)

    class Meta(History.Meta):
        db_table = "layers_landsupply_history"


HISTORY_MODELS = {
    Parcel: ParcelHistory,
    Building: BuildingHistory,
    PlanningPermit: PlanningPermitHistory,
    LandSupply: LandSupplyHistory,
}


# --- code lists ----------------------------------------------------------------------------------------


class CodeList(models.Model):
    """A versioned code list (GB/T 21010-2017, GB/T 2260 Chongqing, QLLX ...): data, not code."""

    key = models.SlugField("键", max_length=64, unique=True)
    name = models.CharField("名称", max_length=200)
    standard = models.CharField("标准", max_length=100, blank=True)
    version = models.CharField("版本", max_length=32, blank=True)
    source = models.TextField("来源与可信度 provenance", blank=True)

    class Meta:
        verbose_name = "代码表 code list"
        verbose_name_plural = "代码表 code lists"

    def __str__(self) -> str:
        return f"{self.key} ({self.version})"


class Code(models.Model):
    codelist = models.ForeignKey(CodeList, on_delete=models.CASCADE, related_name="codes")
    code = models.CharField("代码", max_length=16)
    name = models.CharField("名称", max_length=200)
    level = models.PositiveSmallIntegerField("级别", null=True, blank=True)
    parent = models.CharField("上级代码", max_length=16, blank=True)
    valid_from = models.DateField("启用日期", null=True, blank=True)
    valid_to = models.DateField("停用日期", null=True, blank=True)
    extra = models.JSONField("其他属性", default=dict, blank=True)

    class Meta:
        verbose_name = "代码 code"
        verbose_name_plural = "代码 codes"
        ordering = ["codelist", "code", "valid_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["codelist", "code", "valid_from"],
                name="code_unique_per_period",
                nulls_distinct=False,
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class CrosswalkEntry(models.Model):
    """One correspondence between two code lists (e.g. GB/T 21010 2007 → 2017).

    Entries are added, never edited: a correction is a new entry that supersedes the old one, so a load can
    always be replayed with the crosswalk it used.
    """

    class Cardinality(models.TextChoices):
        ONE_TO_ONE = "one-to-one", "一对一"
        ONE_TO_MANY = "one-to-many", "一对多"

    crosswalk = models.SlugField("对照表", max_length=64, db_index=True)
    source_code = models.CharField("源代码", max_length=32)
    source_name = models.CharField("源名称", max_length=200, blank=True)
    target_code = models.CharField("目标代码", max_length=16)
    cardinality = models.CharField(max_length=16, choices=Cardinality.choices)
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    superseded_by = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="supersedes"
    )

    class Meta:
        verbose_name = "代码对照 crosswalk entry"
        verbose_name_plural = "代码对照 crosswalk entries"
        ordering = ["crosswalk", "source_code", "target_code"]

    def __str__(self) -> str:
        return f"{self.crosswalk}: {self.source_code} → {self.target_code}"
