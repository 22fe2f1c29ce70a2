"""URLs of the operators' console, mounted at /etl/."""

from django.urls import path

from etl import views

app_name = "etl"

urlpatterns = [
    path("", views.index, name="index"),
    path("systems/<slug:system>/", views.system_page, name="system"),
    path("systems/<slug:system>/mapping/", views.mapping_document, name="mapping"),
    path("systems/<slug:system>/upload/", views.upload, name="upload_post"),
    path("uploads/<int:pk>/", views.upload_page, name="upload"),
    path("uploads/<int:pk>/start/", views.start, name="start"),
    path("jobs/<int:pk>/", views.job_status, name="job"),
    path("jobs/<int:pk>/cancel/", views.job_cancel, name="job_cancel"),
    path("runs/<int:pk>/", views.run_report, name="run"),
    path("runs/<int:pk>/problems.geojson", views.run_geojson, name="run_geojson"),
    path("runs/<int:pk>/report.<str:fmt>", views.run_download, name="run_download"),
    path("runs/<int:pk>/crosswalk/", views.crosswalk_fix, name="crosswalk"),
    path("runs/<int:pk>/rerun/", views.rerun, name="rerun"),
    path("audit/", views.audit, name="audit"),
]
