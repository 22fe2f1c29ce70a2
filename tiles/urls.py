from django.contrib.auth.decorators import login_not_required
from django.urls import path

from tiles import views

# Authentication is the views' own (session, token, basic), so the login-page redirect does not apply.
urlpatterns = [
    path(
        "<str:layer>/<int:z>/<int:x>/<int:y>.pbf",
        login_not_required(views.VectorTileView.as_view()),
        name="tiles-mvt",
    ),
]
