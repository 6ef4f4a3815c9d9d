"""Reads for environments that are more than a restricted queryset."""

from __future__ import annotations

from dataclasses import dataclass

from adapters.aws import client as aws
from core.errors import Conflict
from core.models import TenantGroup, User
from core.peers import aws_credentials
from core.roles import Action
from environments.choices import role_from_permissions
from environments.models import Environment, EnvironmentGroupObjectPermission, EnvironmentUserObjectPermission, Region


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


@dataclass(frozen=True)
class RegionNode:
    region: object
    environments: list


def environment_tree(*, fetched_by) -> list[RegionNode]:
    """Region → environments the user may see, for the dashboard tree (two queries, whatever the size)."""
    environments = list(Environment.objects.restrict(fetched_by, Action.VIEW).order_by("region__code", "-is_default",
                                                                                       "name"))
    regions = {r.pk: r for r in Region.objects.restrict(fetched_by, Action.VIEW).order_by("code")}
    nodes = {pk: RegionNode(region, []) for pk, region in regions.items()}
    for environment in environments:
        if environment.region_id in nodes:
            environment.region = regions[environment.region_id]
            nodes[environment.region_id].environments.append(environment)
    return list(nodes.values())


@dataclass(frozen=True)
class LiveInstanceState:
    state: str
    instance_type: str
    private_ip: str
    error: str = ""


def instance_live_state(*, instance) -> LiveInstanceState:
    """The instance as AWS sees it right now (read only: the stored row changes through the services). A peer that
    cannot answer is reported, with the stored state, rather than failing the page."""
    try:
        info = aws.instance_describe(aws_credentials(instance.tenant), instance.environment.region.code,
                                     instance.instance_id)
    except aws.AwsError as exc:
        return LiveInstanceState(instance.state, instance.instance_type, instance.private_ip or "", exc.message)
    except Conflict as exc:
        return LiveInstanceState(instance.state, instance.instance_type, instance.private_ip or "", exc.message)
    return LiveInstanceState(info.state, info.instance_type, info.private_ip)


def still_operates(job) -> bool:
    """Authorization changes apply to running jobs too: the job's user and their tenant must still be active and
    the user hold the general role on the job's environment (read fresh, never from a cache)."""
    user = User.objects.select_related("tenant").filter(
        pk=job.created_by_id, is_active=True, tenant__is_active=True).first()
    return user is not None and Environment.objects.restrict(user, Action.OPERATE).filter(
        pk=job.environment_id).exists()
