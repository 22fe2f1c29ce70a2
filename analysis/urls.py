"""``/api/queries/``: the analysts' query engine (run), saved queries and exports; authenticated like the
rest of ``/api/`` (the login-page redirect is left to the HTML pages)."""

from django.contrib.auth.decorators import login_not_required
from django.urls import path

from analysis import views


def api(view):
    return login_not_required(view.as_view())


urlpatterns = [
    path("", api(views.SavedListView), name="analysis-saved-list"),
    path("run/", api(views.RunView), name="analysis-run"),
    path("<int:pk>/", api(views.SavedDetailView), name="analysis-saved"),
    path("export/", api(views.ExportView), name="analysis-export"),
    path("exports/<int:pk>/", api(views.ExportStatusView), name="analysis-export-status"),
    path("exports/<int:pk>/download/", api(views.ExportDownloadView), name="analysis-export-download"),
]
