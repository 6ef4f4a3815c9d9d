"""The platform operators' admin (superusers only): tenants and their members. Tenant administrators use the
portal UI and API, which go through the permission layer."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from core.models import AuditLog, Tenant, User


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "is_active", "created_at"]
    search_fields = ["name", "slug"]


@admin.register(User)
class PortalUserAdmin(UserAdmin):
    list_display = ["username", "tenant", "role", "is_active", "is_superuser"]
    list_filter = ["tenant", "role", "is_active", "is_superuser"]
    fieldsets = UserAdmin.fieldsets + (("Tenancy", {"fields": ("tenant", "role", "vcenter_principal")}),)


@admin.register(AuditLog)
class AuditLogAdmin(admin.ModelAdmin):
    list_display = ["created_at", "tenant", "actor_username", "action", "outcome", "object_repr", "remote_addr"]
    list_filter = ["outcome", "action", "tenant"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
