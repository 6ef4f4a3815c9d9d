"""The adapter's disk downloads against the vCenter sandbox as ESX serves them: chunked, with no Content-Length
(the stream is built as it is sent), so only the end of the chunked encoding tells a whole disk from a cut one."""

from __future__ import annotations

import pytest

from adapters.vsphere.client import UNREACHABLE, VSphereError, session
from tests.sandbox.test_vsphere_adapter_errors import sandbox_connection

pytestmark = pytest.mark.vcenter


@pytest.fixture
def web01_lease(vcenter):
    with session(sandbox_connection(vcenter)) as vc:
        web01 = next(vm for vm in vc.list_vms() if vm.name == "web01")
        lease = vc.lease_wait_ready(vc.export_start(web01.moref), timeout=30)
        try:
            yield vc, lease, next(d for d in lease.devices if d.disk)
        finally:
            vc.lease_abort(lease.moref)


def read_all(stream, size=1 << 20) -> int:
    total = 0
    try:
        while chunk := stream.read(size):
            total += len(chunk)
    finally:
        stream.close()
    return total


def stream_bytes(vcenter, lease_moref: str) -> int:
    [entry] = [le for le in vcenter.leases() if le["id"] == lease_moref]
    return entry["disks"][0]["stream_bytes"]


def test_a_chunked_disk_without_a_length_is_read_whole(vcenter, web01_lease):
    vc, lease, device = web01_lease
    stream = vc.open_disk(device, "web01")
    assert stream.content_length == 0  # neither the lease (no fileSize for disks) nor ESX tells the length
    assert read_all(stream) == stream_bytes(vcenter, lease.moref)


def test_a_chunked_disk_cut_short_is_a_broken_stream(vcenter, web01_lease):
    vc, lease, device = web01_lease
    vcenter.set_faults(nfc_cut_after_bytes=300_000)
    stream = vc.open_disk(device, "web01")
    with pytest.raises(VSphereError) as error:
        read_all(stream, 65536)
    assert error.value.code == "stream_broken" and error.value.category == UNREACHABLE
    assert 0 < stream.received <= 300_000
