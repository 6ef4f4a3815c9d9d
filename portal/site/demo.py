"""Points the demo tenant at the sandbox peers (used by `runportal`)."""

from core.errors import UpstreamError
from core.models import Tenant, TenantAwsAccount, TenantVCenter, User
from environments import services as environment_services
from environments.models import Environment


def configure_demo_tenant(peers, stdout) -> None:
    tenant = Tenant.objects.get(slug="demo")
    admin = User.objects.get(username="demo-admin")
    TenantAwsAccount.objects.update_or_create(tenant=tenant, defaults={
        "access_key_id": "AKIASANDBOXDEMO00000", "secret_access_key": "sandbox"})
    if peers.vcenter_url:
        TenantVCenter.objects.update_or_create(tenant=tenant, defaults={
            "url": peers.vcenter_url, "username": peers.vcenter_username, "password": peers.vcenter_password})
    Environment.objects.filter(tenant=tenant, name="production").update(vpc_id=peers.vpc_id)
    for environment in Environment.objects.filter(tenant=tenant):
        try:
            environment_services.environment_sync(actor=admin, environment=environment)
        except UpstreamError as exc:
            stdout.write(f"  could not sync {environment}: {exc.message}")
    for note in peers.notes:
        stdout.write(f"  {note}")
