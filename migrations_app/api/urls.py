"""Routes of VM-to-EC2 migrations; the site mounts them under /api/v1/."""

from django.urls import path

from migrations_app.api import agent, views

routes = [
    ("migrations", views.MigrationViewSet, "migration"),
]
urlpatterns = [
    path("import-tokens/", views.ImportTokenView.as_view(), name="import-tokens"),
    path("vcenter/vms/", views.VCenterVmListView.as_view(), name="vcenter-vms"),
    path("vcenter/inventory/", views.InventoryView.as_view(), name="vcenter-inventory"),
    path("settings/vmimport-role/", views.VmImportRoleView.as_view(), name="settings-vmimport-role"),
    *agent.urlpatterns,
]
