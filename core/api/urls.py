"""The core's API routes (tenants, users, groups, audit log, tenant settings, tokens); the site mounts them."""

from django.urls import path

from core.api import views

routes = [
    ("tenants", views.TenantViewSet, "tenant"),
    ("users", views.UserViewSet, "user"),
    ("groups", views.GroupViewSet, "group"),
    ("audit-log", views.AuditLogViewSet, "auditlog"),
]
urlpatterns = [
    path("auth/token/", views.ObtainTokenView.as_view(), name="auth-token"),
    path("me/", views.MeView.as_view(), name="me"),
    path("settings/aws/", views.AwsAccountView.as_view(), name="settings-aws"),
    path("settings/vcenter/", views.VCenterView.as_view(), name="settings-vcenter"),
]
