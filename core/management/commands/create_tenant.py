from django.core.management.base import BaseCommand

from core.commands import errors_as_command_errors
from core.services import tenant_create


class Command(BaseCommand):
    help = "Create a tenant (an organisation)."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--slug", default="")

    def handle(self, *args, name, slug, **options):
        with errors_as_command_errors():
            tenant = tenant_create(actor=None, name=name, slug=slug)
        self.stdout.write(f"Created tenant {tenant.name} (slug {tenant.slug}, id {tenant.pk}).")
