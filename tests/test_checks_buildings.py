"""The building × parcel relation the building rules share (checks.relations.BUILDING_PARCELS), on a
hand-drawn block: the host is the surface parcel a building overlaps most, BDCDYH is compared with the host
only, a building on no surface parcel is wholly outside, and a layered-right parcel never hosts."""

from __future__ import annotations

import pytest

from checks.engine import run_checks
from checks.models import Finding
from layers.models import Building, Parcel
from tests.analysis_world import LINEAGE, box

pytestmark = pytest.mark.django_db
A, B, C = "500103001001GB00001", "500103001001GB00002", "500103001001GB00003"


def parcel(zddm: str, geom, right_setting: str = "1") -> None:
    Parcel.objects.create(geom=geom, zddm=zddm, county_code="500103", right_setting=right_setting, **LINEAGE)


def building(zrzh: str, geom, prefix: str) -> None:
    Building.objects.create(geom=geom, bdcdyh=f"{prefix}F{zrzh}0000", zrzh=zrzh, **LINEAGE)


def findings(rule: str) -> dict[str, dict]:
    """The rule's findings by the building's ZRZH (the BDCDYH's building part)."""
    out = {}
    for f in Finding.objects.filter(rule=rule):
        bdcdyh = next(k["key"] for k in f.keys if k["target"] == "building")
        out[bdcdyh[20:24]] = f.values
    return out


def test_hosts_outside_parts_and_prefixes():
    parcel(A, box(0, 0, 100, 100))
    parcel(B, box(100, 0, 200, 100))
    parcel(C, box(300, 0, 400, 100), right_setting="2")  # a layered right: never a host
    building("0001", box(10, 10, 30, 30), A)  # inside A, its own code: nothing
    building("0002", box(40, 60, 60, 80), B)  # inside A, B's code
    building("0003", box(70, 10, 120, 30), A)  # 600 m² in A, 400 m² in B: host A, its code
    building("0004", box(85, 40, 135, 60), A)  # 300 m² in A, 700 m² in B: host B, A's code
    building("0005", box(220, 10, 240, 30), A)  # on no parcel
    building("0006", box(310, 10, 330, 30), C)  # on the layered parcel only
    building("0007", box(-10, 50, 10, 70), A)  # half outside A
    run_checks(full=True, trigger="test")

    prefix = findings("ZRZ-003")
    assert sorted(prefix) == ["0002", "0004"]
    assert prefix["0002"]["host_zddm"] == A
    assert prefix["0004"]["host_zddm"] == B and prefix["0004"]["prefix"] == A

    outside = findings("ZRZ-001")
    assert sorted(outside) == ["0005", "0006", "0007"]
    assert outside["0005"]["host_zddm"] is None and outside["0006"]["host_zddm"] is None
    assert outside["0005"]["outside_m2"] == pytest.approx(400, rel=0.01)
    assert outside["0007"]["host_zddm"] == A
    assert outside["0007"]["outside_m2"] == pytest.approx(200, rel=0.01)

    across = findings("ZRZ-002")
    assert sorted(across) == ["0003", "0004"]
    assert (across["0003"]["host_zddm"], across["0003"]["other_zddm"]) == (A, B)
    assert (across["0004"]["host_zddm"], across["0004"]["other_zddm"]) == (B, A)
    assert across["0004"]["other_overlap_m2"] == pytest.approx(300, rel=0.01)
