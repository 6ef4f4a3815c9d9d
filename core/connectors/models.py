"""A connector is a django-q2 cluster (started with Q_CLUSTER_NAME=<name>) beside a tenant's vCenter. Its row
pins the tenant's migration and export ticks to that cluster and is the capacity pool admission counts against.
The one row without a tenant stands for the shared default cluster, the pool of every tenant without one."""

from __future__ import annotations

from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q

from core.models import ADMINISTERED, Tenant
from core.querysets import RestrictedQuerySet

cluster_name_validator = RegexValidator(
    r"^[a-z0-9][a-z0-9-]{0,62}$", "Lower-case letters, digits and hyphens (the connector's Q_CLUSTER_NAME).")


class Connector(models.Model):
    """A tenant's own worker cluster, or (tenant empty, name empty) the shared default cluster."""

    tenant = models.OneToOneField(Tenant, null=True, blank=True, on_delete=models.PROTECT, related_name="connector")
    name = models.CharField(max_length=63, unique=True, blank=True, validators=[cluster_name_validator],
                            help_text="The django-q2 cluster name the connector is started with (Q_CLUSTER_NAME).")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = RestrictedQuerySet.as_manager()
    restriction = ADMINISTERED

    class Meta:
        ordering = ["name"]
        constraints = [
            # The shared row is the only unnamed one; a tenant's connector always has a name.
            models.CheckConstraint(condition=Q(tenant__isnull=True, name="") | (Q(tenant__isnull=False) & ~Q(name="")),
                                   name="connector_named_unless_shared"),
        ]

    def __str__(self) -> str:
        return self.name or "shared"

    @property
    def is_shared(self) -> bool:
        return self.tenant_id is None


class ConnectorBeat(models.Model):
    """The last sign of life of one cluster, written by the cluster itself (a scheduled heartbeat and every tick
    it runs). Kept apart from Connector so that beats never wait on the row admission locks."""

    cluster = models.CharField(max_length=63, unique=True)
    beat_at = models.DateTimeField()
    version = models.CharField(max_length=40, blank=True)
    host = models.CharField(max_length=255, blank=True)

    # No restriction: beats are never listed; they are read by cluster name for a Connector the caller was
    # already allowed to see (selectors.beats_of).

    def __str__(self) -> str:
        return f"{self.cluster} at {self.beat_at:%Y-%m-%d %H:%M:%S}"


class Agent(models.Model):
    """A connector agent: a process beside a tenant's vCenter that calls the portal over outbound HTTPS only and
    proves each request with its own Ed25519 key. The portal keeps the public half, and of the one-time
    registration code only a digest; it can read neither the agent's key nor anything the agent holds."""

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="agents")
    name = models.CharField(max_length=63, validators=[cluster_name_validator])
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
