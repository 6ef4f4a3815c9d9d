"""OvfManager.CreateDescriptor, the last step of every standard export (govc export.ovf, ovftool): after the disks
are downloaded through the lease, the client asks vCenter for the OVF envelope that names them."""

from __future__ import annotations

import urllib.request
from xml.etree import ElementTree

import pytest
from pyVim.connect import Disconnect
from pyVmomi import vim

from sandbox.vcenter.inventory import BOB, BOB_PASSWORD

pytestmark = pytest.mark.vcenter

OVF = "{http://schemas.dmtf.org/ovf/envelope/1}"
RASD = "{http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData}"
VMW = "{http://www.vmware.com/schema/ovf}"
PATHS = {"web01": "DC0/vm/Production/Linux/web01", "db01": "DC0/vm/Production/Linux/db01",
         "win01": "DC0/vm/Production/win01", "lab-rdm01": "DC0/vm/Lab/lab-rdm01"}


@pytest.fixture
def admin(vcenter):
    si = vcenter.connect()
    yield si
    Disconnect(si)


def exported_files(vcenter, si, vm) -> list:
    """Export `vm` as a client does: download each disk of the lease, then list the files as OvfFile."""
    lease = vm.ExportVm()
    while lease.state == "initializing":
        pass
    assert lease.state == "ready", lease.error
    files = []
    for du in lease.info.deviceUrl:
        request = urllib.request.Request(vcenter.device_url(du.url), headers={"Cookie": si._stub.cookie})
        with urllib.request.urlopen(request, timeout=30) as response:
            size = len(response.read())
        files.append(vim.OvfManager.OvfFile(deviceId=du.key, path=f"{vm.name}-{du.targetId}", size=size))
    lease.HttpNfcLeaseComplete()
    return files


def describe(si, vm, **params) -> ElementTree.Element:
    result = si.content.ovfManager.CreateDescriptor(obj=vm, cdp=vim.OvfManager.CreateDescriptorParams(**params))
    assert not result.error
    return ElementTree.fromstring(result.ovfDescriptor)


def items(envelope, resource_type: int) -> list:
    return [i for i in envelope.iter(f"{OVF}Item") if i.findtext(f"{RASD}ResourceType") == str(resource_type)]


def test_the_descriptor_names_the_downloaded_disks_and_the_hardware(vcenter, admin):
    vm = admin.content.searchIndex.FindByInventoryPath(PATHS["db01"])
    files = exported_files(vcenter, admin, vm)
    envelope = describe(admin, vm, name="db01-copy", ovfFiles=files)

    refs = envelope.findall(f"{OVF}References/{OVF}File")
    assert [(r.get(f"{OVF}href"), int(r.get(f"{OVF}size"))) for r in refs] == [(f.path, f.size) for f in files]
    disks = envelope.findall(f"{OVF}DiskSection/{OVF}Disk")
    capacities = [d.capacityInBytes for d in vm.config.hardware.device if isinstance(d, vim.vm.device.VirtualDisk)]
    assert [int(d.get(f"{OVF}capacity")) for d in disks] == capacities
    assert [d.get(f"{OVF}fileRef") for d in disks] == [r.get(f"{OVF}id") for r in refs]
    assert all(d.get(f"{OVF}format").endswith("#streamOptimized") for d in disks)

    system = envelope.find(f"{OVF}VirtualSystem")
    assert system.get(f"{OVF}id") == "db01-copy"
    assert system.find(f"{OVF}OperatingSystemSection").get(f"{VMW}osType") == "rhel7_64Guest"
    assert [i.findtext(f"{RASD}VirtualQuantity") for i in items(envelope, 3)] == ["4"]
    assert [i.findtext(f"{RASD}VirtualQuantity") for i in items(envelope, 4)] == ["8192"]
    [controller] = items(envelope, 6)
    assert controller.findtext(f"{RASD}ResourceSubType") == "VirtualSCSI"  # the inventory's pvscsi default
    hard_disks = items(envelope, 17)
    assert [i.findtext(f"{RASD}HostResource") for i in hard_disks] == ["ovf:/disk/vmdisk1", "ovf:/disk/vmdisk2"]
    assert {i.findtext(f"{RASD}Parent") for i in hard_disks} == {controller.findtext(f"{RASD}InstanceID")}
    assert sorted(i.findtext(f"{RASD}Connection") for i in items(envelope, 10)) == ["Prod-DVPG", "VM Network"]
    assert sorted(n.get(f"{OVF}name") for n in envelope.iter(f"{OVF}Network")) == ["Prod-DVPG", "VM Network"]


def test_the_descriptor_reads_back_as_an_import_spec(vcenter, admin):
    """What an import tool does with the envelope: vcsim's own CreateImportSpec parses it into the same VM."""
    vm = admin.content.searchIndex.FindByInventoryPath(PATHS["win01"])
    vm_off = admin.content.searchIndex.FindByInventoryPath(PATHS["web01"])
    files = exported_files(vcenter, admin, vm_off)
    descriptor = admin.content.ovfManager.CreateDescriptor(
        obj=vm_off, cdp=vim.OvfManager.CreateDescriptorParams(ovfFiles=files)).ovfDescriptor
    spec = admin.content.ovfManager.CreateImportSpec(
        ovfDescriptor=descriptor, resourcePool=vm.resourcePool, datastore=vm.datastore[0],
        cisp=vim.OvfManager.CreateImportSpecParams(entityName="web01-imported"))
    assert not spec.error
    config = spec.importSpec.configSpec
    assert (config.numCPUs, config.memoryMB, config.guestId) == (2, 2048, "ubuntu64Guest")
    disks = [c.device for c in config.deviceChange if isinstance(c.device, vim.vm.device.VirtualDisk)]
    assert [d.capacityInKB for d in disks] == [16 * 1024]
    assert [f.path for f in spec.fileItem] == [files[0].path]
    # win01 (EFI, LSI Logic SAS): the firmware and the controller kind are in its descriptor
    envelope = describe(admin, vm)
    assert envelope.find(f".//{VMW}Config[@{VMW}key='firmware']").get(f"{VMW}value") == "efi"
    assert [i.findtext(f"{RASD}ResourceSubType") for i in items(envelope, 6)] == ["lsilogicsas"]
    assert envelope.findall(f"{OVF}References/{OVF}File") == []  # no files given: no references, every disk


def test_a_physical_rdm_is_left_out_and_describing_needs_vapp_export(vcenter, admin):
    vm = admin.content.searchIndex.FindByInventoryPath(PATHS["lab-rdm01"])
    assert len(describe(admin, vm).findall(f"{OVF}DiskSection/{OVF}Disk")) == 1  # of a flat disk and a pRDM
    bob = vcenter.connect(BOB, BOB_PASSWORD)
    try:
        with pytest.raises(vim.fault.NoPermission) as exc:
            bob.content.ovfManager.CreateDescriptor(obj=vim.VirtualMachine(vm._moId, bob._stub),
                                                    cdp=vim.OvfManager.CreateDescriptorParams())
        assert exc.value.privilegeId == "VApp.Export"
    finally:
        Disconnect(bob)
