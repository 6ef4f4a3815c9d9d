"""Validating a whole plan before it may start: every VM's pre-flight, the same VM twice, the same private IP
twice, IPs already in use, and VMs in another live plan. Reads are batched: the VM list and the user's export
privilege on every VM from the inventory the connector agents reported (the portal never reads vCenter), and AWS
once per plan (the vmimport role,
and `preflight.aws_view`: the environment's subnets, security groups, key pairs, instance type offerings and addresses
in use, in one round of describes). Each VM then gets the same checks as a single migration."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from adapters.aws import client as aws
from adapters.vsphere import client as vsphere
from core.connectors.selectors import inventory_of
from core.connectors.services import inventory_refresh_request
from core.errors import PortalError
from core.models import User
from core.peers import aws_credentials
from migrations_app import preflight
from migrations_app.choices import LIVE
from migrations_app.models import MigrationTask
from migrations_app.plans.models import PLAN_RUN_LIVE, MigrationPlan, PlanVm
from migrations_app.requests import MigrationTarget

Problem = preflight.Problem


@dataclass
class PlanValidation:
    plan_problems: list[Problem] = field(default_factory=list)
    vm_problems: dict[int, list[Problem]] = field(default_factory=dict)  # plan VM id -> its problems
    checked: int = 0

    @property
    def ok(self) -> bool:
        return not self.plan_problems and not any(self.vm_problems.values())

    def add(self, plan_vm: PlanVm, problem: Problem) -> None:
        self.vm_problems.setdefault(plan_vm.pk, []).append(problem)

    def summary(self) -> str:
        blocked = sum(1 for problems in self.vm_problems.values() if problems)
        parts = [p.message for p in self.plan_problems]
        if blocked:
            parts.append(f"{blocked} of {self.checked} VMs cannot be migrated as planned.")
        return " ".join(parts) or f"All {self.checked} VMs can be migrated."


def target_of(plan_vm: PlanVm, plan: MigrationPlan) -> MigrationTarget:
    """The VM's settings, its plan's defaults filling the blanks."""
    return MigrationTarget(
        vm_moref=plan_vm.vm_moref, environment_id=plan.environment_id, operating_system=plan_vm.operating_system,
        instance_type=plan_vm.instance_type, subnet_id=plan_vm.subnet_id or plan.subnet_id,
        security_group_id=plan_vm.security_group_id or plan.security_group_id,
        key_pair_id=plan_vm.key_pair_id or plan.key_pair_id, private_ip=plan_vm.private_ip,
        power_off=plan.power_off if plan_vm.power_off is None else plan_vm.power_off,
        license_type=plan_vm.license_type or plan.license_type or None)


@dataclass(frozen=True)
class PeerView:
    """What the peers said, read once for the whole plan."""

    vms: dict[str, vsphere.VmInfo]
    privileges: dict[str, set[str]] | None  # None: not known yet (a plan problem says so), so not checked per VM
    principal: str
    role: aws.RoleStatus | None
    target: preflight.TargetView  # the environment as AWS holds it now: one round of describes
    rows: preflight.EnvironmentRows  # and as the last sync stored it, read once


def vm_target_problems(*, plan: MigrationPlan, target: MigrationTarget, vm: vsphere.VmInfo,
                       view: PeerView) -> list[Problem]:
    """One VM's pre-flight, every problem at once: the same checks as a single migration's
    (`preflight.target_problems`), then the user's export privilege and the vmimport role, read once for the plan."""
    problems = preflight.target_problems(vm=vm, target=target, environment=plan.environment, view=view.target,
                                         rows=view.rows)
    if vm.power_state != "poweredOff" and not target.power_off:
        # A single migration is refused at once; a plan says so before its cutover, when it can still be changed.
        problems.append(Problem("vm", f"{vm.name} is powered on, and the plan does not power it off: power it off "
                                      "before the cutover, or set the VM's power-off policy.", "vm_powered_on"))
    missing = None if view.privileges is None else preflight.export_privilege_problem(
        view.privileges.get(vm.moref, set()), principal=view.principal, vm_name=vm.name)
    if missing:
        problems.append(Problem("vm", missing, "no_vcenter_privilege"))
    if view.role is not None:
        try:
            preflight.check_vmimport_role(view.role, disk_count=len(vm.disks))
        except PortalError as exc:
            problems.append(Problem("vm", exc.message, exc.code))
    return problems


def _peer_view(*, plan: MigrationPlan, actor: User, result: PlanValidation) -> PeerView | None:
    tenant = plan.tenant
    principal = actor.vcenter_principal
    read = _vcenter_as_reported(tenant=tenant, principal=principal, result=result)
    if read is None:
        return None
    vms, privileges = read
    if not principal:
        result.plan_problems.append(Problem(
            "vcenter", "Your vCenter identity is not set, so your export privilege cannot be checked. Ask an "
                       "administrator to map your account to your vCenter user.", "no_vcenter_principal"))
    role, target = None, preflight.TargetView()
    try:
        role = aws.vmimport_role_status(aws_credentials(tenant), plan.environment.region.code)
        target = preflight.aws_view(tenant=tenant, environment=plan.environment)
    except aws.AwsError as exc:
        result.plan_problems.append(Problem("aws", f"AWS refused the pre-flight check: {exc.message}", "aws_error"))
    except PortalError as exc:
        result.plan_problems.append(Problem("aws", exc.message, exc.code))
    return PeerView(vms, privileges, principal, role, target, preflight.EnvironmentRows.of(plan.environment))


def _vcenter_as_reported(*, tenant, principal: str, result: PlanValidation):
    """The VMs and the user's privileges as the tenant's connector agents last reported them (vCenter is not
    asked). A principal the inventory does not know yet leaves the privilege unchecked here, says so, and asks
    the agents for a fresh inventory; each migration is checked again when it is created."""
    inventory = inventory_of(tenant.pk)
    if not inventory.reported:
        result.plan_problems.append(Problem("vcenter", inventory.missing_message, inventory.missing_code))
        return None
    privileges = inventory.privileges_of(principal) if principal else {}
    if privileges is None:
        inventory_refresh_request(tenant_id=tenant.pk)
        result.plan_problems.append(Problem(
            "vcenter", f"The connector has not reported the privileges of your vCenter account {principal} yet. A "
                       "fresh report is on its way: validate again in a minute.", "inventory_privileges_unknown"))
    return {vm.moref: vm for vm in inventory.vms}, privileges


def validate_plan(*, plan: MigrationPlan, actor: User, plan_vms: list[PlanVm] | None = None) -> PlanValidation:
    """Every problem of the plan (or of `plan_vms`, the ones a retry would migrate), per VM and for the plan."""
    plan = MigrationPlan.objects.select_related("environment__region", "tenant").get(pk=plan.pk)
    if plan_vms is None:
        plan_vms = list(plan.vms.select_related("wave", "migration"))
    result = PlanValidation(checked=len(plan_vms))
    if not plan_vms:
        result.plan_problems.append(Problem("vms", "The plan has no VMs.", "empty"))
        return result
    for pv in plan_vms:
        result.vm_problems[pv.pk] = []
    # Within the plan: the same VM twice, the same address twice.
    twice = Counter(pv.vm_moref for pv in plan.vms.all())
    addresses = Counter((target_of(pv, plan).subnet_id, pv.private_ip) for pv in plan.vms.all() if pv.private_ip)
    for pv in plan_vms:
        if twice[pv.vm_moref] > 1:
            result.add(pv, Problem("vm", f"{pv.vm_name or pv.vm_moref} is in the plan more than once.", "vm_twice"))
        if pv.private_ip and addresses[(target_of(pv, plan).subnet_id, pv.private_ip)] > 1:
            result.add(pv, Problem("private_ip", f"{pv.private_ip} is asked for by more than one VM of the plan.",
                                   "ip_twice"))
    # Across plans and migrations: a VM in another live plan, or being migrated now.
    morefs = {pv.vm_moref for pv in plan_vms}
    other_plans = defaultdict(set)
    for moref, name in PlanVm.objects.filter(
            tenant=plan.tenant, vm_moref__in=morefs, plan__runs__state__in=PLAN_RUN_LIVE).exclude(
            plan=plan).values_list("vm_moref", "plan__name").distinct():
        other_plans[moref].add(name)
    busy = set(MigrationTask.objects.filter(tenant=plan.tenant, vm_moref__in=morefs, state__in=LIVE).values_list(
        "vm_moref", flat=True))
    for pv in plan_vms:
        if other_plans.get(pv.vm_moref):
            result.add(pv, Problem("vm", f"{pv.vm_name or pv.vm_moref} is in another plan that is running or "
                                         f"scheduled: {', '.join(sorted(other_plans[pv.vm_moref]))}.",
                                   "vm_in_live_plan"))
        if pv.vm_moref in busy:
            result.add(pv, Problem("vm", f"{pv.vm_name or pv.vm_moref} is already being migrated.", "vm_busy"))
    view = _peer_view(plan=plan, actor=actor, result=result)
    if view is None:
        return result
    for pv in plan_vms:
        vm = view.vms.get(pv.vm_moref)
        if vm is None:
            result.add(pv, Problem("vm", f"There is no virtual machine {pv.vm_moref} in vCenter.", "vm_not_found"))
            continue
        for problem in vm_target_problems(plan=plan, target=target_of(pv, plan), vm=vm, view=view):
            result.add(pv, problem)
    return result
