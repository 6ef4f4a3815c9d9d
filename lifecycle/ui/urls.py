"""Pages of backups, schedules, templates made from backups and launches (included in the "ui" namespace)."""

from django.urls import path

from lifecycle.ui import views as backups

urlpatterns = [
    path("instances/<int:pk>/backups/", backups.instance_backups, name="instance-backups"),
    path("instances/<int:pk>/backups/start/", backups.instance_backup_start, name="instance-backup-start"),
    path("instances/<int:pk>/backup-schedules/add/", backups.instance_schedule_add, name="instance-schedule-add"),
    path("backup-schedules/<int:pk>/delete/", backups.schedule_delete, name="backup-schedule-delete"),
    path("backups/<int:pk>/cancel/", backups.backup_cancel, name="backup-cancel"),
    path("backups/<int:pk>/make-template/", backups.backup_make_template, name="backup-make-template"),
    path("environments/<int:pk>/launches/", backups.environment_launches, name="environment-launches"),
    path("templates/<int:pk>/launch/", backups.template_launch, name="template-launch"),
]
