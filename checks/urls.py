"""``/api/checks/``: the rule catalogue, summaries, findings (GeoJSON), status changes, XLSX export."""

from django.urls import path

from checks import views

app_name = "checks"
urlpatterns = [
    path("rules", views.rules, name="rules"),
    path("summary", views.summary_view, name="summary"),
    path("findings", views.findings, name="findings"),
    path("findings/<str:fingerprint>", views.finding, name="finding"),
    path("findings/<str:fingerprint>/status", views.finding_status, name="finding-status"),
    path("export.xlsx", views.export_xlsx_view, name="export-xlsx"),
]
