"""Routes of regions, environments, templates, imported instances, backups, backup schedules and launches; the site
mounts them under /api/v1/."""

from environments.api import backup_views, views

routes = [
    ("regions", views.RegionViewSet, "region"),
    ("environments", views.EnvironmentViewSet, "environment"),
    ("templates", views.TemplateViewSet, "template"),
    ("instances", views.ImportedInstanceViewSet, "instance"),
    ("backups", backup_views.BackupViewSet, "backup"),
    ("backup-schedules", backup_views.BackupScheduleViewSet, "backup-schedule"),
    ("launches", backup_views.LaunchViewSet, "launch"),
]
urlpatterns = []
