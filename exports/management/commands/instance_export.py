"""Instance exports from the command line, acting as a named administrator through the same services as the API:

    manage.py instance_export configure --user admin --name acme             # shows what it would create
    manage.py instance_export configure --user admin --name acme --consent   # creates the buckets
    manage.py instance_export start --user admin --instance 4 [--prefix vms/]
    manage.py instance_export list --user admin [--state exporting] [--environment 3]
    manage.py instance_export show --user admin 12
    manage.py instance_export cancel --user admin 12 --confirm
"""

import json

from django.core.management.base import CommandError

from core.commands import JobCommand, restricted_row
from core.roles import Action
from environments.models import ImportedInstance
from exports import selectors, services
from exports.admission import queue_position
from exports.models import ExportTask


class Command(JobCommand):
    job_model = ExportTask
    noun = "export"
    help = __doc__.splitlines()[0]
    verbs = ("configure", "start", "list", "show", "cancel", "download")

    def add_verb_arguments(self, verb, p):
        if verb == "configure":
            p.add_argument("--name", required=True)
            p.add_argument("--consent", action="store_true",
                           help=f"{selectors.CONSENT_TEXT}. Without it, only show what would be created.")
        if verb == "start":
            p.add_argument("--instance", type=int, required=True, help="The portal's id of the instance.")
            p.add_argument("--prefix", default="", help="The S3 object prefix, e.g. vms/")
        if verb == "list":
            p.add_argument("--state")
            p.add_argument("--environment", type=int)
        if verb in ("show", "cancel", "download"):
            p.add_argument("id", type=int)
        if verb == "cancel":
            p.add_argument("--confirm", action="store_true", help="Required: cancelling deletes partial output.")

    def do_configure(self, user, options):
        if not services.CONFIGURE.allows(user):
            raise CommandError("Only administrators configure instance export.")
        if options["consent"]:
            services.export_configure(actor=user, name=options["name"], consent=True)
        configuration = selectors.export_configuration(tenant=user.tenant, name=options["name"])
        for bucket in configuration.buckets:
            self.stdout.write(f"{bucket.region:16} {bucket.bucket:63} {'created' if bucket.exists else 'to create'}")
            if not options["consent"]:
                self.stdout.write(json.dumps(bucket.plan, indent=2))
        if not options["consent"]:
            self.stdout.write(f"Nothing created. Add --consent: {configuration.consent_text}.")

    def do_start(self, user, options):
        instance = restricted_row(ImportedInstance, user, options["instance"], Action.ADMIN, what="instance")
        self.show(services.export_create(actor=user, instance=instance, s3_prefix=options["prefix"]))

    def do_list(self, user, options):
        tasks = selectors.export_list(fetched_by=user)
        tasks = self.listed(tasks, options)
        if options["environment"]:
            tasks = tasks.filter(environment_id=options["environment"])
        for task in tasks:
            self.stdout.write(f"{task.pk:6} {task.export_task_id or '-':24} {task.state:11} {task.ec2_instance_id:20} "
                              f"{task.progress:3}% {task.created_by.username:16} {task.s3_location}")

    def do_cancel(self, user, options):
        task = restricted_row(ExportTask, user, options["id"], Action.ADMIN, what="export")
        self.show(services.export_cancel(actor=user, task=task, confirm=options["confirm"]))

    def do_download(self, user, options):
        task = restricted_row(ExportTask, user, options["id"], Action.ADMIN, what="export")
        link = services.export_download_link(actor=user, task=task)
        self.stdout.write(f"{link.url}\n  expires {link.expires_at.isoformat()}, {link.size_bytes} bytes")

    def show(self, task):
        position = queue_position(task)
        self.stdout.write(f"export {task.pk} of {task.ec2_instance_id}: {task.state}"
                          + (f" (queue position {position})" if position else "") + f" - {task.status_message}")
        if task.export_task_id:
            self.stdout.write(f"  AWS export task {task.export_task_id}, {task.progress}%")
        if task.s3_location:
            self.stdout.write(f"  {task.s3_location}" + (f" ({task.size_bytes} bytes)" if task.size_bytes else ""))
