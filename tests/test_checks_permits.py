"""The permit rules' shared relation (checks.relations.PERMIT_COVERS) on a hand-drawn block: a covering
parcel settles GH-001 and GH-003 at once unless the red line is below the tolerance or of another class,
and a red line across parcels is judged by its host (the parcel it overlaps most)."""

from __future__ import annotations

import pytest

from checks.engine import run_checks
from checks.models import Finding
from layers.models import Parcel, PlanningPermit
from tests.analysis_world import LINEAGE, box

pytestmark = pytest.mark.django_db
A, B = "500103001001GB00001", "500103001001GB00002"


def findings(rule: str) -> dict[str, dict]:
    """The rule's findings by permit number."""
    out = {}
    for f in Finding.objects.filter(rule=rule):
        out[next(k["key"] for k in f.keys if k["target"] == "permit")] = f.values
    return out


def test_covering_parcels_hosts_and_the_area_tolerance():
    Parcel.objects.create(geom=box(0, 0, 100, 100), zddm=A, land_use="0701", right_setting="1", **LINEAGE)
    Parcel.objects.create(geom=box(100, 0, 200, 100), zddm=B, land_use="0505", right_setting="1", **LINEAGE)
    permits = {
        "G1": (box(10, 10, 90, 90), "0701"),  # covered by A, same class: nothing
        "G2": (box(20, 20, 50, 50), "0505"),  # covered by A, another class
        "G3": (box(60, 60, 160, 90), "0505"),  # 1,200 m² in A, 1,800 m² in B: host B, same class
        "G4": (box(60, 5, 160, 35), "0701"),  # host B, another class
        "G5": (box(150, 50, 152, 52), "0505"),  # 4 m² inside B: below the tolerance
        "G6": (box(300, 0, 350, 50), "0701"),  # on no parcel
        "G7": (box(160, 60, 163.3, 63.06), "0505"),  # 10.098 m²: too close for the estimate; the exact area
        "G8": (box(170, 60, 173, 63.3), "0505"),  # 9.9 m²: below (covered, yet too small to count)
    }
    for no, (geom, land_use) in permits.items():
        PlanningPermit.objects.create(geom=geom, permit_no=no, kind="land", land_use=land_use, **LINEAGE)
    run_checks(full=True, trigger="test")

    landuse = findings("GH-003")
    assert sorted(landuse) == ["G2", "G4"]
    assert landuse["G2"]["parcel_zddm"] == A and landuse["G4"]["parcel_zddm"] == B

    without = findings("GH-001")
    assert sorted(without) == ["G5", "G6", "G8"]
    assert without["G8"]["area_m2"] == pytest.approx(9.9, abs=0.01)
