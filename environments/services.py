"""Writes for regions, environments, grants, synced VPC resources, templates and imported instances.

Every function is keyword-only, atomic, validates with full_clean() and writes an audit row. Callers pass objects
they obtained through `restrict()`; services re-check tenant equality as an invariant (a mismatch is a bug).
"""

from __future__ import annotations

from django.contrib.auth.models import Group
from django.db import transaction
from django.db.models import ProtectedError
from django.utils import timezone
from guardian.shortcuts import assign_perm, remove_perm

from adapters.aws import client as aws
from core.audit import audit_record, audited_delete
from core.audit_actions import AuditAction
from core.errors import Conflict, Invalid, InvariantViolation, UpstreamError
from core.models import AuditOutcome, TenantGroup, User
from core.peers import aws_credentials
from core.roles import TenantRole
from core.validation import model_update, non_field_error, same_tenant, validated_save
from environments.choices import (
    ENVIRONMENT_PERMISSION_CODENAMES,
    ROLE_PERMISSIONS,
    EnvironmentRole,
    InstanceOrigin,
    InstanceState,
)
from environments.models import Environment, ImportedInstance, KeyPair, Region, SecurityGroup, Subnet, Template

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
    audit_record(actor=actor, action=AuditAction.REGION_CREATE, obj=region, detail={"code": code})
    return region


@transaction.atomic
def region_delete(*, actor: User, region: Region) -> None:
    same_tenant(actor, region)
    audit_record(actor=actor, action=AuditAction.REGION_DELETE, obj=region, detail={"code": region.code})
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
    audit_record(actor=actor, action=AuditAction.ENVIRONMENT_CREATE, obj=environment, detail={"vpc_id": vpc_id})
    return environment


ENVIRONMENT_UPDATABLE = ("name", "description", "vpc_id")


@transaction.atomic
def environment_update(*, actor: User, environment: Environment, data: dict) -> Environment:
    same_tenant(actor, environment)
    changes = data
    unexpected = set(changes) - set(ENVIRONMENT_UPDATABLE)
    if unexpected:
        raise InvariantViolation(f"environment_update cannot change {sorted(unexpected)}")
    if environment.is_default and ("vpc_id" in changes or "name" in changes):
        raise Conflict("The default environment's name and VPC are fixed.", code="default_environment")
    if "vpc_id" in changes and not changes["vpc_id"]:
        raise non_field_error("A non-default environment needs a VPC id.", code="vpc_required")
    before = {field: getattr(environment, field) for field in changes}
    if "vpc_id" in changes and changes["vpc_id"] != before["vpc_id"]:
        # Resources of the old VPC no longer apply; the next sync fills the new ones.
        try:
            environment.subnets.all().delete()
            environment.security_groups.all().delete()
        except ProtectedError as exc:
            raise Conflict("Templates still use this VPC's subnets or security groups; change them first.",
                           code="environment_in_use") from exc
        environment.last_synced_at = None
    model_update(instance=environment, fields=ENVIRONMENT_UPDATABLE, data=changes)
    audit_record(actor=actor, action=AuditAction.ENVIRONMENT_UPDATE, obj=environment,
                 detail={"before": before, "after": changes})
    return environment


@transaction.atomic
def environment_delete(*, actor: User, environment: Environment) -> None:
    same_tenant(actor, environment)
    if environment.is_default:
        raise Conflict("A region's default environment cannot be deleted.", code="default_environment")
    audit_record(actor=actor, action=AuditAction.ENVIRONMENT_DELETE, obj=environment)
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
            audit_record(actor=actor, action=AuditAction.ENVIRONMENT_SYNC, obj=environment, outcome="failed",
                         detail={"error": exc.code, "message": exc.message})
        environment.sync_error = exc.message[:1000]
        raise UpstreamError(f"AWS refused the sync: {exc.message}", code="aws_error") from exc
    with transaction.atomic():
        _replace_vpc_resources(environment, resources)
        environment.vpc_cidr_block = resources.cidr_block
        environment.last_synced_at = timezone.now()
        environment.sync_error = ""
        environment.save(update_fields=["vpc_cidr_block", "last_synced_at", "sync_error", "updated_at"])
        audit_record(actor=actor, action=AuditAction.ENVIRONMENT_SYNC, obj=environment, detail={
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
    if _principal_tenant_id(principal) != environment.tenant_id:
        raise InvariantViolation("a principal of another tenant reached environment_grant")
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
    audit_record(actor=actor, action=AuditAction.ENVIRONMENT_GRANT if role != EnvironmentRole.NO_ACCESS else
                 AuditAction.ENVIRONMENT_REVOKE, obj=environment,
                 detail={"principal_type": "user" if isinstance(principal, User) else "group",
                         "principal_id": principal.pk, "principal": str(principal), "role": role})
    return role


def environment_revoke(*, actor: User, environment: Environment, principal: User | Group) -> None:
    environment_grant(actor=actor, environment=environment, principal=principal, role=EnvironmentRole.NO_ACCESS)


#
# Templates
#


TEMPLATE_FIELDS = ("name", "description", "ami_id", "instance_type", "subnet", "security_group", "key_pair")


# What AWS answers for an image a template may launch from.
USABLE_IMAGE_STATES = frozenset({"available", "pending"})


def _check_image(environment: Environment, ami_id: str) -> None:
    """The image exists in the environment's region and the tenant's account can see it (its own, shared with it,
    or public), asked with the tenant's credentials: a template that names anything else would fail at launch."""
    region = environment.region.code
    try:
        image = aws.image_describe(aws_credentials(environment.tenant), region, ami_id)
    except aws.AwsError as exc:
        if not exc.code.startswith("InvalidAMIID"):
            raise UpstreamError(f"AWS refused to describe the image: {exc.message}", code="aws_error") from exc
        image = None
    if image is None or image.state not in USABLE_IMAGE_STATES:
        raise Invalid(f"Image {ami_id} does not exist in {region} or is not available to your organisation's AWS "
                      "account.", code="image_not_found", field="ami_id")


def _validated(template: Template, data: dict) -> None:
    """Field checks first (cheap, and their errors come before an AWS call), then the image, outside any
    transaction: no transaction is held open while AWS answers."""
    probe = Template(**{f.attname: getattr(template, f.attname) for f in Template._meta.concrete_fields})
    probe._state.adding = template._state.adding
    for name, value in data.items():
        setattr(probe, name, value)
    probe.full_clean()
    if "ami_id" in data and (template._state.adding or data["ami_id"] != template.ami_id):
        _check_image(probe.environment, probe.ami_id)


def template_create(*, actor: User, environment: Environment, data: dict) -> Template:
    same_tenant(actor, environment)
    template = Template(tenant=environment.tenant, environment=environment, created_by=actor)
    _validated(template, data)
    return template_save(actor=actor, template=template, data=data, action=AuditAction.TEMPLATE_CREATE)


def template_update(*, actor: User, template: Template, data: dict) -> Template:
    same_tenant(actor, template)
    _validated(template, data)
    return template_save(actor=actor, template=template, data=data, action=AuditAction.TEMPLATE_UPDATE)


@transaction.atomic
def template_save(*, actor: User, template: Template, data: dict, action: AuditAction) -> Template:
    model_update(instance=template, fields=TEMPLATE_FIELDS, data=data)
    extra = {"detail": {"fields": sorted(data)}} if action == AuditAction.TEMPLATE_UPDATE else {}
    audit_record(actor=actor, action=action, obj=template, **extra)
    return template


@transaction.atomic
def template_delete(*, actor: User, template: Template) -> None:
    audited_delete(actor=actor, obj=template, action=AuditAction.TEMPLATE_DELETE)


#
# Imported instances
#

# The verbs a caller may ask for, and what the audit log calls each.
POWER_ACTIONS = {"start": AuditAction.INSTANCE_START, "stop": AuditAction.INSTANCE_STOP,
                 "reboot": AuditAction.INSTANCE_REBOOT}


@transaction.atomic
def instance_record_imported(*, actor: User, environment: Environment, instance_id: str, image_id: str,
                             instance_type: str, private_ip: str | None, state: str, source_vm_moref: str,
                             source_vm_name: str) -> ImportedInstance:
    """Record the instance a migration launched (idempotent: a worker that resumes after a crash records it
    once). `actor` is the user who started the migration."""
    same_tenant(actor, environment)
    existing = ImportedInstance.objects.filter(tenant=environment.tenant, instance_id=instance_id).first()
    if existing is not None:
        return existing
    instance = ImportedInstance(
        tenant=environment.tenant, environment=environment, instance_id=instance_id, image_id=image_id,
        instance_type=instance_type, private_ip=private_ip or None, source_vm_moref=source_vm_moref,
        source_vm_name=source_vm_name, state=state if state in InstanceState.values else InstanceState.UNKNOWN,
        state_refreshed_at=timezone.now())
    validated_save(instance)
    audit_record(actor=actor, action=AuditAction.INSTANCE_IMPORT, obj=instance,
                 detail={"image_id": image_id, "source_vm": source_vm_moref, "state": instance.state})
    return instance


@transaction.atomic
def instance_forget_imported(*, actor: User | None, environment: Environment, instance_id: str) -> bool:
    """Drop the record of an imported instance that its migration terminated (cancelled or failed while
    launching); True if there was one. One that backups already refer to is kept, marked terminated."""
    instance = ImportedInstance.objects.filter(tenant=environment.tenant, environment=environment,
                                               instance_id=instance_id).first()
    if instance is None:
        return False
    if instance.backups.exists():
        ImportedInstance.objects.filter(pk=instance.pk).update(state=InstanceState.TERMINATED,
                                                               state_refreshed_at=timezone.now())
    else:
        instance.delete()
    audit_record(actor=actor, action=AuditAction.INSTANCE_FORGET, tenant=environment.tenant,
                 detail={"instance_id": instance_id, "environment_id": environment.pk})
    return True


def instance_power(*, actor: User, instance: ImportedInstance, action: str) -> ImportedInstance:
    same_tenant(actor, instance)
    if action not in POWER_ACTIONS:
        raise Invalid("Choose start, stop or reboot.", code="invalid_action", field="action")
    region = instance.environment.region.code
    credentials = aws_credentials(instance.tenant)
    try:
        aws.instance_power(credentials, region, instance.instance_id, action)
        info = aws.instance_describe(credentials, region, instance.instance_id)
    except aws.AwsError as exc:
        audit_record(actor=actor, action=POWER_ACTIONS[action], obj=instance, outcome=AuditOutcome.FAILED,
                     detail={"error": exc.code, "message": exc.message})
        raise UpstreamError(f"AWS refused to {action} {instance.instance_id}: {exc.message}", code="aws_error") \
            from exc
    ImportedInstance.objects.filter(pk=instance.pk).update(state=info.state, state_refreshed_at=timezone.now())
    audit_record(actor=actor, action=POWER_ACTIONS[action], obj=instance, detail={"state": info.state})
    instance.refresh_from_db()
    return instance


#
# Backups become templates; templates become instances
#


@transaction.atomic
def instance_record_launched(*, actor: User, environment: Environment, instance_id: str, image_id: str,
                             instance_type: str, private_ip: str | None, state: str,
                             template_name: str) -> ImportedInstance:
    """Record an instance launched from a template (idempotent: a launch that resumes after a crash records it
    once). `actor` is the user who asked for the launch."""
    same_tenant(actor, environment)
    existing = ImportedInstance.objects.filter(tenant=environment.tenant, instance_id=instance_id).first()
    if existing is not None:
        return existing
    instance = ImportedInstance(
        tenant=environment.tenant, environment=environment, instance_id=instance_id, origin=InstanceOrigin.LAUNCHED,
        image_id=image_id, instance_type=instance_type, private_ip=private_ip or None,
        state=state if state in InstanceState.values else InstanceState.UNKNOWN, state_refreshed_at=timezone.now())
    validated_save(instance)
    audit_record(actor=actor, action=AuditAction.INSTANCE_LAUNCH, obj=instance,
                 detail={"image_id": image_id, "template": template_name, "state": instance.state})
    return instance
