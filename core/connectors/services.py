"""Writes: the platform's capacity pool row, connector agents (registration, contact, rotation, revocation), and
the vCenter inventory they report."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from connector import protocol
from core.audit import audit_record
from core.audit_actions import AuditAction
from core.connectors import selectors
from core.connectors.models import Agent, AgentNonce, CapacityPool, VCenterInventory
from core.errors import Conflict, Invalid
from core.models import AuditOutcome
from core.validation import validated_save


def capacity_pool() -> CapacityPool:
    """The platform's capacity pool row (migration 0004 makes it; a flushed test database may not have it)."""
    try:
        return CapacityPool.objects.get(name=CapacityPool.PLATFORM)
    except CapacityPool.DoesNotExist:
        try:
            with transaction.atomic():
                return CapacityPool.objects.create(name=CapacityPool.PLATFORM)
        except IntegrityError:  # made concurrently
            return CapacityPool.objects.get(name=CapacityPool.PLATFORM)


#
# Connector agents: registration, contact, rotation and revocation.
#

REGISTRATION_CODE_PREFIX = "vmpr_"
INVALID_CODE = "The registration code is not valid, has expired or was already used; ask for a new one."


def _digest(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


@transaction.atomic
def agent_create(*, actor, name: str) -> tuple[Agent, str]:
    """A new agent for the actor's tenant and its one-time registration code, returned here and never again (the
    portal keeps its digest), valid for AGENT_REGISTRATION_CODE_SECONDS."""
    code = REGISTRATION_CODE_PREFIX + secrets.token_urlsafe(32)
    agent = Agent(tenant=actor.tenant, name=name, created_by=actor, code_digest=_digest(code),
                  code_expires_at=timezone.now() + timedelta(seconds=settings.AGENT_REGISTRATION_CODE_SECONDS))
    if Agent.objects.filter(tenant=actor.tenant, name=name).exists():
        raise Conflict("The tenant already has a connector agent of that name.", field="name")
    validated_save(agent)
    audit_record(actor=actor, action=AuditAction.AGENT_CREATE, obj=agent, tenant=actor.tenant,
                 detail={"name": name, "code_expires_at": agent.code_expires_at.isoformat()})
    return agent, code


def agent_register(*, code: str, public_key: str, version: str = "", hostname: str = "",
                   address: str | None = None) -> Agent:
    """Exchange a registration code for the agent's own credential: the public key it generated. The code works
    once; an unknown, expired or used code and a revoked agent's code are refused alike."""
    try:
        protocol.public_key_from_text(public_key)
    except protocol.ProtocolError as exc:
        raise Invalid("Not an Ed25519 public key (32 bytes, base64url).", field="public_key") from exc
    with transaction.atomic():
        agent = (Agent.objects.select_for_update().select_related("tenant")
                 .filter(code_digest=_digest(code), revoked_at__isnull=True).first() if code else None)
        if agent is not None and agent.code_expires_at and agent.code_expires_at > timezone.now() \
                and agent.tenant.is_active:
            now = timezone.now()
            agent.public_key, agent.code_digest, agent.code_expires_at = public_key, "", None
            agent.registered_at = agent.last_contact_at = now
            agent.version, agent.hostname, agent.address = version[:40], hostname[:255], address
            validated_save(agent)
            audit_record(actor=None, action=AuditAction.AGENT_REGISTER, obj=agent, tenant=agent.tenant,
                         detail={"name": agent.name, "version": agent.version, "address": address})
            return agent
    # Outside the transaction: the refusal is recorded although nothing else is written.
    audit_record(actor=None, action=AuditAction.AGENT_REGISTER, outcome=AuditOutcome.DENIED,
                 tenant=agent.tenant if agent else None, detail={"reason": "invalid_code", "address": address})
    raise Invalid(INVALID_CODE, field="code")


@transaction.atomic
def agent_request_rotation(*, actor, agent: Agent) -> Agent:
    """Ask the agent to replace its key: it makes a new one on its next contact and proves the change with the old."""
    if agent.revoked_at or not agent.public_key:
        raise Conflict("Only a registered agent can rotate its key.")
    agent.rotation_requested = True
    agent.save(update_fields=["rotation_requested"])
    audit_record(actor=actor, action=AuditAction.AGENT_ROTATION_REQUEST, obj=agent, tenant=agent.tenant)
    return agent


@transaction.atomic
def agent_rotate(*, agent: Agent, public_key: str) -> Agent:
    """The agent's new key, sent in a request signed with its current one; the old key stops working at once."""
    try:
        protocol.public_key_from_text(public_key)
    except protocol.ProtocolError as exc:
        raise Invalid("Not an Ed25519 public key (32 bytes, base64url).", field="public_key") from exc
    if public_key == agent.public_key:
        raise Invalid("The new key must differ from the current one.", field="public_key")
    agent.public_key, agent.rotation_requested, agent.rotated_at = public_key, False, timezone.now()
    agent.save(update_fields=["public_key", "rotation_requested", "rotated_at"])
    audit_record(actor=None, action=AuditAction.AGENT_ROTATE, obj=agent, tenant=agent.tenant,
                 detail={"name": agent.name})
    return agent


@transaction.atomic
def agent_revoke(*, actor, agent: Agent) -> Agent:
    """From now on every request the agent signs is refused, as if it had never existed."""
    if agent.revoked_at:
        return agent
    agent.revoked_at, agent.code_digest, agent.code_expires_at = timezone.now(), "", None
    agent.save(update_fields=["revoked_at", "code_digest", "code_expires_at"])
    audit_record(actor=actor, action=AuditAction.AGENT_REVOKE, obj=agent, tenant=agent.tenant,
                 detail={"name": agent.name})
    return agent


def agent_contact(*, agent: Agent, address: str | None, version: str = "", hostname: str = "",
                  vcenter_version: str | None = None, vcenter_reachable: bool | None = None,
                  updating: bool = False) -> Agent:
    """What the agent reported about itself and its vCenter (telemetry, not audited: one row per beat would drown
    the audit log). Forgets the nonces no request could still carry."""
    fields = {"last_contact_at": timezone.now(), "address": address, "version": version[:40],
              "hostname": hostname[:255], "updating": updating}
    if vcenter_version is not None:
        fields["vcenter_version"] = vcenter_version[:80]
    if vcenter_reachable is not None:
        fields["vcenter_reachable"] = vcenter_reachable
    Agent.objects.filter(pk=agent.pk).update(**fields)
    for name, value in fields.items():
        setattr(agent, name, value)
    AgentNonce.objects.filter(
        agent=agent, seen_at__lt=timezone.now() - timedelta(seconds=2 * protocol.MAX_SKEW_SECONDS)).delete()
    return agent


def agent_seen(*, agent: Agent, fresh_seconds: float = 0, address: str | None = None) -> None:
    """The agent called (for work): what the pages show as its last contact, and what tells a connector that is
    online from one that is not. Not written again when the recorded contact is less than `fresh_seconds` old,
    unless the agent now calls from another address (it seldom sends a heartbeat while its request is held)."""
    now = timezone.now()
    moved = address is not None and address != agent.address
    fresh = fresh_seconds and agent.last_contact_at and now - agent.last_contact_at < timedelta(seconds=fresh_seconds)
    if fresh and not moved:
        return
    fields = {"last_contact_at": now, **({"address": address} if moved else {})}
    for name, value in fields.items():
        setattr(agent, name, value)
    Agent.objects.filter(pk=agent.pk).update(**fields)


def agents_seen(*, agent_ids: list[int], fresh_seconds: float = 0, batch: int = 500) -> None:
    """These agents are in contact now (each holds a request for work): one write per `batch` of them, skipping
    those whose recorded contact is less than `fresh_seconds` old (a heartbeat just wrote it)."""
    now = timezone.now()
    stale = Q(last_contact_at__isnull=True) | Q(last_contact_at__lt=now - timedelta(seconds=fresh_seconds))
    for start in range(0, len(agent_ids), batch):
        Agent.objects.filter(stale, pk__in=agent_ids[start:start + batch]).update(last_contact_at=now)


def agent_nonces_forget() -> None:
    """Forget every agent's nonces that no request could still carry (older than the clock skew allowed both ways):
    one statement, through the `seen_at` index. The work board runs it with its contact refresh, since an agent whose
    request for work is held seldom sends the heartbeat that forgets its own."""
    AgentNonce.objects.filter(seen_at__lt=timezone.now() - timedelta(seconds=2 * protocol.MAX_SKEW_SECONDS)).delete()


def agent_nonce_use(*, agent: Agent, nonce: str) -> bool:
    """Record a request's nonce; False when the agent already used it (a replay).

    Every signed request runs this, so it is one statement: the nonce is inserted unless the agent's unique
    constraint already holds it (`ON CONFLICT DO NOTHING`, PostgreSQL and SQLite alike), and whether a row was
    inserted tells a first use from a replay. The constraint decides, so two processes given the same request at
    once cannot both accept it; there is no transaction of its own to begin and commit, and no error to roll back."""
    insert, conflict = _nonce_statement()
    with connection.cursor() as cursor:
        cursor.execute(f"{insert} VALUES (%s, %s, %s) {conflict}", [agent.pk, nonce, _nonce_time()])
        return cursor.rowcount == 1


def serving_agent_nonce_use(*, serving: tuple[str, list], nonce: str) -> tuple[tuple | None, bool]:
    """PostgreSQL: `agent_nonce_use` and the agent's lookup in one statement, the request's one round trip. The row
    `serving` (its SQL and parameters) selects, the serving agent's, is read, and the nonce recorded for it as
    `agent_nonce_use` does. Returns the row (None when no agent serves) and whether the nonce was new. The nonce is
    recorded before the request's signature is checked: `agent_nonce_unuse` takes it back when the check fails."""
    insert, conflict = _nonce_statement()
    sql, params = serving
    agent_id = connection.ops.quote_name(Agent._meta.pk.column)
    with connection.cursor() as cursor:
        cursor.execute(f"WITH serving AS ({sql}), recorded AS ({insert} SELECT {agent_id}, %s, %s FROM serving "
                       f"{conflict} RETURNING 1) SELECT serving.*, EXISTS (SELECT 1 FROM recorded) FROM serving",
                       [*params, nonce, _nonce_time()])
        row = cursor.fetchone()
    return (None, False) if row is None else (row[:-1], row[-1])


def agent_nonce_unuse(*, agent: Agent, nonce: str) -> None:
    """Take back a nonce recorded for a request whose signature then failed: a forged request uses up nothing."""
    AgentNonce.objects.filter(agent=agent, nonce=nonce).delete()


def _nonce_statement() -> tuple[str, str]:
    """`INSERT INTO <nonces> (<agent>, <nonce>, <seen at>)` and its `ON CONFLICT ... DO NOTHING`, written once per
    database vendor."""
    statement = _NONCE_INSERT.get(connection.vendor)
    if statement is None:
        meta, quote = AgentNonce._meta, connection.ops.quote_name
        agent_column, nonce_column, seen_column = (quote(meta.get_field(name).column) for name in _NONCE_FIELDS)
        statement = _NONCE_INSERT[connection.vendor] = (
            f"INSERT INTO {quote(meta.db_table)} ({agent_column}, {nonce_column}, {seen_column})",
            f"ON CONFLICT ({agent_column}, {nonce_column}) DO NOTHING")
    return statement


def _nonce_time():
    return AgentNonce._meta.get_field("seen_at").get_db_prep_save(timezone.now(), connection)


_NONCE_FIELDS = ("agent", "nonce", "seen_at")
_NONCE_INSERT: dict[str, tuple[str, str]] = {}


#
# The vCenter inventory agents report. Telemetry, like the heartbeat: not audited (a row per report, and per press of
# Refresh, would drown the audit log; a refresh changes nothing but how fresh the list is).
#


def _inventory_row(tenant_id: int) -> VCenterInventory:
    """The tenant's inventory row, made when missing, locked for this transaction."""
    if not VCenterInventory.objects.filter(tenant_id=tenant_id).exists():
        try:
            with transaction.atomic():
                VCenterInventory.objects.create(tenant_id=tenant_id)
        except IntegrityError:  # made concurrently
            pass
    return VCenterInventory.objects.select_for_update().get(tenant_id=tenant_id)


def _answered(row: VCenterInventory, answers) -> None:
    """A report answering the refresh asked for at `answers` (or later) settles it; one asked since stays."""
    if row.refresh_requested_at is not None and answers is not None and answers >= row.refresh_requested_at:
        row.refresh_requested_at = None


@transaction.atomic
def inventory_store(*, agent: Agent, taken_at, vms: list[dict], privileges: dict, principal_errors: dict,
                    vcenter_version: str = "", error: str = "", answers=None) -> bool:
    """Keep what the agent read of its tenant's vCenter (already validated: the API's serializer). Only what the
    portal asked about is kept: privileges of the tenant's own mapped principals, on VMs of this inventory. A
    report older than the one held (a slow periodic one overtaken by a refresh) is not kept, and neither are the
    VMs of a failed attempt (`error`): the last good inventory stays, marked with the failure. True when kept."""
    now = timezone.now()
    row = _inventory_row(agent.tenant_id)
    _answered(row, answers)
    if error:
        row.error, row.error_at = error[:40], now
        row.save(update_fields=["error", "error_at", "refresh_requested_at"])
        return False
    taken_at = min(taken_at, now)  # an agent's clock ahead of ours would make the list younger than now
    if row.taken_at is not None and taken_at < row.taken_at:
        row.save(update_fields=["refresh_requested_at"])
        return False
    morefs = {vm["moref"] for vm in vms}
    principals = set(selectors.inventory_principals(agent.tenant_id))
    wanted = set(selectors.INVENTORY_PRIVILEGES)
    row.privileges = {principal: {moref: sorted(set(names) & wanted) for moref, names in held.items()
                                  if moref in morefs and set(names) & wanted}
                      for principal, held in privileges.items() if principal in principals}
    row.principal_errors = {p: category[:40] for p, category in principal_errors.items() if p in principals}
    row.vms, row.vm_count = vms, len(vms)
    row.agent, row.taken_at, row.received_at = agent, taken_at, now
    row.vcenter_version = vcenter_version[:80]
    row.error, row.error_at = "", None
    validated_save(row)
    return True


def inventory_refresh_request(*, tenant_id: int) -> VCenterInventory:
    """Ask the tenant's agents for a fresh inventory: the next heartbeat answer of each says so (their requests for
    work ring for it), until one reports it. Asking again while a request is pending changes nothing (the pending one
    is answered first)."""
    with transaction.atomic():
        row = _inventory_row(tenant_id)
        if row.refresh_requested_at is None:
            row.refresh_requested_at = timezone.now()
            row.save(update_fields=["refresh_requested_at"])
    return row
