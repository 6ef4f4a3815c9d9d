"""Plans are tested against both sandboxes, as migrations are (tests/migrations/conftest.py)."""

import pytest

from tests.migrations.conftest import fast_jobs, setup, windows_vm  # noqa: F401 -- fixtures


@pytest.fixture
def plan_of(setup, windows_vm):  # noqa: F811
    """plan_of({"web01": 1, "db01": 2}, **defaults): a plan of alice's with those VMs in those waves. A plan with
    win01 powers it off once the agent takes its migration: `windows_vm` powers it on again after the test, as the
    sandbox's other tests expect to find it."""
    from migrations_app.plans import services

    def make(waves: dict, name="cutover", **settings):
        s = setup
        s.aws.set_speed(500)  # imports convert at once
        plan = services.plan_create(actor=s.alice, environment=s.environment, name=name, subnet=s.subnet,
                                    security_group=s.security_group, **settings)
        specs = [services.PlanVmSpec(vm=vm, wave=wave, operating_system=OS.get(vm, ""),
                                     # win01 is powered on: the plan powers it off; its type is suggested.
                                     instance_type="" if vm == "win01" else "t2.micro",
                                     power_off=True if vm == "win01" else None) for vm, wave in waves.items()]
        services.plan_vms_add(actor=s.alice, plan=plan, specs=specs)
        return plan

    return make


OS = {"db01": "rhel-8", "lab-rdm01": "centos-7", "lab-big01": "amazon-linux-2"}
