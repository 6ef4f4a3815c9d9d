"""A tenant wired to both sandboxes: vCenter (alice may export Production VMs, bob may not) and AWS (the region's
default VPC synced into the default environment, the vmimport role present)."""

from types import SimpleNamespace

import pytest

from environments import services as env_services
from environments.choices import EnvironmentRole
from environments.models import SecurityGroup, Subnet
from core import services
from core.models import TenantAwsAccount, TenantVCenter
from tests.agents.inprocess import InProcessAgent

PASSWORD = "correct-horse-battery-9"


@pytest.fixture
def fast_jobs(settings):
    settings.MIGRATION_LEASE_SECONDS = 3
    settings.MIGRATION_POLL_SECONDS = 0.2
    settings.MIGRATION_INLINE_WAIT_SECONDS = 5.0  # sub-second polls are slept in the tick, not scheduled
    settings.MIGRATION_TICK_BUDGET_SECONDS = 60
    settings.MIGRATION_PART_SIZE = 5 * 1024 * 1024
    return settings


@pytest.fixture
def setup(transactional_db, aws, vcenter, settings, fast_jobs, in_process_agent):
    settings.AWS_ENDPOINT_URL = aws.endpoint_url
    aws.create_vmimport_role()
    s = SimpleNamespace(aws=aws, vcenter=vcenter)
    s.tenant = services.tenant_create(actor=None, name="Acme", slug="acme")
    s.admin = services.user_create(actor=None, tenant=s.tenant, username="admin", role="admin", password=PASSWORD)
    s.alice = services.user_create(actor=None, tenant=s.tenant, username="alice", role="user", password=PASSWORD,
                                   vcenter_principal="VSPHERE.LOCAL\\alice")
    s.bob = services.user_create(actor=None, tenant=s.tenant, username="bob", role="user", password=PASSWORD,
                                 vcenter_principal="VSPHERE.LOCAL\\bob")
    TenantAwsAccount.objects.create(tenant=s.tenant, access_key_id="AKIAIOSFODNN7EXAMPLE",
                                    secret_access_key="sandbox-secret")
    aws.register_credentials("AKIAIOSFODNN7EXAMPLE", "sandbox-secret")  # the agent's presigned part URLs use them
    TenantVCenter.objects.create(tenant=s.tenant, url=vcenter.url)  # the account is entered on the agent
    s.region = env_services.region_create(actor=s.admin, code="us-east-1")
    s.environment = s.region.environments.get(is_default=True)
    env_services.environment_sync(actor=s.admin, environment=s.environment)
    for user in (s.alice, s.bob):
        env_services.environment_grant(actor=s.admin, environment=s.environment, principal=user,
                                       role=EnvironmentRole.GENERAL)
    # us-east-1a offers every supported type (us-east-1e offers no Nitro type: tests/migrations/test_preflight.py)
    s.subnet = Subnet.objects.filter(environment=s.environment).order_by("availability_zone", "subnet_id").first()
    s.security_group = SecurityGroup.objects.filter(environment=s.environment).first()
    with vcenter_session(vcenter) as vc:
        s.vms = {vm.name: vm for vm in vc.list_vms()}
    s.agent = None
    if in_process_agent:
        # The tenant's connector: it exports and uploads the disks, and the portal checks a new migration against
        # the inventory it reported.
        s.agent = InProcessAgent(s.tenant, vcenter, s3_ca_bundle=getattr(aws, "ca_bundle", "") or "")
        s.agent.report_inventory()
    return s


@pytest.fixture
def windows_vm(setup):
    """win01, the sandbox's Windows guest (EFI, powered on). A migration of it powers it off, so it is powered on
    again afterwards, as the sandbox's other tests expect to find it."""
    yield "win01"
    from pyVim.task import WaitForTask
    from pyVmomi import vim

    with vcenter_session(setup.vcenter) as vc:
        vm = vim.VirtualMachine(setup.vms["win01"].moref, vc.si._stub)
        if vm.runtime.powerState != "poweredOn":
            WaitForTask(vm.PowerOnVM_Task())


def vcenter_session(vcenter):
    from adapters.outbound import OutboundPolicy
    from adapters.vsphere.client import VCenterConnection, session

    return session(VCenterConnection(url=vcenter.url, username=vcenter.username, password=vcenter.password,
                                     outbound=OutboundPolicy(allow_http=True, allowed_cidrs=("127.0.0.0/8",))))


@pytest.fixture
def start_migration(api):
    """POST /import-tokens/ then /migrations/ as `user`; returns the response of the second call."""
    from django.urls import reverse

    def start(s, user, vm_name, **overrides):
        client = api.as_user(user)
        vm = s.vms[vm_name].moref
        token = client.post(reverse("api:import-tokens"), {"environment": s.environment.pk, "vm": vm},
                            format="json")
        assert token.status_code == 201, token.content
        body = {"token": token.json()["token"], "vm": vm, "environment": s.environment.pk,
                # t2: a Linux import has no ENA, so Nitro types are refused (tests/migrations/test_ena.py)
                "operating_system": "ubuntu-22.04", "instance_type": "t2.micro", "subnet": s.subnet.pk,
                "security_group": s.security_group.pk, **overrides}
        return client.post(reverse("api:migration-list"), body, format="json")

    return start


def assert_no_leftovers(s, task):
    """Nothing the migration held is still held: NFC lease, staged objects, multipart uploads, an active import
    task, an instance or an image that a completed migration would have kept."""
    task.refresh_from_db()
    held = [lease for lease in s.vcenter.leases() if lease["state"] in ("initializing", "ready")]
    assert not held, held
    s3 = s.aws.client("s3")
    prefix = f"{task.tenant.slug}/migration-{task.pk}/"
    buckets = [b["Name"] for b in s3.list_buckets().get("Buckets", [])]
    for bucket in buckets:
        assert not s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents"), bucket
        assert not [u for u in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
                    if u["Key"].startswith(prefix)], bucket
    ec2 = s.aws.client("ec2")
    if task.import_task_id:
        status = ec2.describe_import_image_tasks(ImportTaskIds=[task.import_task_id])["ImportImageTasks"][0]
        assert status["Status"] in ("deleting", "deleted", "completed"), status
    if task.state == "completed":
        return  # the instance and its image are the result, not leftovers
    tagged = ec2.describe_instances(Filters=[{"Name": "tag:portal-migration", "Values": [str(task.pk)]}])
    for reservation in tagged["Reservations"]:
        for instance in reservation["Instances"]:
            assert instance["State"]["Name"] in ("shutting-down", "terminated"), instance["State"]
    if task.image_id:
        assert not ec2.describe_images(Filters=[{"Name": "image-id", "Values": [task.image_id]}])["Images"]
