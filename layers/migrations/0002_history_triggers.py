"""Keep the old version of every unified row: nothing is overwritten without a trace.

A trigger, not application code, so bulk SQL and COPY-based loads are covered too. Before an UPDATE that
really changes the row, the old row goes to ``<table>_history`` (its values as JSON without the geometry,
plus the geometry) and the row's ``version`` is incremented; a DELETE keeps the deleted row the same way.
``changed_by_run`` is the load run that replaced the row: the new row's ``load_run`` on update, and the
session setting ``onemap.load_run`` (set by the ETL) on delete.
"""

from django.db import migrations

TABLES = ["layers_parcel", "layers_building", "layers_planningpermit", "layers_landsupply"]

FUNCTION = """
CREATE OR REPLACE FUNCTION onemap_keep_history() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    run bigint;
BEGIN
    IF TG_OP = 'UPDATE' THEN
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


def forwards_sql() -> list[str]:
    statements = [FUNCTION]
    for table in TABLES:
        statements.append(
            f"CREATE TRIGGER {table}_history_update BEFORE UPDATE ON {table} FOR EACH ROW "
            f"WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION onemap_keep_history();"
        )
        statements.append(
            f"CREATE TRIGGER {table}_history_delete AFTER DELETE ON {table} FOR EACH ROW "
            f"EXECUTE FUNCTION onemap_keep_history();"
        )
    return statements


def backwards_sql() -> list[str]:
    statements = []
    for table in TABLES:
        statements.append(f"DROP TRIGGER IF EXISTS {table}_history_update ON {table};")
        statements.append(f"DROP TRIGGER IF EXISTS {table}_history_delete ON {table};")
    statements.append("DROP FUNCTION IF EXISTS onemap_keep_history();")
    return statements


class Migration(migrations.Migration):
    dependencies = [("layers", "0001_initial")]
    operations = [migrations.RunSQL(forwards_sql(), backwards_sql())]
