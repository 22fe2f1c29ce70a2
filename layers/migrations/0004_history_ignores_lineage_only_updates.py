"""History only for real changes: an update that touches nothing but lineage (a re-load under a new mapping
version or new code lists that produces the same values) neither bumps the version nor writes history."""

from django.db import migrations

LINEAGE = (
    "'src_system', 'src_file', 'src_checksum', 'src_layer', 'src_row', 'load_run', 'mapping_version', "
    "'loaded_at', 'content_hash', 'version'"
)

FUNCTION = f"""
CREATE OR REPLACE FUNCTION onemap_keep_history() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    run bigint;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF (to_jsonb(OLD) - ARRAY[{LINEAGE}]) = (to_jsonb(NEW) - ARRAY[{LINEAGE}]) THEN
            NEW.version := OLD.version;
            RETURN NEW;
        END IF;
        run := NEW.load_run;
    ELSE
        run := NULLIF(current_setting('onemap.load_run', true), '')::bigint;
    END IF;
    EXECUTE format(
        'INSERT INTO %I (record_id, version, op, data, geom, changed_at, changed_by_run) '
        'VALUES ($1, $2, $3, $4, $5, clock_timestamp(), $6)',
        TG_TABLE_NAME || '_history'
    ) USING OLD.id, OLD.version, left(TG_OP, 1), to_jsonb(OLD) - 'geom', OLD.geom, run;
    IF TG_OP = 'UPDATE' THEN
        NEW.version := OLD.version + 1;
        RETURN NEW;
    END IF;
    RETURN OLD;
END;
$$;
"""


class Migration(migrations.Migration):
    dependencies = [("layers", "0003_codelists")]
    operations = [migrations.RunSQL(FUNCTION, migrations.RunSQL.noop)]
