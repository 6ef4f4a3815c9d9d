"""Role-level gates, read from each view's declared `Need` (core.api.viewsets). Row-level access is decided
by `restrict()` in each view's get_queryset, never here."""

from rest_framework.permissions import BasePermission

from core.auth import TENANT_DEACTIVATED
from core.roles import TenantRole


class IsTenantMember(BasePermission):
    """An active member of an active tenant. Platform superusers are not tenant members."""

    message = "This API is for members of a tenant."

    def has_permission(self, request, view):
        user = request.user
        if not (user and user.is_authenticated and user.is_active and user.tenant_id):
            return False
        if not user.tenant.is_active:
            self.message = TENANT_DEACTIVATED
            return False
        # A view that declares no Need (me, token) reads nothing of the tenant's beyond the caller itself.
        allowed = view.allowed_roles() if hasattr(view, "allowed_roles") else set(TenantRole.values)
        if user.role not in allowed:
            self.message = "Your role does not allow this."
            return False
        return True


class IsPlatformOperator(BasePermission):
    message = "Only platform operators manage tenants."

    def has_permission(self, request, view):
        return bool(request.user and request.user.is_authenticated and request.user.is_superuser)
