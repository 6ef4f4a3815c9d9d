"""Migrations from the command line, acting as a named portal user through the same services as the API:

    manage.py vm_migration vms --user alice
    manage.py vm_migration start --user alice --environment 3 --vm vm-40 --os ubuntu-22.04 \\
        --instance-type t3.micro --subnet 5 --security-group 7 [--key-pair 2] [--private-ip 10.0.1.20] [--power-off]
    manage.py vm_migration list --user alice [--state uploading]
    manage.py vm_migration show --user alice 12
    manage.py vm_migration cancel --user alice 12
    manage.py vm_migration instance --user alice start 4
"""

from django.core.management.base import CommandError

from core.commands import JobCommand, restricted_row
from core.roles import Action
from environments import services as environment_services
from environments.models import ImportedInstance
from migrations_app import selectors, services
from migrations_app.admission import queue_position
from migrations_app.models import MigrationTask
from migrations_app.requests import MigrationTarget


class Command(JobCommand):
    job_model = MigrationTask
    noun = "migration"
    help = __doc__.splitlines()[0]
    verbs = ("vms", "start", "list", "show", "cancel", "instance")

    def add_verb_arguments(self, verb, p):
        if verb == "start":
            p.add_argument("--environment", type=int, required=True)
            p.add_argument("--vm", required=True)
            p.add_argument("--os", required=True, dest="operating_system")
            p.add_argument("--instance-type", required=True)
            p.add_argument("--subnet", type=int, required=True)
            p.add_argument("--security-group", type=int, required=True)
            p.add_argument("--key-pair", type=int)
            p.add_argument("--private-ip")
            p.add_argument("--power-off", action="store_true")
            p.add_argument("--license-type", choices=["AWS", "BYOL"],
                           help="default: AWS (license included) for Windows, BYOL for Linux")
        if verb == "list":
            p.add_argument("--state")
        if verb in ("show", "cancel"):
            p.add_argument("id", type=int)
        if verb == "instance":
            p.add_argument("action", choices=["start", "stop", "reboot"])
            p.add_argument("id", type=int)

    def check_user(self, user):
        if not user.tenant.is_active:
            raise CommandError(f"{user.get_username()}'s organisation ({user.tenant.name}) is deactivated.")

    def do_vms(self, user, options):
        for vm in selectors.vcenter_vm_list(tenant=user.tenant):
            self.stdout.write(f"{vm.moref:10} {vm.name:24} {vm.power_state:11} {len(vm.disks)} disk(s) "
                                  f"{vm.guest_id}")

    def do_start(self, user, options):
        task = services.migration_start(actor=user, target=MigrationTarget(
            vm_moref=options["vm"], environment_id=options["environment"],
            operating_system=options["operating_system"], instance_type=options["instance_type"],
            subnet_id=options["subnet"], security_group_id=options["security_group"],
            key_pair_id=options["key_pair"], private_ip=options["private_ip"], power_off=options["power_off"],
            license_type=options["license_type"]))
        self.show(task)

    def do_list(self, user, options):
        tasks = selectors.migration_list(fetched_by=user)
        tasks = self.listed(tasks, options)
        for task in tasks:
            self.stdout.write(f"{task.pk:6} {task.state:11} {task.vm_name:24} {task.instance_id or '-':20} "
                              f"{task.status_message}")

    def do_cancel(self, user, options):
        task = restricted_row(MigrationTask, user, options["id"], what="migration")
        self.show(services.migration_cancel(actor=user, task=task))

    def do_instance(self, user, options):
        instance = restricted_row(ImportedInstance, user, options["id"], Action.OPERATE, what="instance")
        instance = environment_services.instance_power(actor=user, instance=instance, action=options["action"])
        self.stdout.write(f"{instance.instance_id} {instance.state}")

    def show(self, task):
        position = queue_position(task)
        self.stdout.write(f"migration {task.pk}: {task.state}" + (f" (queue position {position})" if position else "")
                          + f" - {task.status_message}")
        if task.bytes_total:
            self.stdout.write(f"  exported {task.bytes_exported}/{task.bytes_total} bytes, uploaded "
                              f"{task.bytes_uploaded}, conversion {task.conversion_progress}%")
        if task.instance_id:
            self.stdout.write(f"  instance {task.instance_id}")
