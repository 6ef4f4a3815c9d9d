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


# A region's environments are listed up to this many; beyond it the tree says there are more and offers the search.
# It is what keeps a page's cost the same at 100 or 10,000 environments (bench/scale.py, tree_ratio).
TREE_REGION_CAP = 50
TREE_SEARCH_CAP = 20


@dataclass(frozen=True)
class RegionNode:
    region: object
    # Empty for a collapsed region: its environments load when it is opened (`region_environments`).
    environments: list
    more: bool = False  # it holds more than are listed: the search finds them
    open: bool = False


def _visible_environments(fetched_by):
    return Environment.objects.restrict(fetched_by, Action.VIEW)


def region_environments(*, fetched_by, region, current=None, cap: int = TREE_REGION_CAP) -> list:
    """The region's default environment, then the first `cap` others by name, of those the user may see; and
    `current` among them even when it sorts later, so that the page's own location always shows. Both reads follow
    an index (the default's, and (region, name)), so they cost the same however many the region holds."""
    visible = _visible_environments(fetched_by).filter(region=region)
    rows = list(visible.filter(is_default=True)[:1])
    rows += visible.filter(is_default=False).order_by("name")[:cap - len(rows)]
    if current is not None and current.region_id == region.pk and all(e.pk != current.pk for e in rows):
        rows.append(current)
    for environment in rows:
        environment.region = region
    return rows


def environment_tree(*, fetched_by, current=None) -> list[RegionNode]:
    """The regions the user may see, for the side tree. Only one region's environments are read: the current
    environment's, or the only region when there is one; the others load when opened. Nothing here reads every
    environment (not even to count them), so a page costs the same at 100 or 10,000."""
    regions = list(Region.objects.restrict(fetched_by, Action.VIEW).order_by("code"))
    open_pk = current.region_id if current is not None else (regions[0].pk if len(regions) == 1 else None)
    nodes = []
    for region in regions:
        if region.pk == open_pk:
            environments = region_environments(fetched_by=fetched_by, region=region, current=current,
                                               cap=TREE_REGION_CAP + 1)
            shown = environments[:TREE_REGION_CAP]
            if current is not None and current not in shown:
                shown.append(current)
            nodes.append(RegionNode(region, shown, more=len(environments) > len(shown), open=True))
        else:
            nodes.append(RegionNode(region, []))
    return nodes


def environment_search(*, fetched_by, text: str, cap: int = TREE_SEARCH_CAP) -> tuple[list, bool]:
    """Environments the user may see whose name contains `text`, across regions, by region then name; and
    whether there were more than `cap`."""
    text = text.strip()
    if not text:
        return [], False
    rows = list(_visible_environments(fetched_by).filter(name__icontains=text).select_related("region").order_by(
        "region__code", "name")[:cap + 1])
    return rows[:cap], len(rows) > cap


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
