"""pytest fixtures for the vCenter sandbox (loaded as a plugin by tests/conftest.py).

* ``vcenter_sandbox`` (session scope): builds the simulator if needed, starts it
  with the default inventory (sandbox/vcenter/inventory.py) and stops it at the
  end of the session.
* ``vcenter`` (function scope): the same sandbox, with fault switches cleared
  and active export leases aborted before and after the test.

Module imports are kept light on purpose (this file is imported by every test
session): the sandbox and pyVmomi are only imported when a fixture is used.
"""

import pytest


@pytest.fixture(scope="session")
def vcenter_sandbox():
    from sandbox.vcenter.server import start_vcenter

    sandbox = start_vcenter()
    try:
        yield sandbox
    finally:
        sandbox.stop()


@pytest.fixture
def vcenter(vcenter_sandbox):
    vcenter_sandbox.reset()
    yield vcenter_sandbox
    vcenter_sandbox.reset()
