"""The world's tenant A wired to the AWS sandbox: its default environment synced from the sandbox's default VPC,
roles granted there, and one real (sandbox) instance recorded in it. Jobs are driven in this process: `run_queue`
plays a django-q2 worker over the ORM broker's queue, `drive` ticks one job until it settles."""

from __future__ import annotations

import datetime
import pydoc
from types import SimpleNamespace

import pytest
from django.utils import timezone

from environments import services as env_services
from environments.choices import EnvironmentRole
from environments.models import ImportedInstance

pytestmark = pytest.mark.aws


@pytest.fixture
def fast_jobs(settings):
    settings.ENVIRONMENT_JOB_LEASE_SECONDS = 3
    settings.ENVIRONMENT_JOB_POLL_SECONDS = 0.05
    settings.ENVIRONMENT_JOB_TICK_BUDGET_SECONDS = 10
    return settings


@pytest.fixture
def s(transactional_db, world, aws, aws_tenant_account, fast_jobs):
    a = world.a
    aws_tenant_account(a.tenant)
    env = a.default_environment
    env_services.environment_sync(actor=a.admin, environment=env)
    for user, role in ((a.user_ro, EnvironmentRole.READ_ONLY), (a.user_general, EnvironmentRole.GENERAL),
                       (a.user_owner, EnvironmentRole.OWNER)):
        env_services.environment_grant(actor=a.admin, environment=env, principal=user, role=role)
    ns = SimpleNamespace(world=world, a=a, aws=aws, ec2=aws.client("ec2"), environment=env)
    ns.subnet = env.subnets.order_by("subnet_id").first()
    ns.security_group = env.security_groups.order_by("group_id").first()
    # EnaSupport, like today's public AMIs: t3 (Nitro) refuses an image without it
    ns.image_id = ns.ec2.register_image(Name="base-image", RootDeviceName="/dev/sda1", EnaSupport=True,
                                        BlockDeviceMappings=[{"DeviceName": "/dev/sda1", "Ebs": {"VolumeSize": 8}}]
                                        )["ImageId"]
    instance_id = ns.ec2.run_instances(ImageId=ns.image_id, MinCount=1, MaxCount=1, InstanceType="t3.micro",
                                       SubnetId=ns.subnet.subnet_id)["Instances"][0]["InstanceId"]
    ns.instance = ImportedInstance.objects.create(tenant=a.tenant, environment=env, instance_id=instance_id,
                                                  image_id=ns.image_id, instance_type="t3.micro",
                                                  source_vm_name="app01")
    return ns


def run_queue(limit: int = 100, only: str | None = None) -> list[str]:
    """Run what the ORM broker holds, oldest first, until it is empty (ticks may enqueue more), or only the
    tasks of function `only`; returns the functions run, in order."""
    from django_q.models import OrmQ
    from django_q.signing import SignedPackage

    ran = []
    for _ in range(limit):
        rows = ((row, SignedPackage.loads(row.payload)) for row in OrmQ.objects.order_by("id"))
        row, package = next(((r, p) for r, p in rows if only in (None, p["func"])), (None, None))
        if row is None:
            return ran
        row.delete()
        pydoc.locate(package["func"])(*package["args"], **package["kwargs"])
        ran.append(package["func"])
    raise AssertionError(f"the queue did not drain: {ran[-10:]}")


def queued_functions() -> list[str]:
    from django_q.models import OrmQ
    from django_q.signing import SignedPackage

    return [SignedPackage.loads(row.payload)["func"] for row in OrmQ.objects.order_by("id")]


def drive(tick, model, task_id, limit=20):
    """Tick a job until no worker drives it any more."""
    outcomes = []
    for _ in range(limit):
        outcomes.append(tick(task_id))
        if model.objects.get(pk=task_id).state not in model.job_kind.workable:
            return outcomes
    raise AssertionError(f"{model.__name__} {task_id} did not settle: {outcomes}")


class FakeClock:
    """django.utils.timezone.now under the test's control (auto_now fields, leases, django-q2's scheduler and
    croniter's base time all read it); it moves only when told."""

    def __init__(self):
        self.current = timezone.now().replace(minute=30, second=0, microsecond=0)

    def now(self):
        return self.current

    def advance(self, **delta):
        self.current += datetime.timedelta(**delta)
        return self.current


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(timezone, "now", fake.now)
    return fake


class SimulatedCrash(BaseException):
    """A worker dying mid-step (BaseException, so no `except Exception` in the worker turns it into a failure)."""


def images_tagged(ec2, key, value) -> list[dict]:
    return ec2.describe_images(Owners=["self"], Filters=[{"Name": f"tag:{key}", "Values": [value]}])["Images"]


def record_calls(monkeypatch, operation: str) -> list[dict]:
    """The parameters of every `operation` (e.g. "CreateImage") the AWS adapter sends, as botocore sends them."""
    from adapters.aws import client as aws

    calls: list[dict] = []
    real = aws.client

    def recording(service, credentials, region):
        made = real(service, credentials, region)
        made.meta.events.register(f"provide-client-params.{service}.{operation}",
                                  lambda params, **kwargs: calls.append(dict(params)))
        return made

    monkeypatch.setattr(aws, "client", recording)
    return calls
