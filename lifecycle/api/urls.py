"""Routes of backups, backup schedules and launches; the site mounts them under /api/v1/."""

from django.urls import path

from lifecycle.api import views

routes = [
    ("backups", views.BackupViewSet, "backup"),
    ("backup-schedules", views.BackupScheduleViewSet, "backup-schedule"),
    ("launches", views.LaunchViewSet, "launch"),
]
urlpatterns = [
    path("templates/<int:pk>/launch/", views.TemplateLaunchViewSet.as_view({"post": "launch"}), name="template-launch"),
]
