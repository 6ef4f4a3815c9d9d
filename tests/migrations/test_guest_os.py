"""The VM facts the dialog and the VM list read: readable guest OS names, the operating system a guest id names,
and the instance type a VM's size suggests (pure functions, no peers)."""

import pytest

from migrations_app.choices import SUPPORTED_INSTANCE_TYPES, instance_type_problem
from migrations_app.guest_os import (
    INSTANCE_SIZES,
    OPERATING_SYSTEM_OF_GUEST,
    READABLE_GUEST_OS,
    operating_system_for,
    readable_guest_os,
    suggest_instance_type,
)


def test_guest_ids_read_as_people_read_them():
    assert readable_guest_os("rhel7_64Guest") == "Red Hat Enterprise Linux 7 (64-bit)"
    assert readable_guest_os("ubuntu64Guest", "ubuntu64Guest") == "Ubuntu Linux (64-bit)"


def test_an_unknown_guest_id_falls_back_to_vcenters_full_name_then_the_id():
    assert readable_guest_os("freebsd13_64Guest", "FreeBSD 13 (64-bit)") == "FreeBSD 13 (64-bit)"
    assert readable_guest_os("freebsd13_64Guest", "freebsd13_64Guest") == "freebsd13_64Guest"
    assert readable_guest_os("", "") == "Unknown"


@pytest.mark.parametrize(("guest_id", "expected"), [
    ("ubuntu64Guest", "ubuntu-22.04"), ("windows9Server64Guest", "windows-server-2016"),
    ("windows2019srvNext_64Guest", "windows-server-2022"), ("centos7_64Guest", "centos-7"),
    ("rhel9_64Guest", "rhel-9"),
    # no supported system matches: nothing is pre-filled rather than a wrong guess
    ("rhel7_64Guest", None), ("otherGuest64", None), ("", None),
])
def test_the_operating_system_a_guest_id_names(guest_id, expected):
    assert operating_system_for(guest_id) == expected


def test_every_mapped_guest_id_has_a_readable_name_and_every_type_a_size():
    assert set(OPERATING_SYSTEM_OF_GUEST) <= set(READABLE_GUEST_OS)
    assert set(INSTANCE_SIZES) == set(SUPPORTED_INSTANCE_TYPES)


def test_the_smallest_type_that_holds_the_vm_and_runs_the_os_is_suggested():
    linux = suggest_instance_type(num_cpu=2, memory_mb=2048, operating_system="ubuntu-22.04")
    assert linux.instance_type == "t2.medium"
    assert "suggestion" in linux.text and "2 vCPU and 2 GiB" in linux.text
    windows = suggest_instance_type(num_cpu=4, memory_mb=16384, operating_system="windows-server-2019")
    assert INSTANCE_SIZES[windows.instance_type] == (4, 16384)


def test_a_linux_vm_too_large_for_the_types_it_can_run_gets_the_largest_and_is_told_so():
    big = suggest_instance_type(num_cpu=8, memory_mb=32768, operating_system="rhel-9")
    assert big.instance_type == "t2.large" and "smaller than the VM" in big.text
    assert instance_type_problem("rhel-9", big.instance_type) is None


def test_without_an_os_the_suggestion_runs_any_import_and_without_a_size_there_is_none():
    unknown = suggest_instance_type(num_cpu=1, memory_mb=512, operating_system=None)
    assert instance_type_problem("ubuntu-22.04", unknown.instance_type) is None
    assert suggest_instance_type(num_cpu=0, memory_mb=0, operating_system="rhel-9") is None
