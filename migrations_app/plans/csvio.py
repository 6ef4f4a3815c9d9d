"""A plan's VMs as CSV, one row per VM: its name or moref, its wave and its target settings. Import is all or
nothing: every bad row is reported as "line N, field F: message" and nothing is created from a file with errors.
Export writes what import reads, through the portal's CSV-safe writer."""

from __future__ import annotations

import csv
import io
import ipaddress

from django.core.exceptions import ValidationError
from django.db import transaction

from adapters.vsphere import client as vsphere
from core import csvsafe
from core.audit import audit_record
from core.audit_actions import AuditAction
from core.models import User
from environments.models import KeyPair, SecurityGroup, Subnet
from migrations_app.choices import SUPPORTED_INSTANCE_TYPES, LicenseType, OperatingSystem
from migrations_app.plans import services
from migrations_app.plans.models import MigrationPlan

COLUMNS = ("vm", "wave", "operating_system", "instance_type", "subnet", "security_group", "key_pair", "private_ip",
           "power_off", "license_type")
REQUIRED = ("vm",)
MAX_ROWS = 5000
_YES, _NO = {"yes", "true", "1", "y"}, {"no", "false", "0", "n"}


def plan_csv_export(plan: MigrationPlan) -> str:
    out = io.StringIO()
    writer = csvsafe.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for pv in plan.vms.select_related("wave", "subnet", "security_group", "key_pair").order_by("wave__number", "id"):
        writer.writerow([
            pv.vm_moref, pv.wave.number, pv.operating_system, pv.instance_type,
            pv.subnet.subnet_id if pv.subnet_id else "", pv.security_group.group_id if pv.security_group_id else "",
            pv.key_pair.name if pv.key_pair_id else "", pv.private_ip or "",
            "" if pv.power_off is None else ("yes" if pv.power_off else "no"), pv.license_type])
    return out.getvalue()


def _parse_row(row: dict, line: int, errors: list[str], lookups: dict) -> services.PlanVmSpec | None:
    def bad(name, message):
        errors.append(f"line {line}, field {name}: {message}")

    before = len(errors)
    vm = (row.get("vm") or "").strip()
    if not vm:
        bad("vm", "give the VM's name or moref.")
    elif vm not in lookups["vms"]:
        bad("vm", f"there is no virtual machine {vm!r} in vCenter.")
    wave_text = (row.get("wave") or "1").strip() or "1"
    wave = 1
    if not wave_text.isdigit() or not 1 <= int(wave_text) <= 99:
        bad("wave", "a wave is a number from 1 to 99.")
    else:
        wave = int(wave_text)
    operating_system = (row.get("operating_system") or "").strip()
    if operating_system and operating_system not in OperatingSystem.values:
        bad("operating_system", f"{operating_system!r} is not an operating system VM Import supports.")
    instance_type = (row.get("instance_type") or "").strip()
    if instance_type and instance_type not in SUPPORTED_INSTANCE_TYPES:
        bad("instance_type", f"{instance_type!r} is not supported for imported instances.")
    chosen = {}
    for name, model_rows in (("subnet", lookups["subnets"]), ("security_group", lookups["security_groups"]),
                             ("key_pair", lookups["key_pairs"])):
        value = (row.get(name) or "").strip()
        chosen[name] = None
        if value:
            chosen[name] = model_rows.get(value)
            if chosen[name] is None:
                bad(name, f"{value!r} is not a {name.replace('_', ' ')} of the plan's environment.")
    private_ip = (row.get("private_ip") or "").strip() or None
    if private_ip:
        try:
            if ipaddress.ip_address(private_ip).version != 4:
                raise ValueError
        except ValueError:
            bad("private_ip", f"{private_ip!r} is not an IPv4 address.")
    power_text = (row.get("power_off") or "").strip().lower()
    power_off = None
    if power_text in _YES:
        power_off = True
    elif power_text in _NO:
        power_off = False
    elif power_text:
        bad("power_off", "write yes, no, or leave it blank for the plan's policy.")
    license_type = (row.get("license_type") or "").strip().upper()
    if license_type and license_type not in LicenseType.values:
        bad("license_type", f"write one of {', '.join(LicenseType.values)}, or leave it blank.")
    if len(errors) > before:
        return None
    return services.PlanVmSpec(vm=vm, wave=wave, operating_system=operating_system, instance_type=instance_type,
                               private_ip=private_ip, power_off=power_off, license_type=license_type, **chosen)


def plan_csv_import(*, actor: User, plan: MigrationPlan, text: str,
                    vms: list[vsphere.VmInfo] | None = None) -> int:
    """Add the file's VMs to the plan; returns how many. Raises ValidationError({"csv": [...]}) listing every bad
    row by line and field; then nothing was created."""
    services._operable(actor, plan, AuditAction.PLAN_IMPORT)
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    try:
        header = [name.strip() for name in (reader.fieldnames or [])]
    except csv.Error as exc:
        raise ValidationError({"csv": [f"line 1, field vm: the file is not valid CSV ({exc})."]}) from exc
    missing = [name for name in REQUIRED if name not in header]
    unknown = [name for name in header if name not in COLUMNS]
    if missing or unknown:
        problems = [f"line 1, field {name}: the column is missing." for name in missing]
        problems += [f"line 1, field {name}: not a column of a plan (columns: {', '.join(COLUMNS)})."
                     for name in unknown]
        raise ValidationError({"csv": problems})
    reader.fieldnames = header
    vms = services.vcenter_vms(plan.tenant) if vms is None else vms
    environment = plan.environment
    lookups = {
        "vms": {vm.moref: vm for vm in vms} | {vm.name: vm for vm in vms},
        "subnets": {s.subnet_id: s for s in Subnet.objects.filter(environment=environment)},
        "security_groups": {g.group_id: g for g in SecurityGroup.objects.filter(environment=environment)},
        "key_pairs": {k.name: k for k in KeyPair.objects.filter(environment=environment)},
    }
    errors: list[str] = []
    rows: list[tuple[int, services.PlanVmSpec]] = []
    seen: dict[str, int] = {}
    in_plan = set(plan.vms.values_list("vm_moref", flat=True))
    try:
        for index, row in enumerate(reader):
            line = reader.line_num
            if index >= MAX_ROWS:
                errors.append(f"line {line}, field vm: a file holds at most {MAX_ROWS} VMs.")
                break
            if None in row:
                errors.append(f"line {line}, field {COLUMNS[-1]}: the row has more cells than the header.")
                continue
            spec = _parse_row(row, line, errors, lookups)
            if spec is None:
                continue
            moref = lookups["vms"][spec.vm].moref
            if moref in seen:
                errors.append(f"line {line}, field vm: {spec.vm} is already on line {seen[moref]}.")
                continue
            if moref in in_plan:
                errors.append(f"line {line}, field vm: {spec.vm} is already in the plan.")
                continue
            seen[moref] = line
            rows.append((line, spec))
    except csv.Error as exc:
        errors.append(f"line {reader.line_num + 1}, field vm: the file is not valid CSV ({exc}).")
    if not rows and not errors:
        errors.append("line 2, field vm: the file has no VMs.")
    if errors:
        raise ValidationError({"csv": errors})
    with transaction.atomic():  # an error raised in here takes every row of the file back out
        services._not_running(plan)
        for line, spec in rows:
            try:
                services._plan_vm(plan, spec, lookups["vms"][spec.vm])
            except ValidationError as exc:
                errors += [f"line {line}, field {name}: {message}" for name, messages in
                           exc.message_dict.items() for message in messages]
        if errors:
            raise ValidationError({"csv": errors})
        audit_record(actor=actor, action=AuditAction.PLAN_IMPORT, obj=plan, detail={"count": len(rows)})
    return len(rows)
