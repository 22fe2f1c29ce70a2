"""Request and response shapes of ``/api/queries/`` for the OpenAPI schema.

The views validate with :mod:`analysis.query` (errors with JSON paths, in Chinese and English); these
serializers only describe the JSON for drf-spectacular, so the schema and the engine cannot disagree about
what is validated, only about what is documented, and the tests compare the two (test_analysis_api).
"""

from __future__ import annotations

from drf_spectacular.utils import PolymorphicProxySerializer
from rest_framework import serializers

from analysis.query import AGGREGATES, COMPARE_OPS, OPS, PREDICATES

FIELD_HELP = (
    "图层属性名，或虚拟字段 area_m2（椭球面积 m²）、county（所在区县代码）、year:<日期字段>、"
    "class1:<地类字段>（GB/T 21010 一级类）。A registry attribute, or area_m2, county, year:<date>, "
    "class1:<GB/T 21010 code>."
)


class FilterSerializer(serializers.Serializer):
    field = serializers.CharField(help_text=FIELD_HELP)
    op = serializers.ChoiceField(OPS)
    value = serializers.JSONField(
        required=False,
        allow_null=True,
        help_text="eq/ne: a value; in: a list; range: [min|null, max|null] (numbers, ISO dates or "
        "today, today-1y, today-30d …); contains: text; null/notnull: none",
    )


class CompareSerializer(serializers.Serializer):
    field = serializers.CharField(help_text="目标图层字段 field of the target layer")
    op = serializers.ChoiceField(COMPARE_OPS)
    other = serializers.CharField(help_text="另一图层字段 field of the other layer (same type)")


class SpatialSerializer(serializers.Serializer):
    predicate = serializers.ChoiceField(
        PREDICATES,
        help_text="目标与另一对象的关系：intersects 相交, within 在其内, contains 包含, "
        "dwithin 距离内（米）, disjoint 与该图层任何要素都不相交 (NOT EXISTS)",
    )
    layer = serializers.CharField(required=False, help_text="另一图层 another registry layer")
    geometry = serializers.JSONField(required=False, help_text="GeoJSON 几何，EPSG:4490 经纬度")
    county = serializers.CharField(required=False, help_text="区县代码 e.g. 500103")
    distance = serializers.FloatField(required=False, help_text="米 metres (dwithin only, ≤ 100000)")
    filters = FilterSerializer(many=True, required=False, help_text="另一图层上的属性条件")
    compare = CompareSerializer(
        many=True, required=False, help_text="目标要素与另一图层要素的字段比较（空值不参与）"
    )
    exclude_intersecting = serializers.BooleanField(
        required=False, help_text="dwithin: 只算不与目标相交的要素 (near a feature it does not touch)"
    )


class AggregateSerializer(serializers.Serializer):
    fn = serializers.ChoiceField(AGGREGATES)
    field = serializers.CharField(required=False, help_text="sum/avg: a numeric field, e.g. area_m2")


class QuerySerializer(serializers.Serializer):
    layer = serializers.CharField(help_text="目标图层 target layer, e.g. landsupply")
    filters = FilterSerializer(many=True, required=False)
    spatial = SpatialSerializer(many=True, required=False)
    buffer = serializers.FloatField(required=False, help_text="目标缓冲（米，≤ 10000）buffer in metres")
    group_by = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text="e.g. county, class1:land_use, year:supplied_on",
    )
    aggregates = AggregateSerializer(many=True, required=False)
    order_by = serializers.CharField(required=False, help_text="e.g. -area_m2 (groups: -count, sum_area_m2)")
    limit = serializers.IntegerField(required=False, help_text="features 100 by default; ≤ ANALYSIS_MAX_ROWS")
    offset = serializers.IntegerField(required=False)
    crs = serializers.IntegerField(required=False, help_text="4490 (default), 4326, 3857, 4491–4554")


class SavedRunSerializer(serializers.Serializer):
    saved = serializers.IntegerField(help_text="已保存查询的编号 id of a saved query")
    limit = serializers.IntegerField(required=False)
    offset = serializers.IntegerField(required=False)
    order_by = serializers.CharField(required=False)
    crs = serializers.IntegerField(required=False)


RunRequestSerializer = PolymorphicProxySerializer(
    component_name="QueryRunRequest",
    serializers=[QuerySerializer, SavedRunSerializer],
    resource_type_field_name=None,
)


class ColumnSerializer(serializers.Serializer):
    name = serializers.CharField()
    title_zh = serializers.CharField()
    title_en = serializers.CharField()
    type = serializers.ChoiceField(["string", "integer", "number", "date", "datetime"])
    codelist = serializers.CharField(allow_null=True)


class FeaturesResultSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(["features"])
    layer = serializers.CharField()
    total = serializers.IntegerField()
    limit = serializers.IntegerField()
    offset = serializers.IntegerField()
    crs = serializers.IntegerField()
    columns = ColumnSerializer(many=True)
    sql_ms = serializers.FloatField()
    features = serializers.DictField(help_text="GeoJSON FeatureCollection; properties = columns")


class GroupsResultSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(["groups"])
    layer = serializers.CharField()
    columns = ColumnSerializer(many=True, help_text="group columns (+ <name>_label), then aggregates")
    rows = serializers.ListField(child=serializers.ListField())
    total_groups = serializers.IntegerField()
    sql_ms = serializers.FloatField()


ResultSerializer = PolymorphicProxySerializer(
    component_name="QueryResult",
    serializers={"features": FeaturesResultSerializer, "groups": GroupsResultSerializer},
    resource_type_field_name="kind",
)


class SavedQuerySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField()
    layer = serializers.CharField(allow_null=True)
    owner = serializers.CharField(allow_null=True, help_text="所有者用户名；示例为 null")
    shared = serializers.BooleanField()
    is_example = serializers.BooleanField()
    editable = serializers.BooleanField(help_text="当前用户可否修改或删除 whether you may change it")
    query = QuerySerializer()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class SavedListSerializer(serializers.Serializer):
    results = SavedQuerySerializer(many=True)


class SavedWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True)
    shared = serializers.BooleanField(required=False, help_text="与其他分析人员共享 share with the others")
    query = QuerySerializer()


class ExportRequestSerializer(serializers.Serializer):
    query = QuerySerializer(required=False, help_text="查询模型；或用 saved")
    saved = serializers.IntegerField(required=False, help_text="已保存查询的编号；或用 query")
    format = serializers.ChoiceField(["csv", "xlsx", "gpkg", "geojson"])
    crs = serializers.IntegerField(
        required=False,
        help_text="4490 (default: the query's crs) or a CGCS2000 GK zone 4491–4554; also 4326, 3857",
    )


class ExportQueuedSerializer(serializers.Serializer):
    job = serializers.IntegerField()
    status = serializers.ChoiceField(["queued"])
    status_url = serializers.CharField(help_text="/api/queries/exports/<id>/")


class ExportJobSerializer(serializers.Serializer):
    job = serializers.IntegerField()
    status = serializers.ChoiceField(["queued", "running", "done", "failed"])
    percent = serializers.IntegerField()
    rows = serializers.IntegerField(help_text="rows written so far")
    total = serializers.IntegerField(help_text="rows counted when the export was queued")
    format = serializers.CharField()
    crs = serializers.IntegerField()
    download_url = serializers.CharField(allow_null=True, help_text="when done; the owner only")
    filename = serializers.CharField(allow_null=True)
    error = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)


class ErrorDetailSerializer(serializers.Serializer):
    path = serializers.CharField(help_text="JSON path of the bad value, e.g. filters[1].value")
    message_zh = serializers.CharField()
    message_en = serializers.CharField()
    code = serializers.CharField(required=False, help_text="timeout when the statement timeout hit")


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()
