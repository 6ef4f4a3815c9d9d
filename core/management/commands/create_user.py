import os

from django.core.management.base import BaseCommand, CommandError

from core.commands import errors_as_command_errors
from core.models import Tenant
from core.roles import TenantRole
from core.services import user_create


class Command(BaseCommand):
    help = ("Create a tenant member. The password comes from --password or the PORTAL_USER_PASSWORD environment "
            "variable (so it stays out of shell history); without either the user cannot log in until an "
            "administrator sets one.")

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--tenant", required=True, help="Tenant slug")
        parser.add_argument("--role", required=True, choices=TenantRole.values)
        parser.add_argument("--password", default=None)
        parser.add_argument("--email", default="")
        parser.add_argument("--vcenter-principal", default="", help=r"For example VSPHERE.LOCAL\alice")

    def handle(self, *args, username, tenant, role, password, email, vcenter_principal, **options):
        tenant_obj = Tenant.objects.filter(slug=tenant).first()
        if tenant_obj is None:
            raise CommandError(f"No tenant with slug {tenant!r}.")
        with errors_as_command_errors():
            user = user_create(actor=None, tenant=tenant_obj, username=username, role=role, email=email,
                               password=password or os.environ.get("PORTAL_USER_PASSWORD"),
                               vcenter_principal=vcenter_principal)
        self.stdout.write(f"Created {role} {user.username} in tenant {tenant_obj.slug}.")
