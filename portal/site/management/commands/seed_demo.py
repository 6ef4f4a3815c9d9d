"""Creates the demo tenant, its three users and one region with environments and grants. Idempotent."""

from django.core.management.base import BaseCommand
from django.db import transaction

from core import services
from core.models import Tenant, User
from core.roles import TenantRole
from environments import services as environment_services
from environments.choices import EnvironmentRole
from environments.models import Environment, Region

DEMO_PASSWORD = "demo-password-123"
DEMO_USERS = [
    ("demo-admin", TenantRole.ADMIN, ""),
    ("demo-user", TenantRole.USER, "VSPHERE.LOCAL\\alice"),
    ("demo-auditor", TenantRole.AUDITOR, ""),
]


class Command(BaseCommand):
    help = "Create a demo tenant with an administrator, a user and an auditor (for the quick start)."

    def add_arguments(self, parser):
        parser.add_argument("--region", default="us-east-1")

    @transaction.atomic
    def handle(self, *args, region, **options):
        tenant = Tenant.objects.filter(slug="demo").first() or services.tenant_create(actor=None, name="Demo",
                                                                                          slug="demo")
        users = {}
        for username, role, principal in DEMO_USERS:
            users[role] = User.objects.filter(username=username).first() or services.user_create(
                actor=None, tenant=tenant, username=username, role=role, password=DEMO_PASSWORD,
                vcenter_principal=principal)
        admin = users[TenantRole.ADMIN]
        region_obj = Region.objects.filter(tenant=tenant, code=region).first() or \
            environment_services.region_create(actor=admin, code=region, name="Demo region")
        production = Environment.objects.filter(region=region_obj, name="production").first() or \
            environment_services.environment_create(actor=admin, region=region_obj, name="production",
                                                    vpc_id="vpc-0a1b2c3d4e5f60718", description="Demo VPC")
        environment_services.environment_grant(actor=admin, environment=production,
                                               principal=users[TenantRole.USER], role=EnvironmentRole.GENERAL)
        self.stdout.write("Demo tenant ready. Log in at http://127.0.0.1:8000/ with:")
        for username, role, _ in DEMO_USERS:
            self.stdout.write(f"  {role:<8} {username} / {DEMO_PASSWORD}")
