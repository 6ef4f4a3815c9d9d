"""Reads for environments that are more than a restricted queryset."""

from __future__ import annotations

from dataclasses import dataclass

from environments.choices import role_from_permissions
from environments.models import Environment, EnvironmentGroupObjectPermission, EnvironmentUserObjectPermission
from portal.core.models import TenantGroup


@dataclass(frozen=True)
class Grant:
    principal_type: str  # "user" | "group"
    principal_id: int
    principal_name: str
    role: str


def environment_grants(*, environment: Environment) -> list[Grant]:
    """Every user's and group's role on the environment, highest role per principal (two queries)."""
    by_user: dict[int, tuple[str, set[str]]] = {}
    for user_id, username, codename in EnvironmentUserObjectPermission.objects.filter(
        content_object=environment
    ).values_list("user_id", "user__username", "permission__codename"):
        by_user.setdefault(user_id, (username, set()))[1].add(codename)
    by_group: dict[int, tuple[str, set[str]]] = {}
    for group_id, codename in EnvironmentGroupObjectPermission.objects.filter(
        content_object=environment
    ).values_list("group_id", "permission__codename"):
        by_group.setdefault(group_id, ("", set()))[1].add(codename)
    names = dict(TenantGroup.objects.filter(pk__in=by_group).values_list("pk", "display_name"))
    grants = [Grant("user", pk, name, role_from_permissions(codes)) for pk, (name, codes) in by_user.items()]
    grants += [Grant("group", pk, names.get(pk, ""), role_from_permissions(codes)) for pk, (_, codes) in
               by_group.items()]
    return sorted((g for g in grants if g.role != "no_access"), key=lambda g: (g.principal_type, g.principal_name))
