"""The migrations' sandbox tenant (tests/migrations/conftest.py), against a vCenter sandbox with a dozen small VMs
more for the burst tests, and helpers to add a second such tenant."""

import pytest

from tests.migrations.conftest import fast_jobs, setup, start_migration  # noqa: F401  (fixtures used here)

BURST = [f"burst{i:02d}" for i in range(1, 13)]


@pytest.fixture(scope="session")
def burst_vcenter_sandbox():
    from sandbox.vcenter.inventory import default_inventory
    from sandbox.vcenter.server import start_vcenter

    inventory = default_inventory()
    inventory["datacenters"][0]["vms"] += [
        {"name": name, "folder": "Production/Linux", "guest_id": "ubuntu64Guest", "power_state": "poweredOff",
         "disks": [{"size_mb": 4, "datastore": "datastore1"}]} for name in BURST]
    sandbox = start_vcenter(inventory)
    try:
        yield sandbox
    finally:
        sandbox.stop()


@pytest.fixture
def vcenter(burst_vcenter_sandbox):
    """Overrides the default sandbox for this directory (the `setup` fixture asks for `vcenter`)."""
    burst_vcenter_sandbox.reset()
    yield burst_vcenter_sandbox
    burst_vcenter_sandbox.reset()
