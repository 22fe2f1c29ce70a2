"""Response shapes for the OpenAPI schema (the views build their JSON directly; see layers.features)."""

from __future__ import annotations

from rest_framework import serializers


class AttributeSerializer(serializers.Serializer):
    name = serializers.CharField()
    title_zh = serializers.CharField()
    title_en = serializers.CharField()
    type = serializers.ChoiceField(["string", "integer", "number", "date", "datetime"])
    min_zoom = serializers.IntegerField(help_text="first vector-tile zoom carrying this attribute")


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
