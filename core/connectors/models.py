"""Connector agents (processes beside a tenant's vCenter that call the portal over outbound HTTPS only) and the
platform's capacity pool row, which migration admission locks."""

from __future__ import annotations

from django.core.validators import RegexValidator
from django.db import models

from core.models import ADMINISTERED, Tenant
from core.querysets import RestrictedQuerySet

agent_name_validator = RegexValidator(
    r"^[a-z0-9][a-z0-9-]{0,62}$", "Lower-case letters, digits and hyphens.")


class CapacityPool(models.Model):
    """The one row standing for the platform's migration slots (MIGRATION_MAX_ACTIVE_SHARED, shared by every
    tenant): admission locks it to serialize the admissions that count the same slots, across tenants
    (migrations_app.admission). It holds no data; `name` exists once ("platform") so that the row is found, and
    made at most once, by that key. It is the former shared cluster's Connector row (migration 0004)."""

    PLATFORM = "platform"

    name = models.CharField(max_length=63, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class Agent(models.Model):
    """A connector agent: a process beside a tenant's vCenter that calls the portal over outbound HTTPS only and
    proves each request with its own Ed25519 key. The portal keeps the public half, and of the one-time
    registration code only a digest; it can read neither the agent's key nor anything the agent holds."""

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="agents")
    name = models.CharField(max_length=63, validators=[agent_name_validator])
    # Empty until the agent registers; replaced when it rotates.
    public_key = models.CharField(max_length=64, blank=True)
    code_digest = models.CharField(max_length=64, blank=True)
    code_expires_at = models.DateTimeField(null=True, blank=True)
    registered_at = models.DateTimeField(null=True, blank=True)
    rotated_at = models.DateTimeField(null=True, blank=True)
    # An administrator asked for a new key: the agent makes one on its next contact.
    rotation_requested = models.BooleanField(default=False)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_contact_at = models.DateTimeField(null=True, blank=True)
    version = models.CharField(max_length=40, blank=True)
    address = models.GenericIPAddressField(null=True, blank=True)
    hostname = models.CharField(max_length=255, blank=True)
    vcenter_version = models.CharField(max_length=80, blank=True)
    vcenter_reachable = models.BooleanField(null=True, blank=True)
    # The agent says it is being updated (`python -m connector updating on`): no new migrations are started.
    updating = models.BooleanField(default=False)
    created_by = models.ForeignKey("portal.User", null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = RestrictedQuerySet.as_manager()
    restriction = ADMINISTERED

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="agent_name_unique_per_tenant")]

    def __str__(self) -> str:
        return self.name

    @property
    def state(self) -> str:
        if self.revoked_at:
            return "revoked"
        return "registered" if self.public_key else "waiting for registration"


class AgentNonce(models.Model):
    """A request nonce an agent used, kept while a request carrying it could still be accepted (the allowed clock
    skew, both ways), so that a captured request is refused when it is sent again. In the database, not the cache:
    a replay must be refused by every web process, with or without Redis."""

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="+")
    nonce = models.CharField(max_length=64)
    seen_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["agent", "nonce"], name="agent_nonce_once")]


class VCenterInventory(models.Model):
    """The latest inventory of a tenant's vCenter as one of its connector agents took it, with the agent's own
    credentials, beside the vCenter: its VMs (the vSphere adapter's VmInfo, as plain JSON), and for each vCenter
    principal the portal named (its users' `vcenter_principal`) the privileges the portal asked about that it holds
    on each VM. For a tenant its agents serve, the VM list, the migration's vCenter checks and plan validation read
    this row and never vCenter. One row per tenant, written by its agents only; a refresh a user asks for is
    flagged here until an agent answers it."""

    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, related_name="vcenter_inventory")
    agent = models.ForeignKey(Agent, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                              help_text="The agent that took the inventory held here.")
    # When the agent began reading vCenter (its clock, never later than the portal's when it arrived); empty until
    # an agent first reported one.
    taken_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(null=True, blank=True)
    vcenter_version = models.CharField(max_length=80, blank=True)
    vms = models.JSONField(default=list, blank=True)
    vm_count = models.PositiveIntegerField(default=0)
    # {principal: {vm moref: [privilege, ...]}}: only the privileges the portal asked about, only VMs holding one.
    # A principal missing here was not asked (mapped since) or vCenter would not tell (principal_errors says why).
    privileges = models.JSONField(default=dict, blank=True)
    principal_errors = models.JSONField(default=dict, blank=True)
    # The agent's last attempt failed (the vSphere adapter's category: unreachable, auth, tls...; or not_configured,
    # too_large): the VMs above stay those of the last success.
    error = models.CharField(max_length=40, blank=True)
    error_at = models.DateTimeField(null=True, blank=True)
    # A user asked for a fresh inventory: every heartbeat answer says so until an agent reports one answering it.
    refresh_requested_at = models.DateTimeField(null=True, blank=True)

    # No restriction: never listed; read by tenant through core.connectors.selectors.inventory_of for a caller the
    # view already let through (the VM list's Need).

    def __str__(self) -> str:
        return f"vCenter inventory of tenant {self.tenant_id} at {self.taken_at or 'never'}"
