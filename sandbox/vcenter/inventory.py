"""Default inventory of the vCenter sandbox (see README.md for the schema).

Pure data: importing this module is cheap and has no side effects.
"""

from __future__ import annotations

import copy

SERVICE_USER = "administrator@vsphere.local"
SERVICE_PASSWORD = "Sandbox-Passw0rd!"

ALICE = "alice@vsphere.local"
ALICE_PASSWORD = "Alice-Passw0rd!"
BOB = "bob@vsphere.local"
BOB_PASSWORD = "Bob-Passw0rd!"
# carol and dave may export only through their group, as most vCenters grant (SSO / Active Directory groups)
CAROL = "carol@vsphere.local"
CAROL_PASSWORD = "Carol-Passw0rd!"
DAVE = "dave@vsphere.local"
DAVE_PASSWORD = "Dave-Passw0rd!"
LAB_EXPORTERS = "VSPHERE.LOCAL\\LabExporters"

EXPORT_ROLE = "VM Exporter"

MIB = 1024 * 1024

DEFAULT_INVENTORY: dict = {
    "service_account": {"username": SERVICE_USER, "password": SERVICE_PASSWORD},
    "lease_timeout_seconds": 300,
    "lease_init_seconds": 0.3,
    "enforce_export_privilege": True,
    "users": [
        {"name": ALICE, "password": ALICE_PASSWORD, "full_name": "Alice Exporter"},
        {"name": BOB, "password": BOB_PASSWORD, "full_name": "Bob Viewer"},
        {"name": CAROL, "password": CAROL_PASSWORD, "full_name": "Carol Lab Exporter"},
        {"name": DAVE, "password": DAVE_PASSWORD, "full_name": "Dave Lab Exporter"},
    ],
    "groups": [{"name": LAB_EXPORTERS, "members": [CAROL, DAVE]}],
    "roles": [
        {"name": EXPORT_ROLE, "privileges": ["VApp.Export", "VirtualMachine.Provisioning.GetVmFiles"]},
    ],
    "permissions": [
        # alice: VApp.Export on the Production VM folder, inherited by every VM below it
        {"entity": "/DC0/vm/Production", "principal": "VSPHERE.LOCAL\\alice", "role": EXPORT_ROLE, "propagate": True},
        # bob: can see the datacenter, but has no VApp.Export anywhere
        {"entity": "/DC0", "principal": "VSPHERE.LOCAL\\bob", "role": "ReadOnly", "propagate": True},
        # carol and dave: VApp.Export on the Lab folder through their group only
        {"entity": "/DC0/vm/Lab", "principal": LAB_EXPORTERS, "group": True, "role": EXPORT_ROLE, "propagate": True},
        # dave: a user permission on lab-big01 itself, closer than the group's, with a role lacking VApp.Export
        {"entity": "/DC0/vm/Lab/lab-big01", "principal": "VSPHERE.LOCAL\\dave", "role": "ReadOnly",
         "propagate": True},
    ],
    "datacenters": [
        {
            "name": "DC0",
            "folders": ["Production", "Production/Linux", "Lab"],
            "datastores": [
                {"name": "datastore1", "capacity_gb": 2048},
                {"name": "datastore2", "capacity_gb": 1024},
            ],
            "networks": [{"name": "VM Network"}, {"name": "Prod-DVPG", "distributed": True}],
            "clusters": [{"name": "Cluster0", "hosts": ["esx01.sandbox.local", "esx02.sandbox.local"]}],
            "vms": [
                {
                    "name": "web01",
                    "folder": "Production/Linux",
                    "guest_id": "ubuntu64Guest",
                    "power_state": "poweredOff",
                    "num_cpus": 2,
                    "memory_mb": 2048,
                    "networks": ["Prod-DVPG"],
                    "disks": [{"size_mb": 16, "datastore": "datastore1"}],
                },
                {
                    "name": "db01",
                    "folder": "Production/Linux",
                    "guest_id": "rhel7_64Guest",
                    "power_state": "poweredOff",
                    "num_cpus": 4,
                    "memory_mb": 8192,
                    "networks": ["VM Network", "Prod-DVPG"],
                    "disks": [
                        {"size_mb": 16, "datastore": "datastore1"},
                        # 41000 KiB: spans two grain tables and ends with a partial grain
                        {"size_kb": 41000, "datastore": "datastore2", "used_fraction": 0.5},
                    ],
                },
                {
                    "name": "win01",
                    "folder": "Production",
                    "guest_id": "windows9Server64Guest",
                    "power_state": "poweredOn",
                    "num_cpus": 2,
                    "memory_mb": 4096,
                    "firmware": "efi",
                    "controller": "lsilogic-sas",
                    "disks": [{"size_mb": 32, "datastore": "datastore1"}],
                },
                {
                    "name": "lab-rdm01",
                    "folder": "Lab",
                    "guest_id": "centos7_64Guest",
                    "power_state": "poweredOff",
                    "disks": [
                        {"size_mb": 16, "datastore": "datastore2"},
                        {"size_mb": 64, "datastore": "datastore2", "rdm": "physical"},
                    ],
                },
                {
                    "name": "lab-big01",
                    "folder": "Lab",
                    "guest_id": "otherGuest64",
                    "power_state": "poweredOff",
                    "disks": [{"size_gb": 1, "datastore": "datastore2", "used_fraction": 0.25}],
                },
            ],
        }
    ],
}


def default_inventory() -> dict:
    """A deep copy of DEFAULT_INVENTORY, safe to modify."""
    return copy.deepcopy(DEFAULT_INVENTORY)
