"""The API root: /api/v1/."""

from django.urls import include, path
from rest_framework.routers import DefaultRouter

from environments.api import views as environment_views
from migrations_app.api import views as migration_views
from portal.api import views

router = DefaultRouter()
router.register("tenants", views.TenantViewSet, basename="tenant")
router.register("users", views.UserViewSet, basename="user")
router.register("groups", views.GroupViewSet, basename="group")
router.register("audit-log", views.AuditLogViewSet, basename="auditlog")
router.register("regions", environment_views.RegionViewSet, basename="region")
router.register("environments", environment_views.EnvironmentViewSet, basename="environment")
router.register("templates", environment_views.TemplateViewSet, basename="template")
router.register("instances", environment_views.ImportedInstanceViewSet, basename="instance")
router.register("instances", migration_views.InstancePowerViewSet, basename="instance-power")
router.register("migrations", migration_views.MigrationViewSet, basename="migration")

app_name = "api"
urlpatterns = [
    path("auth/token/", views.ObtainTokenView.as_view(), name="auth-token"),
    path("me/", views.MeView.as_view(), name="me"),
    path("settings/aws/", views.AwsAccountView.as_view(), name="settings-aws"),
    path("settings/vcenter/", views.VCenterView.as_view(), name="settings-vcenter"),
    path("import-tokens/", migration_views.ImportTokenView.as_view(), name="import-tokens"),
    path("vcenter/vms/", migration_views.VCenterVmListView.as_view(), name="vcenter-vms"),
    path("settings/vmimport-role/", migration_views.VmImportRoleView.as_view(), name="settings-vmimport-role"),
    path("", include(router.urls)),
]
