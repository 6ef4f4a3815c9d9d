from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from portal.errors import Conflict
from portal.services import tenant_create


class Command(BaseCommand):
    help = "Create a tenant (an organisation)."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--slug", default="")

    def handle(self, *args, name, slug, **options):
        try:
            tenant = tenant_create(actor=None, name=name, slug=slug)
        except (ValidationError, Conflict) as exc:
            raise CommandError(getattr(exc, "message", None) or "; ".join(exc.messages)) from exc
        self.stdout.write(f"Created tenant {tenant.name} (slug {tenant.slug}, id {tenant.pk}).")
