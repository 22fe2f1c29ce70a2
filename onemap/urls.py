"""URL map. Every view except login answers only to a logged-in user (LoginRequiredMiddleware)."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.urls import include, path, reverse_lazy
from django.views.generic import RedirectView
from django.views.i18n import set_language

urlpatterns = [
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    # The language switch is on the login page too, so it answers before login.
    path("i18n/setlang/", login_not_required(set_language), name="set_language"),
    # One login page for everything: the admin's own login form redirects to it.
    path(
        "admin/login/",
        login_not_required(RedirectView.as_view(url=reverse_lazy("login"), query_string=True)),
    ),
    path("admin/", admin.site.urls),
    path("api/checks/", include("checks.urls")),
    path("api/queries/", include("analysis.urls")),
    path("api/", include("layers.api.urls")),
    path("ogc/", include("layers.ogc.urls")),
    path("tiles/", include("tiles.urls")),
    path("etl/", include("etl.urls")),
    path("mapproxy/", include("tiles.mapproxy_urls")),
    path("", include("frontend.urls")),
]
