"""Loads through the shipped mappings on tiny real files: counts, lineage, problems, re-runs, atomicity."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from etl import staging
from etl.errors import EtlError, SchemaMismatchError
from etl.models import LoadRun, Problem
from etl.runner import run_load
from layers.models import Building, CrosswalkEntry, LandSupply, Parcel, ParcelHistory, PlanningPermit
from tests.etl_files import (
    building_rows,
    parcel_rows,
    permit_rows,
    supply_rows,
    write_layer,
    write_planning,
    write_registration,
    write_supply_csv,
)

pytestmark = pytest.mark.django_db


def table_digest(table: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY id), '')) FROM {table} t")
        return cursor.fetchone()[0]


@pytest.fixture
def registration(tmp_path):
    parcels = parcel_rows(6)
    buildings = building_rows(parcels)
    parcels[1]["ZDDM"] = "500199001001GB00002"  # county does not exist
    parcels[2]["YT"] = "0799"  # not a GB/T 21010-2017 class
    parcels[3]["ZDMJ"] = 3500.0  # declared 40 % above the drawn 2,500 m²
    parcels[4]["ZL"] = "'; DROP TABLE layers_parcel; --"  # SQL-looking text is just text
    return write_registration(tmp_path / "registration", parcels, buildings), parcels, buildings


def test_registration_load_counts_lineage_and_problems(registration):
    folder, parcels, _ = registration
    run = run_load("registration", folder)
    assert run.status == "completed"
    assert run.counts == {
        "read": 12,
        "added": 10,
        "updated": 0,
        "unchanged": 0,
        "deleted": 0,
        "rejected": 2,
        "warnings": 1,
    }
    assert run.per_target["parcels"]["encoding"] == "gb18030"  # GBK without .cpg, detected from the content
    assert Parcel.objects.count() == 4 and Building.objects.count() == 6
    parcel = Parcel.objects.get(zddm="500103001001GB00001")
    assert parcel.address == "渝中区民权路1号" and parcel.holder == "重庆测试置业有限公司"
    assert (parcel.src_system, parcel.src_file, parcel.src_row, parcel.load_run) == (
        "registration",
        "ZDJBXX.shp",
        1,
        run.pk,
    )
    assert parcel.src_checksum == run.checksum and parcel.mapping_version.startswith("registration@1+")
    assert abs(parcel.geom.centroid.x - 106.5703) < 0.001 and parcel.geom.srid == 4490
    assert Parcel.objects.get(zddm="500103001001GB00005").address == parcels[4]["ZL"]

    problems = {(p.row, p.rule): p for p in Problem.objects.filter(run=run)}
    county = problems[(2, "zddm_county_unknown")]
    assert county.severity == "error" and county.source_id == "500199001001GB00002" and county.field == "ZDDM"
    assert "500199" in county.message_zh and county.raw["ZL"] == "渝中区民权路2号"
    assert county.geom is not None and county.source_file == "ZDJBXX.shp"
    unknown = problems[(3, "code_unknown")]
    assert unknown.field == "YT" and unknown.actual == "0799" and "crosswalk" in unknown.message_en
    area = problems[(4, "area_mismatch")]
    assert area.severity == "warning" and "+40" in area.message_en


def test_rerun_of_the_same_export_changes_nothing(registration):
    folder, _, _ = registration
    run_load("registration", folder)
    before = table_digest("layers_parcel"), table_digest("layers_building")
    again = run_load("registration", folder)
    assert (again.counts["added"], again.counts["updated"], again.counts["deleted"]) == (0, 0, 0)
    assert again.counts["unchanged"] == 10
    assert (table_digest("layers_parcel"), table_digest("layers_building")) == before
    assert not ParcelHistory.objects.exists()


def test_changed_export_updates_adds_deletes_and_keeps_history(tmp_path):
    parcels = parcel_rows(4)
    buildings = building_rows(parcels)
    run_load("registration", write_registration(tmp_path / "v1", parcels, buildings))
    parcels[0]["ZL"] = "渝中区新华路8号"  # changed
    removed = parcels.pop(3)  # absent from a full export: deleted
    buildings.pop(3)
    extra = parcel_rows(6)[5]  # new
    parcels.append(extra)
    buildings.append(building_rows([extra])[0])
    run = run_load("registration", write_registration(tmp_path / "v2", parcels, buildings))
    assert run.per_target["parcels"] | {} and (
        run.per_target["parcels"]["added"],
        run.per_target["parcels"]["updated"],
        run.per_target["parcels"]["deleted"],
        run.per_target["parcels"]["unchanged"],
    ) == (1, 1, 1, 2)
    parcel = Parcel.objects.get(zddm=parcels[0]["ZDDM"])
    assert parcel.address == "渝中区新华路8号" and parcel.version == 2 and parcel.load_run == run.pk
    history = {h.op: h for h in ParcelHistory.objects.all()}
    assert history["U"].data["zl"] == "渝中区民权路1号" and history["U"].changed_by_run == run.pk
    assert history["D"].data["zddm"] == removed["ZDDM"] and history["D"].changed_by_run == run.pk
    assert run.changed_extent is not None and run.changed_extent.contains(parcel.geom.centroid)
    changed = {(c.target, c.op, c.key) for c in run.changed_keys.all()}
    assert {c for c in changed if c[0] == "parcel"} == {
        ("parcel", "U", parcels[0]["ZDDM"]),
        ("parcel", "D", removed["ZDDM"]),
        ("parcel", "I", extra["ZDDM"]),
    }
    building = Building.objects.get(zddm=extra["ZDDM"])
    assert ("building", "I", f"{building.bdcdyh}/{building.zrzh}") in changed
    deleted = run.changed_keys.get(target="parcel", op="D")
    assert ParcelHistory.objects.get(record_id=deleted.record_id, op="D").changed_by_run == run.pk


def test_a_committed_load_is_announced_with_its_changes(registration, django_capture_on_commit_callbacks):
    from etl.signals import load_completed

    folder, _, _ = registration
    heard = []

    def receiver(sender, run, **kwargs):
        heard.append((run.pk, run.changed_keys.count()))

    def failing(sender, run, **kwargs):
        raise RuntimeError("a receiver that breaks does not fail the load")

    load_completed.connect(receiver)
    load_completed.connect(failing)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            run_load("registration", folder, dry_run=True)  # a dry run changes nothing: nothing to announce
            run = run_load("registration", folder)
    finally:
        load_completed.disconnect(receiver)
        load_completed.disconnect(failing)
    assert heard == [(run.pk, 10)]
    run.refresh_from_db()
    assert run.status == "completed"


def test_rejected_row_is_kept_when_the_corrected_file_arrives_it_is_resolved(tmp_path):
    parcels = parcel_rows(3)
    good_yt = parcels[1]["YT"]
    parcels[1]["YT"] = "0799"
    first = run_load("registration", write_registration(tmp_path / "v1", parcels, building_rows(parcels)))
    rejected = Problem.objects.get(run=first, rule="code_unknown")
    assert rejected.resolved_by is None and not Parcel.objects.filter(zddm=parcels[1]["ZDDM"]).exists()
    parcels[1]["YT"] = good_yt
    second = run_load("registration", write_registration(tmp_path / "v2", parcels, building_rows(parcels)))
    rejected.refresh_from_db()
    assert rejected.resolved_by == second and Parcel.objects.filter(zddm=parcels[1]["ZDDM"]).exists()
    assert second.counts["added"] == 1 and second.counts["unchanged"] == 5


def test_only_rejected_rows_are_rerun_after_a_crosswalk_fix(tmp_path):
    rows = permit_rows(3)
    rows[2]["用地性质"] = "079"  # not a 2007 class
    folder = write_planning(tmp_path / "planning", rows).parent
    first = run_load("planning", folder)
    assert first.counts["rejected"] == 1 and PlanningPermit.objects.count() == 2
    problem = Problem.objects.get(run=first, rule="code_unknown")
    assert problem.row == 3 and problem.source_id == rows[2]["许可证号"]
    CrosswalkEntry.objects.create(
        crosswalk="gbt21010_2007_to_2017",
        source_code="079",
        target_code="0701",
        cardinality="one-to-one",
        note="test: mapped from the report",
    )
    rerun = run_load("planning", folder, only_rejected_of=first)
    assert rerun.counts == {
        "read": 1,
        "added": 1,
        "updated": 0,
        "unchanged": 0,
        "deleted": 0,
        "rejected": 0,
        "warnings": 0,
    }
    problem.refresh_from_db()
    assert problem.resolved_by == rerun
    assert (
        PlanningPermit.objects.count() == 3
    )  # the two accepted earlier were not deleted by the partial re-run


def test_ambiguous_2007_code_is_reported_not_guessed(tmp_path):
    rows = permit_rows(2)
    rows[0]["用地性质"] = "083"  # 科教用地 → 0803 or 0804
    run = run_load("planning", write_planning(tmp_path / "p", rows).parent)
    (problem,) = Problem.objects.filter(run=run, severity="error")
    assert problem.rule == "code_ambiguous" and "0803/0804" in problem.message_en
    assert PlanningPermit.objects.count() == 1


def test_landsupply_csv_gbk_mu_and_mixed_dates(tmp_path):
    rows = supply_rows(3)
    rows[1][11] = "2016-13-45"  # not a date
    run = run_load("landsupply", write_supply_csv(tmp_path / "ls", rows))
    assert run.per_target["supply"]["encoding"] == "gb18030"
    supplies = {s.contract_no: s for s in LandSupply.objects.all()}
    assert len(supplies) == 2
    first = supplies[rows[0][1]]
    assert abs(float(first.area) - 2500) < 1 and first.method == "transfer" and first.land_use == "0701"
    assert first.county_code == "500103" and str(first.supplied_on) == "2016-03-01"
    third = supplies[rows[2][1]]
    assert str(third.supplied_on) == "2016-03-01"  # 20160301
    (problem,) = Problem.objects.filter(run=run, severity="error")
    assert (problem.rule, problem.row, problem.actual) == ("date_invalid", 2, "2016-13-45")
    assert "Xian 1980" in run.transforms["supply"]["source_crs_name"]


def test_dry_run_moves_nothing_and_lists_every_mismatch(registration):
    folder, _, _ = registration
    run = run_load("registration", folder, dry_run=True)
    assert run.dry_run and run.counts["added"] == 10 and run.counts["rejected"] == 2
    assert Parcel.objects.count() == 0 and Building.objects.count() == 0
    assert Problem.objects.filter(run=run).count() == 3


def test_missing_source_field_is_fatal_and_named(tmp_path):
    rows = parcel_rows(2)
    for row in rows:
        del row["YT"]
    folder = write_registration(tmp_path / "r", rows, building_rows(parcel_rows(2)))
    with pytest.raises(SchemaMismatchError, match="YT") as excinfo:
        run_load("registration", folder)
    assert "ZDJBXX.shp" in str(excinfo.value)
    assert LoadRun.objects.get().status == "failed" and Parcel.objects.count() == 0


def test_a_failure_inside_the_apply_leaves_the_tables_as_before(registration, tmp_path, monkeypatch):
    folder, parcels, buildings = registration
    run_load("registration", folder)
    before = (
        table_digest("layers_parcel"),
        table_digest("layers_building"),
        table_digest("layers_parcel_history"),
    )
    parcels[0]["ZL"] = "改过的坐落"
    changed = write_registration(tmp_path / "changed", parcels, buildings)

    def boom(*args, **kwargs):
        raise RuntimeError("database gone")

    monkeypatch.setattr(staging, "changed_extent", boom)  # fails after both targets were applied
    with pytest.raises(EtlError, match="database gone"):
        run_load("registration", changed)
    after = (
        table_digest("layers_parcel"),
        table_digest("layers_building"),
        table_digest("layers_parcel_history"),
    )
    assert after == before
    failed = LoadRun.objects.order_by("-pk").first()
    assert failed.status == "failed" and "database gone" in failed.error
    assert not Problem.objects.filter(run=failed).exists()


def test_a_failed_first_load_into_an_empty_table_leaves_it_empty(registration, monkeypatch):
    folder, _, _ = registration

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(staging, "changed_extent", boom)  # the rows were COPYed straight into the tables
    with pytest.raises(EtlError, match="disk full"):
        run_load("registration", folder)
    assert not Parcel.objects.exists() and not Building.objects.exists()


def _loaded(model) -> list[tuple]:
    skip = {"id", "load_run", "loaded_at", "src_checksum"}
    names = [f.attname for f in model._meta.concrete_fields if f.attname not in skip]
    rows = model.objects.filter(src_system="registration").order_by("id").values_list(*names)
    return [tuple(str(v) for v in row) for row in rows]


def test_first_load_into_an_empty_table_equals_the_staged_merge(registration):
    """Into an empty table rows are COPYed directly; beside another system's rows they are staged and
    merged. Both must store the same rows, problems and changed keys."""
    folder, _, _ = registration
    direct = run_load("registration", folder)
    rows = _loaded(Parcel), _loaded(Building)
    keys = sorted(direct.changed_keys.values_list("target", "key", "op"))
    problems = sorted(direct.problems.values_list("row", "rule"))
    direct_first_zddm = Parcel.objects.order_by("id").first().zddm
    other = Parcel.objects.get(zddm=direct_first_zddm)
    Parcel.objects.all().delete()
    Building.objects.all().delete()
    other.pk, other.zddm, other.src_system = None, "500103001001GB09999", "other"
    other.save()
    merged = run_load("registration", folder)
    assert (merged.counts, merged.per_target) == (direct.counts, direct.per_target)
    assert (_loaded(Parcel), _loaded(Building)) == rows
    assert sorted(merged.changed_keys.values_list("target", "key", "op")) == keys
    assert sorted(merged.problems.values_list("row", "rule")) == problems
    assert Parcel.objects.filter(src_system="other").count() == 1


def test_etl_run_command_json_last_line_and_exit_status(registration, capsys):
    folder, _, _ = registration
    call_command("etl_run", "registration", str(folder), "--json")
    last = capsys.readouterr().out.strip().splitlines()[-1]
    summary = json.loads(last)
    assert summary["system"] == "registration" and summary["counts"]["added"] == 10
    assert set(summary["counts"]) == {
        "read",
        "added",
        "updated",
        "unchanged",
        "deleted",
        "rejected",
        "warnings",
    }
    with pytest.raises(CommandError, match="no such file"):
        call_command("etl_run", "registration", "/nonexistent/export")


def test_geometry_problems_null_z_and_wrong_type(tmp_path):
    import shapely

    rows = parcel_rows(4)
    rows[0]["geometry"] = None
    rows[1]["geometry"] = shapely.force_3d(rows[1]["geometry"], 250.0)
    folder = tmp_path / "r"
    write_layer(
        folder / "ZDJBXX.shp",
        rows,
        crs="EPSG:4545",
        encoding="GBK",
        strip_cpg=True,
        geometry_type="Polygon Z",
    )
    points = building_rows(parcel_rows(1))
    points[0]["geometry"] = shapely.Point(points[0]["geometry"].centroid)
    write_layer(
        folder / "ZRZ.shp", points, crs="EPSG:4545", encoding="GBK", strip_cpg=True, geometry_type="Point"
    )
    run = run_load("registration", folder)
    rules = sorted((p.target, p.row, p.rule) for p in Problem.objects.filter(run=run))
    assert ("parcels", 1, "geometry_null") in rules
    assert ("parcels", 2, "geometry_z_dropped") in rules
    assert ("buildings", 1, "geometry_type") in rules
    assert Parcel.objects.count() == 3 and Building.objects.count() == 0


def test_chunked_reading_keeps_row_numbers_and_finds_duplicates_across_chunks(tmp_path, monkeypatch):
    from etl import sources

    monkeypatch.setattr(sources, "CHUNK_ROWS", 2)
    parcels = parcel_rows(5)
    parcels[4]["ZDDM"] = parcels[0]["ZDDM"]  # row 5 repeats row 1, two chunks later
    parcels[3]["YT"] = "0799"
    run = run_load("registration", write_registration(tmp_path / "r", parcels, building_rows(parcel_rows(5))))
    assert run.per_target["parcels"]["read"] == 5 and run.per_target["parcels"]["added"] == 3
    problems = sorted((p.row, p.rule) for p in Problem.objects.filter(run=run, target="parcels"))
    assert problems == [(4, "code_unknown"), (5, "key_duplicate")]
    duplicate = Problem.objects.get(run=run, rule="key_duplicate")
    assert "row 1" in duplicate.message_en and duplicate.source_id == parcels[0]["ZDDM"]
    assert sorted(Parcel.objects.values_list("src_row", flat=True)) == [1, 2, 3]


def test_an_export_that_would_delete_most_rows_is_refused(tmp_path):
    parcels = parcel_rows(30)
    run_load("registration", write_registration(tmp_path / "full", parcels, building_rows(parcels)))
    before = table_digest("layers_parcel")
    cut = parcels[:5]  # an export cut short looks like "25 parcels deleted"
    with pytest.raises(EtlError, match="would delete 25 of the 30 rows") as excinfo:
        run_load("registration", write_registration(tmp_path / "cut", cut, building_rows(cut)))
    assert "--allow-mass-delete" in str(excinfo.value)
    assert table_digest("layers_parcel") == before
    run = run_load("registration", tmp_path / "cut", allow_mass_delete=True)
    assert run.per_target["parcels"]["deleted"] == 25 and Parcel.objects.count() == 5


def test_a_crosswalk_fix_revalidates_rows_without_touching_unchanged_ones(tmp_path):
    rows = permit_rows(3)
    rows[2]["用地性质"] = "079"
    folder = write_planning(tmp_path / "planning", rows).parent
    run_load("planning", folder)
    versions = dict(PlanningPermit.objects.values_list("permit_no", "version"))
    CrosswalkEntry.objects.create(
        crosswalk="gbt21010_2007_to_2017", source_code="079", target_code="0701", cardinality="one-to-one"
    )
    again = run_load("planning", folder)  # same file, new code lists: every row is validated again
    assert (again.counts["added"], again.counts["updated"], again.counts["unchanged"]) == (1, 0, 2)
    assert (
        dict(PlanningPermit.objects.filter(permit_no__in=versions).values_list("permit_no", "version"))
        == versions
    )
    from layers.models import PlanningPermitHistory

    assert not PlanningPermitHistory.objects.exists()  # lineage refreshed, no new version, no history noise
    loaded_by = dict(PlanningPermit.objects.values_list("permit_no", "load_run"))
    assert loaded_by[rows[2]["许可证号"]] == again.pk
    assert {loaded_by[r["许可证号"]] for r in rows[:2]} == {again.pk - 1}  # the run that last changed them
    third = run_load("planning", folder)
    assert (third.counts["added"], third.counts["updated"], third.counts["unchanged"]) == (0, 0, 3)


@pytest.mark.filterwarnings("ignore:Field BSM of type Integer64")
def test_file_geodatabase_source(tmp_path):
    from etl.mapping import MAPPINGS_DIR, parse_mapping

    text = (MAPPINGS_DIR / "registration.yaml").read_text(encoding="utf-8")
    text = text.replace(
        "{file: ZDJBXX.shp, format: shapefile, encoding: auto}",
        "{file: cadastre.gdb, format: filegdb, layer: ZDJBXX}",
    )
    mapping = parse_mapping(text.split("  - name: buildings")[0], "registration-gdb.yaml")
    parcels = parcel_rows(3)
    write_layer(
        tmp_path / "export" / "cadastre.gdb", parcels, crs="EPSG:4545", layer="ZDJBXX", driver="OpenFileGDB"
    )
    run = run_load("registration", tmp_path / "export", mapping=mapping)
    assert (
        run.counts["added"] == 3 and Parcel.objects.get(zddm=parcels[0]["ZDDM"]).address == parcels[0]["ZL"]
    )


def test_a_copy_the_database_refuses_fails_the_run_with_its_reason(tmp_path, monkeypatch):
    """Chunks are COPYed in a background thread: its failure must surface as the run's error."""
    parcels = parcel_rows(4)
    folder = write_registration(tmp_path / "v1", parcels, building_rows(parcels))
    real = staging.copy_text

    def corrupt(values, blank_null=False):
        text = real(values, blank_null)
        if len(text) and text[0] == "500103001001GB00001":
            text[0] = "x" * 40  # longer than varchar(19): the database refuses the COPY
        return text

    monkeypatch.setattr(staging, "copy_text", corrupt)
    with pytest.raises(EtlError, match="too long for type character varying"):
        run_load("registration", folder)
    assert not Parcel.objects.exists() and not Building.objects.exists()
    assert LoadRun.objects.get().status == "failed"


def test_rerun_reports_a_verbatim_repeat_and_a_key_taken_by_an_earlier_changed_row(tmp_path, monkeypatch):
    """Unchanged rows are recognised by digest; the natural keys of the rows skipped that way still take
    part in the duplicate check, in file order, across chunks."""
    from etl import sources

    monkeypatch.setattr(sources, "CHUNK_ROWS", 2)
    parcels = parcel_rows(5)
    run_load("registration", write_registration(tmp_path / "v1", parcels, building_rows(parcels)))
    again = [dict(p) for p in parcels]
    again.append(dict(parcels[1]))  # row 6 repeats row 2 verbatim
    again[0]["ZDDM"] = parcels[2]["ZDDM"]  # row 1 changed: it now claims row 3's key (row 3 unchanged)
    again[0]["BDCDYH"] = parcels[2]["BDCDYH"]
    run = run_load("registration", write_registration(tmp_path / "v2", again, building_rows(parcels)))
    counts = run.per_target["parcels"]
    found = Problem.objects.filter(run=run, target="parcels")
    problems = sorted((p.row, p.rule, p.message_en) for p in found)
    assert [(row, rule) for row, rule, _ in problems] == [(3, "key_duplicate"), (6, "key_duplicate")]
    assert "repeats row 1" in problems[0][2] and "repeats row 2" in problems[1][2]
    assert (counts["unchanged"], counts["updated"], counts["added"], counts["rejected"]) == (3, 1, 0, 2)
    assert counts["deleted"] == 1  # row 1's old key is gone from the export
    assert Parcel.objects.get(zddm=parcels[2]["ZDDM"]).src_row == 1


def _index_definitions(table: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid = %s::regclass", [table]
        )
        return sorted(d for (d,) in cursor.fetchall())


def test_a_first_load_builds_the_secondary_indexes_after_its_rows(tmp_path, monkeypatch):
    """Into an empty table the GiST, trigram and search indexes are dropped inside the load's transaction
    and built again after the last row: the same definitions afterwards, and none of them while it ran."""
    monkeypatch.setattr(staging, "DEFER_MIN_ROWS", 0)
    before = _index_definitions("layers_parcel")
    assert any("gin_trgm_ops" in d for d in before) and any("gist" in d for d in before)
    during = {}

    def progress(stage, done, total):
        if stage == "parcels: geometry":
            during.setdefault("indexes", _index_definitions("layers_parcel"))

    parcels = parcel_rows(5)
    run = run_load(
        "registration", write_registration(tmp_path / "r", parcels, building_rows(parcels)), progress=progress
    )
    assert run.per_target["parcels"]["added"] == 5
    kept = [d for d in before if "UNIQUE" in d]  # the primary and natural keys stay
    assert during["indexes"] == kept and len(kept) == 2
    # the same indexes again, the GiST one built by buffering (its probes are faster than a sorted build's)
    after = _index_definitions("layers_parcel")
    assert [d.replace(" WITH (buffering='on')", "") for d in after] == before
    gist = [d for d in before if "USING gist" in d]
    assert gist and [d for d in after if "USING gist" in d] == [d + " WITH (buffering='on')" for d in gist]


def test_a_failed_first_load_leaves_the_indexes_as_they_were(tmp_path, monkeypatch):
    from etl.runner import LoadCancelled

    monkeypatch.setattr(staging, "DEFER_MIN_ROWS", 0)
    before = _index_definitions("layers_parcel")

    def progress(stage, done, total):
        if stage == "parcels: indexes":
            raise LoadCancelled("stop")

    parcels = parcel_rows(3)
    with pytest.raises(LoadCancelled):
        run_load(
            "registration",
            write_registration(tmp_path / "r", parcels, building_rows(parcels)),
            progress=progress,
        )
    assert _index_definitions("layers_parcel") == before and not Parcel.objects.exists()


def test_a_first_load_does_not_wait_for_or_block_a_reader_that_holds_the_table(tmp_path, monkeypatch):
    """A reader holding the table when the load starts: the load keeps the indexes (no exclusive lock)
    and completes while the reader still reads."""
    import psycopg

    monkeypatch.setattr(staging, "DEFER_MIN_ROWS", 0)
    monkeypatch.setattr(staging, "DEFER_LOCK_TIMEOUT", "100ms")
    s = connection.settings_dict
    reader = psycopg.connect(
        host=s["HOST"], port=s["PORT"], dbname=s["NAME"], user=s["USER"], password=s["PASSWORD"]
    )
    try:
        with reader.cursor() as cur:
            cur.execute("SELECT count(*) FROM layers_parcel")  # ACCESS SHARE until the reader's commit
            parcels = parcel_rows(3)
            run = run_load(
                "registration", write_registration(tmp_path / "r", parcels, building_rows(parcels))
            )
            assert run.per_target["parcels"]["added"] == 3
            cur.execute("SELECT count(*) FROM layers_parcel")
            assert cur.fetchone()[0] == 0  # its snapshot: the load is not committed (the test's transaction)
    finally:
        reader.close()
    assert len(_index_definitions("layers_parcel")) == 9


def test_rerun_works_with_the_debug_cursor(registration):
    """DEBUG=1 (the development settings) wraps cursors in Django's debug cursor, whose COPY takes no
    parameters: the digests of a re-run are fetched without any."""
    from django.test.utils import CaptureQueriesContext

    folder, _, _ = registration
    run_load("registration", folder)
    with CaptureQueriesContext(connection):
        again = run_load("registration", folder)
    assert again.counts["unchanged"] == 10
