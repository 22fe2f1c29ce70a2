"""The operators' console on a real PostGIS: roles on every URL, uploads (incl. hostile ones), the preview,
jobs run in-process through the same service the procrastinate task calls, cancel, fix-and-re-run."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from etl import console, safezip
from etl.models import AuditEntry, ConsoleJob, LoadRun, Problem, Upload
from layers.models import CrosswalkEntry, PlanningPermit
from tests.etl_files import permit_rows, supply_rows, write_planning, write_supply_csv

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@pytest.fixture(autouse=True)
def var_dir(settings, tmp_path):
    settings.VAR_DIR = tmp_path / "var"
    return settings.VAR_DIR


@pytest.fixture
def operator(client, role_user):
    user = role_user("op", "etl_operator")
    client.force_login(user)
    return user


def gpkg_upload(tmp_path: Path, rows: list[dict], name: str = "permits.gpkg") -> SimpleUploadedFile:
    path = write_planning(tmp_path / f"src-{len(rows)}-{id(rows)}", rows)
    return SimpleUploadedFile(name, path.read_bytes())


def rows_with_unknown_code(n: int = 4) -> list[dict]:
    rows = permit_rows(n)
    rows[1]["用地性质"] = "9Z9"  # no such GB/T 21010-2007 code
    return rows


def upload_via_page(client, tmp_path, rows) -> Upload:
    response = client.post(
        reverse("etl:upload_post", args=["planning"]), {"files": gpkg_upload(tmp_path, rows)}
    )
    assert response.status_code == 302, response.content[:500]
    return Upload.objects.latest("id")


def run_queued(job: ConsoleJob) -> ConsoleJob:
    console.run_job(job.pk)
    job.refresh_from_db()
    return job


# --- roles ------------------------------------------------------------------------------------------------


def console_urls(run_id: int, upload_id: int, job_id: int) -> list[tuple[str, str]]:
    return [
        ("get", reverse("etl:index")),
        ("get", reverse("etl:system", args=["planning"])),
        ("get", reverse("etl:mapping", args=["planning"])),
        ("post", reverse("etl:upload_post", args=["planning"])),
        ("get", reverse("etl:upload", args=[upload_id])),
        ("post", reverse("etl:upload", args=[upload_id])),
        ("post", reverse("etl:start", args=[upload_id])),
        ("get", reverse("etl:job", args=[job_id])),
        ("post", reverse("etl:job_cancel", args=[job_id])),
        ("get", reverse("etl:run", args=[run_id])),
        ("get", reverse("etl:run_geojson", args=[run_id])),
        ("get", reverse("etl:run_download", args=[run_id, "json"])),
        ("post", reverse("etl:crosswalk", args=[run_id])),
        ("post", reverse("etl:rerun", args=[run_id])),
        ("get", reverse("etl:audit")),
    ]


def test_every_console_url_is_forbidden_to_other_roles(client, role_user, tmp_path):
    operator = role_user("op", "etl_operator")
    client.force_login(operator)
    item = upload_via_page(client, tmp_path, permit_rows(2))
    job = console.job_start(system="planning", kind="dry_run", user=operator, upload=item)
    run = run_queued(job).run
    urls = console_urls(run.pk, item.pk, job.pk)
    for role in ("supervisor", "analyst"):
        client.force_login(role_user(role, role))
        for method, url in urls:
            assert getattr(client, method)(url).status_code == 403, (role, url)
    client.logout()
    for method, url in urls:  # anonymous: to the login page
        response = getattr(client, method)(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"], url
    client.force_login(operator)
    for method, url in urls:
        if method == "get":
            expected = 403 if url == reverse("etl:audit") else 200
            assert client.get(url).status_code == expected, url
    client.force_login(role_user("boss", "admin"))
    assert client.get(reverse("etl:audit")).status_code == 200


# --- uploads and preview ----------------------------------------------------------------------------------


def test_upload_is_stored_checksummed_and_previewed(client, operator, tmp_path, var_dir):
    item = upload_via_page(client, tmp_path, permit_rows(3))
    stored = Path(item.folder) / "export" / "permits.gpkg"
    assert stored.is_file() and stored.resolve().is_relative_to((var_dir / "uploads").resolve())
    assert len(item.checksum) == 64 and item.uploaded_by == operator
    page = client.get(reverse("etl:upload", args=[item.pk])).content.decode()
    assert "EPSG:4524" in page  # the file's CRS as read from the GeoPackage
    assert "许可证号" in page and "测试项目0" in page  # decoded field names and first rows
    target = console_preview(item)[0]
    lon0, lat0, lon1, lat1 = target["extent"]
    assert 106.5 < lon0 < lon1 < 106.7 and 29.5 < lat0 < lat1 < 29.7  # 渝中区, in CGCS2000 lon/lat
    assert AuditEntry.objects.filter(action="upload", user=operator).count() == 1


def console_preview(item):
    from etl.uploads import preview

    return preview(item, item.encoding)


def test_encoding_switch_shows_the_fields_decoded_otherwise(client, operator, tmp_path):
    path = write_supply_csv(tmp_path / "s", supply_rows(2), encoding="gbk")
    response = client.post(
        reverse("etl:upload_post", args=["landsupply"]),
        {"files": SimpleUploadedFile("supply.csv", path.read_bytes())},
    )
    item = Upload.objects.get()
    assert response["Location"] == reverse("etl:upload", args=[item.pk])
    page = client.get(response["Location"]).content.decode()
    assert "gb18030" in page and "合同编号" in page
    client.post(reverse("etl:upload", args=[item.pk]), {"encoding": "big5"})
    item.refresh_from_db()
    assert item.encoding == "big5"
    page = client.get(reverse("etl:upload", args=[item.pk])).content.decode()
    assert "合同编号" not in page  # GBK bytes read as Big5 are not these words (or not readable at all)
    assert client.post(reverse("etl:upload", args=[item.pk]), {"encoding": "rot13"}).status_code == 404


def zip_bytes(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "entries, words",
    [
        ({"permits.gpkg": b"x", "../../escaped.txt": b"owned"}, "outside the archive"),
        ({"bomb.bin": b"\0" * (3 * 1024**2)}, "zip bomb"),
    ],
    ids=["dot-dot", "bomb"],
)
def test_hostile_zip_is_refused_and_leaves_nothing(
    client, operator, tmp_path, var_dir, monkeypatch, entries, words
):
    monkeypatch.setattr(safezip, "MAX_UNPACKED_BYTES", 1024**2)
    upload = SimpleUploadedFile("export.zip", zip_bytes(entries))
    response = client.post(reverse("etl:upload_post", args=["planning"]), {"files": upload}, follow=True)
    page = response.content.decode()
    assert "上传被拒绝" in page and words in page
    assert not Upload.objects.exists()
    assert list((var_dir / "uploads").iterdir()) == []  # no scratch folder left
    assert not any(p.name == "escaped.txt" for p in tmp_path.rglob("*"))
    assert AuditEntry.objects.filter(action="upload_refused", details__hostile=True).exists()


def test_too_large_or_wrong_type_uploads_are_refused(client, operator, settings):
    settings.ONEMAP_UPLOAD_MAX_BYTES = 10
    big = SimpleUploadedFile("permits.gpkg", b"x" * 11)
    page = client.post(reverse("etl:upload_post", args=["planning"]), {"files": big}, follow=True)
    assert "超过上限" in page.content.decode()
    settings.ONEMAP_UPLOAD_MAX_BYTES = 1000
    exe = SimpleUploadedFile("run.sh", b"rm -rf /")
    page = client.post(reverse("etl:upload_post", args=["planning"]), {"files": exe}, follow=True)
    assert "不受支持" in page.content.decode()
    assert not Upload.objects.exists()


# --- jobs -------------------------------------------------------------------------------------------------


def test_dry_run_then_load_with_progress_and_one_job_per_system(client, operator, tmp_path):
    item = upload_via_page(client, tmp_path, rows_with_unknown_code())
    client.post(reverse("etl:start", args=[item.pk]), {"kind": "dry_run"})
    job = ConsoleJob.objects.get()
    assert job.status == "queued"
    # a second job of the same system is refused while the first is queued
    page = client.post(reverse("etl:start", args=[item.pk]), {"kind": "load"}, follow=True).content.decode()
    assert "已有任务在运行" in page and ConsoleJob.objects.count() == 1
    job = run_queued(job)
    assert job.status == "completed" and job.run.dry_run and job.progress["percent"] == 100
    assert not PlanningPermit.objects.exists()
    page = client.get(reverse("etl:upload", args=[item.pk])).content.decode()
    assert "code_unknown" in page and "9Z9" in page  # the dry run's mismatch list with the unknown code
    client.post(reverse("etl:start", args=[item.pk]), {"kind": "load"})
    job = run_queued(ConsoleJob.objects.get(kind="load"))
    assert job.status == "completed", job.error
    assert job.progress["percent"] == 100 and job.progress["applied"] == 3 and job.progress["total"] == 4
    assert PlanningPermit.objects.count() == 3
    status = client.get(reverse("etl:job", args=[job.pk])).json()
    assert status["status"] == "completed" and status["report"] == reverse("etl:run", args=[job.run_id])


def test_cancel_leaves_the_data_as_before(client, operator, tmp_path):
    first = upload_via_page(client, tmp_path, permit_rows(3))
    run_queued(console.job_start(system="planning", kind="load", user=operator, upload=first))
    before = sorted(PlanningPermit.objects.values_list("permit_no", "project_name"))
    changed = permit_rows(5)
    changed[0]["项目名称"] = "改名的项目"
    second = upload_via_page(client, tmp_path, changed)
    job = console.job_start(system="planning", kind="load", user=operator, upload=second)
    ConsoleJob.objects.filter(pk=job.pk).update(cancel_requested=True)  # as if clicked while it runs
    job = run_queued(job)
    assert job.status == "cancelled" and job.run.status == LoadRun.Status.CANCELLED
    assert sorted(PlanningPermit.objects.values_list("permit_no", "project_name")) == before
    # a queued job is cancelled at once, through the page
    queued = console.job_start(system="planning", kind="load", user=operator, upload=second)
    client.post(reverse("etl:job_cancel", args=[queued.pk]))
    queued.refresh_from_db()
    assert queued.status == "cancelled"
    assert console.active_job("planning") is None


def test_fix_unknown_code_and_rerun_only_rejected_rows(client, operator, tmp_path):
    item = upload_via_page(client, tmp_path, rows_with_unknown_code())
    run = run_queued(console.job_start(system="planning", kind="load", user=operator, upload=item)).run
    rejected = Problem.objects.get(run=run, rule="code_unknown")
    assert rejected.actual == "9Z9" and PlanningPermit.objects.count() == 3
    report = client.get(reverse("etl:run", args=[run.pk])).content.decode()
    assert "9Z9" in report and "<svg" in report
    # a code that is not a standard one is refused with a clear message; nothing is added
    page = client.post(
        reverse("etl:crosswalk", args=[run.pk]),
        {"crosswalk": rejected.expected, "source_code": "9Z9", "target_code": "ZZZZ"},
        follow=True,
    ).content.decode()
    assert "不是" in page and not CrosswalkEntry.objects.filter(source_code="9Z9").exists()
    # only codes this run reported can be mapped from its report
    forged = {"crosswalk": rejected.expected, "source_code": "071", "target_code": "0701"}
    assert client.post(reverse("etl:crosswalk", args=[run.pk]), forged).status_code == 404
    client.post(
        reverse("etl:crosswalk", args=[run.pk]),
        {"crosswalk": rejected.expected, "source_code": "9Z9", "target_code": "0701"},
    )
    entry = CrosswalkEntry.objects.get(source_code="9Z9")
    assert entry.created_by == operator and entry.superseded_by is None and entry.target_code == "0701"
    # a second correction supersedes the first instead of editing it
    client.post(
        reverse("etl:crosswalk", args=[run.pk]),
        {"crosswalk": rejected.expected, "source_code": "9Z9", "target_code": "0702"},
    )
    entry.refresh_from_db()
    newest = CrosswalkEntry.objects.get(source_code="9Z9", superseded_by=None)
    assert entry.superseded_by == newest and entry.target_code == "0701" and newest.target_code == "0702"
    client.post(reverse("etl:rerun", args=[run.pk]), {"scope": "rejected"})
    job = run_queued(ConsoleJob.objects.get(kind="rerun"))
    assert job.status == "completed", job.error
    assert job.run.only_rejected_of == run and job.run.counts["read"] == 1
    rejected.refresh_from_db()
    assert rejected.resolved_by == job.run
    assert PlanningPermit.objects.count() == 4
    assert PlanningPermit.objects.get(permit_no=permit_rows(4)[1]["许可证号"]).land_use == "0702"
    report = client.get(reverse("etl:run", args=[run.pk])).content.decode()
    assert f"已解决 #{job.run.pk}" in report
    actions = list(AuditEntry.objects.order_by("id").values_list("action", flat=True))
    assert actions == ["upload", "load", "crosswalk", "crosswalk", "rerun"]


def test_report_downloads_and_geometries(client, operator, tmp_path):
    rows = rows_with_unknown_code()
    item = upload_via_page(client, tmp_path, rows)
    run = run_queued(console.job_start(system="planning", kind="dry_run", user=operator, upload=item)).run
    geo = client.get(reverse("etl:run_geojson", args=[run.pk])).json()
    assert [f["properties"]["rule"] for f in geo["features"]] == ["code_unknown"]
    data = client.get(reverse("etl:run_download", args=[run.pk, "json"])).json()
    assert data["run"] == run.pk and data["problems"][0]["actual"] == "9Z9"
    xlsx = client.get(reverse("etl:run_download", args=[run.pk, "xlsx"]))
    assert b"".join(xlsx.streaming_content)[:2] == b"PK"
    gpkg = client.get(reverse("etl:run_download", args=[run.pk, "gpkg"]))
    assert b"".join(gpkg.streaming_content)[:15] == b"SQLite format 3"
    filtered = client.get(reverse("etl:run", args=[run.pk]), {"rule": "nothing_like_this"}).content.decode()
    assert "9Z9</td>" not in filtered


def test_a_job_whose_worker_is_gone_does_not_block_the_system(client, operator, tmp_path):
    from django.db import connection

    item = upload_via_page(client, tmp_path, permit_rows(2))
    job = console.job_start(system="planning", kind="load", user=operator, upload=item)
    assert console.active_job("planning") == job  # queued, its procrastinate job waits
    with connection.cursor() as cursor:  # as if a worker took it and died (its row says failed, no result)
        cursor.execute(
            "UPDATE procrastinate_jobs SET status = 'failed' WHERE id = %s", [job.procrastinate_id]
        )
    assert console.active_job("planning") is None
    job.refresh_from_db()
    assert job.status == "failed" and "中断" in job.error
    assert console.job_start(system="planning", kind="load", user=operator, upload=item).status == "queued"


def test_the_console_is_linked_from_every_page_for_operators_only(client, role_user):
    client.force_login(role_user("op", "etl_operator"))
    assert reverse("etl:index") in client.get("/").content.decode()
    client.force_login(role_user("sup", "supervisor"))
    assert reverse("etl:index") not in client.get("/").content.decode()


def test_the_console_speaks_english_by_the_switch(client, operator):
    client.post(reverse("set_language"), {"language": "en", "next": "/"})
    page = client.get(reverse("etl:index")).content.decode()
    assert "Audit trail (administrators only)" in page and "Data management" in page
