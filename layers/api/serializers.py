"""Response shapes for the OpenAPI schema (the views build their JSON directly; see layers.features)."""

from __future__ import annotations

from rest_framework import serializers


class AttributeSerializer(serializers.Serializer):
    name = serializers.CharField()
    title_zh = serializers.CharField()
    title_en = serializers.CharField()
    type = serializers.ChoiceField(["string", "integer", "number", "date", "datetime"])
    min_zoom = serializers.IntegerField(help_text="first vector-tile zoom carrying this attribute")
    codelist = serializers.CharField(allow_null=True, help_text="代码表 the code list its values belong to")


class LayerSerializer(serializers.Serializer):
    name = serializers.CharField()
    title_zh = serializers.CharField()
    title_en = serializers.CharField()
    description_zh = serializers.CharField()
    geometry_type = serializers.CharField()
    min_zoom = serializers.IntegerField()
    max_zoom = serializers.IntegerField()
    attributes = AttributeSerializer(many=True)
    style = serializers.DictField()
    lookups = serializers.ListField(child=serializers.CharField())
    links = serializers.DictField(child=serializers.URLField())


class RecordSerializer(serializers.Serializer):
    layer = serializers.CharField()
    title_zh = serializers.CharField()
    title_en = serializers.CharField()
    system = serializers.CharField()
    id = serializers.IntegerField()
    properties = serializers.DictField()
    lineage = serializers.DictField(allow_null=True, help_text="来源系统、文件、行号、加载批次 …")
    labels = serializers.DictField(
        child=serializers.CharField(), help_text="代码含义 names of coded values, e.g. {yt: 城镇住宅用地}"
    )
    bbox = serializers.ListField(child=serializers.FloatField(), help_text="minx, miny, maxx, maxy (4490)")


class IdentifySerializer(serializers.Serializer):
    lon = serializers.FloatField()
    lat = serializers.FloatField()
    count = serializers.IntegerField()
    systems = serializers.DictField(child=RecordSerializer(many=True))


class LookupSerializer(serializers.Serializer):
    kind = serializers.CharField()
    value = serializers.CharField()
    count = serializers.IntegerField()
    results = serializers.ListField(child=serializers.DictField())


class SearchResultSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(["zddm", "bdcdyh", "permit", "contract", "address"])
    layer = serializers.CharField()
    title_zh = serializers.CharField()
    title_en = serializers.CharField()
    id = serializers.IntegerField()
    value = serializers.CharField(help_text="the matched code, address or project name")
    label = serializers.CharField(help_text="e.g. 500103001001GB00001 · 渝中区解放碑路12号")
    bbox = serializers.ListField(child=serializers.FloatField(), help_text="minx, miny, maxx, maxy (4490)")


class SearchSerializer(serializers.Serializer):
    q = serializers.CharField()
    results = SearchResultSerializer(many=True)


class LoadSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    system = serializers.CharField()
    finished_at = serializers.DateTimeField()
    counts = serializers.DictField(help_text="added, updated, unchanged, deleted, rejected … as stored")
    extent = serializers.ListField(
        child=serializers.FloatField(), allow_null=True, help_text="changed extent (4490) or null"
    )


class LoadsSerializer(serializers.Serializer):
    results = LoadSerializer(many=True)
