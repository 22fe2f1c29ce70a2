"""SQL helpers the rules use, and an audit trail nobody can edit.

``onemap_gk_srid(geom)`` is the CGCS2000 3° Gauss-Krüger zone (EPSG:4534–4554, no zone prefix) of a lon/lat
geometry's bounding-box centre: areas and distances are computed there, never in degrees
(``onemap_gk_area(geom[, reference])``). A trigger refuses
every UPDATE and DELETE of ``checks_findingevent``: a status change is a new event, never an edited one.
"""

from django.db import migrations

FORWARD = [
    """
    CREATE OR REPLACE FUNCTION onemap_gk_srid(g geometry) RETURNS integer
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS
    $$ SELECT least(4554, greatest(4534, 4509 + round((ST_XMin(g) + ST_XMax(g)) / 6.0)::integer)) $$
    """,
    # planar area (m²) in the zone of the geometry itself, or of a reference geometry (both sides of a
    # comparison measured in one zone)
    """
    CREATE OR REPLACE FUNCTION onemap_gk_area(g geometry) RETURNS double precision
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS
    $$ SELECT ST_Area(ST_Transform(g, onemap_gk_srid(g))) $$
    """,
    """
    CREATE OR REPLACE FUNCTION onemap_gk_area(g geometry, ref geometry) RETURNS double precision
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS
    $$ SELECT ST_Area(ST_Transform(g, onemap_gk_srid(ref))) $$
    """,
    """
    CREATE OR REPLACE FUNCTION onemap_findingevent_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'checks_findingevent is append-only: an audit record cannot be %', lower(TG_OP)
            USING ERRCODE = 'insufficient_privilege';
    END;
    $$
    """,
    """
    CREATE TRIGGER checks_findingevent_immutable BEFORE UPDATE OR DELETE ON checks_findingevent
    FOR EACH ROW EXECUTE FUNCTION onemap_findingevent_immutable()
    """,
]
BACKWARD = [
    "DROP TRIGGER IF EXISTS checks_findingevent_immutable ON checks_findingevent",
    "DROP FUNCTION IF EXISTS onemap_findingevent_immutable()",
    "DROP FUNCTION IF EXISTS onemap_gk_area(geometry, geometry)",
    "DROP FUNCTION IF EXISTS onemap_gk_area(geometry)",
    "DROP FUNCTION IF EXISTS onemap_gk_srid(geometry)",
]


class Migration(migrations.Migration):
    dependencies = [("checks", "0001_initial")]
    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
