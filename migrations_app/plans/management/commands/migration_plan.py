"""Migration plans from the command line, acting as a named portal user through the same services as the API:

    manage.py migration_plan create --user alice --environment 3 --name december [--subnet 5 --security-group 7]
    manage.py migration_plan import --user alice 4 plan.csv
    manage.py migration_plan export --user alice 4
    manage.py migration_plan list --user alice
    manage.py migration_plan show --user alice 4
    manage.py migration_plan validate --user alice 4
    manage.py migration_plan start --user alice 4 [--at 2026-12-08T22:00]   (the organisation's time zone)
    manage.py migration_plan retry-failed --user alice 4 [--at ...]
    manage.py migration_plan wave --user alice 4 2 [--at 2026-12-09T01:00]   (no --at: after the previous wave)
    manage.py migration_plan cancel --user alice 4
"""

import datetime
import zoneinfo
from pathlib import Path

from django.core.management.base import CommandError

from core.commands import VerbCommand, restricted_row
from core.roles import Action
from environments.models import Environment, SecurityGroup, Subnet
from migrations_app.plans import csvio, selectors, services
from migrations_app.plans.models import MigrationPlan


class Command(VerbCommand):
    help = __doc__.splitlines()[0]
    verbs = ("create", "import", "export", "list", "show", "validate", "start", "retry-failed", "cancel", "wave")

    def add_verb_arguments(self, verb, p):
        if verb == "create":
            p.add_argument("--environment", type=int, required=True)
            p.add_argument("--name", required=True)
            p.add_argument("--subnet", type=int)
            p.add_argument("--security-group", type=int)
            p.add_argument("--power-off", action="store_true")
        if verb not in ("create", "list"):
            p.add_argument("id", type=int)
        if verb == "import":
            p.add_argument("file")
        if verb == "wave":
            p.add_argument("number", type=int)
        if verb in ("start", "retry-failed", "wave"):
            p.add_argument("--at", help="YYYY-MM-DDTHH:MM in the organisation's time zone (default: now)")

    def _plan(self, user, options, action=Action.VIEW) -> MigrationPlan:
        return restricted_row(MigrationPlan, user, options["id"], action, what="plan")

    def do_create(self, user, options):
        environment = restricted_row(Environment, user, options["environment"], what="environment")
        subnet = Subnet.objects.filter(environment=environment, pk=options["subnet"]).first() \
            if options["subnet"] else None
        group = SecurityGroup.objects.filter(environment=environment, pk=options["security_group"]).first() \
            if options["security_group"] else None
        plan = services.plan_create(actor=user, environment=environment, name=options["name"], subnet=subnet,
                                    security_group=group, power_off=options["power_off"])
        self.stdout.write(f"plan {plan.pk}: {plan.name}")

    def do_import(self, user, options):
        count = csvio.plan_csv_import(actor=user, plan=self._plan(user, options),
                                      text=Path(options["file"]).read_text(encoding="utf-8"))
        self.stdout.write(f"{count} VMs imported")

    def do_export(self, user, options):
        self.stdout.write(csvio.plan_csv_export(self._plan(user, options)), ending="")

    def do_list(self, user, options):
        for plan in selectors.plan_list(fetched_by=user):
            self.stdout.write(f"{plan.pk:6} {selectors.plan_state(plan, list(plan.vms.all())):10} {plan.name:24} "
                              f"{plan.environment.name}")

    def do_show(self, user, options):
        plan = self._plan(user, options)
        progress = selectors.plan_progress(plan)
        self.stdout.write(f"plan {plan.pk} {plan.name}: {progress.state}")
        if progress.live_run is not None:
            self.stdout.write(f"  run {progress.live_run.pk} {progress.live_run.state}, starts "
                              f"{selectors.in_tenant_zone(progress.live_run.start_at, plan.tenant)}")
        for wave in progress.waves:
            self.stdout.write(f"  wave {wave.number}: {wave.percent}%")
            for pv in wave.vms:
                self.stdout.write(f"    {pv.vm_name:24} {selectors.vm_state(pv):12} "
                                  f"{pv.migration.status_message if pv.migration else pv.start_error}")

    def do_validate(self, user, options):
        plan = self._plan(user, options)
        validation = services.plan_validate(actor=user, plan=plan)
        names = dict(plan.vms.values_list("pk", "vm_name"))
        for problem in validation.plan_problems:
            self.stdout.write(f"plan: {problem.message}")
        for pk, problems in validation.vm_problems.items():
            for problem in problems:
                self.stdout.write(f"{names.get(pk, pk)}: {problem.field}: {problem.message}")
        self.stdout.write(validation.summary())
        if not validation.ok:
            raise CommandError("The plan cannot start as it is.")

    def _at(self, user, options):
        if not options.get("at"):
            return None
        try:
            moment = datetime.datetime.strptime(options["at"], "%Y-%m-%dT%H:%M")
        except ValueError as exc:
            raise CommandError("--at: write YYYY-MM-DDTHH:MM.") from exc
        return moment.replace(tzinfo=zoneinfo.ZoneInfo(user.tenant.time_zone or "UTC"))

    def _run(self, user, options, service):
        plan = self._plan(user, options)
        try:
            run = service(actor=user, plan=plan, start_at=self._at(user, options))
        except services.PlanInvalid as exc:
            names = dict(plan.vms.values_list("pk", "vm_name"))
            for pk, problems in exc.validation.vm_problems.items():
                for problem in problems:
                    self.stderr.write(f"{names.get(pk, pk)}: {problem.field}: {problem.message}")
            raise CommandError(exc.message) from exc
        self.stdout.write(f"plan {plan.pk} run {run.pk}: {run.state}, starts "
                          f"{selectors.in_tenant_zone(run.start_at, plan.tenant)}")

    def do_start(self, user, options):
        self._run(user, options, services.plan_start)

    def do_retry_failed(self, user, options):
        self._run(user, options, services.plan_retry_failed)

    def do_cancel(self, user, options):
        cancelled = services.plan_cancel(actor=user, plan=self._plan(user, options))
        self.stdout.write(f"plan {options['id']} cancelled; {len(cancelled)} migrations cancelled")

    def do_wave(self, user, options):
        plan = self._plan(user, options)
        wave = services.plan_wave_schedule(actor=user, plan=plan, number=options["number"],
                                           start_at=self._at(user, options))
        when = selectors.in_tenant_zone(wave.start_at, plan.tenant) or "when the previous wave has completed"
        self.stdout.write(f"plan {plan.pk} wave {wave.number} starts {when}")
