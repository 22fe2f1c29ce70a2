"""The search box's indexes (``layers.search``): byte-order ("C") btrees on ``upper(code)`` for the
case-insensitive prefix match and order of business codes, trigram GIN indexes for addresses and project
names. None of the existing indexes serves these: they compare codes as stored, in the database's collation.
"""

from django.contrib.postgres.indexes import GinIndex
from django.db import migrations, models
from django.db.models.functions import Collate, Upper


def code(field: str, name: str) -> models.Index:
    return models.Index(Collate(Upper(field), "C"), name=name)


def text(field: str, name: str) -> GinIndex:
    return GinIndex(fields=[field], opclasses=["gin_trgm_ops"], name=name)


class Migration(migrations.Migration):
    dependencies = [("layers", "0005_plain_indexes")]

    operations = [
        # trusted since PostgreSQL 13: the database owner may create it; never dropped (others may use it)
        migrations.RunSQL("CREATE EXTENSION IF NOT EXISTS pg_trgm", migrations.RunSQL.noop),
        migrations.AddIndex("parcel", code("zddm", "parcel_zddm_search")),
        migrations.AddIndex("parcel", code("bdcdyh", "parcel_bdcdyh_search")),
        migrations.AddIndex("parcel", text("address", "parcel_zl_search")),
        migrations.AddIndex("building", code("bdcdyh", "building_bdcdyh_search")),
        migrations.AddIndex("building", code("zddm", "building_zddm_search")),
        migrations.AddIndex("planningpermit", code("permit_no", "permit_no_search")),
        migrations.AddIndex("planningpermit", text("project_name", "permit_project_search")),
        migrations.AddIndex("landsupply", code("contract_no", "landsupply_contract_search")),
        migrations.AddIndex("landsupply", code("zddm", "landsupply_zddm_search")),
        migrations.AddIndex("landsupply", text("project_name", "landsupply_project_search")),
    ]
