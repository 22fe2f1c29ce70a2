"""The cached-tile fast path (tiles/middleware.py): a WMTS REST/TMS tile already in MapProxy's file cache is
answered before URL resolution and DRF's dispatch, with exactly the response the view gives, and never
where the view would refuse: anonymous, wrong or unknown credentials, a layer of another role, a bad host."""

from __future__ import annotations

import math
from unittest import mock

import pytest
from django.conf import settings
from django.test import Client
from django.test.utils import override_settings
from django.urls import resolve

from tests.serving import PASSWORD, load_served, unload_served
from tiles import mapproxy
from tiles.mapproxy_views import MapProxyView
from tiles.middleware import CachedTileMiddleware

pytestmark = [pytest.mark.django_db, pytest.mark.slow]
CENTRE = (106.5705, 29.5602)  # inside the first test parcel
Z = 16


def tile_xy(lon, lat, z):
    n = 2**z
    return int((lon + 180) / 360 * n), int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)


X, Y = tile_xy(*CENTRE, Z)
WMTS = f"/mapproxy/wmts/parcels/webmercator/{Z:02d}/{X}/{Y}.png"
TMS = f"/mapproxy/tms/1.0.0/parcels/webmercator/{Z - 1}/{X}/{2**Z - 1 - Y}.png"
QUARANTINE = WMTS.replace("/parcels/", "/etl_quarantine/")
WITHOUT_FAST_PATH = [m for m in settings.MIDDLEWARE if m != "tiles.middleware.CachedTileMiddleware"]


@pytest.fixture(scope="module")
def served(django_db_setup, django_db_blocker, tmp_path_factory):
    with django_db_blocker.unblock():
        mapproxy.reset_cache()
        data = load_served("fastpath", tmp_path_factory.mktemp("fastpath"))
        yield data
        unload_served(data)


@pytest.fixture
def cached(client, served):
    """The test tiles rendered into the cache (by the full path: the first request of a basic login)."""
    for url, role in ((WMTS, "analyst"), (TMS, "analyst"), (QUARANTINE, "operator")):
        assert client.get(url, **served.basic(role)).status_code == 200
    return served


@pytest.fixture
def full_path_calls():
    """Counts the requests that reached MapProxyView (the full path)."""
    with mock.patch.object(MapProxyView, "get", autospec=True, side_effect=MapProxyView.get) as get:
        yield get


def comparable(response) -> dict:
    headers = dict(response.headers)
    headers.pop("Vary", None)  # "Cookie" when the session was read: on the first request of a session
    return {"status": response.status_code, "body": response.content, "headers": headers}


def test_the_fast_path_is_on_for_the_urls_of_the_mapproxy_view():
    assert CachedTileMiddleware(lambda request: None).active
    for url in (WMTS, TMS):
        assert resolve(url).func.view_class is MapProxyView


def test_a_middleware_it_would_skip_turns_it_off():
    middleware = CachedTileMiddleware(lambda request: None)
    assert middleware.plan([*settings.MIDDLEWARE, "some.app.AuditMiddleware"]) == (False, [])
    before = settings.MIDDLEWARE.index("tiles.middleware.CachedTileMiddleware")
    with_view_hook = list(settings.MIDDLEWARE)
    with_view_hook.insert(before, "django.contrib.admindocs.middleware.XViewMiddleware")
    assert middleware.plan(with_view_hook) == (False, [])


@pytest.mark.parametrize("url", [WMTS, TMS])
def test_a_cached_tile_is_the_response_of_the_view_without_reaching_it(client, cached, full_path_calls, url):
    basic = cached.basic("analyst")
    fast = client.get(url, **basic)
    assert fast.status_code == 200 and fast["Content-Type"] == "image/png" and full_path_calls.call_count == 0
    for conditional in (
        {"HTTP_IF_NONE_MATCH": fast["ETag"]},
        {"HTTP_IF_MODIFIED_SINCE": fast["Last-Modified"]},
    ):
        assert client.get(url, **basic, **conditional).status_code == 304
    head = client.head(url, **basic)
    assert head.status_code == 200 and head["ETag"] == fast["ETag"]
    assert full_path_calls.call_count == 0
    with override_settings(MIDDLEWARE=WITHOUT_FAST_PATH):
        full_client = Client()  # a client builds its middleware chain on its first request
        full = full_client.get(url, **basic)
        full_304 = full_client.get(url, HTTP_IF_NONE_MATCH=fast["ETag"], **basic)
    assert full_path_calls.call_count == 2
    assert comparable(full) == comparable(fast)
    assert comparable(full_304) == comparable(client.get(url, HTTP_IF_NONE_MATCH=fast["ETag"], **basic))


def test_session_and_token_users_take_the_fast_path_too(client, cached, full_path_calls):
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    supervisor = get_user_model().objects.get(username=cached.user("supervisor"))
    token = Token.objects.create(user=supervisor)
    assert client.get(WMTS, HTTP_AUTHORIZATION=f"Token {token.key}").status_code == 200
    assert client.get(WMTS, HTTP_AUTHORIZATION="Token not-a-token").status_code == 401
    client.force_login(supervisor)
    assert client.get(WMTS).status_code == 200
    assert client.get(WMTS).status_code == 200
    assert full_path_calls.call_count == 0  # the bad token's 401 is DRF's, before the view
    client.logout()
    assert client.get(WMTS).status_code == 401


def test_refusals_are_the_views_even_with_the_tile_on_disk(client, cached):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    anonymous = client.get(WMTS)
    assert anonymous.status_code == 401 and anonymous["WWW-Authenticate"].startswith("Basic")
    assert client.get(QUARANTINE, **cached.basic("analyst")).status_code == 403
    # a layer named in the query string counts as much as the one in the path
    assert client.get(WMTS, {"LAYER": "etl_quarantine"}, **cached.basic("analyst")).status_code == 403
    assert client.get(WMTS, HTTP_HOST="evil.example", **cached.basic("analyst")).status_code == 400
    assert client.post(WMTS, **cached.basic("analyst")).status_code == 405
    # a role taken away and a deactivated user take effect at once, remembered credentials or not
    analyst = get_user_model().objects.get(username=cached.user("analyst"))
    assert client.get(WMTS, **cached.basic("analyst")).status_code == 200
    analyst.groups.remove(Group.objects.get(name="analyst"))
    try:
        assert client.get(WMTS, **cached.basic("analyst")).status_code == 403
    finally:
        analyst.groups.add(Group.objects.get(name="analyst"))
    assert client.get(WMTS, **cached.basic("analyst")).status_code == 200
    analyst.is_active = False
    analyst.save()
    try:
        assert client.get(WMTS, **cached.basic("analyst")).status_code == 401
    finally:
        analyst.is_active = True
        analyst.save()


def test_a_wrong_password_is_checked_once_not_by_both_paths(client, cached):
    import base64

    from rest_framework import authentication

    wrong = base64.b64encode(f"{cached.user('analyst')}:not-{PASSWORD}".encode()).decode()
    with mock.patch.object(
        authentication, "authenticate", side_effect=authentication.authenticate
    ) as password_checks:
        response = client.get(WMTS, HTTP_AUTHORIZATION=f"Basic {wrong}")
    assert response.status_code == 401 and password_checks.call_count == 1
