"""AMI backups, schedules, templates from backups and launches from the command line, acting as a named portal
user through the same services as the API:

    manage.py backups list --user alice [--instance 4] [--state available]
    manage.py backups start --user alice --instance 4 [--reboot]
    manage.py backups show --user alice 12
    manage.py backups cancel --user alice 12
    manage.py backups schedules --user alice [--instance 4]
    manage.py backups schedule-add --user alice --instance 4 --cron "0 2 * * *" --keep 7 [--reboot]
    manage.py backups schedule-remove --user alice 3
    manage.py backups make-template --user olivia 12 --name web-restore --instance-type t3.micro --subnet 5 \\
        --security-group 7 [--key-pair 2]
    manage.py backups launch --user alice --template 9 [--idempotency-key retry-1]
    manage.py backups launches --user alice
"""


from core.commands import JobCommand, restricted_row
from core.roles import Action
from environments.models import ImportedInstance, KeyPair, SecurityGroup, Subnet, Template
from lifecycle.backups import services as backup_services
from lifecycle.backups.models import BackupSchedule, BackupTask
from lifecycle.launches import services as launch_services
from lifecycle.launches.models import LaunchTask


class Command(JobCommand):
    job_model = BackupTask
    noun = "backup"
    help = __doc__.splitlines()[0]
    verbs = ("list", "start", "show", "cancel", "schedules", "schedule-add", "schedule-remove", "make-template",
             "launch", "launches")

    def add_verb_arguments(self, verb, p):
        if verb in ("list", "schedules"):
            p.add_argument("--instance", type=int)
        if verb == "list":
            p.add_argument("--state")
        if verb in ("start", "schedule-add"):
            p.add_argument("--instance", type=int, required=True)
            p.add_argument("--reboot", action="store_true")
        if verb == "schedule-add":
            p.add_argument("--cron", required=True)
            p.add_argument("--keep", type=int, default=7, dest="keep_last")
        if verb in ("show", "cancel", "schedule-remove", "make-template"):
            p.add_argument("id", type=int)
        if verb == "make-template":
            p.add_argument("--name", required=True)
            p.add_argument("--description", default="")
            p.add_argument("--instance-type", required=True)
            p.add_argument("--subnet", type=int, required=True)
            p.add_argument("--security-group", type=int, required=True)
            p.add_argument("--key-pair", type=int)
        if verb == "launch":
            p.add_argument("--template", type=int, required=True)
            p.add_argument("--idempotency-key", default="")

    def do_list(self, user, options):
        backups = BackupTask.objects.restrict(user, Action.VIEW).select_related("instance")
        if options["instance"]:
            backups = backups.filter(instance_id=options["instance"])
        if options["state"]:
            backups = backups.filter(state=options["state"])
        for task in backups:
            self.show(task)

    def do_start(self, user, options):
        instance = restricted_row(ImportedInstance, user, options["instance"], Action.OPERATE, what="instance")
        self.show(backup_services.backup_start(actor=user, instance=instance, reboot=options["reboot"]))

    def do_cancel(self, user, options):
        task = restricted_row(BackupTask, user, options["id"], Action.OPERATE, what="backup")
        self.show(backup_services.backup_cancel(actor=user, task=task))

    def do_schedules(self, user, options):
        schedules = BackupSchedule.objects.restrict(user, Action.VIEW).select_related("instance", "q_schedule")
        if options["instance"]:
            schedules = schedules.filter(instance_id=options["instance"])
        for s in schedules:
            next_run = s.q_schedule.next_run if s.q_schedule else None
            self.stdout.write(f"{s.pk:6} {s.instance.instance_id:20} {s.cron:16} keep {s.keep_last:3} "
                              f"{'reboot' if s.reboot else 'no-reboot'} {'enabled' if s.enabled else 'disabled'} "
                              f"next {next_run or '-'}")

    def do_schedule_add(self, user, options):
        instance = restricted_row(ImportedInstance, user, options["instance"], Action.OPERATE, what="instance")
        schedule = backup_services.backup_schedule_create(actor=user, instance=instance, data={
            "cron": options["cron"], "keep_last": options["keep_last"], "reboot": options["reboot"]})
        self.stdout.write(f"schedule {schedule.pk}: {schedule.cron}, keeping the last {schedule.keep_last}, next run "
                          f"{schedule.q_schedule.next_run}")

    def do_schedule_remove(self, user, options):
        schedule = restricted_row(BackupSchedule, user, options["id"], Action.OPERATE, what="schedule")
        backup_services.backup_schedule_delete(actor=user, schedule=schedule)
        self.stdout.write(f"schedule {options['id']} removed")

    def do_make_template(self, user, options):
        backup = restricted_row(BackupTask, user, options["id"], Action.MANAGE, what="backup")
        data = {"name": options["name"], "description": options["description"],
                "instance_type": options["instance_type"],
                "subnet": restricted_row(Subnet, user, options["subnet"], Action.MANAGE, what="subnet"),
                "security_group": restricted_row(SecurityGroup, user, options["security_group"], Action.MANAGE,
                                                what="security group")}
        if options["key_pair"]:
            data["key_pair"] = restricted_row(KeyPair, user, options["key_pair"], Action.MANAGE, what="key pair")
        template = backup_services.template_create_from_backup(actor=user, backup=backup, data=data)
        self.stdout.write(f"template {template.pk} {template.name}: {template.ami_id}")

    def do_launch(self, user, options):
        template = restricted_row(Template, user, options["template"], Action.OPERATE, what="template")
        task, created = launch_services.template_launch(actor=user, template=template,
                                                        idempotency_key=options["idempotency_key"])
        self._show_launch(task, "" if created else " (the earlier launch with this key)")

    def do_launches(self, user, options):
        for task in LaunchTask.objects.restrict(user, Action.VIEW):
            self._show_launch(task)

    def show(self, task: BackupTask):
        self.stdout.write(f"backup {task.pk} of {task.instance.instance_id}: {task.state} {task.image_id or '-'} "
                          f"{task.progress}% - {task.status_message}")

    def _show_launch(self, task: LaunchTask, note: str = ""):
        self.stdout.write(f"launch {task.pk} from {task.template_name}: {task.state} {task.instance_id or '-'} - "
                          f"{task.status_message}{note}")
