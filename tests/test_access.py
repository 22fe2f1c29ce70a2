"""Roles, login and the rule that nothing but the login page answers an anonymous user."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.core.management import call_command
from django.test import RequestFactory

from accounts.roles import ALL_ROLES, has_role, role_required

pytestmark = pytest.mark.django_db


def test_the_four_roles_exist():
    assert set(Group.objects.values_list("name", flat=True)) >= set(ALL_ROLES)


@pytest.mark.parametrize("url", ["/", "/admin/", "/admin/layers/parcel/", "/i18n/setlang/?next=/admin/"])
def test_anonymous_users_are_sent_to_login(client, url):
    response = client.get(url, follow=True)
    assert response.status_code == 200
    assert response.request["PATH_INFO"] == "/accounts/login/"
    assert 'name="password"' in response.content.decode()


def test_unknown_urls_show_nothing_to_anonymous_users(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404 and "渝中区" not in response.content.decode()


def test_login_page_answers_anonymous_users_in_chinese(client):
    response = client.get("/accounts/login/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "国土房管一张图" in html and "登录" in html and 'lang="zh-hans"' in html


def test_chinese_is_the_default_whatever_the_browser_asks(client):
    html = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9").content.decode()
    assert 'lang="zh-hans"' in html and "登录" in html


def test_english_switch(client):
    client.post("/i18n/setlang/", {"language": "en", "next": "/accounts/login/"})
    html = client.get("/accounts/login/").content.decode()
    assert "Land and Housing OneMap" in html and 'lang="en"' in html


def test_static_assets_answer_anonymous_users(client):
    response = client.get("/static/frontend/onemap.css")
    assert response.status_code == 200
    assert b"--blue" in b"".join(response.streaming_content)


def test_demo_users_log_in_with_their_role(client):
    call_command("demo_users")
    call_command("demo_users")  # a second run duplicates nothing
    from django.contrib.auth import get_user_model

    users = get_user_model().objects.filter(username__in=["supervisor", "analyst", "operator", "admin"])
    assert users.count() == 4
    assert {u.username: [g.name for g in u.groups.all()] for u in users} == {
        "supervisor": ["supervisor"],
        "analyst": ["analyst"],
        "operator": ["etl_operator"],
        "admin": ["admin"],
    }
    response = client.post("/accounts/login/", {"username": "supervisor", "password": "onemap-demo"})
    assert response.status_code == 302 and response["Location"] == "/"
    home = client.get("/")
    assert home.status_code == 200 and "监管人员" in home.content.decode()


def test_wrong_password_is_refused_with_a_message(client):
    call_command("demo_users")
    response = client.post("/accounts/login/", {"username": "analyst", "password": "wrong"})
    assert response.status_code == 200 and "用户名或密码错误" in response.content.decode()


def test_home_page_shows_counties_and_layer_counts(client, role_user):
    client.force_login(role_user("ana", "analyst"))
    response = client.get("/")
    html = response.content.decode()
    start = html.index('<script id="counties-data" type="application/json">') + 51
    counties = json.loads(html[start : html.index("</script>", start)])
    names = {f["properties"]["code"]: f["properties"]["name"] for f in counties["features"]}
    assert len(names) == 38 and names["500103"] == "渝中区"
    start = html.index('<script id="map-config" type="application/json">') + 48
    config = json.loads(html[start : html.index("</script>", start)])
    assert config["layers"]["parcels"]["title"] == "宗地" and config["layers"]["parcels"]["count"] == 0
    assert config["layers"]["permits"]["title"] == "规划许可"


def test_role_required_decorator(role_user):
    @role_required("supervisor")
    def view(request):
        return "ok"

    request = RequestFactory().get("/")
    request.user = role_user("s", "supervisor")
    assert view(request) == "ok"
    request.user = role_user("a", "analyst")
    with pytest.raises(PermissionDenied):
        view(request)
    request.user = role_user("boss", "admin")
    assert view(request) == "ok" and has_role(request.user, "etl_operator")


def test_only_admins_reach_the_django_admin(client, role_user):
    client.force_login(role_user("op", "etl_operator"))
    assert client.get("/admin/").status_code == 302  # not staff: Django admin asks for another login
