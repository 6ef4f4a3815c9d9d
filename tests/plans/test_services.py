"""Plans against both sandboxes: creating, validating, starting now or at a time, waves in order, retrying only
the failed VMs, cancelling, the derived state."""

import pytest
from django.utils import timezone

from core.jobs import runner
from core.jobs.kinds import kind
from core.models import AuditLog
from core.notifications.models import Webhook, WebhookDelivery
from migrations_app.models import MigrationTask
from migrations_app.plans import selectors, services
from migrations_app.plans.models import PlanRun, PlanVm, PlanVmAttempt
from migrations_app.plans.validation import validate_plan
from tests.migrations.helpers import drive

pytestmark = [pytest.mark.aws, pytest.mark.vcenter]


def plan_tick(run) -> str:
    return runner.run_tick(kind("plan"), run.pk)


def vm_of(plan, name) -> PlanVm:
    return plan.vms.select_related("migration").get(vm_name=name)


def codes(validation, plan_vm):
    return {(p.field, p.code) for p in validation.vm_problems.get(plan_vm.pk, [])}


def test_a_plan_detects_the_os_and_suggests_an_instance_type(setup):
    s = setup
    plan = services.plan_create(actor=s.alice, environment=s.environment, name="p", subnet=s.subnet,
                                security_group=s.security_group)
    (added,) = services.plan_vms_add(actor=s.alice, plan=plan, specs=[services.PlanVmSpec(vm="web01", wave=2)])
    assert (added.vm_moref, added.vm_name) == (s.vms["web01"].moref, "web01")
    assert added.operating_system == "ubuntu-22.04" and added.instance_type == "t2.medium"
    assert list(plan.waves.values_list("number", flat=True)) == [1, 2]
    assert AuditLog.objects.filter(action="plan.create", actor=s.alice).count() == 1
    assert AuditLog.objects.filter(action="plan.update", actor=s.alice).count() == 1
    assert selectors.plan_state(plan) == "draft"


def test_only_a_user_with_the_general_role_creates_a_plan_and_only_its_creator_changes_it(setup):
    from core.errors import Forbidden
    from environments.services import environment_revoke

    s = setup
    plan = services.plan_create(actor=s.alice, environment=s.environment, name="p")
    with pytest.raises(Forbidden):
        services.plan_update(actor=s.bob, plan=plan, description="mine now")
    environment_revoke(actor=s.admin, environment=s.environment, principal=s.bob)
    with pytest.raises(Forbidden):
        services.plan_create(actor=s.bob, environment=s.environment, name="q")
    assert services.plan_update(actor=s.admin, plan=plan, description="checked").description == "checked"


def test_validation_reports_per_vm_what_blocks_it(setup, plan_of):
    s = setup
    other = plan_of({"db01": 1}, name="other")
    services.plan_start(actor=s.alice, plan=other, start_at=timezone.now() + timezone.timedelta(hours=2))
    plan = plan_of({"web01": 1, "lab-rdm01": 1, "db01": 2}, name="main")
    services.plan_vms_add(actor=s.alice, plan=plan, specs=[services.PlanVmSpec(vm="win01", wave=2)])
    # The same VM twice and the same address twice (validation finds what the rows allow).
    services.plan_vms_add(actor=s.alice, plan=plan, specs=[services.PlanVmSpec(vm="web01", wave=2)])
    address = str(next(__import__("ipaddress").ip_network(s.subnet.cidr_block).hosts()) + 10)
    for pv in plan.vms.filter(vm_name="web01"):
        pv.private_ip = address
        pv.save()
    validation = validate_plan(plan=plan, actor=s.alice)
    assert not validation.ok
    web = list(plan.vms.filter(vm_name="web01"))
    for pv in web:
        assert {("vm", "vm_twice"), ("private_ip", "ip_twice")} <= codes(validation, pv)
    assert ("vm", "rdm_disk") in codes(validation, vm_of(plan, "lab-rdm01"))
    assert ("vm", "vm_powered_on") in codes(validation, vm_of(plan, "win01"))
    assert ("vm", "vm_in_live_plan") in codes(validation, vm_of(plan, "db01"))
    assert validation.plan_problems == []
    assert "cannot be migrated as planned" in validation.summary()


def test_an_address_in_use_and_a_missing_privilege_block_a_vm(setup, plan_of):
    s = setup
    in_use = s.aws.client("ec2").create_network_interface(SubnetId=s.subnet.subnet_id)["NetworkInterface"]
    plan = plan_of({"web01": 1})
    pv = vm_of(plan, "web01")
    services.plan_vm_update(actor=s.alice, plan_vm=pv, private_ip=in_use["PrivateIpAddress"])
    assert ("private_ip", "private_ip_unusable") in codes(validate_plan(plan=plan, actor=s.alice), pv)
    # bob may not export Production VMs in vCenter.
    assert ("vm", "no_vcenter_privilege") in codes(validate_plan(plan=plan, actor=s.bob), pv)


def test_a_plan_with_problems_does_not_start(setup, plan_of):
    s = setup
    plan = plan_of({"lab-rdm01": 1})
    with pytest.raises(services.PlanInvalid) as refused:
        services.plan_start(actor=s.alice, plan=plan)
    assert not refused.value.validation.ok
    assert not PlanRun.objects.exists() and not MigrationTask.objects.exists()
    assert AuditLog.objects.filter(action="plan.start", outcome="denied").exists()


def test_start_now_runs_wave_1_and_wave_2_waits_for_it(setup, plan_of):
    s = setup
    plan = plan_of({"web01": 1, "db01": 2})
    run = services.plan_start(actor=s.alice, plan=plan)
    assert run.state == "waiting"
    assert plan_tick(run) == "waiting"  # wave 1 started; it polls for its end
    run.refresh_from_db()
    assert run.state == "running" and run.waves_started == [1]
    web, db = vm_of(plan, "web01"), vm_of(plan, "db01")
    assert web.migration is not None and web.migration.created_by == s.alice
    assert db.migration is None
    assert selectors.plan_state(plan) == "running"
    plan_tick(run)  # web01 still migrating: wave 2 waits
    assert vm_of(plan, "db01").migration is None
    drive(web.migration_id)
    plan_tick(run)
    db = vm_of(plan, "db01")
    assert db.migration is not None
    drive(db.migration_id)
    plan_tick(run)
    run.refresh_from_db()
    assert run.state == "completed" and run.waves_started == [1, 2]
    assert "2 of 2 VMs migrated" in run.status_message
    assert selectors.plan_state(plan) == "completed"
    assert MigrationTask.objects.filter(state="completed").count() == 2


def test_a_wave_with_its_own_time_starts_then_even_if_the_previous_is_running(setup, plan_of):
    s = setup
    plan = plan_of({"web01": 1, "db01": 2})
    services.plan_wave_schedule(actor=s.alice, plan=plan, number=2, start_at=timezone.now() + timezone.timedelta(
        hours=1))
    run = services.plan_start(actor=s.alice, plan=plan)
    plan_tick(run)
    assert vm_of(plan, "db01").migration is None
    plan.waves.filter(number=2).update(start_at=timezone.now() - timezone.timedelta(seconds=1))
    plan_tick(run)
    assert vm_of(plan, "db01").migration is not None
    assert vm_of(plan, "web01").migration.state != "completed"


def test_a_scheduled_start_runs_once_when_its_tick_comes_twice_or_late(setup, plan_of):
    s = setup
    plan = plan_of({"web01": 1})
    at = timezone.now() + timezone.timedelta(hours=3)
    run = services.plan_start(actor=s.alice, plan=plan, start_at=at)
    assert selectors.plan_state(plan) == "scheduled"
    from django_q.models import Schedule

    assert Schedule.objects.get(name=f"plan-{run.pk}-wake").next_run == at
    assert plan_tick(run) == "waiting"  # too early: nothing starts
    run.refresh_from_db()
    assert run.state == "waiting" and not MigrationTask.objects.exists()
    # The machine was down past the start time; then the wake-up and the reconciler's restart both deliver a tick.
    PlanRun.objects.filter(pk=run.pk).update(start_at=timezone.now() - timezone.timedelta(hours=1),
                                             wake_at=timezone.now() - timezone.timedelta(hours=1))
    plan_tick(run)
    plan_tick(run)
    assert MigrationTask.objects.count() == 1
    assert PlanVmAttempt.objects.filter(run=run).count() == 1
    run.refresh_from_db()
    assert run.state == "running" and run.waves_started == [1]


def test_retry_failed_reruns_only_failed_and_cancelled_vms(setup, plan_of):
    s = setup
    plan = plan_of({"web01": 1, "db01": 1, "win01": 1})
    run = services.plan_start(actor=s.alice, plan=plan)
    plan_tick(run)
    web, db, big = (vm_of(plan, n) for n in ("web01", "db01", "win01"))
    drive(web.migration_id)
    MigrationTask.objects.filter(pk=db.migration_id).update(state="failed", finished_at=timezone.now())
    services.plan_cancel(actor=s.alice, plan=plan)  # cancels win01's migration; web01's stays completed
    drive(big.migration_id)
    assert MigrationTask.objects.get(pk=big.migration_id).state == "cancelled"
    assert MigrationTask.objects.get(pk=web.migration_id).state == "completed"
    assert selectors.plan_state(plan) == "failed"
    with pytest.raises(services.Conflict):
        services.plan_start(actor=s.alice, plan=plan)  # started before: only a retry
    retry = services.plan_retry_failed(actor=s.alice, plan=plan)
    assert retry.mode == "retry"
    plan_tick(retry)
    web2, db2, big2 = (vm_of(plan, n) for n in ("web01", "db01", "win01"))
    assert web2.migration_id == web.migration_id  # completed: never migrated again
    assert db2.migration_id != db.migration_id and big2.migration_id != big.migration_id
    assert db2.attempts.count() == 2 and web2.attempts.count() == 1
    assert MigrationTask.objects.filter(vm_moref=s.vms["web01"].moref).count() == 1


def test_cancel_ends_the_run_and_the_live_migrations_and_leaves_completed_ones(setup, plan_of):
    s = setup
    plan = plan_of({"web01": 1, "db01": 1, "win01": 2})
    run = services.plan_start(actor=s.alice, plan=plan)
    plan_tick(run)
    web, db = vm_of(plan, "web01"), vm_of(plan, "db01")
    drive(web.migration_id)
    cancelled = services.plan_cancel(actor=s.alice, plan=plan)
    assert [t.pk for t in cancelled] == [db.migration_id]
    run.refresh_from_db()
    assert run.state == "cancelled"
    assert MigrationTask.objects.get(pk=web.migration_id).state == "completed"
    assert MigrationTask.objects.get(pk=db.migration_id).state in ("cancelling", "cancelled")
    plan_tick(run)  # a tick that was already on its way
    assert vm_of(plan, "win01").migration is None  # wave 2 never starts
    run.refresh_from_db()
    assert run.state == "cancelled"
    assert AuditLog.objects.filter(action="plan.cancel", actor=s.alice).exists()


def test_a_vm_whose_migration_cannot_be_created_counts_as_failed(setup, plan_of):
    s = setup
    Webhook.objects.create(tenant=s.tenant, name="hook", url="http://127.0.0.1:9/hook", secret="whsec_test",
                           events=["plan.failed", "plan.completed"], created_by=s.admin)
    plan = plan_of({"web01": 1})
    run = services.plan_start(actor=s.alice, plan=plan)
    # Between validation and the start, someone else starts web01's migration.
    from migrations_app.requests import MigrationTarget
    from migrations_app.services import migration_start

    migration_start(actor=s.alice, target=MigrationTarget(
        vm_moref=s.vms["web01"].moref, environment_id=s.environment.pk, operating_system="ubuntu-22.04",
        instance_type="t2.micro", subnet_id=s.subnet.pk, security_group_id=s.security_group.pk))
    plan_tick(run)
    web = vm_of(plan, "web01")
    assert web.migration is None and "already being migrated" in web.start_error
    assert selectors.vm_state(web) == "failed"
    run.refresh_from_db()
    assert run.state == "failed"  # nothing of its own left running, and its VM did not migrate
    assert run.error_code == "vms_failed" and "0 of 1 VMs migrated" in run.status_message
    # Notifications per plan: the run's ending is announced like any job's.
    assert WebhookDelivery.objects.filter(event="plan.failed", job_kind="plan", job_id=run.pk).count() == 1
