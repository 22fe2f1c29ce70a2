"""The four ready-made example queries (read-only, shared, no owner). They are query models like any other:
docs/analysis.md explains each, tests/test_analysis_examples.py checks them against the demo's answer key.
Upserted by name, so re-running the migration (or changing an example here in a later one) duplicates
nothing."""

from django.db import migrations

EXAMPLES = [
    {
        "name": "批而未供",
        "description": (
            "已核发规划许可、但用地红线上没有任何土地供应记录的许可证（红线与所有供地范围都不相交）。"
            "Planning permits whose red line meets no land-supply record (approved, not supplied)."
        ),
        "query": {
            "layer": "permits",
            "spatial": [{"predicate": "disjoint", "layer": "landsupply"}],
            "order_by": "issued_on",
        },
    },
    {
        "name": "供而未用",
        "description": (
            "约定开工日期已过一年以上、没有实际开工日期、且供地范围内没有登记任何自然幢的供地记录（疑似闲置土地）。"
            "Land supplied whose agreed start is more than a year past, with no actual start and no building "
            "registered on the land (possible idle land)."
        ),
        "query": {
            "layer": "landsupply",
            "filters": [
                {"field": "agreed_start_on", "op": "range", "value": [None, "today-1y"]},
                {"field": "actual_start_on", "op": "null"},
            ],
            "spatial": [{"predicate": "disjoint", "layer": "buildings"}],
            "order_by": "agreed_start_on",
        },
    },
    {
        "name": "登记与规划用途不一致的宗地",
        "description": (
            "宗地登记用途（YT）与相交的规划许可用地性质在 GB/T 21010 一级类（前两位）上不同；"
            "许可的 2007 版代码在入库时已按对照表转换为 2017 版（与检查规则 GH-003 相同的比较）。"
            "Parcels whose registered land use differs from an intersecting permit's land use in the "
            "GB/T 21010 first-level class (as GH-003)."
        ),
        "query": {
            "layer": "parcels",
            "spatial": [
                {
                    "predicate": "intersects",
                    "layer": "permits",
                    "compare": [{"field": "class1:yt", "op": "ne", "other": "class1:land_use"}],
                }
            ],
            "order_by": "zddm",
        },
    },
    {
        "name": "分区县分年度供地统计",
        "description": (
            "按所在区县（供地范围内一点所在的区县）和供地年度统计供地宗数、图形面积（椭球面积，m²）与合同供地面积。"
            "Land supply per county and year: records, geodesic area (m²) and contract area."
        ),
        "query": {
            "layer": "landsupply",
            "group_by": ["county", "year:supplied_on"],
            "aggregates": [
                {"fn": "count"},
                {"fn": "sum", "field": "area_m2"},
                {"fn": "sum", "field": "area"},
            ],
        },
    },
]


def create_examples(apps, schema_editor):
    SavedQuery = apps.get_model("analysis", "SavedQuery")
    for example in EXAMPLES:
        SavedQuery.objects.update_or_create(
            name=example["name"],
            is_example=True,
            defaults={
                "description": example["description"],
                "query": example["query"],
                "shared": True,
                "owner": None,
            },
        )


def remove_examples(apps, schema_editor):
    SavedQuery = apps.get_model("analysis", "SavedQuery")
    SavedQuery.objects.filter(is_example=True, name__in=[e["name"] for e in EXAMPLES]).delete()


class Migration(migrations.Migration):
    dependencies = [("analysis", "0001_saved_queries")]
    operations = [migrations.RunPython(create_examples, remove_examples)]
