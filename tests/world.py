"""Two tenants with every role, each with a region, environments, VPC resources, a template, an instance and a
group. Tests address actors by role name so the same request can be replayed as each of them."""

from __future__ import annotations

from types import SimpleNamespace

from django.utils import timezone

from environments import services as env_services
from environments.choices import EnvironmentRole
from environments.models import ImportedInstance, KeyPair, SecurityGroup, Subnet, Template
from exports.models import ExportBucket, ExportSettings, ExportTask
from lifecycle.backups import services as backup_services
from lifecycle.backups.models import BackupTask
from lifecycle.launches.models import LaunchTask
from migrations_app.models import MigrationTask
from migrations_app.plans.models import MigrationPlan, PlanVm, PlanWave
from connector import protocol
from core import services
from core.connectors.models import Agent
from core.models import AuditLog, User
from core.roles import TenantRole

PASSWORD = "correct-horse-battery-9"

ROLES = ("anonymous", "platform", "other_admin", "user_nogrant", "user_ro", "user_general", "user_owner", "admin",
         "auditor")


def _tenant(slug: str, vpc: str) -> SimpleNamespace:
    t = SimpleNamespace()
    t.tenant = services.tenant_create(actor=None, name=f"Tenant {slug}", slug=slug)
    mk = lambda name, role: services.user_create(  # noqa: E731
        actor=None, tenant=t.tenant, username=f"{slug}-{name}", password=PASSWORD, role=role)
    t.admin = mk("admin", TenantRole.ADMIN)
    t.auditor = mk("auditor", TenantRole.AUDITOR)
    t.user_nogrant = mk("nogrant", TenantRole.USER)
    t.user_ro = mk("ro", TenantRole.USER)
    t.user_general = mk("general", TenantRole.USER)
    t.user_owner = mk("owner", TenantRole.USER)
    t.region = env_services.region_create(actor=t.admin, code="us-east-1")
    t.default_environment = t.region.environments.get(is_default=True)
    t.environment = env_services.environment_create(actor=t.admin, region=t.region, name="prod", vpc_id=vpc)
    t.other_environment = env_services.environment_create(actor=t.admin, region=t.region, name="dev",
                                                          vpc_id=vpc[:-1] + "9")
    e = t.environment
    t.subnet = Subnet.objects.create(tenant=t.tenant, environment=e, subnet_id="subnet-0123456789abcdef0",
                                     cidr_block="10.0.1.0/24", availability_zone="us-east-1a")
    t.security_group = SecurityGroup.objects.create(tenant=t.tenant, environment=e, group_id="sg-0123456789abcdef0",
                                                    name="web")
    t.key_pair = KeyPair.objects.create(tenant=t.tenant, environment=e, name="ops")
    # A row, not the service: saving a template asks AWS whether its image exists, and the world has no AWS.
    t.template = Template.objects.create(
        tenant=t.tenant, environment=e, created_by=t.admin, name="web", ami_id="ami-0123456789abcdef0",
        instance_type="t3.micro", subnet=t.subnet, security_group=t.security_group, key_pair=t.key_pair)
    t.instance = ImportedInstance.objects.create(tenant=t.tenant, environment=e, instance_id="i-0123456789abcdef0",
                                                 source_vm_name="web01")
    t.agent = Agent.objects.create(tenant=t.tenant, name="dc1", created_by=t.admin,
                                   public_key=protocol.public_key_text(protocol.new_private_key()))
    t.group = services.group_create(actor=t.admin, name="operators", members=[t.user_nogrant])
    for user, role in ((t.user_ro, EnvironmentRole.READ_ONLY), (t.user_general, EnvironmentRole.GENERAL),
                       (t.user_owner, EnvironmentRole.OWNER)):
        env_services.environment_grant(actor=t.admin, environment=e, principal=user, role=role)
    t.migration = MigrationTask.objects.create(
        tenant=t.tenant, environment=e, region=t.region, created_by=t.user_general, vm_moref="vm-40", vm_name="web01",
        operating_system="ubuntu-22.04", instance_type="t3.micro", subnet=t.subnet, security_group=t.security_group)
    # A plan of the general user's, not started (rows, not the service: adding VMs reads vCenter).
    t.plan = MigrationPlan.objects.create(tenant=t.tenant, environment=e, created_by=t.user_general, name="cutover",
                                          subnet=t.subnet, security_group=t.security_group)
    t.plan_wave = PlanWave.objects.create(tenant=t.tenant, plan=t.plan, number=1)
    t.plan_vm = PlanVm.objects.create(tenant=t.tenant, plan=t.plan, wave=t.plan_wave, vm_moref="vm-41",
                                      vm_name="app01", operating_system="ubuntu-22.04", instance_type="t2.micro")
    t.backup = BackupTask.objects.create(
        tenant=t.tenant, environment=e, instance=t.instance, created_by=t.user_general, state="available",
        client_token=f"backup-world-{slug}", image_name=f"portal-backup-world-{slug}", image_id="ami-0123456789abcdef1")
    t.backup_schedule = backup_services.backup_schedule_create(actor=t.user_general, instance=t.instance,
                                                               data={"cron": "0 2 * * *", "keep_last": 3})
    t.launch = LaunchTask.objects.create(
        tenant=t.tenant, environment=e, template=t.template, template_name=t.template.name, created_by=t.user_general,
        image_id=t.template.ami_id, instance_type="t3.micro", subnet_id=t.subnet.subnet_id,
        security_group_id=t.security_group.group_id, client_token=f"launch-world-{slug}")
    t.export_settings = ExportSettings.objects.create(tenant=t.tenant, name=f"world-{slug}", consented_by=t.admin,
                                                      consented_at=timezone.now())
    ExportBucket.objects.create(tenant=t.tenant, region=t.region, name=f"export-to-s3-world-{slug}-us-east-1")
    t.export = ExportTask.objects.create(
        tenant=t.tenant, environment=e, region=t.region, instance=t.instance, ec2_instance_id=t.instance.instance_id,
        created_by=t.admin, s3_prefix="vms/", state="completed", progress=100, export_task_id="export-i-0123456789abcdef0",
        s3_bucket=f"export-to-s3-world-{slug}-us-east-1", s3_key="vms/export-i-0123456789abcdef0.ova", size_bytes=4096)
    t.audit_row = AuditLog.objects.filter(tenant=t.tenant).first()
    return t


def build_world() -> SimpleNamespace:
    w = SimpleNamespace()
    w.a = _tenant("acme", "vpc-0aaaaaaaaaaaaaaa1")
    w.b = _tenant("globex", "vpc-0bbbbbbbbbbbbbbb1")
    w.platform = User.objects.create_superuser("platform-op", "op@example.com", PASSWORD)
    return w


def actor(world, role: str):
    """The user acting as `role` against tenant A's objects (other_admin is tenant B's administrator)."""
    if role == "anonymous":
        return None
    if role == "platform":
        return world.platform
    if role == "other_admin":
        return world.b.admin
    return getattr(world.a, role)
