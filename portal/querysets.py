"""The one permission path: every queryset that reaches a view, serializer or task goes through `restrict()`.

Order matters and is fixed: tenant scope first, then the tenant role, then (for plain users) the guardian
object permissions on environments. A model-level permission never widens anything: guardian is asked with
`accept_global_perms=False`, and superusers get no tenant data through this path at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from django.apps import apps
from django.db import models
from django.db.models import Q

from portal.roles import Action, TenantRole

ENVIRONMENT_PERMISSION_FOR_ACTION = {
    Action.VIEW: "view_environment",
    Action.OPERATE: "operate_environment",
    Action.MANAGE: "manage_environment",
}


def permitted_environment_ids(user, action: str) -> models.QuerySet:
    """Ids of the environments of the user's tenant on which the user (or one of their groups) holds `action`."""
    from guardian.shortcuts import get_objects_for_user

    environment_model = apps.get_model("environments", "Environment")
    codename = ENVIRONMENT_PERMISSION_FOR_ACTION.get(action)
    if codename is None or user.tenant_id is None:
        return environment_model.objects.none().values("pk")
    return get_objects_for_user(
        user,
        f"environments.{codename}",
        klass=environment_model.objects.filter(tenant_id=user.tenant_id),
        accept_global_perms=False,
        with_superuser=False,
    ).values("pk")


@dataclass(frozen=True)
class Restriction:
    """How one model is scoped.

    tenant_path: lookup from the model to its tenant's id.
    auditor_can_view: auditors read every row of their tenant.
    user_scope: for plain users, a function (user, action) -> Q of the rows they may act on, or None when
        plain users get nothing of this model.
    """

    tenant_path: str = "tenant"
    auditor_can_view: bool = True
    user_scope: Callable | None = None

    def apply(self, queryset: models.QuerySet, user, action: str) -> models.QuerySet:
        if action not in Action.ALL:
            raise ValueError(f"unknown action {action!r}")
        if user is None or not user.is_authenticated or not user.is_active or user.tenant_id is None:
            return queryset.none()
        queryset = queryset.filter(**{self.tenant_path: user.tenant_id})
        if user.role == TenantRole.ADMIN:
            return queryset
        if user.role == TenantRole.AUDITOR:
            return queryset if (action == Action.VIEW and self.auditor_can_view) else queryset.none()
        if user.role == TenantRole.USER and self.user_scope is not None and action != Action.ADMIN:
            return queryset.filter(self.user_scope(user, action))
        return queryset.none()


def through_environment(path: str) -> Callable:
    """user_scope for rows that belong to an environment: the user's role on that environment decides."""

    def scope(user, action):
        return Q(**{f"{path}__in": permitted_environment_ids(user, action)})

    return scope


ADMIN_ONLY = Restriction(auditor_can_view=False)


class RestrictedQuerySet(models.QuerySet):
    def restrict(self, user, action: str = Action.VIEW) -> models.QuerySet:
        """The rows of this queryset that `user` may perform `action` on."""
        restriction: Restriction = getattr(self.model, "restriction", None)
        if restriction is None:
            raise TypeError(f"{self.model.__name__} declares no `restriction`; it cannot be exposed")
        return restriction.apply(self, user, action)
