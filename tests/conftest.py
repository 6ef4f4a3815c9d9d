pytest_plugins = ["sandbox.vcenter.fixtures", "sandbox.aws.fixtures"]

import pytest  # noqa: E402
from rest_framework.test import APIClient  # noqa: E402

from tests import database  # noqa: E402

database.install()


def _live_server_without_nagle():
    """pytest-django's live server keeps connections alive (HTTP/1.1) and writes a response's headers and body in
    two sends, so Nagle's algorithm holds each body back for the client's delayed ACK: 40 ms a request that
    gunicorn or any production server does not cost. The browser and fuzz tests make thousands of requests."""
    from django.test.testcases import QuietWSGIRequestHandler

    QuietWSGIRequestHandler.disable_nagle_algorithm = True


_live_server_without_nagle()


# A test that uses a sandbox peer is in the peer tier, whether or not its module says so (tests/README.md, Tiers).
PEER_MARKS = {"aws": "aws", "aws_sandbox": "aws", "vcenter": "vcenter", "vcenter_sandbox": "vcenter"}


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items):
    from tests.shared_world import group_shared_world_tests

    for item in items:
        for mark in {PEER_MARKS[name] for name in getattr(item, "fixturenames", ()) if name in PEER_MARKS}:
            item.add_marker(mark)
    group_shared_world_tests(items)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """Close the shared world before a test that must not run inside it, before any of its fixtures."""
    from tests.agents.inprocess import AGENTS
    from tests.migrations.helpers import TEST_WORKERS
    from tests.shared_world import SHARED, uses_shared_world

    TEST_WORKERS.clear()
    AGENTS.clear()
    if not uses_shared_world(item):
        SHARED.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """A failing test that ran a worker process reports what the worker logged: a worker's failure is otherwise
    seen only as a wait that timed out."""
    from tests.migrations.helpers import TEST_WORKERS

    report = yield
    if report.failed:
        for number, worker in enumerate(TEST_WORKERS, start=1):
            report.sections.append((f"worker {number} log (last lines)", worker.log_tail()))
    return report


@pytest.fixture(scope="session")
def _shared_world_session(django_db_setup, django_db_blocker):
    """Set up after the test database and torn down before it: the shared world's transaction ends first."""
    from tests.shared_world import SHARED

    yield SHARED
    SHARED.close()


@pytest.fixture(autouse=True)
def _shared_world_gate(request):
    """Opens the shared world for a test that uses it, before `db` opens the test's own transaction."""
    from tests.shared_world import uses_shared_world

    if uses_shared_world(request.node):
        shared = request.getfixturevalue("_shared_world_session")
        shared.open(request.getfixturevalue("django_db_blocker"))


@pytest.fixture
def in_process_agent():
    """Whether tests/migrations/conftest.py's `setup` gives the tenant a connector agent run in the test
    (tests.agents.inprocess): the tests of an agent process override it."""
    return True


@pytest.fixture
def world(db):
    """Two tenants with every role (tests/world.py): a copy of the shared build for a non-transactional test, a
    fresh build (committed, so that workers see it) for a transactional one."""
    from tests.shared_world import SHARED
    from tests.world import build_world

    return SHARED.copy() if SHARED.is_open else build_world()


@pytest.fixture
def api():
    """An API client; `api.as_user(user)` authenticates it (None for anonymous)."""

    client = APIClient()

    def as_user(user):
        client.force_authenticate(user=user)
        return client

    client.as_user = as_user
    return client


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Throttle counters live in the cache; a test must not inherit another's."""
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture(scope="session")
def aws_https_sandbox(aws_sandbox, tmp_path_factory):
    """A second listener on the session's AWS sandbox (the same moto state), over HTTPS with a self-signed CA."""
    from sandbox.aws.server import start_aws

    sandbox = start_aws(port=0, speed=0, load_default_amis=False, https_dir=str(tmp_path_factory.mktemp("aws-tls")))
    try:
        yield sandbox
    finally:
        sandbox.stop()


@pytest.fixture
def aws_https(aws, aws_https_sandbox, settings):
    """The sandbox reset like `aws`, and the AWS adapter pointed at its HTTPS listener, trusting its CA only:
    S3 then sees what it sees from a worker in production (TLS, unsigned payloads with a per-part CRC32)."""
    settings.AWS_ENDPOINT_URL = aws_https_sandbox.endpoint_url
    settings.AWS_CA_BUNDLE = aws_https_sandbox.ca_bundle
    return aws_https_sandbox


@pytest.fixture
def aws_tenant_account(aws, settings):
    """Points the AWS adapter at the sandbox and gives a tenant access keys for it, known to the sandbox (its
    presigned URLs, download links among them, are checked as S3 checks them)."""
    from core.models import TenantAwsAccount

    settings.AWS_ENDPOINT_URL = aws.endpoint_url

    def configure(tenant):
        TenantAwsAccount.objects.update_or_create(tenant=tenant, defaults={
            "access_key_id": "AKIAIOSFODNN7EXAMPLE", "secret_access_key": "sandbox-secret"})
        aws.register_credentials("AKIAIOSFODNN7EXAMPLE", "sandbox-secret")
        return aws

    return configure


@pytest.fixture
def sandbox_image(world, aws, aws_tenant_account):
    """Tenant A of the world with AWS access and an image registered in its region (us-east-1) of the sandbox: what
    saving a template needs, since the portal checks that the template's image exists."""
    aws_tenant_account(world.a.tenant)
    return aws.client("ec2").register_image(Name="template-base", RootDeviceName="/dev/sda1", BlockDeviceMappings=[
        {"DeviceName": "/dev/sda1", "Ebs": {"VolumeSize": 8}}])["ImageId"]


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # The production hasher is deliberately slow; tests create dozens of users.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def aws_instance_for(aws):
    """Backs an ImportedInstance row with a real (sandbox) EC2 instance."""
    import boto3

    def make(instance):
        ec2 = boto3.client("ec2", endpoint_url=aws.endpoint_url, region_name="us-east-1",
                           aws_access_key_id=aws.access_key, aws_secret_access_key=aws.secret_key)
        # EnaSupport, like today's public AMIs: t3 (Nitro) refuses an image without it
        image = ec2.register_image(Name=f"img-{instance.pk}", RootDeviceName="/dev/sda1", EnaSupport=True,
                                   BlockDeviceMappings=[{"DeviceName": "/dev/sda1", "Ebs": {"VolumeSize": 8}}]
                                   )["ImageId"]
        instance_id = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1,
                                        InstanceType="t3.micro")["Instances"][0]["InstanceId"]
        type(instance).objects.filter(pk=instance.pk).update(instance_id=instance_id, image_id=image)
        instance.refresh_from_db()
        return instance_id

    return make


@pytest.fixture(autouse=True)
def _sandbox_outbound_allowance(settings):
    """The sandbox peers listen on http://127.0.0.1, which the outbound address policy refuses by default: allow
    loopback over plain HTTP, as `runportal` does for the demo (tests/security override it to test the policy)."""
    settings.OUTBOUND_ALLOW_HTTP = True
    settings.OUTBOUND_ALLOWED_CIDRS = ["127.0.0.0/8"]
