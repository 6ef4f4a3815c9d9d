"""Writes for regions, environments, grants, synced VPC resources and templates.

Every function is keyword-only, atomic, validates with full_clean() and writes an audit row. Callers pass objects
they obtained through `restrict()`; services re-check tenant equality as an invariant (a mismatch is a bug).
"""

from __future__ import annotations

from django.contrib.auth.models import Group
from django.db import transaction
from django.db.models import ProtectedError
from django.utils import timezone
from guardian.shortcuts import assign_perm, remove_perm

from environments.choices import ENVIRONMENT_PERMISSION_CODENAMES, ROLE_PERMISSIONS, EnvironmentRole
from environments.models import Environment, KeyPair, Region, SecurityGroup, Subnet, Template
from portal.audit import audit_record
from portal.errors import Conflict, UpstreamError
from portal.integrations.aws import client as aws
from portal.models import TenantGroup, User
from portal.peers import aws_credentials
from portal.roles import TenantRole
from portal.validation import non_field_error, same_tenant, validated_save

DEFAULT_ENVIRONMENT_NAME = "default"


#
# Regions
#


@transaction.atomic
def region_create(*, actor: User, code: str, name: str = "") -> Region:
    region = Region(tenant=actor.tenant, code=code, name=name)
    validated_save(region)
    default = Environment(
        tenant=actor.tenant, region=region, name=DEFAULT_ENVIRONMENT_NAME, is_default=True,
        description=f"The default VPC of {code}",
    )
    validated_save(default)
    audit_record(actor=actor, action="region.create", obj=region, detail={"code": code})
    return region


@transaction.atomic
def region_delete(*, actor: User, region: Region) -> None:
    same_tenant(actor, region)
    audit_record(actor=actor, action="region.delete", obj=region, detail={"code": region.code})
    try:
        region.delete()
    except ProtectedError as exc:
        raise Conflict(
            "The region still has imported instances; it cannot be deleted.", code="region_in_use"
        ) from exc


#
# Environments
#


@transaction.atomic
def environment_create(*, actor: User, region: Region, name: str, vpc_id: str, description: str = "") -> Environment:
    same_tenant(actor, region)
    if not vpc_id:
        raise non_field_error("A non-default environment needs a VPC id.", code="vpc_required")
    environment = Environment(tenant=actor.tenant, region=region, name=name, vpc_id=vpc_id, description=description)
    validated_save(environment)
    audit_record(actor=actor, action="environment.create", obj=environment, detail={"vpc_id": vpc_id})
    return environment


@transaction.atomic
def environment_update(*, actor: User, environment: Environment, **changes) -> Environment:
    same_tenant(actor, environment)
    allowed = {"name", "description", "vpc_id"}
    unknown = set(changes) - allowed
    assert not unknown, f"environment_update cannot change {unknown}"
    if environment.is_default and ("vpc_id" in changes or "name" in changes):
        raise Conflict("The default environment's name and VPC are fixed.", code="default_environment")
    if "vpc_id" in changes and not changes["vpc_id"]:
        raise non_field_error("A non-default environment needs a VPC id.", code="vpc_required")
    before = {field: getattr(environment, field) for field in changes}
    for field, value in changes.items():
        setattr(environment, field, value)
    if "vpc_id" in changes and changes["vpc_id"] != before["vpc_id"]:
        # Resources of the old VPC no longer apply; the next sync fills the new ones.
        try:
            environment.subnets.all().delete()
            environment.security_groups.all().delete()
        except ProtectedError as exc:
            raise Conflict("Templates still use this VPC's subnets or security groups; change them first.",
                           code="environment_in_use") from exc
        environment.last_synced_at = None
    validated_save(environment)
    audit_record(actor=actor, action="environment.update", obj=environment,
                 detail={"before": before, "after": changes})
    return environment


@transaction.atomic
def environment_delete(*, actor: User, environment: Environment) -> None:
    same_tenant(actor, environment)
    if environment.is_default:
        raise Conflict("A region's default environment cannot be deleted.", code="default_environment")
    audit_record(actor=actor, action="environment.delete", obj=environment)
    try:
        environment.delete()
    except ProtectedError as exc:
        raise Conflict(
            "The environment still has imported instances or templates in use; it cannot be deleted.",
            code="environment_in_use",
        ) from exc


def environment_sync(*, actor: User, environment: Environment) -> Environment:
    """Refresh subnets, security groups and key pairs from AWS. The AWS call happens outside any transaction;
    the replacement of the rows is atomic, so a failed sync leaves the previous data intact."""
    same_tenant(actor, environment)
    try:
        resources = aws.describe_vpc_resources(
            aws_credentials(environment.tenant), environment.region.code, environment.vpc_id
        )
    except aws.AwsError as exc:
        with transaction.atomic():
            Environment.objects.filter(pk=environment.pk).update(sync_error=exc.message[:1000])
            audit_record(actor=actor, action="environment.sync", obj=environment, outcome="failed",
                         detail={"error": exc.code, "message": exc.message})
        environment.sync_error = exc.message[:1000]
        raise UpstreamError(f"AWS refused the sync: {exc.message}", code="aws_error") from exc
    with transaction.atomic():
        _replace_vpc_resources(environment, resources)
        environment.vpc_cidr_block = resources.cidr_block
        environment.last_synced_at = timezone.now()
        environment.sync_error = ""
        environment.save(update_fields=["vpc_cidr_block", "last_synced_at", "sync_error", "updated_at"])
        audit_record(actor=actor, action="environment.sync", obj=environment, detail={
            "subnets": len(resources.subnets), "security_groups": len(resources.security_groups),
            "key_pairs": len(resources.key_pairs),
        })
    return environment


def _replace_vpc_resources(environment: Environment, resources: aws.VpcResources) -> None:
    tenant_id = environment.tenant_id
    _upsert(environment.subnets, "subnet_id", {
        s.subnet_id: {"cidr_block": s.cidr_block, "availability_zone": s.availability_zone, "name": s.name[:255]}
        for s in resources.subnets
    }, Subnet, environment, tenant_id)
    _upsert(environment.security_groups, "group_id", {
        g.group_id: {"name": g.name[:255], "description": g.description[:255]} for g in resources.security_groups
    }, SecurityGroup, environment, tenant_id)
    _upsert(environment.key_pairs, "name", {
        k.name: {"key_pair_id": k.key_pair_id, "fingerprint": k.fingerprint} for k in resources.key_pairs
    }, KeyPair, environment, tenant_id)


def _upsert(manager, key_field, wanted: dict, model, environment, tenant_id) -> None:
    existing = {getattr(row, key_field): row for row in manager.all()}
    gone = [row.pk for key, row in existing.items() if key not in wanted]
    try:
        model.objects.filter(pk__in=gone).delete()
    except ProtectedError:
        # A template still points at it; keep the row so the template stays valid until its owner edits it.
        pass
    for key, fields in wanted.items():
        row = existing.get(key) or model(tenant_id=tenant_id, environment=environment, **{key_field: key})
        for name, value in fields.items():
            setattr(row, name, value)
        row.save()


#
# Grants (guardian object permissions, direct foreign keys)
#


def _principal_tenant_id(principal) -> int | None:
    if isinstance(principal, User):
        return principal.tenant_id
    return TenantGroup.objects.filter(pk=principal.pk).values_list("tenant_id", flat=True).first()


@transaction.atomic
def environment_grant(*, actor: User, environment: Environment, principal: User | Group, role: str) -> str:
    """Set the principal's role on the environment (replacing any other); `no_access` revokes."""
    same_tenant(actor, environment)
    assert _principal_tenant_id(principal) == environment.tenant_id, "cross-tenant principal reached a service"
    if role not in ROLE_PERMISSIONS:
        raise non_field_error(f"Unknown role {role!r}.", code="invalid_role")
    if isinstance(principal, User) and principal.role != TenantRole.USER:
        raise non_field_error(
            "Environment roles are for users; administrators already manage every environment and auditors "
            "only read.", code="not_a_user")
    for codename in ENVIRONMENT_PERMISSION_CODENAMES:
        remove_perm(f"environments.{codename}", principal, environment)
    for codename in ROLE_PERMISSIONS[role]:
        assign_perm(f"environments.{codename}", principal, environment)
    audit_record(actor=actor, action="environment.grant" if role != EnvironmentRole.NO_ACCESS else
                 "environment.revoke", obj=environment,
                 detail={"principal_type": "user" if isinstance(principal, User) else "group",
                         "principal_id": principal.pk, "principal": str(principal), "role": role})
    return role


def environment_revoke(*, actor: User, environment: Environment, principal: User | Group) -> None:
    environment_grant(actor=actor, environment=environment, principal=principal, role=EnvironmentRole.NO_ACCESS)


#
# Templates
#


@transaction.atomic
def template_create(*, actor: User, environment: Environment, **fields) -> Template:
    same_tenant(actor, environment)
    template = Template(tenant=environment.tenant, environment=environment, created_by=actor, **fields)
    validated_save(template)
    audit_record(actor=actor, action="template.create", obj=template)
    return template


@transaction.atomic
def template_update(*, actor: User, template: Template, **changes) -> Template:
    same_tenant(actor, template)
    for field, value in changes.items():
        setattr(template, field, value)
    validated_save(template)
    audit_record(actor=actor, action="template.update", obj=template, detail={"fields": sorted(changes)})
    return template


@transaction.atomic
def template_delete(*, actor: User, template: Template) -> None:
    same_tenant(actor, template)
    audit_record(actor=actor, action="template.delete", obj=template)
    template.delete()
