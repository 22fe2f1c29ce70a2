"""The layer registry: declarations checked at registration, roles, and what a load changes."""

from __future__ import annotations

import dataclasses

import pytest

from layers import registry
from layers.registry import Attribute, Layer, RegistryError, Style


def test_every_published_layer_is_registered_with_chinese_and_english_titles():
    names = [layer.name for layer in registry.all_layers()]
    assert names[:6] == ["parcels", "buildings", "permits", "landsupply", "counties", "etl_quarantine"]
    for layer in registry.all_layers():
        assert layer.title_zh and layer.title_en and layer.roles
        assert any("\u4e00" <= ch <= "\u9fff" for ch in layer.title_zh), layer.name


def test_attributes_thin_out_at_small_scales():
    parcels = registry.get("parcels")
    assert [a.column for a in parcels.attributes_at(10)] == ["yt", "zt"]
    assert {"zddm", "qxdm"} <= {a.column for a in parcels.attributes_at(13)}
    assert parcels.attributes_at(20) == parcels.attributes


def test_quarantine_changes_with_every_load_and_parcels_only_with_parcel_loads():
    assert [layer.name for layer in registry.layers_for_targets({"parcel"})] == ["parcels", "etl_quarantine"]
    assert [layer.name for layer in registry.layers_for_targets(set())] == ["etl_quarantine"]


def layer(**changes) -> Layer:
    base = Layer(
        name="findings_demo",
        title_zh="检查结果",
        title_en="Findings",
        source="SELECT 1 AS id, NULL::geometry AS geom, 'x'::text AS rule",
        geometry_type="Polygon",
        attributes=(Attribute("rule", "规则", "Rule"),),
        style=Style(),
        roles=("supervisor",),
    )
    return dataclasses.replace(base, **changes)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": "Bad Name"}, "lower-case ASCII"),
        ({"geometry_type": "Blob"}, "geometry_type"),
        ({"attributes": (Attribute("rule; DROP", "x", "x"),)}, "plain column name"),
        ({"style": Style(label=registry.Label("missing"))}, "label column"),
        ({"lookups": {"zddm": "nope"}}, "lookup zddm"),
        ({"roles": ()}, "at least one role"),
        ({"min_zoom": 9, "max_zoom": 3}, "zoom range"),
    ],
)
def test_a_broken_declaration_is_refused_naming_the_layer_and_the_problem(changes, message):
    bad = layer(**changes)
    with pytest.raises(RegistryError, match=message) as info:
        registry.register(bad)
    assert f"layer {bad.name!r}" in str(info.value)
    assert registry.get(bad.name) is None


def test_a_findings_layer_is_one_register_call_and_a_duplicate_name_is_refused():
    try:
        registry.register(layer())
        assert registry.get("findings_demo").roles == ("supervisor",)
        with pytest.raises(RegistryError, match="already registered"):
            registry.register(layer(title_zh="另一个"))
    finally:
        registry.unregister("findings_demo")


def test_the_fingerprint_changes_with_the_style():
    assert layer().fingerprint() != layer(style=Style(fill="#000000")).fingerprint()


def test_the_generated_mapserver_and_mapproxy_configuration_is_in_step_with_the_registry(capsys):
    from django.core.management import call_command

    from tiles.management.commands.tiles_check import config_problems

    assert config_problems() == []
    call_command("tiles_check")
    assert capsys.readouterr().out.startswith(f"OK: {len(registry.all_layers())} layers")
    try:
        registry.register(layer(name="findings_demo2"))
        from tiles import mapproxy

        text = (mapproxy.write_config().parent / "onemap.map").read_text()
        assert 'NAME "findings_demo2"' in text and "SELECT 1 AS id" in text
    finally:
        registry.unregister("findings_demo2")
        from tiles import mapproxy

        mapproxy.write_config()
