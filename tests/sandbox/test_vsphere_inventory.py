"""The VM list comes from one PropertyCollector read (a plan's validation lists hundreds of VMs); it must say of
every VM exactly what reading that VM on its own says."""

from __future__ import annotations

import pytest

from adapters.vsphere.client import session
from tests.sandbox.test_vsphere_adapter_errors import sandbox_connection

pytestmark = pytest.mark.vcenter


def test_the_one_read_list_agrees_with_each_vm_read_alone(vcenter):
    with session(sandbox_connection(vcenter)) as vc:
        listed = vc.list_vms()
        assert len(listed) >= 5 and [vm.name for vm in listed] == sorted(vm.name for vm in listed)
        for vm in listed:
            assert vm == vc.get_vm(vm.moref), vm.name
        # What the overlay gives the VMs shows through: folders, hosts, firmware, disks.
        by_name = {vm.name: vm for vm in listed}
        assert by_name["web01"].folder_path and by_name["web01"].host_name and by_name["web01"].disks
        assert {vm.firmware for vm in listed} >= {"efi", "bios"}
