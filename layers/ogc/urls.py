"""``/ogc/``: authentication is the views' own (basic for QGIS/GDAL, session, token)."""

from django.contrib.auth.decorators import login_not_required
from django.urls import path

from layers.ogc import views


def ogc(view):
    return login_not_required(view.as_view())


urlpatterns = [
    path("", ogc(views.LandingView), name="ogc-landing"),
    path("conformance", ogc(views.ConformanceView), name="ogc-conformance"),
    path("collections", ogc(views.CollectionsView), name="ogc-collections"),
    path("collections/<str:collection>", ogc(views.CollectionView), name="ogc-collection"),
    path("collections/<str:collection>/items", ogc(views.ItemsView), name="ogc-items"),
    path("collections/<str:collection>/items/<int:fid>", ogc(views.ItemView), name="ogc-item"),
]
