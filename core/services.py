"""Writes for tenants, users, groups and a tenant's peer settings. Keyword-only, atomic, validated, audited."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from core.audit import audit_record, audited_delete
from core.audit_actions import AuditAction
from core.connectors.selectors import agents_serve
from core.connectors.services import inventory_refresh_request
from core.errors import Conflict, Invalid
from core.models import AwsAuthMode, Tenant, TenantAwsAccount, TenantGroup, TenantVCenter, User
from core.peers import refuse_platform_account
from core.roles import TenantRole
from core.validation import model_update, same_tenant, validated_save

#
# Tenants (platform operators)
#


@transaction.atomic
def tenant_create(*, actor: User | None, name: str, slug: str = "", time_zone: str = "UTC") -> Tenant:
    tenant = Tenant(name=name, slug=slug or slugify(name)[:50], time_zone=time_zone)
    validated_save(tenant)
    audit_record(actor=actor, action=AuditAction.TENANT_CREATE, obj=tenant, tenant=tenant)
    return tenant


TENANT_UPDATABLE = ("name", "is_active", "time_zone")


@transaction.atomic
def tenant_update(*, actor: User, tenant: Tenant, data: dict) -> Tenant:
    model_update(instance=tenant, fields=TENANT_UPDATABLE, data=data)
    audit_record(actor=actor, action=AuditAction.TENANT_UPDATE, obj=tenant, tenant=tenant,
                 detail={"fields": sorted(data)})
    return tenant


#
# Users
#


def _set_password(user: User, password: str) -> None:
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise ValidationError({"password": exc.messages}) from exc
    user.set_password(password)


@transaction.atomic
def user_create(
    *, actor: User | None, tenant: Tenant, username: str, password: str | None = None, role: str, email: str = "",
    first_name: str = "", last_name: str = "", vcenter_principal: str = "",
) -> User:
    """Create a tenant member. `actor` is None only for first set-up from the command line."""
    if actor is not None:
        same_tenant(actor, tenant)
    if role not in TenantRole.values:
        raise ValidationError({"role": f"Choose one of {', '.join(TenantRole.values)}."})
    user = User(tenant=tenant, username=username, role=role, email=email, first_name=first_name,
                last_name=last_name, vcenter_principal=vcenter_principal)
    if password:
        _set_password(user, password)
    else:
        user.set_unusable_password()
    validated_save(user, exclude=["password"])
    audit_record(actor=actor, action=AuditAction.USER_CREATE, obj=user, tenant=tenant, detail={"role": role})
    return user


USER_UPDATABLE = ("email", "first_name", "last_name", "role", "vcenter_principal", "is_active")


@transaction.atomic
def user_update(*, actor: User, user: User, data: dict, password: str | None = None) -> User:
    same_tenant(actor, user)
    changes = data
    if user.pk == actor.pk and (changes.get("role", user.role) != user.role or changes.get("is_active") is False):
        raise Conflict("Administrators cannot demote or deactivate themselves.", code="self_lockout")
    if password:
        _set_password(user, password)
    model_update(instance=user, fields=USER_UPDATABLE, data=changes, exclude=["password"])
    if changes.get("is_active") is False or password:
        # A deactivated user's API tokens stop working at once, not at their next expiry, and so do tokens
        # obtained with a password that has just been replaced (an administrator's reset included).
        from knox.models import AuthToken

        AuthToken.objects.filter(user=user).delete()
    audit_record(actor=actor, action=AuditAction.USER_UPDATE, obj=user,
                 detail={"fields": sorted(changes) + (["password"] if password else [])})
    return user


@transaction.atomic
def api_token_obtain(*, user: User) -> str:
    """A new API token for `user` (whose password was just checked), valid API_TOKEN_LIFETIME_HOURS. Only its
    digest and clear prefix are stored (knox), so the token is in this answer and nowhere else; the user's expired
    tokens, and the oldest beyond API_TOKENS_PER_USER, are deleted. Audited as "auth.token" with the prefix."""
    from knox.models import AuthToken

    tokens = AuthToken.objects.filter(user=user)
    tokens.filter(expiry__lte=timezone.now()).delete()
    keep = max(settings.API_TOKENS_PER_USER - 1, 0)
    oldest = list(tokens.order_by("-created", "-digest").values_list("digest", flat=True)[keep:])
    AuthToken.objects.filter(digest__in=oldest).delete()
    instance, token = AuthToken.objects.create(user=user,
                                               expiry=timedelta(hours=settings.API_TOKEN_LIFETIME_HOURS))
    audit_record(actor=user, action=AuditAction.AUTH_TOKEN, obj=None, detail={
        "issued": True, "prefix": instance.token_key, "expires_at": instance.expiry.isoformat()})
    return token


#
# Groups
#


@transaction.atomic
def group_create(*, actor: User, name: str, members: list[User] = ()) -> TenantGroup:
    group = TenantGroup(tenant=actor.tenant, display_name=name, name=TenantGroup.global_name(actor.tenant_id, name))
    validated_save(group, exclude=["name"])
    _set_members(actor, group, members)
    audit_record(actor=actor, action=AuditAction.GROUP_CREATE, obj=group, detail={"members": [m.pk for m in members]})
    return group


@transaction.atomic
def group_update(*, actor: User, group: TenantGroup, name: str | None = None,
                 members: list[User] | None = None) -> TenantGroup:
    same_tenant(actor, group)
    if name is not None:
        group.display_name = name
        group.name = TenantGroup.global_name(actor.tenant_id, name)
        validated_save(group, exclude=["name"])
    if members is not None:
        _set_members(actor, group, members)
    audit_record(actor=actor, action=AuditAction.GROUP_UPDATE, obj=group,
                 detail={"name": name, "members": None if members is None else [m.pk for m in members]})
    return group


def _set_members(actor: User, group: TenantGroup, members) -> None:
    for member in members:
        same_tenant(actor, member)
    group.user_set.set(members)


@transaction.atomic
def group_delete(*, actor: User, group: TenantGroup) -> None:
    audited_delete(actor=actor, obj=group, action=AuditAction.GROUP_DELETE)


#
# Peer settings
#


def aws_account_ensure(*, actor: User) -> TenantAwsAccount:
    """The tenant's AWS account row, created empty on first sight so that its generated external id is fixed
    before the customer writes it into their role's trust policy."""
    account = TenantAwsAccount.objects.filter(tenant=actor.tenant).first()
    if account is not None:
        return account
    with transaction.atomic():
        account, created = TenantAwsAccount.objects.get_or_create(tenant=actor.tenant)
        if created:
            audit_record(actor=actor, action=AuditAction.AWS_ACCOUNT_CREATE, obj=account)
    return account


# The external id is the portal's to generate, never the tenant's to set.
AWS_ACCOUNT_UPDATABLE = ("account_id", "auth_mode", "access_key_id", "secret_access_key", "role_arn")


# Where a stored secret goes: changing one of these without giving the secret again would let an administrator
# send the stored secret somewhere they control (README, Security).
AWS_SECRET_DESTINATION = ("auth_mode", "access_key_id", "role_arn")


def _destination_changed(instance, data: dict, fields) -> bool:
    return any(name in data and data[name] != getattr(instance, name) for name in fields)


@transaction.atomic
def aws_account_update(*, actor: User, data: dict) -> TenantAwsAccount:
    account, _ = TenantAwsAccount.objects.get_or_create(tenant=actor.tenant)
    if account.secret_access_key and not data.get("secret_access_key") and \
            _destination_changed(account, data, AWS_SECRET_DESTINATION):
        if data.get("auth_mode", account.auth_mode) == AwsAuthMode.ASSUME_ROLE:
            # A role needs no key of the tenant's: drop it, so going back to keys asks for the secret again.
            data = {**data, "secret_access_key": ""}
        else:
            raise Invalid("Give the secret access key again: it goes with the access key id and role it was "
                          "given for.", code="secret_required", field="secret_access_key")
    role_arn = data.get("role_arn", account.role_arn)
    if data.get("auth_mode", account.auth_mode) == AwsAuthMode.ASSUME_ROLE and role_arn:
        refuse_platform_account(role_arn, when_unknown_refuse=False)
    model_update(instance=account, fields=AWS_ACCOUNT_UPDATABLE, data=data)
    audit_record(actor=actor, action=AuditAction.AWS_ACCOUNT_UPDATE, obj=account, detail={"fields": sorted(data)})
    return account


# No account: the vCenter account is entered on the connector agent, which refuses a URL or TLS check from here that
# differs from the one it was entered for (connector.vcenter.connection). VCENTER_TRUST is what the agents are told of
# their vCenter (core.connectors.selectors.vcenter_trust_for).
VCENTER_TRUST = ("url", "verify_tls", "ca_certificate_pem", "thumbprint", "ignore_esx_certificate_errors",
                 "dns_suffixes")
VCENTER_UPDATABLE = (*VCENTER_TRUST, "connector_updating", "max_active_migrations_per_region")


@transaction.atomic
def vcenter_update(*, actor: User, data: dict) -> TenantVCenter:
    limit = data.get("max_active_migrations_per_region")
    if limit is not None and not 1 <= limit <= settings.MIGRATION_MAX_ACTIVE_PER_REGION:
        raise Invalid(f"Choose 1 to {settings.MIGRATION_MAX_ACTIVE_PER_REGION}: a tenant's limit may lower the "
                      "platform's, never raise it.", code="above_platform_limit",
                      field="max_active_migrations_per_region")
    vcenter = TenantVCenter.objects.filter(tenant=actor.tenant).first() or TenantVCenter(tenant=actor.tenant)
    trusted_before = [getattr(vcenter, name) for name in VCENTER_TRUST]
    model_update(instance=vcenter, fields=VCENTER_UPDATABLE, data=data)
    if [getattr(vcenter, name) for name in VCENTER_TRUST] != trusted_before and agents_serve(actor.tenant_id):
        # The agents read another vCenter, or trust it differently, from their next heartbeat on, and the inventory
        # they reported may be another vCenter's: ask for a fresh one, which also rings their requests for work.
        inventory_refresh_request(tenant_id=actor.tenant_id)
    detail = {"fields": sorted(data)}
    if "ignore_esx_certificate_errors" in data:
        detail["ignore_esx_certificate_errors"] = data["ignore_esx_certificate_errors"]
    audit_record(actor=actor, action=AuditAction.VCENTER_UPDATE, obj=vcenter, detail=detail)
    return vcenter
