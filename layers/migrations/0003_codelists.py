"""Load the shipped code lists, the 2007→2017 crosswalk and the county polygons (idempotent)."""

from django.db import migrations


def load(apps, schema_editor):
    from layers.codelists import sync_codelists

    sync_codelists(apps)


class Migration(migrations.Migration):
    dependencies = [("layers", "0002_history_triggers")]
    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
