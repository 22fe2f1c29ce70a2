"""``/api/``: every route authenticates itself (basic, session, token); the HTML docs page alone is left to
the login-page redirect, because people open it in a browser."""

from django.contrib.auth.decorators import login_not_required
from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.authtoken.views import ObtainAuthToken

from layers.api import views


def api(view):
    return login_not_required(view.as_view())


urlpatterns = [
    path("layers/", api(views.LayerListView), name="api-layers"),
    path("layers/<str:layer>/", api(views.LayerDetailView), name="api-layer"),
    path("layers/<str:layer>/features/", api(views.FeatureListView), name="api-features"),
    path("layers/<str:layer>/features/<int:pk>/", api(views.FeatureDetailView), name="api-feature"),
    path("identify/", api(views.IdentifyView), name="api-identify"),
    path("lookup/<str:kind>/<str:value>/", api(views.LookupView), name="api-lookup"),
    path("search/", api(views.SearchView), name="api-search"),
    path("loads/", api(views.LoadsView), name="api-loads"),
    path("token/", login_not_required(ObtainAuthToken.as_view()), name="api-token"),
    path("schema/", api(SpectacularAPIView), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]
