"""Tooling around the vCenter sandbox: build.sh, start options, custom inventories, the CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from sandbox.vcenter.build import BUILD_SH, build
from sandbox.vcenter.inventory import default_inventory

pytestmark = pytest.mark.vcenter

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.process
def test_build_is_idempotent(vcenter_sandbox):
    first = build()
    mtime = first.stat().st_mtime_ns
    t0 = time.monotonic()
    res = subprocess.run(["bash", str(BUILD_SH)], capture_output=True, text=True, check=True)
    assert time.monotonic() - t0 < 5  # up to date: no compilation
    assert res.stdout.splitlines() == [str(first)]  # stdout carries only the path
    assert first.stat().st_mtime_ns == mtime
    assert os.access(first, os.X_OK)


@pytest.mark.process
def test_fixture_module_imports_stay_light():
    code = "import sys, sandbox.vcenter.fixtures, sandbox.vcenter.server; print('pyVmomi' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


SMALL_INVENTORY = {
    "service_account": {"username": "svc-migrate@corp.local", "password": "s3cret!"},
    "device_url_host": "esx",  # device URLs name the VM's ESX host instead of "*"
    "users": [{"name": "carol@corp.local", "password": "carol"}, {"name": "dave@corp.local", "password": "dave"}],
    "groups": [{"name": "CORP\\vm-exporters", "members": ["carol@corp.local"]}],
    "roles": [{"name": "Exporter", "privileges": ["VApp.Export"]}],
    "permissions": [{"entity": "/Lab/vm", "principal": "CORP\\vm-exporters", "group": True, "role": "Exporter"}],
    "datacenters": [{
        "name": "Lab",
        "hosts": ["esx-standalone.corp.local"],
        "datastores": [{"name": "ds-local", "capacity_gb": 100}],
        "networks": [{"name": "VLAN42", "vlan_id": 42}],
        "vms": [{"name": "tiny", "guest_id": "debian10_64Guest", "networks": ["VLAN42"],
                 "disks": [{"size_mb": 1}, {"size_mb": 2, "rdm": "virtual"}]}],
    }],
}


def test_start_options_custom_inventory_and_initial_faults():
    from pyVim.connect import Disconnect
    from pyVmomi import vim

    from sandbox.vcenter.server import start_vcenter

    faults = {"esx_host_unresolvable": "esx9.corp.invalid", "nfc_bytes_per_second": 1234}
    with start_vcenter(SMALL_INVENTORY, lease_timeout=7, lease_init=0, https=False, faults=faults) as vc:
        assert (vc.username, vc.password) == ("svc-migrate@corp.local", "s3cret!")
        assert vc.https_url is None and vc.thumbprint is None
        state = vc.get_faults()
        assert state["esx_host_unresolvable"] == "esx9.corp.invalid" and state["nfc_bytes_per_second"] == 1234

        si = vc.connect()
        try:
            vm = si.content.searchIndex.FindByInventoryPath("Lab/vm/tiny")
            assert vm.config.guestId == "debian10_64Guest"
            assert [n.name for n in vm.network] == ["VLAN42"]
            assert vm.runtime.host.name == "esx-standalone.corp.local"
            disks = [d for d in vm.config.hardware.device if isinstance(d, vim.vm.device.VirtualDisk)]
            assert disks[1].backing.compatibilityMode == "virtualMode"

            am = si.content.authorizationManager
            res = am.HasUserPrivilegeOnEntities(entities=[vm], userName="carol@corp.local", privId=["VApp.Export"])
            assert res[0].privAvailability[0].isGranted is True  # through the group permission
            res = am.HasUserPrivilegeOnEntities(entities=[vm], userName="dave@corp.local", privId=["VApp.Export"])
            assert res[0].privAvailability[0].isGranted is False
            users = si.content.userDirectory.RetrieveUserGroups(searchStr="", exactMatch=False,
                                                                findUsers=True, findGroups=True)
            assert {"carol@corp.local", "dave@corp.local", "CORP\\vm-exporters"} <= {u.principal for u in users}

            lease = vm.ExportVm()
            deadline = time.monotonic() + 5
            while lease.state == "initializing" and time.monotonic() < deadline:
                time.sleep(0.02)
            assert lease.state == "ready"
            assert lease.info.leaseTimeout == 7
            assert len(lease.info.deviceUrl) == 2  # a virtual-mode RDM exports like a flat disk
            assert urllib.parse.urlsplit(lease.info.deviceUrl[0].url).hostname == "esx9.corp.invalid"
            lease.HttpNfcLeaseAbort()

            vc.clear_faults()
            lease = vm.ExportVm()
            while lease.state == "initializing" and time.monotonic() < deadline:
                time.sleep(0.02)
            assert urllib.parse.urlsplit(lease.info.deviceUrl[0].url).hostname == "esx-standalone.corp.local"
            lease.HttpNfcLeaseComplete()
        finally:
            Disconnect(si)
        proc = vc.process
    assert proc.poll() is not None  # stopped by the context manager


def test_stop_is_idempotent():
    from sandbox.vcenter.server import start_vcenter

    vc = start_vcenter(SMALL_INVENTORY, https=False)
    assert vc.alive
    vc.stop()
    vc.stop()
    assert not vc.alive


@pytest.mark.process
def test_cli_runs_in_foreground_and_stops_on_sigint():
    out = subprocess.run([sys.executable, "-m", "sandbox.vcenter", "--print-inventory"], cwd=REPO,
                         capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == default_inventory()

    proc = subprocess.Popen([sys.executable, "-m", "sandbox.vcenter", "--no-https"], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        ready = json.loads(proc.stdout.readline())
        assert ready["url"].startswith("http://127.0.0.1:") and ready["url"].endswith("/sdk")
        with urllib.request.urlopen(f"{ready['control_url']}/health", timeout=5) as resp:
            assert json.load(resp)["ok"] is True
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=15) == 0
        with pytest.raises(OSError):  # the simulator went away with it
            urllib.request.urlopen(f"{ready['control_url']}/health", timeout=2)
    finally:
        if proc.poll() is None:
            proc.kill()
