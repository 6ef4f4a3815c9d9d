"""The steps of a plan run: waiting (until its start time) -> running (its waves, in order) -> completed.

A wave starts when the previous wave's migrations have all ended, or at its own start time. The waves a run has
started are its checkpoint, written once the wave's migrations exist, and each VM has one attempt per run: a tick
delivered twice, or late after downtime, starts each wave and each VM once."""

from __future__ import annotations

from django.utils import timezone

from core.jobs.runner import StepRunner
from environments.selectors import still_operates
from migrations_app.choices import TERMINAL, MigrationState
from migrations_app.plans import services
from migrations_app.plans.models import PlanRun, PlanRunMode, PlanRunState, PlanVm, PlanVmAttempt

R = PlanRunState


class PlanRunner(StepRunner):
    select_related = ("tenant", "created_by", "plan__environment", "environment")

    def steps(self) -> dict:
        return {R.WAITING: self.wait_for_start, R.RUNNING: self.run_waves}

    def authorized(self, run: PlanRun) -> bool:
        return still_operates(run)

    def unauthorized_message(self, run: PlanRun) -> str:
        return (f"{run.created_by.get_username()} no longer holds the general role on this environment (grant "
                "revoked or account deactivated), so the plan run was stopped; its migrations were left as they are.")

    def wait_for_start(self, run: PlanRun):
        remaining = (run.start_at - timezone.now()).total_seconds()
        if remaining > 0:
            return remaining
        self.move(run, R.RUNNING, step="starting wave 1", status_message="Running")
        return None

    def _wave_vms(self, run: PlanRun, wave) -> list[PlanVm]:
        return list(wave.vms.select_related("migration"))

    def _wave_done(self, run: PlanRun, wave) -> bool:
        """All of the wave's migrations of this run have ended (a VM it did not migrate counts as done)."""
        live = PlanVmAttempt.objects.filter(run=run, plan_vm__wave=wave, migration__isnull=False).exclude(
            migration__state__in=TERMINAL)
        return not live.exists()

    def _start_wave(self, run: PlanRun, wave) -> int:
        tried = set(PlanVmAttempt.objects.filter(run=run, plan_vm__wave=wave).values_list("plan_vm_id", flat=True))
        started = 0
        for plan_vm in self._wave_vms(run, wave):
            if plan_vm.pk in tried or not services.needs_migration(plan_vm):
                continue
            if run.mode == PlanRunMode.RETRY and not (plan_vm.migration_id or plan_vm.start_error):
                continue
            self.fence()
            if services.plan_vm_migrate(run=run, plan_vm=plan_vm) is not None:
                started += 1
        return started

    def run_waves(self, run: PlanRun):
        now = timezone.now()
        waves = list(run.plan.waves.order_by("number"))
        started = set(run.waves_started)
        previous_done, all_done, next_time = True, True, None
        for wave in waves:
            if wave.number not in started:
                if previous_done or (wave.start_at is not None and wave.start_at <= now):
                    count = self._start_wave(run, wave)
                    started.add(wave.number)
                    self.save(waves_started=sorted(started), step=f"wave {wave.number} started",
                              status_message=f"Wave {wave.number} started ({count} migrations)")
                else:
                    if wave.start_at is not None:
                        next_time = wave.start_at if next_time is None else min(next_time, wave.start_at)
                    previous_done = all_done = False
                    continue
            previous_done = self._wave_done(run, wave)
            all_done = all_done and previous_done
        if all_done:
            # The run's own VMs decide how it ended (and which notification goes out): any that failed, was
            # cancelled or could not start fails the run; the plan's state is still read from its migrations.
            attempts = list(PlanVmAttempt.objects.filter(run=run).select_related("migration"))
            done = sum(1 for a in attempts if a.migration_id and a.migration.state == MigrationState.COMPLETED)
            message = f"All waves ended: {done} of {len(attempts)} VMs migrated"
            if done < len(attempts):
                self.move(run, R.FAILED, step="done", error_code="vms_failed",
                          status_message=f"{message}; {len(attempts) - done} failed or were cancelled")
            else:
                self.move(run, R.COMPLETED, step="done", status_message=message)
            return None
        poll = self.kind.setting("POLL_SECONDS")
        if next_time is not None:
            poll = max(0.0, min(poll, (next_time - timezone.now()).total_seconds()))
        return poll
