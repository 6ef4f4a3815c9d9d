"""Routes of EC2-to-S3 exports; the site mounts them under /api/v1/."""

from django.urls import path

from exports.api import views

routes = [
    ("exports", views.ExportViewSet, "export"),
]
urlpatterns = [
    path("settings/export/", views.ExportSettingsView.as_view(), name="settings-export"),
]
