"""Behaviour of the vCenter sandbox, exercised with pyVmomi over plain HTTP.

Uses the session-scoped sandbox (default inventory, see sandbox/vcenter/inventory.py);
the ``vcenter`` fixture clears fault switches and aborts leftover leases around each test.
"""

from __future__ import annotations

import hashlib
import json
import socket
import ssl
import struct
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from http.client import IncompleteRead

import pytest
from pyVmomi import vim, vmodl

from sandbox.vcenter.inventory import ALICE, ALICE_PASSWORD, BOB, BOB_PASSWORD, EXPORT_ROLE

pytestmark = pytest.mark.vcenter

MIB = 1024 * 1024
GRAIN = 64 * 1024


# --------------------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def si(vcenter_sandbox):
    from pyVim.connect import Disconnect

    si = vcenter_sandbox.connect()
    yield si
    Disconnect(si)


def find_vm(si, name: str):
    view = si.content.viewManager.CreateContainerView(si.content.rootFolder, [vim.VirtualMachine], True)
    try:
        for vm in view.view:
            if vm.name == name:
                return vm
    finally:
        view.Destroy()
    raise LookupError(name)


def wait_state(lease, states=("ready", "error"), timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = lease.state
        if state in states:
            return state
        time.sleep(0.02)
    raise AssertionError(f"lease stayed {lease.state!r}, expected one of {states}")


def export_ready(si, name: str):
    lease = find_vm(si, name).ExportVm()
    assert wait_state(lease) == "ready", lease.error
    return lease


def stream_size(vc, lease, index: int = 0) -> int:
    """The exact length of a disk's download stream, from the control API (leases carry no fileSize for disks)."""
    (entry,) = [x for x in vc.leases() if x["id"] == lease._moId]
    return entry["disks"][index]["stream_bytes"]


def cookie_of(si) -> str:
    return si._stub.cookie  # "vmware_soap_session=...; ..." as set by the server


def open_disk(vc, url: str, cookie: str | None):
    headers = {"Cookie": cookie} if cookie else {}
    req = urllib.request.Request(vc.device_url(url), headers=headers)
    return urllib.request.urlopen(req, timeout=30)


def download(vc, url: str, cookie: str, dest=None) -> tuple[int | None, int]:
    """Returns (Content-Length, None when chunked, as by default; bytes read); writes to dest when given."""
    with open_disk(vc, url, cookie) as resp:
        length = int(resp.headers["Content-Length"]) if resp.headers["Content-Length"] else None
        n = 0
        out = open(dest, "wb") if dest else None
        try:
            while chunk := resp.read(1 << 20):
                n += len(chunk)
                if out:
                    out.write(chunk)
        finally:
            if out:
                out.close()
    return length, n


def read_stream_optimized(stream: bytes) -> bytes:
    """Minimal reader for a streamOptimized VMDK: footer -> grain directory -> grain tables -> grains."""
    import zlib

    def header(off):
        (magic, version, flags, capacity, grain, _desc_off, _desc_size, gtes, _rgd, gd, overhead, _unclean,
         _a, _b, _c, _d, algo) = struct.unpack_from("<4sIIQQQQIQQQBccccH", stream, off)
        return dict(magic=magic, version=version, flags=flags, capacity=capacity, grain=grain, gtes=gtes,
                    gd=gd, overhead=overhead, algo=algo)

    start = header(0)
    assert start["magic"] == b"KDMV" and start["version"] == 3 and start["algo"] == 1
    assert start["flags"] & (1 << 16) and start["flags"] & (1 << 17)  # compressed grains, markers
    assert start["gd"] == 0xFFFFFFFFFFFFFFFF  # GD_AT_END: read the footer
    assert stream[-512:] == b"\0" * 512  # end-of-stream marker
    footer_marker = struct.unpack_from("<QII", stream, len(stream) - 1536)
    assert footer_marker == (1, 0, 3)  # MARKER_FOOTER
    foot = header(len(stream) - 1024)
    assert foot["magic"] == b"KDMV" and foot["capacity"] == start["capacity"]
    grain_bytes = foot["grain"] * 512
    n_grains = -(-foot["capacity"] // foot["grain"])
    n_gts = -(-n_grains // foot["gtes"])
    assert struct.unpack_from("<QII", stream, (foot["gd"] - 1) * 512)[2] == 2  # MARKER_GD precedes the GD
    gd = struct.unpack_from(f"<{n_gts}I", stream, foot["gd"] * 512)
    out = bytearray(foot["capacity"] * 512)
    for g, gt_sector in enumerate(gd):
        if not gt_sector:
            continue
        assert struct.unpack_from("<QII", stream, (gt_sector - 1) * 512)[2] == 1  # MARKER_GT
        for j, sector in enumerate(struct.unpack_from(f"<{foot['gtes']}I", stream, gt_sector * 512)):
            if not sector:
                continue
            lba, size = struct.unpack_from("<QI", stream, sector * 512)
            index = g * foot["gtes"] + j
            assert lba == index * foot["grain"]
            grain = zlib.decompress(stream[sector * 512 + 12 : sector * 512 + 12 + size])  # checks adler32
            assert len(grain) == grain_bytes
            out[lba * 512 : lba * 512 + grain_bytes] = grain[: len(out) - lba * 512]
    return bytes(out)


def same_principal(a: str, b: str) -> bool:
    def norm(p):
        p = p.lower()
        if "\\" in p:
            dom, user = p.split("\\", 1)
            return user, dom
        if "@" in p:
            user, dom = p.rsplit("@", 1)
            return user, dom
        return p, ""

    (ua, da), (ub, db) = norm(a), norm(b)
    return ua == ub and (not da or not db or da == db)


def effective_privileges(si, entity, user: str) -> set[str]:
    """Client-side computation: RetrieveEntityPermissions(inherited) + roleList, nearest level wins."""
    am = si.content.authorizationManager
    perms = am.RetrieveEntityPermissions(entity=entity, inherited=True)
    roles = {r.roleId: set(r.privilege) for r in am.roleList}
    chain, e = [], entity
    while e is not None:
        chain.append(e._moId)
        e = e.parent
    for moid in chain:
        here = [p for p in perms if p.entity is not None and p.entity._moId == moid]
        mine = [p.roleId for p in here if not p.group and same_principal(p.principal, user)]
        if mine:
            return set().union(*(roles[r] for r in mine))
    return set()


# --------------------------------------------------------------------------- inventory and login


def test_inventory_is_listed(vcenter, si):
    content = si.content
    dcs = [e for e in content.rootFolder.childEntity if isinstance(e, vim.Datacenter)]
    assert [dc.name for dc in dcs] == ["DC0"]
    dc = dcs[0]
    clusters = [c for c in dc.hostFolder.childEntity if isinstance(c, vim.ClusterComputeResource)]
    assert [c.name for c in clusters] == ["Cluster0"]
    assert sorted(h.name for h in clusters[0].host) == ["esx01.sandbox.local", "esx02.sandbox.local"]
    assert {ds.name: ds.summary.capacity for ds in dc.datastore} == {
        "datastore1": 2048 * 1024**3,
        "datastore2": 1024 * 1024**3,
    }
    assert {"VM Network", "Prod-DVPG"} <= {n.name for n in dc.network}

    vms = {name: find_vm(si, name) for name in ("web01", "db01", "win01", "lab-rdm01", "lab-big01")}
    assert vms["web01"].config.guestId == "ubuntu64Guest"
    assert vms["db01"].config.guestId == "rhel7_64Guest"
    assert vms["win01"].config.guestId == "windows9Server64Guest"
    assert vms["win01"].runtime.powerState == "poweredOn"
    assert vms["web01"].runtime.powerState == "poweredOff"
    assert vms["web01"].parent.name == "Linux" and vms["web01"].parent.parent.name == "Production"
    assert [n.name for n in vms["web01"].network] == ["Prod-DVPG"]
    assert vms["web01"].runtime.host.name in {"esx01.sandbox.local", "esx02.sandbox.local"}

    def disks(vm):
        return [d for d in vm.config.hardware.device if isinstance(d, vim.vm.device.VirtualDisk)]

    assert [(d.deviceInfo.label, d.capacityInBytes) for d in disks(vms["db01"])] == [
        ("Hard disk 1", 16 * MIB),
        ("Hard disk 2", 41000 * 1024),
    ]
    rdm = disks(vms["lab-rdm01"])[1]
    assert isinstance(rdm.backing, vim.vm.device.VirtualDisk.RawDiskMappingVer1BackingInfo)
    assert rdm.backing.compatibilityMode == "physicalMode"
    assert disks(vms["lab-big01"])[0].capacityInBytes == 1024 * MIB


def test_login_only_accepts_configured_users(vcenter):
    from pyVim.connect import Disconnect

    for user, pwd in ((ALICE, ALICE_PASSWORD), ("VSPHERE.LOCAL\\bob", BOB_PASSWORD)):
        si = vcenter.connect(user, pwd)
        assert same_principal(si.content.sessionManager.currentSession.userName, user)
        Disconnect(si)
    for user, pwd in ((ALICE, "wrong"), ("mallory@vsphere.local", "whatever")):
        with pytest.raises(vim.fault.InvalidLogin):
            vcenter.connect(user, pwd)


# --------------------------------------------------------------------------- ExportVm and the lease


def test_export_powered_on_vm_raises_invalid_power_state(vcenter, si):
    with pytest.raises(vim.fault.InvalidPowerState) as exc:
        find_vm(si, "win01").ExportVm()
    assert exc.value.existingState == "poweredOn"
    assert exc.value.requestedState == "poweredOff"


def test_lease_goes_initializing_then_ready(vcenter, si):
    lease = find_vm(si, "web01").ExportVm()
    assert isinstance(lease, vim.HttpNfcLease)
    assert lease.state == "initializing"
    assert lease.info is None
    assert wait_state(lease) == "ready"
    assert lease.initializeProgress == 100
    assert lease.error is None
    lease.HttpNfcLeaseComplete()


def test_lease_info_and_device_url_fields(vcenter, si):
    vm = find_vm(si, "db01")
    lease = export_ready(si, "db01")
    info = lease.info
    assert info.entity == vm
    assert info.leaseTimeout == 300
    assert info.totalDiskCapacityInKB == 16 * 1024 + 41000
    assert len(info.deviceUrl) == 2
    for i, du in enumerate(info.deviceUrl):
        url = urllib.parse.urlsplit(du.url)
        assert url.scheme == "http"
        assert url.hostname == "*" and url.port == vcenter.port
        assert url.path.startswith("/nfc/") and url.path.endswith(f"/disk-{i}.vmdk")
        assert du.targetId == f"disk-{i}.vmdk"
        assert du.disk is True
        assert du.key.startswith(f"/{vm._moId}/") and du.key.endswith(f":{i}")
        assert du.sslThumbprint == ""  # plain HTTP: no certificate to pin
        # vCenter sets fileSize "only for non-disk file backings": a disk's stream length is unknown up front
        assert du.fileSize is None
    # the stream length (control API): 16 MiB fully used, 41000 KiB half used (+ metadata)
    assert 16 * MIB < stream_size(vcenter, lease, 0) < 16 * MIB * 1.02
    assert 20500 * 1024 < stream_size(vcenter, lease, 1) < 20500 * 1024 * 1.02
    lease.HttpNfcLeaseComplete()


def test_https_device_urls_name_the_esx_host_which_serves_them_with_its_own_certificate(vcenter):
    """As vCenter does: the URL names the ESX host holding the VM, and sslThumbprint is that host's certificate,
    not vCenter's; only that host's listener knows the ticket."""
    from pyVim.connect import Disconnect

    si = vcenter.connect(https=True)
    try:
        lease = export_ready(si, "web01")
        du = lease.info.deviceUrl[0]
        host = find_vm(si, "web01").runtime.host.name
        assert set(vcenter.esx_hosts) == {"esx01.sandbox.local", "esx02.sandbox.local"}
        url = urllib.parse.urlsplit(du.url)
        assert (url.scheme, url.hostname, url.port) == ("https", host, vcenter.esx_hosts[host]["https_port"])
        assert du.sslThumbprint == vcenter.esx_hosts[host]["thumbprint"] != vcenter.thumbprint
        pem = vcenter.esx_certificate_pem(host)
        der = ssl.PEM_cert_to_DER_cert(pem)
        sha1 = hashlib.sha1(der).hexdigest().upper()
        assert du.sslThumbprint == ":".join(sha1[i : i + 2] for i in range(0, 40, 2))
        ctx = ssl.create_default_context(cadata=pem)  # the host's certificate names the host
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        cookie = {"Cookie": cookie_of(si)}
        req = urllib.request.Request(vcenter.device_url(du.url), headers=cookie, method="HEAD")
        with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
            assert resp.status == 200
        other = next(name for name in vcenter.esx_hosts if name != host)
        for port in (vcenter.https_port, vcenter.esx_hosts[other]["https_port"]):  # vCenter, the other host
            elsewhere = f"https://{vcenter.host}:{port}{url.path}"
            with pytest.raises(urllib.error.HTTPError) as exc:
                urllib.request.urlopen(urllib.request.Request(elsewhere, headers=cookie), context=ctx, timeout=10)
            assert exc.value.code == 404
        lease.HttpNfcLeaseComplete()
    finally:
        Disconnect(si)


def test_download_is_a_valid_stream_optimized_vmdk(vcenter, si, tmp_path):
    lease = export_ready(si, "web01")
    du = lease.info.deviceUrl[0]
    dest = tmp_path / "web01.vmdk"
    length, n = download(vcenter, du.url, cookie_of(si), dest)
    assert length is None and n == stream_size(vcenter, lease) == dest.stat().st_size
    lease.HttpNfcLeaseProgress(percent=100)
    lease.HttpNfcLeaseComplete()

    head = dest.read_bytes()[:4096]
    assert head[:4] == b"KDMV"
    assert struct.unpack_from("<I", head, 4)[0] == 3  # version
    assert b'createType="streamOptimized"' in head

    info = json.loads(subprocess.run(["qemu-img", "info", "--output=json", str(dest)],
                                     check=True, capture_output=True, text=True).stdout)
    assert info["format"] == "vmdk"
    assert info["virtual-size"] == 16 * MIB
    assert info["format-specific"]["data"]["create-type"] == "streamOptimized"
    assert info["format-specific"]["data"]["extents"][0]["compressed"] is True
    check = subprocess.run(["qemu-img", "check", str(dest)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr

    raw = tmp_path / "web01.raw"
    subprocess.run(["qemu-img", "convert", "-O", "raw", str(dest), str(raw)], check=True)
    data = raw.read_bytes()
    assert len(data) == 16 * MIB
    assert read_stream_optimized(dest.read_bytes()) == data  # independent parser agrees with qemu
    # every grain carries its own index and the disk seed, followed by pseudo-random bytes
    seeds = set()
    for i in range(len(data) // GRAIN):
        index, seed = struct.unpack_from("<QQ", data, i * GRAIN)
        assert index == i
        seeds.add(seed)
    assert len(seeds) == 1
    assert data[:GRAIN] != data[GRAIN : 2 * GRAIN]
    assert data.count(b"\0" * 4096) == 0  # fully used disk: no zero regions


def test_used_fraction_leaves_sparse_grains(vcenter, si, tmp_path):
    lease = export_ready(si, "db01")
    du = lease.info.deviceUrl[1]  # 41000 KiB (2 grain tables, partial last grain), used_fraction 0.5
    dest = tmp_path / "db01-1.vmdk"
    length, n = download(vcenter, du.url, cookie_of(si), dest)
    assert length is None and n == stream_size(vcenter, lease, 1)
    lease.HttpNfcLeaseComplete()
    raw = tmp_path / "db01-1.raw"
    subprocess.run(["qemu-img", "convert", "-O", "raw", str(dest), str(raw)], check=True)
    check = subprocess.run(["qemu-img", "check", str(dest)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    data = raw.read_bytes()
    assert len(data) == 41000 * 1024
    assert read_stream_optimized(dest.read_bytes()) == data
    grains = [data[i : i + GRAIN] for i in range(0, len(data), GRAIN)]
    present = [i for i, g in enumerate(grains) if g.count(0) != len(g)]
    assert len(grains) == 641
    assert present == list(range(1, 641, 2))  # every other grain: 320 of 641
    assert all(struct.unpack_from("<Q", grains[i])[0] == i for i in present)


def test_download_requires_the_session_cookie(vcenter, si):
    lease = export_ready(si, "web01")
    url = lease.info.deviceUrl[0].url
    for cookie in (None, "vmware_soap_session=not-a-session"):
        with pytest.raises(urllib.error.HTTPError) as exc:
            open_disk(vcenter, url, cookie)
        assert exc.value.code == 401
    assert vcenter.leases()[-1]["downloads"] == 0
    lease.HttpNfcLeaseAbort()


def test_progress_renews_the_lease(vcenter, si):
    vcenter.set_faults(lease_timeout_seconds=1)
    lease = export_ready(si, "web01")
    assert lease.info.leaseTimeout == 1
    start = time.monotonic()
    while time.monotonic() - start < 2.2:  # > 2 timeouts, renewing every 0.25 s
        lease.HttpNfcLeaseProgress(percent=int((time.monotonic() - start) * 40))
        assert lease.state == "ready"
        time.sleep(0.25)
    assert lease.state == "ready"
    lease.HttpNfcLeaseComplete()
    assert lease.state == "done"


def test_lease_not_renewed_goes_to_error(vcenter, si):
    vcenter.set_faults(lease_timeout_seconds=1)
    vm = find_vm(si, "web01")
    lease = export_ready(si, "web01")
    t0 = time.monotonic()
    assert wait_state(lease, ("error",), timeout=3) == "error"
    assert 0.5 < time.monotonic() - t0 < 2.5
    assert isinstance(lease.error, vim.fault.Timedout)
    with pytest.raises(vim.fault.Timedout):
        lease.HttpNfcLeaseProgress(percent=50)
    with pytest.raises(urllib.error.HTTPError) as exc:
        open_disk(vcenter, lease.info.deviceUrl[0].url, cookie_of(si))
    assert exc.value.code == 409
    assert "PowerOnVM_Task" not in vm.disabledMethod  # the VM is released


def test_complete_releases_the_lease(vcenter, si):
    vm = find_vm(si, "web01")
    lease = export_ready(si, "web01")
    assert "PowerOnVM_Task" in vm.disabledMethod
    lease.HttpNfcLeaseComplete()
    assert lease.state == "done"
    assert "PowerOnVM_Task" not in vm.disabledMethod
    with pytest.raises(urllib.error.HTTPError) as exc:
        open_disk(vcenter, lease.info.deviceUrl[0].url, cookie_of(si))
    assert exc.value.code == 409
    export_ready(si, "web01").HttpNfcLeaseComplete()  # the VM can be exported again


def test_abort_releases_the_lease(vcenter, si):
    vm = find_vm(si, "web01")
    lease = export_ready(si, "web01")
    lease.HttpNfcLeaseAbort()
    assert lease.state == "error"
    assert isinstance(lease.error, vmodl.fault.RequestCanceled)
    assert "ExportVm" not in vm.disabledMethod
    lease2 = export_ready(si, "web01")
    lease2.HttpNfcLeaseAbort(fault=vmodl.fault.SystemError(reason="client gave up"))
    assert isinstance(lease2.error, vmodl.fault.SystemError)


def test_power_on_refused_while_lease_is_held(vcenter, si):
    vm = find_vm(si, "web01")
    lease = export_ready(si, "web01")
    with pytest.raises(vim.fault.MethodDisabled):
        vm.PowerOnVM_Task()
    with pytest.raises(vim.fault.MethodDisabled):
        vm.ExportVm()
    assert vm.runtime.powerState == "poweredOff"
    lease.HttpNfcLeaseComplete()
    task = vm.PowerOnVM_Task()
    try:
        assert wait_task(task) == "success"
        assert vm.runtime.powerState == "poweredOn"
    finally:
        assert wait_task(vm.PowerOffVM_Task()) == "success"


def wait_task(task, timeout=5.0):
    deadline = time.monotonic() + timeout
    while task.info.state in ("queued", "running"):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    return task.info.state


def test_physical_rdm_disk_cannot_be_exported(vcenter, si):
    vm = find_vm(si, "lab-rdm01")
    lease = vm.ExportVm()
    assert wait_state(lease) == "error"
    assert isinstance(lease.error, vmodl.fault.NotSupported)
    assert "raw device mapping" in lease.error.msg
    # calls that would crash vcsim 0.24 on an RDM backing are answered by the sandbox
    vm.RefreshStorageInfo()
    disk = next(d for d in vm.config.hardware.device if isinstance(d, vim.vm.device.VirtualDisk))
    spec = vim.vm.ConfigSpec(deviceChange=[vim.vm.device.VirtualDeviceSpec(operation="edit", device=disk)])
    for spec in (spec, vim.vm.ConfigSpec(annotation="rdm")):
        with pytest.raises(vmodl.fault.NotSupported):
            vm.ReconfigVM_Task(spec=spec)
    assert vm.runtime.powerState == "poweredOff"  # still serving


# --------------------------------------------------------------------------- permissions


def test_permissions_give_alice_vapp_export_and_bob_none(vcenter, si):
    am = si.content.authorizationManager
    web01, lab = find_vm(si, "web01"), find_vm(si, "lab-big01")
    production = web01.parent.parent

    perms = am.RetrieveEntityPermissions(entity=web01, inherited=True)
    alice = [p for p in perms if same_principal(p.principal, ALICE)]
    assert len(alice) == 1 and alice[0].entity == production and alice[0].propagate
    role = next(r for r in am.roleList if r.roleId == alice[0].roleId)
    assert role.name == EXPORT_ROLE and "VApp.Export" in role.privilege
    assert am.RetrieveEntityPermissions(entity=web01, inherited=False) == []

    assert "VApp.Export" in effective_privileges(si, web01, ALICE)
    assert "VApp.Export" not in effective_privileges(si, lab, ALICE)  # Lab is outside Production
    assert "VApp.Export" not in effective_privileges(si, web01, BOB)
    assert "System.View" in effective_privileges(si, web01, BOB)  # ReadOnly on DC0

    # the server-side checks agree (govmomi 0.24 answered "granted" to everything)
    res = am.HasUserPrivilegeOnEntities(entities=[web01, lab], userName=ALICE, privId=["VApp.Export"])
    assert [e.privAvailability[0].isGranted for e in res] == [True, False]
    res = am.HasUserPrivilegeOnEntities(entities=[web01], userName=BOB, privId=["VApp.Export", "System.View"])
    assert [a.isGranted for a in res[0].privAvailability] == [False, True]
    fetched = am.FetchUserPrivilegeOnEntities(entities=[web01], userName=BOB)[0].privileges
    assert "System.View" in fetched and "VApp.Export" not in fetched


def test_set_entity_permissions_is_inherited_only_when_propagating(vcenter, si):
    am = si.content.authorizationManager
    lab_vm = find_vm(si, "lab-big01")
    lab = lab_vm.parent
    role_id = next(r.roleId for r in am.roleList if r.name == EXPORT_ROLE)
    bob = "VSPHERE.LOCAL\\bob"
    try:
        am.SetEntityPermissions(entity=lab, permission=[
            vim.AuthorizationManager.Permission(principal=bob, group=False, roleId=role_id, propagate=False)])
        # (LabExporters' group permission on Lab stays beside bob's)
        own = am.RetrieveEntityPermissions(entity=lab, inherited=False)
        assert [p.principal for p in own if not p.group] == [bob]
        assert "VApp.Export" not in effective_privileges(si, lab_vm, BOB)

        # same principal again: updated in place (merge), now propagating to the VMs below
        am.SetEntityPermissions(entity=lab, permission=[
            vim.AuthorizationManager.Permission(principal=bob, group=False, roleId=role_id, propagate=True)])
        own = [p for p in am.RetrieveEntityPermissions(entity=lab, inherited=False) if not p.group]
        assert len(own) == 1 and own[0].propagate and own[0].entity == lab
        assert "VApp.Export" in effective_privileges(si, lab_vm, BOB)
        res = am.HasUserPrivilegeOnEntities(entities=[lab_vm], userName=BOB, privId=["VApp.Export"])
        assert res[0].privAvailability[0].isGranted is True
    finally:
        am.RemoveEntityPermission(entity=lab, user=bob, isGroup=False)
    assert "VApp.Export" not in effective_privileges(si, lab_vm, BOB)


def test_export_vm_requires_vapp_export(vcenter):
    from pyVim.connect import Disconnect

    bob = vcenter.connect(BOB, BOB_PASSWORD)
    alice = vcenter.connect(ALICE, ALICE_PASSWORD)
    try:
        with pytest.raises(vim.fault.NoPermission) as exc:
            find_vm(bob, "web01").ExportVm()
        assert exc.value.privilegeId == "VApp.Export"
        # alice cannot even list lab-big01 (no permission on it); by its moref, the export is refused
        lab_big01 = vim.VirtualMachine(find_vm(bob, "lab-big01")._moId, alice._stub)
        with pytest.raises(vim.fault.NoPermission):
            lab_big01.ExportVm()
        lease = find_vm(alice, "web01").ExportVm()
        assert wait_state(lease) == "ready"
        lease.HttpNfcLeaseComplete()
    finally:
        Disconnect(bob)
        Disconnect(alice)


# --------------------------------------------------------------------------- fault switches


def test_fault_esx_host_unresolvable(vcenter, si):
    assert vcenter.set_faults(esx_host_unresolvable=True)["esx_host_unresolvable"] == "esx-unresolvable.invalid"
    lease = export_ready(si, "web01")
    url = urllib.parse.urlsplit(lease.info.deviceUrl[0].url)
    assert url.hostname == "esx-unresolvable.invalid"
    assert vcenter.device_url(lease.info.deviceUrl[0].url) == lease.info.deviceUrl[0].url  # no "*" to replace
    with pytest.raises(socket.gaierror):
        socket.getaddrinfo(url.hostname, url.port)
    lease.HttpNfcLeaseAbort()

    vcenter.set_faults(esx_host_unresolvable="esx42.corp.invalid")
    lease = export_ready(si, "web01")
    assert urllib.parse.urlsplit(lease.info.deviceUrl[0].url).hostname == "esx42.corp.invalid"
    lease.HttpNfcLeaseAbort()

    vcenter.set_faults(esx_host_unresolvable=False)
    lease = export_ready(si, "web01")
    assert urllib.parse.urlsplit(lease.info.deviceUrl[0].url).hostname == "*"
    lease.HttpNfcLeaseComplete()


def test_fault_nfc_stream_cut(vcenter, si):
    vcenter.set_faults(nfc_cut_after_bytes=300_000, nfc_content_length=True)
    lease = export_ready(si, "web01")
    du = lease.info.deviceUrl[0]
    with open_disk(vcenter, du.url, cookie_of(si)) as resp:
        assert int(resp.headers["Content-Length"]) == stream_size(vcenter, lease)
        got = 0
        while chunk := resp.read(65536):  # http.client returns b"" at the early EOF
            got += len(chunk)
    assert got == 300_000  # connection closed mid-body, long before Content-Length
    with pytest.raises(IncompleteRead):  # a reader that checks the length notices
        with open_disk(vcenter, du.url, cookie_of(si)) as resp:
            resp.read()
    import requests

    with pytest.raises(requests.exceptions.RequestException):  # urllib3 2 enforces Content-Length
        r = requests.get(vcenter.device_url(du.url), headers={"Cookie": cookie_of(si)}, stream=True, timeout=10)
        for _ in r.iter_content(65536):
            pass
    vcenter.set_faults(nfc_cut_after_bytes=None)
    length, n = download(vcenter, du.url, cookie_of(si))  # the lease is still usable: retry succeeds
    assert n == length == stream_size(vcenter, lease)
    lease.HttpNfcLeaseComplete()


def test_fault_slow_stream(vcenter, si):
    vcenter.set_faults(nfc_bytes_per_second=2_000_000)
    lease = export_ready(si, "web01")
    with open_disk(vcenter, lease.info.deviceUrl[0].url, cookie_of(si)) as resp:
        t0 = time.monotonic()
        n = 0
        while n < 1_000_000:
            n += len(resp.read(100_000))
        elapsed = time.monotonic() - t0
    assert 0.35 < elapsed < 3, elapsed  # ~0.5 s at 2 MB/s
    lease.HttpNfcLeaseAbort()


def test_fault_lease_error_immediately(vcenter, si):
    vm = find_vm(si, "web01")
    vcenter.set_faults(lease_error_after_seconds=0)
    lease = vm.ExportVm()
    assert wait_state(lease) == "error"
    assert lease.info is None  # never became ready
    assert isinstance(lease.error, vmodl.fault.SystemError)
    assert "PowerOnVM_Task" not in vm.disabledMethod


def test_fault_lease_error_after_n_seconds_breaks_running_download(vcenter, si):
    vcenter.set_faults(nfc_bytes_per_second=4_000_000)
    lease = export_ready(si, "web01")
    resp = open_disk(vcenter, lease.info.deviceUrl[0].url, cookie_of(si))
    t0 = time.monotonic()
    vcenter.set_faults(lease_error_after_seconds=0.5)  # applies to the active lease too
    got = 0
    with pytest.raises(IncompleteRead), resp:  # chunked: the missing last chunk tells the reader
        while chunk := resp.read(65536):
            got += len(chunk)
    assert lease.state == "error"
    assert 0.4 < time.monotonic() - t0 < 3
    assert 0 < got < stream_size(vcenter, lease)


def test_fault_switches_control_endpoint(vcenter):
    off = vcenter.get_faults()
    assert off == {k: None for k in off} and len(off) == 10
    state = vcenter.set_faults(nfc_cut_after_bytes=10, nfc_bytes_per_second=1000, lease_error_after_seconds=3)
    assert (state["nfc_cut_after_bytes"], state["nfc_bytes_per_second"], state["lease_error_after_seconds"]) == (
        10, 1000, 3)
    assert vcenter.set_faults(nfc_cut_after_bytes=None)["nfc_cut_after_bytes"] is None  # None turns one off
    assert vcenter.get_faults()["nfc_bytes_per_second"] == 1000
    # raw HTTP, as a demo or another process would use it
    req = urllib.request.Request(f"{vcenter.control_url}/faults", data=b'{"bogus": 1}', method="POST")
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(req, timeout=5)
    assert exc.value.code == 400 and b"unknown fault switch" in exc.value.read()
    with pytest.raises(ValueError):
        vcenter.set_faults(bogus=1)
    assert vcenter.clear_faults() == off


def test_reset_aborts_and_forgets_leases(vcenter, si):
    vm = find_vm(si, "web01")
    lease = export_ready(si, "web01")
    assert [(x["vm_name"], x["state"]) for x in vcenter.leases()] == [("web01", "ready")]
    vcenter.reset()
    assert vcenter.leases() == []
    assert lease.state == "error" and isinstance(lease.error, vmodl.fault.RequestCanceled)
    assert "PowerOnVM_Task" not in vm.disabledMethod
