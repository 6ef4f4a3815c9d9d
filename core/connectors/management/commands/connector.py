from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from core.commands import errors_as_command_errors
from core.connectors.models import Connector
from core.connectors.services import connector_create, connector_delete
from core.models import Tenant


class Command(BaseCommand):
    help = ("Pin a tenant's vCenter work to its connector cluster (started with Q_CLUSTER_NAME=<name> in the "
            "tenant's network), unpin it, or list the connectors. A platform operator's command.")

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create")
        create.add_argument("--tenant", required=True, help="The tenant's slug.")
        create.add_argument("--name", required=True, help="The cluster's Q_CLUSTER_NAME.")
        delete = sub.add_parser("delete")
        delete.add_argument("--tenant", required=True, help="The tenant's slug.")
        sub.add_parser("list")

    def handle(self, *args, action, **options):
        if action == "list":
            for connector in Connector.objects.filter(tenant__isnull=False).select_related("tenant"):
                self.stdout.write(f"{connector.tenant.slug}\t{connector.name}")
            return
        tenant = Tenant.objects.filter(slug=options["tenant"]).first()
        if tenant is None:
            raise CommandError(f"No tenant with the slug {options['tenant']!r}.")
        with errors_as_command_errors():
            if action == "create":
                try:
                    connector = connector_create(actor=None, tenant=tenant, name=options["name"])
                except ValidationError as exc:
                    raise CommandError(" ".join(exc.messages)) from exc
                self.stdout.write(f"{tenant.slug}'s ticks now run on cluster {connector.name}; start it with "
                                  f"Q_CLUSTER_NAME={connector.name} python manage.py qcluster")
            else:
                connector = Connector.objects.filter(tenant=tenant).first()
                if connector is None:
                    raise CommandError(f"{tenant.slug} has no connector.")
                connector_delete(actor=None, connector=connector)
                self.stdout.write(f"{tenant.slug}'s ticks now run on the shared cluster.")
