"""Mappings as documents and as checked configuration: etl_check, etl_mapping_doc, render_mapping_html."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from etl.errors import MappingError
from etl.management.commands.etl_check import _references, check_mapping_text
from etl.mapping import MAPPINGS_DIR, known_systems, load_mapping, parse_mapping
from etl.mapping_doc import render_mapping_html

pytestmark = pytest.mark.django_db

BASE_DIR = Path(__file__).resolve().parent.parent

BAD_MAPPING = """
system: broken
title: {zh: 有问题的映射}
version: 1
targets:
  - name: parcels
    model: parcel
    source: {file: ZDJBXX.shp, format: shapefile, encoding: gbk-nope}
    key: [zddm, parcel_no]
    mode: sometimes
    geometry:
      crs: EPSG:999999
      repair: maybe
    fields:
      zddm: {from: ZDDM, required: true, validate: zdm}
      county_code: {from: QXDM, codelist: no_such_list}
      declared_area: {from: ZDMJ, type: float, unit: acre}
      land_use: {from: YT, crosswalk: no_such_crosswalk}
      colour: {from: YS}
  - name: supply
    model: landsupply
    source: {file: supply.csv, format: csv}
    key: [contract_no]
    fields:
      contract_no: {from: 合同编号}
      method: {from: 供地方式, values: {出让: sale, 划拨: allocation}}
"""

BAD_PATHS = {
    "targets[0].source.encoding",  # unknown encoding
    "targets[0].key",  # parcel_no is not mapped
    "targets[0].mode",
    "targets[0].geometry.crs",  # PROJ does not know it
    "targets[0].geometry.repair",
    "targets[0].fields.zddm.validate",
    "targets[0].fields.declared_area.type",
    "targets[0].fields.declared_area.unit",
    "targets[0].fields.colour",  # not a field of Parcel
    "targets[0].fields.county_code.codelist",  # not in the database
    "targets[0].fields.land_use.crosswalk",  # not in the database
    "targets[1].fields.method.values.出让",  # 'sale' is not a LandSupply.Method
}


def text_of(html: str) -> str:
    """The page's text as a reader sees it (tags dropped, whitespace collapsed)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def run_check(*args) -> tuple[str, CommandError | None]:
    out = io.StringIO()
    try:
        call_command("etl_check", *args, stdout=out)
    except CommandError as exc:
        return out.getvalue(), exc
    return out.getvalue(), None


@pytest.mark.parametrize("system", known_systems())
def test_every_shipped_mapping_parses(system):
    mapping = load_mapping(system)
    assert mapping.system == system and mapping.targets
    assert mapping.version_tag.startswith(f"{system}@")


def test_shipped_mappings_pass_etl_check_without_writing_anything():
    with CaptureQueriesContext(connection) as queries:
        output, error = run_check()
    assert error is None, output
    lines = output.splitlines()
    assert len(lines) == len(known_systems()) >= 3
    for system, line in zip(known_systems(), lines, strict=True):
        assert line == f"{system}: etl/mappings/{system}.yaml: OK"
    assert queries.captured_queries
    assert all(q["sql"].lstrip().upper().startswith("SELECT") for q in queries.captured_queries)


def test_a_bad_mapping_lists_every_problem_with_its_path(tmp_path):
    with pytest.raises(MappingError) as parsed:
        parse_mapping(BAD_MAPPING, "broken.yaml")
    parser_paths = {where for where, _ in parsed.value.problems}
    assert parser_paths >= BAD_PATHS - {
        "targets[0].fields.county_code.codelist",
        "targets[0].fields.land_use.crosswalk",
        "targets[1].fields.method.values.出让",
    }

    problems = check_mapping_text(BAD_MAPPING, "broken.yaml", _references())
    assert {where for where, _ in problems} >= BAD_PATHS
    assert all(where and what for where, what in problems)
    messages = dict(problems)
    assert "no_such_list" in messages["targets[0].fields.county_code.codelist"]
    assert "gbt21010_2017" in messages["targets[0].fields.county_code.codelist"]  # the known lists
    assert "gbt21010_2007_to_2017" in messages["targets[0].fields.land_use.crosswalk"]
    assert "'sale'" in messages["targets[1].fields.method.values.出让"]

    path = tmp_path / "broken.yaml"
    path.write_text(BAD_MAPPING, encoding="utf-8")
    output, error = run_check("--file", str(path))
    assert error is not None and error.returncode == 1
    assert f"{path}: {len(problems)} problem(s)" in output
    for where in BAD_PATHS:
        assert f"\n  {where}: " in output


def test_etl_check_exits_1_on_an_unknown_code_list(tmp_path):
    text = (MAPPINGS_DIR / "registration.yaml").read_text(encoding="utf-8")
    assert "codelist: gbt21010_2017" in text
    path = tmp_path / "registration.yaml"
    path.write_text(text.replace("codelist: gbt21010_2017", "codelist: gbt21010_2099"), encoding="utf-8")
    parse_mapping(path.read_text(encoding="utf-8"))  # structurally fine: only the database knows

    output, error = run_check("--file", str(path))
    assert error is not None and error.returncode == 1
    assert "1 problem(s)" in output
    assert "targets[0].fields.land_use.codelist: code list 'gbt21010_2099' is not in the database" in output

    output, error = run_check("registration", "--file", str(path))  # shipped one OK, the copy not
    assert "registration: etl/mappings/registration.yaml: OK" in output
    assert error is not None and "1 of 2 mapping(s) invalid" in str(error)


def test_etl_check_exit_status_from_the_command_line(tmp_path):
    """The real ``manage.py etl_check`` process, against the test database: exit status 1, then 0."""
    text = (MAPPINGS_DIR / "planning.yaml").read_text(encoding="utf-8")
    bad = tmp_path / "planning.yaml"
    bad.write_text(text.replace("crosswalk: gbt21010_2007_to_2017", "crosswalk: gbt21010_1984"), "utf-8")
    db = connection.settings_dict
    url = (
        f"postgres://{quote(db['USER'], safe='')}:{quote(str(db['PASSWORD']), safe='')}"
        f"@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    )
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "onemap.settings.test"}
    cmd = [sys.executable, "manage.py", "etl_check"]
    result = subprocess.run([*cmd, "--file", str(bad)], capture_output=True, text=True, cwd=BASE_DIR, env=env)
    assert result.returncode == 1, result.stderr
    assert "targets[0].fields.land_use.crosswalk: crosswalk 'gbt21010_1984'" in result.stdout
    result = subprocess.run([*cmd, "planning"], capture_output=True, text=True, cwd=BASE_DIR, env=env)
    assert result.returncode == 0, result.stdout + result.stderr


def test_etl_check_reports_an_unknown_system():
    output, error = run_check("cadastre")
    assert error is not None and error.returncode == 1
    assert "no mapping for system 'cadastre'; known: landsupply, planning, registration" in output


def test_registration_page_documents_fields_codes_crs_and_code_lists():
    html = render_mapping_html(load_mapping("registration"))
    text = text_of(html)
    assert html.startswith("<!DOCTYPE html>") and '<meta charset="utf-8">' in html
    assert "不动产登记系统" in text and "Real-estate registration" in text
    assert "ZDDM → zddm" in text and "宗地代码" in text  # source field → TD/T 1066 column, its name
    assert "QXDM → qxdm" in text and "county_code" in text  # column code differs from the field name
    assert "EPSG:4545 — CGCS2000 / 3-degree Gauss-Kruger CM 108E" in text
    assert "EPSG:4490" in text
    for key, name in (
        ("gbt2260_chongqing", "重庆市县级行政区划代码"),
        ("gbt21010_2017", "土地利用现状分类"),
        ("qllx", "权利类型"),
        ("fwjg", "房屋结构"),
    ):
        assert f'id="codelist-{key}"' in html and name in text
    assert "0701 城镇住宅用地" in text  # code list entries are listed
    assert "500103 渝中区" in text
    assert "zddm_key" not in html and "ZDJBXX.shp" in text and "ZRZ.shp" in text
    assert "full 全量" in text and "repair" in text and "±5%" in text
    # self-contained: no script, stylesheet, image or font from anywhere
    assert not re.search(r"<script|<link|<img|@import|url\(|src=", html, re.IGNORECASE)
    assert not re.search(r"https?://", html)


def test_planning_and_supply_pages_show_crosswalk_and_value_tables():
    planning = text_of(render_mapping_html(load_mapping("planning")))
    assert "gbt21010_2007_to_2017" in planning
    assert "071 城镇住宅用地 → 0701" in planning  # the crosswalk's entries
    assert "EPSG:4524 — CGCS2000 / 3-degree Gauss-Kruger zone 36" in planning
    supply = text_of(render_mapping_html(load_mapping("landsupply")))
    assert "出让 → transfer" in supply and "划拨 → allocation" in supply
    assert "亩 → 平方米" in supply and "666.667" in supply
    assert "EPSG:2381 — Xian 1980 / 3-degree Gauss-Kruger CM 108E" in supply


def test_missing_code_list_is_flagged_in_the_page(tmp_path):
    text = (MAPPINGS_DIR / "registration.yaml").read_text(encoding="utf-8")
    mapping = parse_mapping(text.replace("codelist: qlxz", "codelist: qlxz_2030"), "edited.yaml")
    html = render_mapping_html(mapping)
    assert "qlxz_2030" in html and "not in the database" in html


def test_etl_mapping_doc_writes_one_page_per_system(tmp_path):
    out = io.StringIO()
    call_command("etl_mapping_doc", "--out", str(tmp_path / "all"), stdout=out)
    written = sorted(p.name for p in (tmp_path / "all").iterdir())
    assert written == [f"{s}.html" for s in known_systems()]
    page = (tmp_path / "all" / "registration.html").read_text(encoding="utf-8")
    assert "ZDDM → zddm" in text_of(page)

    call_command("etl_mapping_doc", "planning", "--out", str(tmp_path / "one"), stdout=io.StringIO())
    assert [p.name for p in (tmp_path / "one").iterdir()] == ["planning.html"]

    with pytest.raises(CommandError, match="no mapping for system 'cadastre'"):
        call_command("etl_mapping_doc", "cadastre", "--out", str(tmp_path / "none"), stdout=io.StringIO())
    bad = tmp_path / "broken.yaml"
    bad.write_text(BAD_MAPPING, encoding="utf-8")
    with pytest.raises(CommandError, match=r"targets\[0\]\.mode"):
        call_command("etl_mapping_doc", "--file", str(bad), "--out", str(tmp_path), stdout=io.StringIO())
