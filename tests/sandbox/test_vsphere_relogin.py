"""A session vCenter ends (its idle timeout, a restart, an administrator) is not a failure: the adapter logs in
again once and repeats the call, on every method the product calls and on the NFC download (401). Against the
vCenter sandbox, whose control API drops sessions as a real session timeout does."""

from __future__ import annotations

import pytest

from adapters.vsphere.client import AUTH, VSphereError, session
from tests.sandbox.test_vsphere_adapter_errors import sandbox_connection

pytestmark = pytest.mark.vcenter


def test_a_call_after_vcenter_ended_the_session_logs_in_again(vcenter):
    with session(sandbox_connection(vcenter)) as vc:
        web01 = next(vm for vm in vc.list_vms() if vm.name == "web01")
        cookie = vc.session_cookie()
        assert vcenter.expire_sessions() >= 1
        assert vc.get_vm(web01.moref).name == "web01"
        assert vc.session_cookie() != cookie  # a new session, not the old one revived
        assert vc.privileges_of(web01.moref, "VSPHERE.LOCAL\\alice")


def test_an_export_survives_the_session_ending_before_every_step(vcenter):
    with session(sandbox_connection(vcenter)) as vc:
        web01 = next(vm for vm in vc.list_vms() if vm.name == "web01")
        vcenter.expire_sessions()
        lease = vc.export_start(web01.moref)
        try:
            vcenter.expire_sessions()
            ready = vc.lease_wait_ready(lease, timeout=60)
            vcenter.expire_sessions()
            vc.lease_progress(lease, 10)
            device = next(d for d in ready.devices if d.disk)
            vcenter.expire_sessions()  # the cookie the download sends is now refused with 401
            stream = vc.open_disk(device, "web01")
            try:
                assert len(stream.read(64 * 1024)) == 64 * 1024
            finally:
                stream.close()
        finally:
            vcenter.expire_sessions()
            vc.lease_abort(lease, "test over")
        state = next(entry["state"] for entry in vcenter.leases() if entry["id"] == lease)
        assert state not in ("initializing", "ready"), state  # released, not left to time out


def test_a_session_that_keeps_ending_is_an_auth_error(vcenter):
    """One new login per call: a vCenter that refuses the new session too is reported, not retried forever."""
    with session(sandbox_connection(vcenter)) as vc:
        web01 = next(vm for vm in vc.list_vms() if vm.name == "web01")
        vcenter.expire_sessions()
        vcenter.set_faults(session_expire_after_calls=1)  # the new session ends again after one call
        try:
            with pytest.raises(VSphereError) as error:
                vc.power_off(web01.moref)
        finally:
            vcenter.clear_faults()
        assert error.value.code == "not_authenticated" and error.value.category == AUTH

