"""target_problems: every check before the token, each naming its field, all of them answered at once, from the VM's
facts and one view of AWS as it is now (no AWS or vCenter here: the view and the VM are plain values)."""

import pytest

from adapters.vsphere.client import DiskInfo, VmInfo
from migrations_app.preflight import Problem, TargetView, boot_mode_of, guest_platform, target_problems
from migrations_app.requests import MigrationTarget

GiB = 1024**3
ALL_TYPES = frozenset({"t2.micro", "t2.small", "t3.micro", "m5.large"})


def _vm(**overrides) -> VmInfo:
    values = {"moref": "vm-1", "name": "web01", "guest_id": "ubuntu64Guest", "guest_full_name": "",
              "power_state": "poweredOff", "num_cpu": 2, "memory_mb": 2048,
              "disks": (DiskInfo(2000, "Hard disk 1", 16 * GiB, False),), "host_name": "esx01",
              "folder_path": "Production", "firmware": "bios", "committed_bytes": 10 * GiB}
    return VmInfo(**{**values, **overrides})


def _view(t, **overrides) -> TargetView:
    values = {"subnet_ids": frozenset({t.subnet.subnet_id}), "security_group_ids": frozenset({t.security_group.group_id}),
              "key_pair_names": frozenset({t.key_pair.name}), "offerings": {"us-east-1a": ALL_TYPES},
              "ips_in_use": {t.subnet.subnet_id: frozenset({"10.0.1.20"})}}
    return TargetView(**{**values, **overrides})


def _target(t, **overrides) -> MigrationTarget:
    values = {"vm_moref": "vm-1", "environment_id": t.environment.pk, "operating_system": "ubuntu-22.04",
              "instance_type": "t2.micro", "subnet_id": t.subnet.pk, "security_group_id": t.security_group.pk,
              "key_pair_id": t.key_pair.pk}
    return MigrationTarget(**{**values, **overrides})


def _problems(t, vm=None, view=None, **target) -> list[Problem]:
    return target_problems(vm=vm or _vm(), target=_target(t, **target), environment=t.environment,
                           view=view or _view(t))


def _fields(problems) -> dict[str, str]:
    return {p.field: p.code for p in problems}


def test_a_sound_target_has_no_problem(world):
    assert _problems(world.a) == []


@pytest.mark.parametrize("guest_id,operating_system,refused", [
    ("ubuntu64Guest", "windows-server-2019", True),
    ("windows9Server64Guest", "ubuntu-22.04", True),
    ("windows9Server64Guest", "windows-server-2016", False),
    ("rhel7_64Guest", "rhel-8", False),
    ("otherGuest64", "windows-server-2022", False),  # the guest id names no family: the user's choice stands
])
def test_the_os_family_must_match_the_guest(world, guest_id, operating_system, refused):
    problems = _problems(world.a, vm=_vm(guest_id=guest_id), operating_system=operating_system,
                         instance_type="t2.micro", license_type="BYOL")
    assert ("operating_system" in _fields(problems)) is refused
    if refused:
        message = next(p.message for p in problems if p.field == "operating_system")
        assert "guest OS" in message and _fields(problems)["operating_system"] == "os_family_mismatch"


def test_an_os_outside_vm_imports_list_is_refused(world):
    problems = _problems(world.a, operating_system="windows-95")
    assert _fields(problems) == {"operating_system": "unsupported_os"}
    assert "does not support" in problems[0].message


def test_more_than_22_disks_are_refused(world):
    disks = tuple(DiskInfo(2000 + i, f"Hard disk {i + 1}", GiB, False) for i in range(23))
    problems = _problems(world.a, vm=_vm(disks=disks))
    assert _fields(problems) == {"vm": "too_many_disks"} and "at most 22" in problems[0].message
    assert _problems(world.a, vm=_vm(disks=disks[:22])) == []


def test_rdm_disks_are_refused(world):
    disks = (DiskInfo(2000, "Hard disk 1", GiB, False), DiskInfo(2001, "Hard disk 2", GiB, True))
    problems = _problems(world.a, vm=_vm(disks=disks))
    assert _fields(problems) == {"vm": "rdm_disk"} and "Hard disk 2" in problems[0].message


def test_more_than_215_gb_committed_is_refused_before_export(world):
    problems = _problems(world.a, vm=_vm(committed_bytes=215 * 10**9 + 1))
    assert _fields(problems) == {"vm": "vm_too_large"}
    assert "more than 215 GB to export" in problems[0].message
    assert _problems(world.a, vm=_vm(committed_bytes=215 * 10**9)) == []


def test_boot_mode_follows_the_firmware_and_unknown_firmware_is_refused(world):
    assert boot_mode_of(_vm(firmware="efi")) == "uefi"
    assert boot_mode_of(_vm(firmware="bios")) == "legacy-bios"
    problems = _problems(world.a, vm=_vm(firmware="openfirmware"))
    assert _fields(problems) == {"vm": "boot_mode_unsupported"} and "UEFI or BIOS" in problems[0].message


@pytest.mark.parametrize("kind", ["subnet", "security_group", "key_pair"])
def test_resources_gone_from_aws_since_the_sync_are_refused(world, kind):
    t = world.a
    view = _view(t, **{{"subnet": "subnet_ids", "security_group": "security_group_ids",
                        "key_pair": "key_pair_names"}[kind]: frozenset()})
    problems = _problems(t, view=view)
    assert _fields(problems) == {kind: f"stale_{kind}"}
    assert "no longer in AWS" in problems[0].message


def test_a_resource_of_another_environment_is_refused(world):
    problems = _problems(world.a, subnet_id=world.b.subnet.pk, security_group_id=world.b.security_group.pk,
                         key_pair_id=world.b.key_pair.pk)
    assert _fields(problems) == {"subnet": "unknown_subnet", "security_group": "unknown_security_group",
                                 "key_pair": "unknown_key_pair"}


def test_an_instance_type_not_offered_in_the_subnets_zone_is_refused(world):
    t = world.a
    view = _view(t, offerings={"us-east-1a": frozenset({"t2.micro"})})
    problems = _problems(t, view=view, vm=_vm(guest_id="windows9Server64Guest"),
                         operating_system="windows-server-2016", instance_type="m5.large")
    assert _fields(problems) == {"instance_type": "instance_type_not_offered"}
    assert "us-east-1a" in problems[0].message and t.subnet.subnet_id in problems[0].message


def test_a_uefi_vm_needs_a_type_that_boots_uefi(world):
    windows = {"vm": _vm(guest_id="windows9Server64Guest", firmware="efi"), "operating_system": "windows-server-2016"}
    problems = _problems(world.a, instance_type="t2.micro", **windows)
    assert _fields(problems) == {"instance_type": "boot_mode_not_supported"} and "UEFI" in problems[0].message
    assert _problems(world.a, instance_type="t3.micro", **windows) == []


def test_a_nitro_type_for_an_os_without_ena_is_refused_with_the_reason(world):
    problems = _problems(world.a, instance_type="m5.large")
    assert _fields(problems) == {"instance_type": "ena_required"}
    assert "ENA" in problems[0].message and "t2.micro" in problems[0].message
    windows = _problems(world.a, vm=_vm(guest_id="windows9Server64Guest"), operating_system="windows-server-2016",
                        instance_type="m5.large")
    assert windows == []


@pytest.mark.parametrize("address,words", [
    ("10.0.1.20", "already in use"), ("10.0.1.1", "reserved by AWS"), ("192.168.7.7", "not inside subnet")])
def test_private_ip_must_be_free_and_usable(world, address, words):
    problems = _problems(world.a, private_ip=address)
    assert _fields(problems) == {"private_ip": "private_ip_unusable"} and words in problems[0].message
    assert _problems(world.a, private_ip="10.0.1.21") == []


def test_every_problem_comes_back_at_once(world):
    t = world.a
    view = _view(t, security_group_ids=frozenset(), key_pair_names=frozenset())
    vm = _vm(committed_bytes=300 * 10**9, disks=(DiskInfo(1, "Hard disk 1", GiB, True),))
    problems = _problems(t, vm=vm, view=view, operating_system="windows-server-2019", instance_type="m5.large",
                         private_ip="10.0.1.20")
    codes = sorted(p.code for p in problems)
    assert codes == sorted(["rdm_disk", "vm_too_large", "os_family_mismatch", "stale_security_group",
                            "stale_key_pair", "private_ip_unusable"])
    assert {p.field for p in problems} == {"vm", "operating_system", "security_group", "key_pair", "private_ip"}


def test_guest_platform_reads_the_family_of_common_guest_ids():
    assert guest_platform("windows2019srv_64Guest") == "Windows"
    assert guest_platform("rhel9_64Guest") == guest_platform("sles15_64Guest") == "Linux"
    assert guest_platform("otherGuest64") is None and guest_platform("freebsd12_64Guest") is None


def test_the_suggested_type_boots_the_vms_firmware():
    from migrations_app.guest_os import suggest_instance_type

    uefi = suggest_instance_type(num_cpu=2, memory_mb=4096, operating_system="windows-server-2016", boot_mode="uefi")
    bios = suggest_instance_type(num_cpu=2, memory_mb=4096, operating_system="windows-server-2016",
                                 boot_mode="legacy-bios")
    assert uefi.instance_type == "t3.medium" and bios.instance_type == "t2.medium"
    # A Linux import has no ENA and a UEFI VM boots only on Nitro: nothing to suggest, the checks say why.
    assert suggest_instance_type(num_cpu=2, memory_mb=4096, operating_system="rhel-9", boot_mode="uefi") is None
