"""What a real vCenter does that vcsim hides: no fileSize on disk device URLs, privilege checks on every method
the portal calls, NotAuthenticated without a live session, and the NFC/session fault switches.

pyVmomi straight against the session-scoped sandbox (default inventory: bob is ReadOnly on /DC0, alice holds
the "VM Exporter" role on /DC0/vm/Production).
"""

from __future__ import annotations

import http.client
import urllib.error
import urllib.request

import pytest
from pyVim.connect import Disconnect
from pyVmomi import SoapStubAdapter, vim

from sandbox.vcenter.inventory import ALICE, ALICE_PASSWORD, BOB, BOB_PASSWORD, CAROL, CAROL_PASSWORD, DAVE

pytestmark = pytest.mark.vcenter


def find_vm(si, name):
    return si.content.searchIndex.FindByInventoryPath(
        {"web01": "DC0/vm/Production/Linux/web01", "db01": "DC0/vm/Production/Linux/db01",
         "win01": "DC0/vm/Production/win01", "lab-big01": "DC0/vm/Lab/lab-big01"}[name])


def wait_task(task):
    while task.info.state in ("queued", "running"):
        pass
    return task.info.state


def export_ready(si, name):
    lease = find_vm(si, name).ExportVm()
    while lease.state == "initializing":
        pass
    assert lease.state == "ready", lease.error
    return lease


def stream_size(vc, lease, index=0):
    (entry,) = [x for x in vc.leases() if x["id"] == lease._moId]
    return entry["disks"][index]["stream_bytes"]


def get(vc, url, cookie, method="GET"):
    req = urllib.request.Request(vc.device_url(url), headers={"Cookie": cookie}, method=method)
    return urllib.request.urlopen(req, timeout=30)


@pytest.fixture
def admin(vcenter):
    si = vcenter.connect()
    yield si
    Disconnect(si)


@pytest.fixture
def bob(vcenter):
    si = vcenter.connect(BOB, BOB_PASSWORD)
    yield si
    Disconnect(si)


# --------------------------------------------------------------------------- lease info like vCenter


def test_disk_device_urls_carry_no_file_size_but_capacities_are_right(vcenter, admin):
    vm = find_vm(admin, "db01")
    disks = [d for d in vm.config.hardware.device if isinstance(d, vim.vm.device.VirtualDisk)]
    assert [d.capacityInKB for d in disks] == [16 * 1024, 41000]
    assert [d.capacityInBytes for d in disks] == [16 * 1024 * 1024, 41000 * 1024]
    lease = export_ready(admin, "db01")
    info = lease.info
    assert [du.disk for du in info.deviceUrl] == [True, True]
    assert [du.fileSize for du in info.deviceUrl] == [None, None]
    assert info.totalDiskCapacityInKB == sum(d.capacityInKB for d in disks)
    lease.HttpNfcLeaseComplete()


def test_disk_downloads_are_chunked_by_default_and_carry_a_length_on_request(vcenter, admin):
    """ESX builds the stream as it sends it: no Content-Length unless the nfc_content_length switch is on."""
    lease = export_ready(admin, "web01")
    url, cookie = lease.info.deviceUrl[0].url, admin._stub.cookie
    with get(vcenter, url, cookie, "HEAD") as resp:
        assert resp.headers["Content-Length"] is None
    with get(vcenter, url, cookie) as resp:
        assert resp.headers["Content-Length"] is None
        assert resp.headers["Transfer-Encoding"] == "chunked"
        body = resp.read()
    assert len(body) == stream_size(vcenter, lease) and body[:4] == b"KDMV"
    assert vcenter.set_faults(nfc_content_length=True)["nfc_content_length"] is True
    with get(vcenter, url, cookie, "HEAD") as resp:
        assert int(resp.headers["Content-Length"]) == stream_size(vcenter, lease)
    with get(vcenter, url, cookie) as resp:
        assert int(resp.headers["Content-Length"]) == len(resp.read())
    lease.HttpNfcLeaseComplete()


# --------------------------------------------------------------------------- NFC faults


def test_nfc_cut_count_cuts_only_the_next_downloads(vcenter, admin):
    vcenter.set_faults(nfc_cut_after_bytes=200_000, nfc_cut_count=1)
    lease = export_ready(admin, "web01")
    url, cookie = lease.info.deviceUrl[0].url, admin._stub.cookie
    with pytest.raises(http.client.IncompleteRead) as exc:
        with get(vcenter, url, cookie) as resp:
            resp.read()
    assert len(exc.value.partial) == 200_000
    assert vcenter.get_faults()["nfc_cut_count"] == 0
    with get(vcenter, url, cookie) as resp:  # the retry gets the whole disk
        assert len(resp.read()) == stream_size(vcenter, lease)
    lease.HttpNfcLeaseComplete()


def test_nfc_cut_reset_resets_the_connection(vcenter, admin):
    vcenter.set_faults(nfc_cut_after_bytes=100_000, nfc_cut_reset=True)
    lease = export_ready(admin, "web01")
    got = 0
    with pytest.raises(ConnectionResetError):
        with get(vcenter, lease.info.deviceUrl[0].url, admin._stub.cookie) as resp:
            while chunk := resp.read(8192):
                got += len(chunk)
    assert 0 < got <= 100_000
    lease.HttpNfcLeaseAbort()


# --------------------------------------------------------------------------- sessions


def test_calls_without_a_session_are_not_authenticated(vcenter):
    stub = SoapStubAdapter(host=vcenter.host, port=-vcenter.port, version="vim.version.version10")
    content = vim.ServiceInstance("ServiceInstance", stub).RetrieveContent()  # allowed anonymously
    with pytest.raises(vim.fault.NotAuthenticated):
        content.rootFolder.name  # noqa: B018  (vcsim alone answers property reads without a session)


def test_session_expires_after_n_calls_then_login_again_works(vcenter):
    si = vcenter.connect()
    vm = find_vm(si, "web01")
    cookie = si._stub.cookie
    vcenter.set_faults(session_expire_after_calls=1)
    assert vm.name == "web01"  # one more call is fine
    with pytest.raises(vim.fault.NotAuthenticated):
        vm.name  # noqa: B018
    with pytest.raises(vim.fault.NotAuthenticated):  # the session stays gone
        vm.runtime  # noqa: B018
    assert vcenter.get_faults()["session_expire_after_calls"] is None  # one-shot
    si.content.sessionManager.Login(vcenter.username, vcenter.password)  # same stub, new session
    assert vm.name == "web01"
    assert si._stub.cookie != cookie
    Disconnect(si)


def test_expired_session_cookie_is_refused_by_nfc(vcenter, admin):
    lease = export_ready(admin, "web01")
    url = lease.info.deviceUrl[0].url
    other = vcenter.connect()
    stale = other._stub.cookie
    assert vcenter.expire_sessions() >= 2
    with pytest.raises(urllib.error.HTTPError) as exc:
        get(vcenter, url, stale)
    assert exc.value.code == 401
    with pytest.raises(vim.fault.NotAuthenticated):
        lease.HttpNfcLeaseComplete()


def test_expire_sessions_of_one_user(vcenter, admin, bob):
    assert vcenter.expire_sessions(user="VSPHERE.LOCAL\\bob") == 1
    with pytest.raises(vim.fault.NotAuthenticated):
        find_vm(bob, "web01")
    assert find_vm(admin, "web01").name == "web01"
    assert BOB not in [s["user"] for s in vcenter.sessions()]


# --------------------------------------------------------------------------- privileges


def test_read_only_user_reads_but_cannot_power_vms(vcenter, admin, bob):
    win01 = find_vm(bob, "win01")
    assert win01.runtime.powerState == "poweredOn"  # reading is fine
    with pytest.raises(vim.fault.NoPermission) as exc:
        win01.PowerOffVM_Task()
    assert exc.value.privilegeId == "VirtualMachine.Interact.PowerOff"
    assert exc.value.object == win01
    assert find_vm(admin, "win01").runtime.powerState == "poweredOn"
    with pytest.raises(vim.fault.NoPermission) as exc:
        find_vm(bob, "web01").PowerOnVM_Task()
    assert exc.value.privilegeId == "VirtualMachine.Interact.PowerOn"
    dc = bob.content.rootFolder.childEntity[0]
    with pytest.raises(vim.fault.NoPermission):
        dc.PowerOnMultiVM_Task([find_vm(bob, "web01")])
    assert find_vm(admin, "web01").runtime.powerState == "poweredOff"


def test_admin_can_power_vms(vcenter, admin):
    web01 = find_vm(admin, "web01")
    assert wait_task(web01.PowerOnVM_Task()) == "success"
    assert wait_task(web01.PowerOffVM_Task()) == "success"
    assert web01.runtime.powerState == "poweredOff"


def test_read_only_user_cannot_change_permissions_or_roles(vcenter, admin, bob):
    auth = bob.content.authorizationManager
    web01 = find_vm(bob, "web01")
    before = admin.content.authorizationManager.RetrieveEntityPermissions(entity=find_vm(admin, "web01"),
                                                                         inherited=False)
    grant = vim.AuthorizationManager.Permission(principal="VSPHERE.LOCAL\\bob", group=False, roleId=-1,
                                                propagate=True)
    with pytest.raises(vim.fault.NoPermission) as exc:
        auth.SetEntityPermissions(entity=web01, permission=[grant])
    assert exc.value.privilegeId == "Authorization.ModifyPermissions"
    with pytest.raises(vim.fault.NoPermission):
        auth.RemoveEntityPermission(entity=web01, user="VSPHERE.LOCAL\\bob", isGroup=False)
    with pytest.raises(vim.fault.NoPermission) as exc:
        auth.AddAuthorizationRole(name="bob-made", privIds=["VApp.Export"])
    assert exc.value.privilegeId == "Authorization.ModifyRoles"
    after = admin.content.authorizationManager.RetrieveEntityPermissions(entity=find_vm(admin, "web01"),
                                                                        inherited=False)
    assert after == before
    # reading permissions needs System.Read only, which ReadOnly has
    assert auth.RetrieveEntityPermissions(entity=web01, inherited=True)


def test_user_without_any_permission_on_the_vm_cannot_read_its_permissions(vcenter):
    si = vcenter.connect(ALICE, ALICE_PASSWORD)  # alice: Production only
    try:
        auth = si.content.authorizationManager
        assert auth.RetrieveEntityPermissions(entity=find_vm(si, "web01"), inherited=True)
        with pytest.raises(vim.fault.NoPermission) as exc:
            auth.RetrieveEntityPermissions(entity=find_vm(si, "lab-big01"), inherited=True)
        assert exc.value.privilegeId == "System.Read"
        with pytest.raises(vim.fault.NoPermission):  # an exporter is not a power user either
            find_vm(si, "win01").PowerOffVM_Task()
    finally:
        Disconnect(si)


def test_export_and_lease_methods_for_an_exporter(vcenter):
    si = vcenter.connect(ALICE, ALICE_PASSWORD)
    try:
        lease = export_ready(si, "web01")
        lease.HttpNfcLeaseProgress(percent=50)
        lease.HttpNfcLeaseComplete()
        assert lease.state == "done"
    finally:
        Disconnect(si)


# --------------------------------------------------------------------------- group permissions


def test_privilege_queries_count_groups_and_the_closest_permission(vcenter, admin):
    """carol and dave are in VSPHERE.LOCAL\\LabExporters (VM Exporter on /DC0/vm/Lab); dave also holds ReadOnly
    on lab-big01 itself, which is closer than the group's permission and so decides there."""
    am = admin.content.authorizationManager
    big, rdm = find_vm(admin, "lab-big01"), admin.content.searchIndex.FindByInventoryPath("DC0/vm/Lab/lab-rdm01")
    res = am.HasUserPrivilegeOnEntities(entities=[big, rdm], userName=CAROL, privId=["VApp.Export"])
    assert [r.privAvailability[0].isGranted for r in res] == [True, True]
    res = am.HasUserPrivilegeOnEntities(entities=[big, rdm], userName="VSPHERE.LOCAL\\dave", privId=["VApp.Export"])
    assert [r.privAvailability[0].isGranted for r in res] == [False, True]
    [on_big] = am.FetchUserPrivilegeOnEntities(entities=[big], userName=DAVE)
    assert "VApp.Export" not in on_big.privileges and "System.Read" in on_big.privileges
    [on_web] = am.FetchUserPrivilegeOnEntities(entities=[find_vm(admin, "web01")], userName=CAROL)
    assert "VApp.Export" not in on_web.privileges
    si = vcenter.connect(CAROL, CAROL_PASSWORD)  # the group's permission lets carol export for real
    try:
        lease = export_ready(si, "lab-big01")
        lease.HttpNfcLeaseAbort()
    finally:
        Disconnect(si)


# --------------------------------------------------------------------------- datastores, folders, visibility


SEARCH = vim.host.DatastoreBrowser.SearchSpec()  # vcsim 0.24 panics on a search without a spec


def test_datastore_browse_mkdir_and_folder_create_need_their_privileges(vcenter, admin, bob):
    """ReadOnly (bob on /DC0) holds none of Datastore.Browse, Datastore.FileManagement, Folder.Create."""
    dc = bob.content.rootFolder.childEntity[0]
    ds = next(d for d in dc.datastore if d.name == "datastore1")
    with pytest.raises(vim.fault.NoPermission) as exc:
        ds.browser.SearchDatastore_Task(datastorePath="[datastore1]", searchSpec=SEARCH)
    assert (exc.value.privilegeId, exc.value.object) == ("Datastore.Browse", ds)
    with pytest.raises(vim.fault.NoPermission) as exc:
        ds.browser.SearchDatastoreSubFolders_Task(datastorePath="[datastore1]", searchSpec=SEARCH)
    assert exc.value.privilegeId == "Datastore.Browse"
    with pytest.raises(vim.fault.NoPermission) as exc:
        bob.content.fileManager.MakeDirectory(name="[datastore1] bob-dir", datacenter=dc)
    assert (exc.value.privilegeId, exc.value.object) == ("Datastore.FileManagement", ds)
    with pytest.raises(vim.fault.NoPermission) as exc:
        dc.vmFolder.CreateFolder("bob-folder")
    assert (exc.value.privilegeId, exc.value.object) == ("Folder.Create", dc.vmFolder)

    admin_dc = admin.content.rootFolder.childEntity[0]
    admin_ds = next(d for d in admin_dc.datastore if d.name == "datastore1")
    search = admin_ds.browser.SearchDatastore_Task(datastorePath="[datastore1]", searchSpec=SEARCH)
    assert wait_task(search) == "success"
    admin.content.fileManager.MakeDirectory(name="[datastore1] admin-dir", datacenter=admin_dc)
    folder = admin_dc.vmFolder.CreateFolder("admin-folder")
    assert folder.name == "admin-folder" and "bob-folder" not in [f.name for f in admin_dc.vmFolder.childEntity]
    assert wait_task(folder.Destroy_Task()) == "success"


def listed(si, kind) -> set[str]:
    view = si.content.viewManager.CreateContainerView(si.content.rootFolder, [kind], True)
    try:
        return {obj.name for obj in view.view}
    finally:
        view.Destroy()


def test_container_views_leave_out_what_the_user_may_not_see(vcenter, admin, bob):
    assert listed(admin, vim.VirtualMachine) == listed(bob, vim.VirtualMachine) == {
        "web01", "db01", "win01", "lab-rdm01", "lab-big01"}
    for user, password, vms, folders in (
            (ALICE, ALICE_PASSWORD, {"web01", "db01", "win01"}, {"vm", "Production", "Linux"}),
            (CAROL, CAROL_PASSWORD, {"lab-rdm01", "lab-big01"}, {"vm", "Lab"})):
        si = vcenter.connect(user, password)
        try:
            assert listed(si, vim.VirtualMachine) == vms
            assert listed(si, vim.Folder) == folders  # the parents of what the user sees show as the way there
            assert listed(si, vim.Datacenter) == {"DC0"}
            assert listed(si, vim.HostSystem) == listed(si, vim.Datastore) == set()
        finally:
            Disconnect(si)


def test_on_one_entity_the_users_own_permission_beats_its_groups(vcenter, admin):
    """vSphere Security: "Permissions defined explicitly for the user on an object take precedence over all group
    permissions on that same object." Here a ReadOnly user permission for carol beside her group's on Lab."""
    am = admin.content.authorizationManager
    lab = find_vm(admin, "lab-big01").parent
    read_only = next(r.roleId for r in am.roleList if r.name == "ReadOnly")
    am.SetEntityPermissions(entity=lab, permission=[vim.AuthorizationManager.Permission(
        principal="VSPHERE.LOCAL\\carol", group=False, roleId=read_only, propagate=True)])
    try:
        [result] = am.FetchUserPrivilegeOnEntities(entities=[find_vm(admin, "lab-big01")], userName=CAROL)
        assert "VApp.Export" not in result.privileges and "System.Read" in result.privileges
    finally:
        am.RemoveEntityPermission(entity=lab, user="VSPHERE.LOCAL\\carol", isGroup=False)
    [result] = am.FetchUserPrivilegeOnEntities(entities=[find_vm(admin, "lab-big01")], userName=CAROL)
    assert "VApp.Export" in result.privileges
