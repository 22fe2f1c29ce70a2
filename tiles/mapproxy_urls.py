"""``/mapproxy/…``: WMS (``/mapproxy/service``), WMTS (``/mapproxy/wmts…``) and TMS (``/mapproxy/tms…``)."""

from django.contrib.auth.decorators import login_not_required
from django.urls import path

from tiles.mapproxy_views import MapProxyView

view = login_not_required(MapProxyView.as_view())
urlpatterns = [
    path("", view, name="mapproxy-root"),
    path("<path:path>", view, name="mapproxy"),
]
