from django.urls import path

from migrations_app.ui import views

urlpatterns = [
    path("vms/", views.vm_list, name="vms"),
    path("migrate/", views.migrate_dialog, name="migrate-dialog"),
    path("environments/<int:pk>/migrate/", views.migrate, name="migrate"),
    path("environments/<int:pk>/migrations/rows/", views.migration_rows, name="migration-rows"),
    path("migrations/<int:pk>/cancel/", views.migration_cancel, name="migration-cancel"),
    path("migrations/<int:pk>/log/", views.migration_log, name="migration-log"),
    path("vmimport-role/", views.vmimport_role, name="vmimport-role"),
]
