"""The adapter's privilege check against the vCenter sandbox's permissions (default inventory).

Real vCenters mostly grant permissions to SSO or Active Directory groups, so a user's effective privileges come
from the user's own permissions and every group the user belongs to, the permission closest to the VM winning.
carol and dave may export the Lab VMs only through the group VSPHERE.LOCAL\\LabExporters; dave also holds a
ReadOnly user permission on lab-big01 itself, closer than the group's, which takes VApp.Export away there."""

from __future__ import annotations

import pytest

from adapters.vsphere.client import session
from tests.sandbox.test_vsphere_adapter_errors import sandbox_connection

pytestmark = pytest.mark.vcenter


@pytest.fixture
def vc(vcenter):
    with session(sandbox_connection(vcenter)) as s:
        s.vms = {vm.name: vm.moref for vm in s.list_vms()}
        yield s


def test_a_user_allowed_only_through_a_group_may_export(vc):
    for vm in ("lab-big01", "lab-rdm01"):
        assert "VApp.Export" in vc.privileges_of(vc.vms[vm], "VSPHERE.LOCAL\\carol"), vm
    assert "VApp.Export" in vc.privileges_of(vc.vms["lab-rdm01"], "carol@vsphere.local")
    assert "VApp.Export" not in vc.privileges_of(vc.vms["web01"], "VSPHERE.LOCAL\\carol")  # the group is Lab's


def test_a_closer_user_permission_without_the_privilege_denies_a_group_member(vc):
    assert "VApp.Export" in vc.privileges_of(vc.vms["lab-rdm01"], "VSPHERE.LOCAL\\dave")
    held = vc.privileges_of(vc.vms["lab-big01"], "VSPHERE.LOCAL\\dave")
    assert "VApp.Export" not in held
    assert "System.Read" in held  # the closer ReadOnly permission is the one that counts


def test_user_permissions_still_decide(vc):
    assert "VApp.Export" in vc.privileges_of(vc.vms["web01"], "VSPHERE.LOCAL\\alice")
    assert "VApp.Export" not in vc.privileges_of(vc.vms["lab-big01"], "VSPHERE.LOCAL\\alice")
    assert "VApp.Export" not in vc.privileges_of(vc.vms["web01"], "VSPHERE.LOCAL\\bob")
    assert vc.privileges_of(vc.vms["web01"], "VSPHERE.LOCAL\\nobody") == set()


def test_a_service_account_lists_only_the_vms_it_may_see(vcenter):
    """vCenter leaves out what the account holds no permission on; the portal offers no VM it could not read."""
    from sandbox.vcenter.inventory import ALICE, ALICE_PASSWORD, CAROL, CAROL_PASSWORD

    for user, password, expected in ((ALICE, ALICE_PASSWORD, ["db01", "web01", "win01"]),
                                     (CAROL, CAROL_PASSWORD, ["lab-big01", "lab-rdm01"])):
        with session(sandbox_connection(vcenter, username=user, password=password)) as vc:
            assert [vm.name for vm in vc.list_vms()] == expected


def test_privileges_of_many_vms_in_one_call_agree_with_one_at_a_time(vc):
    morefs = list(vc.vms.values())
    many = vc.privileges_on_vms(morefs, "VSPHERE.LOCAL\\dave")
    assert set(many) == set(morefs)
    for moref in morefs:
        assert many[moref] == vc.privileges_of(moref, "VSPHERE.LOCAL\\dave"), moref
    assert vc.privileges_on_vms([], "VSPHERE.LOCAL\\dave") == {}
