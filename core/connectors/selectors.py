"""Reads: the tenant's connector agents, and the vCenter inventory they report."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from adapters.vsphere import client as vsphere
from core.connectors.models import Agent, VCenterInventory
from core.models import User
from core.roles import Action


def agents_online(last_contact: datetime | None) -> bool:
    """Whether agents whose latest contact was `last_contact` count as online: one called within three report
    intervals (AGENT_HEARTBEAT_SECONDS), as a migration waiting for its connector says."""
    return last_contact is not None and timezone.now() - last_contact <= timedelta(
        seconds=3 * settings.AGENT_HEARTBEAT_SECONDS)


def agent_list(*, fetched_by):
    """The caller's tenant's connector agents (administrators and auditors; Agent's restriction)."""
    return Agent.objects.restrict(fetched_by, Action.VIEW).order_by("name")


def serving_agents(tenant_id: int):
    """The tenant's agents that may work: registered and not revoked."""
    return Agent.objects.filter(tenant_id=tenant_id, revoked_at__isnull=True).exclude(public_key="")


def agents_serve(tenant_id: int) -> bool:
    """Whether the tenant has a registered agent: only agents read its vCenter (the inventory, the export)."""
    return serving_agents(tenant_id).exists()


def agent_last_contact(tenant_id: int):
    """When any of the tenant's serving agents last called the portal (None: never)."""
    return serving_agents(tenant_id).exclude(last_contact_at=None).order_by("-last_contact_at").values_list(
        "last_contact_at", flat=True).first()


def vcenter_trust_for(*, agent: Agent) -> dict | None:
    """The non-secret half of the tenant's vCenter settings, for its agent (None: the administrator set none)."""
    from core.models import TenantVCenter

    vcenter = TenantVCenter.objects.filter(tenant_id=agent.tenant_id).first()
    if vcenter is None:
        return None
    return {"url": vcenter.url, "verify_tls": vcenter.verify_tls, "ca_pem": vcenter.ca_certificate_pem,
            "thumbprint": vcenter.thumbprint, "ignore_esx_certificate_errors": vcenter.ignore_esx_certificate_errors,
            "dns_suffixes": vcenter.dns_suffix_list}


def agents_all_updating(tenant_id: int) -> bool:
    """Every agent that could take the tenant's work says it is being updated."""
    agents = serving_agents(tenant_id)
    return agents.exists() and not agents.filter(updating=False).exists()


#
# The vCenter inventory agents report (VMs and the mapped users' export privileges).
#

# The privileges the portal asks agents about: what exporting a VM takes ("*" is how a vCenter may say "all").
INVENTORY_PRIVILEGES = (vsphere.EXPORT_PRIVILEGE, "*")
# At most this many principals are named to an agent (each is one vCenter call per inventory).
INVENTORY_MAX_PRINCIPALS = 1000
# Why an agent could not take its inventory, as it reports it (the vSphere adapter's categories and its own).
INVENTORY_ERRORS = {
    vsphere.UNREACHABLE: "vCenter could not be reached from the connector",
    vsphere.AUTH: "vCenter refused the connector's login or a privilege it needs",
    vsphere.TLS: "vCenter's TLS certificate could not be verified by the connector",
    vsphere.REFUSED: "the connector refused the vCenter URL",
    "not_configured": "no vCenter is configured on the connector's host (python -m connector vcenter)",
    # Also connector.vcenter.DESTINATION_CHANGED (the portal may not import the agent's package).
    "destination_changed": "the vCenter URL or TLS check set here is not the one the connector's vCenter account "
                           "was entered for, so the connector will not send it there: enter it again on the "
                           "connector (python -m connector vcenter)",
    "too_large": "the inventory is larger than the portal accepts (AGENT_INVENTORY_MAX_VMS, _MAX_BYTES)",
}
NO_CONNECTOR = ("No connector is registered for this organisation, and only a connector reads vCenter: an "
                "administrator registers one on the Connector page.")
NOT_REPORTED = ("The connector has not reported its VMs yet. It reads them as soon as it runs with a vCenter "
                "configured; the list shows them once it has.")
_VM_FIELDS = frozenset(f.name for f in fields(vsphere.VmInfo))
_DISK_FIELDS = frozenset(f.name for f in fields(vsphere.DiskInfo))


@dataclass(frozen=True)
class Inventory:
    """What a tenant's agents last reported of its vCenter. `taken_at` None: nothing yet (the VM list says so)."""

    taken_at: datetime | None = None
    agent: str = ""
    vcenter_version: str = ""
    vm_count: int = 0
    vms: tuple[vsphere.VmInfo, ...] = ()
    privileges: dict = field(default_factory=dict)  # {principal: {moref: frozenset of privileges}}
    principal_errors: dict = field(default_factory=dict)
    error: str = ""  # the agent's last attempt failed (a category), at error_at; the VMs are the last success's
    error_at: datetime | None = None
    refresh_requested_at: datetime | None = None
    read_at: datetime = field(default_factory=timezone.now)
    served: bool = True  # False: no registered agent, so nothing it once reported counts

    @property
    def reported(self) -> bool:
        return self.taken_at is not None

    @property
    def age_seconds(self) -> int | None:
        return None if self.taken_at is None else max(0, int((self.read_at - self.taken_at).total_seconds()))

    @property
    def stale(self) -> bool:
        """Older than AGENT_INVENTORY_STALE_SECONDS: the agent has not reported for several periods."""
        return self.reported and self.age_seconds > settings.AGENT_INVENTORY_STALE_SECONDS

    @property
    def refresh_pending(self) -> bool:
        return self.refresh_requested_at is not None

    @property
    def error_text(self) -> str:
        return INVENTORY_ERRORS.get(self.error, "vCenter gave the connector an unexpected answer") if self.error \
            else ""

    @property
    def missing_message(self) -> str:
        """Why there are no VMs to show: no connector, nothing reported yet, or the last attempt's failure."""
        if not self.served:
            return NO_CONNECTOR
        if self.error:
            return f"The connector has not reported its VMs yet: {self.error_text}."
        return NOT_REPORTED

    @property
    def missing_code(self) -> str:
        return "inventory_missing" if self.served else "no_connector"

    def vm(self, moref: str) -> vsphere.VmInfo | None:
        return next((vm for vm in self.vms if vm.moref == moref), None)

    def privileges_of(self, principal: str) -> dict[str, set[str]] | None:
        """{moref: privileges} the principal holds (only those the portal asks about; a VM missing holds none), or
        None when the inventory does not tell: the principal was mapped after it was taken, or vCenter would not
        answer for it."""
        held = self.privileges.get(principal)
        return None if held is None else {moref: set(names) for moref, names in held.items()}


def _vm_of(data: dict) -> vsphere.VmInfo:
    disks = tuple(vsphere.DiskInfo(**{k: v for k, v in d.items() if k in _DISK_FIELDS}) for d in data.get("disks", ()))
    return vsphere.VmInfo(**{**{k: v for k, v in data.items() if k in _VM_FIELDS}, "disks": disks})


def inventory_of(tenant_id: int, *, with_vms: bool = True) -> Inventory:
    """The tenant's stored inventory (an empty one when no agent has reported yet); `with_vms=False` leaves the
    VMs and privileges unread (a status, not a list). A tenant without a registered agent has none: a report
    from a revoked agent is not shown as current."""
    if not agents_serve(tenant_id):
        return Inventory(served=False)
    rows = VCenterInventory.objects.filter(tenant_id=tenant_id).select_related("agent")
    if not with_vms:
        rows = rows.defer("vms", "privileges")
    row = rows.first()
    if row is None:
        return Inventory()
    return Inventory(
        taken_at=row.taken_at, agent=row.agent.name if row.agent else "", vcenter_version=row.vcenter_version,
        vm_count=row.vm_count, vms=tuple(_vm_of(vm) for vm in row.vms) if with_vms else (),
        privileges={principal: {moref: frozenset(names) for moref, names in held.items()}
                    for principal, held in row.privileges.items()} if with_vms else {},
        principal_errors=dict(row.principal_errors), error=row.error, error_at=row.error_at,
        refresh_requested_at=row.refresh_requested_at)


def inventory_principals(tenant_id: int) -> list[str]:
    """The vCenter principals of the tenant's active users: those whose privileges an agent reports."""
    return list(User.objects.filter(tenant_id=tenant_id, is_active=True).exclude(vcenter_principal="")
                .order_by("vcenter_principal").values_list("vcenter_principal", flat=True)
                .distinct()[:INVENTORY_MAX_PRINCIPALS])


def inventory_instructions(tenant_id: int) -> dict:
    """What a heartbeat answer tells an agent about the inventory: how often to take it, whether a user asked for
    one now (and which request a report answers), whose privileges and which ones to read, and the limits."""
    requested_at = VCenterInventory.objects.filter(tenant_id=tenant_id).values_list(
        "refresh_requested_at", flat=True).first()
    return {"every_seconds": settings.AGENT_INVENTORY_SECONDS, "refresh": requested_at is not None,
            "requested_at": requested_at, "principals": inventory_principals(tenant_id),
            "privileges": list(INVENTORY_PRIVILEGES), "max_vms": settings.AGENT_INVENTORY_MAX_VMS,
            "max_bytes": settings.AGENT_INVENTORY_MAX_BYTES}
