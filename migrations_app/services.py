"""Writes for VM-to-EC2 migrations: issuing connector tokens, creating (with the connector's checks),
cancelling, and fixing the vmimport role."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.timesince import timesince

from adapters.aws import client as aws
from adapters.vsphere import client as vsphere
from core.audit import audit_record
from core.audit_actions import AuditAction
from core.connectors.selectors import NO_CONNECTOR, Inventory, agents_all_updating, agents_serve, inventory_of
from core.connectors.services import inventory_refresh_request
from core.errors import Conflict, Forbidden, NotFound, UpstreamError
from core.jobs.transitions import admit, cancel_asked
from core.models import AuditOutcome, TenantVCenter, User
from core.peers import aws_credentials
from core.roles import Action
from core.validation import same_tenant, validated_save
from environments.models import Environment, KeyPair, SecurityGroup, Subnet
from migrations_app import preflight, selectors, tokens
from migrations_app.choices import LIVE, SUPPORTED_INSTANCE_TYPES, OperatingSystem, default_license_type
from migrations_app.job import MIGRATION
from migrations_app.models import ImportToken, MigrationTask
from migrations_app.requests import MigrationTarget
from migrations_app.staging import staging_buckets

NO_GRANT_MESSAGE = ("You have no permission to migrate virtual machines into any environment. Ask an administrator "
                    "to grant you permission on an environment.")


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_at: datetime
    environment_id: int
    vm_moref: str


def _deny(actor: User, action: AuditAction, message: str, code: str, **detail) -> Forbidden:
    audit_record(actor=actor, action=action, outcome=AuditOutcome.DENIED, detail={"reason": code, **detail})
    return Forbidden(message, code=code)


#
# Step 1 (portal): authorize an import of VM X into environment E.
#


def import_token_issue(*, actor: User, environment_id: int, vm_moref: str) -> IssuedToken:
    operable = Environment.objects.restrict(actor, Action.OPERATE)
    environment = operable.filter(pk=environment_id).first()
    if environment is None:
        if not operable.exists():
            raise _deny(actor, AuditAction.MIGRATION_AUTHORIZE, NO_GRANT_MESSAGE, "no_environment_grant",
                        environment_id=environment_id, vm=vm_moref)
        audit_record(actor=actor, action=AuditAction.MIGRATION_AUTHORIZE, outcome=AuditOutcome.DENIED,
                     detail={"reason": "environment_not_permitted", "environment_id": environment_id})
        raise NotFound("No such environment.")
    expires_at = timezone.now() + timezone.timedelta(seconds=settings.CONNECTOR_TOKEN_MAX_AGE)
    with transaction.atomic():
        row = ImportToken.objects.create(tenant=actor.tenant, user=actor, environment=environment,
                                         vm_moref=vm_moref, expires_at=expires_at)
        audit_record(actor=actor, action=AuditAction.MIGRATION_AUTHORIZE, obj=environment,
                     detail={"vm": vm_moref, "jti": str(row.jti)})
    token = tokens.sign(tokens.TokenClaims(str(row.jti), actor.pk, actor.tenant_id, environment.pk, vm_moref,
                                           principal=actor.vcenter_principal))
    return IssuedToken(token, expires_at, environment.pk, vm_moref)


#
# Step 2 (connector): verify the token and the user's own vCenter privilege, validate, queue.
#


def _verify_token(*, actor: User, token: str, environment_id: int, vm_moref: str) -> tokens.TokenClaims:
    try:
        claims = tokens.verify(token)
    except tokens.TokenInvalid as exc:
        raise _deny(actor, AuditAction.MIGRATION_TOKEN, exc.message, f"token_{exc.reason}") from exc
    bindings = {"user": claims.user_id == actor.pk, "tenant": claims.tenant_id == actor.tenant_id,
                "environment": claims.environment_id == environment_id, "vm": claims.vm_moref == vm_moref}
    wrong = [name for name, ok in bindings.items() if not ok]
    if wrong:
        raise _deny(actor, AuditAction.MIGRATION_TOKEN, f"The migration token was issued for another {wrong[0]}.",
                    "token_binding", mismatched=wrong)
    return claims


def _consume_token(*, actor: User, claims: tokens.TokenClaims) -> None:
    """Single use: the first request to mark the row used wins; replays get 409."""
    used = ImportToken.objects.filter(jti=claims.jti, user=actor, used_at__isnull=True,
                                      expires_at__gt=timezone.now()).update(used_at=timezone.now())
    if not used:
        audit_record(actor=actor, action=AuditAction.MIGRATION_TOKEN, outcome=AuditOutcome.DENIED,
                     detail={"reason": "token_replayed", "jti": claims.jti})
        raise Conflict("The migration token was already used; ask the portal for a new one.", code="token_used")


def migration_create(*, actor: User, token: str, target: MigrationTarget) -> MigrationTask:
    """Queue a migration (and start it at once if the region has a free slot)."""
    environment_id, vm_moref, private_ip = target.environment_id, target.vm_moref, target.private_ip
    claims = _verify_token(actor=actor, token=token, environment_id=environment_id, vm_moref=vm_moref)
    # Permissions are read again now: a grant revoked since the token was issued stops the migration here.
    environment = Environment.objects.restrict(actor, Action.OPERATE).select_related("region", "tenant").filter(
        pk=environment_id).first()
    if environment is None:
        raise _deny(actor, AuditAction.MIGRATION_CREATE,
                    "You no longer have permission to migrate into this environment.", "grant_revoked",
                    environment_id=environment_id)
    vcenter = TenantVCenter.objects.filter(tenant=actor.tenant).first()
    if (vcenter is not None and vcenter.connector_updating) or agents_all_updating(actor.tenant_id):
        raise Conflict("The connector is being updated, so new migrations are refused until it finishes; running "
                       "migrations continue. Try again shortly.", code="connector_updating")
    _check_form(target)
    if not actor.vcenter_principal:
        raise _deny(actor, AuditAction.MIGRATION_CREATE,
                    "Your vCenter identity is not set, so your export privilege cannot be checked. Ask an "
                    "administrator to map your account to your vCenter user.",
                    "no_vcenter_principal")
    vm = _check_vcenter(actor=actor, vm_moref=vm_moref, power_off=target.power_off)
    # Every problem at once, each beside its field, against AWS as it is now (not as last synced).
    problems = preflight.target_problems(vm=vm, target=target, environment=environment,
                                         view=preflight.aws_view(tenant=actor.tenant, environment=environment))
    if problems:
        raise preflight.as_validation_error(problems)
    subnet = Subnet.objects.get(environment=environment, pk=target.subnet_id)
    security_group = SecurityGroup.objects.get(environment=environment, pk=target.security_group_id)
    key_pair = KeyPair.objects.get(environment=environment, pk=target.key_pair_id) if target.key_pair_id else None
    _check_aws(actor=actor, environment=environment, vm=vm)
    with transaction.atomic():
        _consume_token(actor=actor, claims=claims)
        if MigrationTask.objects.filter(tenant=actor.tenant, vm_moref=vm_moref, state__in=LIVE).exists():
            raise Conflict(f"{vm.name} is already being migrated.", code="vm_busy")
        task = MigrationTask(
            tenant=actor.tenant, environment=environment, region=environment.region, created_by=actor,
            vm_moref=vm.moref, vm_name=vm.name, operating_system=target.operating_system,
            instance_type=target.instance_type, subnet=subnet, security_group=security_group, key_pair=key_pair,
            private_ip=private_ip, power_off_requested=target.power_off,
            license_type=target.license_type or default_license_type(target.operating_system),
            bytes_total=sum(d.capacity_bytes for d in vm.disks),
            boot_mode=preflight.boot_mode_of(vm), import_client_token=f"import-{uuid.uuid4().hex}", run_client_token=f"launch-{uuid.uuid4().hex}",
            status_message="Queued", import_token=token,
        )
        validated_save(task)
        audit_record(actor=actor, action=AuditAction.MIGRATION_CREATE, obj=task, detail={
            "vm": vm.moref, "vm_name": vm.name, "environment_id": environment.pk,
            "instance_type": target.instance_type, "license_type": task.license_type})
        admit(MIGRATION, scope=environment.region_id)
    task.refresh_from_db()
    return task


def migration_start(*, actor: User, target: MigrationTarget) -> MigrationTask:
    """Portal and connector in one call, for the portal's own pages and commands: issue the token, then create."""
    issued = import_token_issue(actor=actor, environment_id=target.environment_id, vm_moref=target.vm_moref)
    return migration_create(actor=actor, token=issued.token, target=target)


def _check_form(target: MigrationTarget) -> None:
    """The choices that need neither vCenter nor AWS, so a mistyped request is refused before either is asked."""
    errors = {}
    if target.operating_system not in OperatingSystem.values:
        errors["operating_system"] = "VM Import/Export does not support this operating system."
    if target.instance_type not in SUPPORTED_INSTANCE_TYPES:
        errors["instance_type"] = "This instance type is not supported for imported instances."
    if errors:
        raise ValidationError(errors)


def _check_vcenter(*, actor: User, vm_moref: str, power_off: bool) -> vsphere.VmInfo:
    """The VM as vCenter has it and the user's own export privilege on it, then its power state, as the tenant's
    connector agents last reported them: the portal never reads vCenter, and the agent checks the privilege again
    before it exports."""
    vm, privileges = _vcenter_as_reported(actor=actor, vm_moref=vm_moref)
    missing = preflight.export_privilege_problem(privileges, principal=actor.vcenter_principal, vm_name=vm.name)
    if missing:
        raise _deny(actor, AuditAction.MIGRATION_CREATE, missing, "no_vcenter_privilege", vm=vm_moref)
    if vm.power_state != "poweredOff" and not power_off:
        raise Conflict(f"{vm.name} is powered on. Power it off, or ask the portal to power it off before the "
                       "export.", code="vm_powered_on")
    return vm


def _vcenter_as_reported(*, actor: User, vm_moref: str) -> tuple[vsphere.VmInfo, set[str]]:
    """From the connector's inventory. What it cannot tell yet (no connector, nothing reported, a VM or a principal
    newer than the report) is refused with the reason, and a fresh inventory is asked for at once: it lands within
    seconds."""
    inventory = inventory_of(actor.tenant_id)
    if not inventory.reported:
        if inventory.served:  # without a connector there is nobody to ask
            inventory_refresh_request(tenant_id=actor.tenant_id)
        raise Conflict(inventory.missing_message, code=inventory.missing_code)
    vm = inventory.vm(vm_moref)
    if vm is None:
        inventory_refresh_request(tenant_id=actor.tenant_id)
        raise NotFound(f"There is no virtual machine {vm_moref} in vCenter as the connector reported it "
                       f"{timesince(inventory.taken_at)} ago. A fresh report is on its way: try again in a minute.")
    held = inventory.privileges_of(actor.vcenter_principal)
    if held is None:
        inventory_refresh_request(tenant_id=actor.tenant_id)
        raise Conflict(f"The connector has not reported the privileges of your vCenter account "
                       f"{actor.vcenter_principal} yet. A fresh report is on its way: try again in a minute.",
                       code="inventory_privileges_unknown")
    return vm, held.get(vm_moref, set())


def vm_inventory_refresh(*, actor: User) -> Inventory:
    """Ask the tenant's connector agents for a fresh VM inventory (the VM list's Refresh): whoever may migrate
    somewhere may ask. The request rings the agents' held requests for work (migrations_app.work_board), and the
    heartbeat each then sends takes it."""
    if not Environment.objects.restrict(actor, Action.OPERATE).exists():
        raise Forbidden(NO_GRANT_MESSAGE, code="no_environment_grant")
    if not agents_serve(actor.tenant_id):
        raise Conflict(NO_CONNECTOR, code="no_connector")
    inventory_refresh_request(tenant_id=actor.tenant_id)
    return inventory_of(actor.tenant_id, with_vms=False)


def _check_aws(*, actor: User, environment: Environment, vm: vsphere.VmInfo) -> None:
    try:
        role = aws.vmimport_role_status(aws_credentials(actor.tenant), environment.region.code)
    except aws.AwsError as exc:
        raise UpstreamError(f"AWS refused the pre-flight check: {exc.message}", code="aws_error") from exc
    preflight.check_vmimport_role(role, disk_count=len(vm.disks))


#
# Cancel
#


def migration_cancel(*, actor: User, task: MigrationTask) -> MigrationTask:
    """Idempotent; a finished migration is left as it is. Queued ones end at once; active ones move to
    `cancelling` (freeing their slot) and a worker releases everything they hold, then marks them cancelled."""
    same_tenant(actor, task)
    if not MigrationTask.objects.restrict(actor, Action.OPERATE).filter(pk=task.pk).exists():
        raise _deny(actor, AuditAction.MIGRATION_CANCEL,
                    "Only the user who started a migration, or an administrator, can cancel it.", "not_owner",
                    migration=task.pk)
    return cancel_asked(MIGRATION, task, actor=actor)


#
# Fix Error: the vmimport role
#


def vmimport_role_fix(*, actor: User, region_code: str) -> selectors.VmImportRole:
    """Create or repair the vmimport role and its policy (administrators; audited)."""
    buckets = staging_buckets(actor.tenant, region_code)
    try:
        status = aws.vmimport_role_repair(aws_credentials(actor.tenant), region_code, buckets)
    except aws.AwsError as exc:
        audit_record(actor=actor, action=AuditAction.VMIMPORT_ROLE_FIX, outcome=AuditOutcome.FAILED,
                     detail={"error": exc.code, "message": exc.message})
        raise UpstreamError(f"AWS refused to create the role: {exc.message}", code="aws_error") from exc
    audit_record(actor=actor, action=AuditAction.VMIMPORT_ROLE_FIX, detail={"buckets": buckets})
    return selectors.vmimport_role_describe(tenant=actor.tenant, region_code=region_code, status=status)
