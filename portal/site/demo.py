"""Points the demo tenant at the sandbox peers (used by `runportal`)."""

from core.errors import UpstreamError
from core.models import Tenant, TenantAwsAccount, TenantVCenter, User
from environments import services as environment_services
from environments.models import Environment


def configure_demo_tenant(peers, stdout) -> None:
    tenant = Tenant.objects.get(slug="demo")
    admin = User.objects.get(username="demo-admin")
    TenantAwsAccount.objects.update_or_create(tenant=tenant, defaults={
        "access_key_id": peers.aws_access_key_id, "secret_access_key": peers.aws_secret_access_key})
    if peers.vcenter_url:
        # Where the connector reaches vCenter; its account is entered on the connector (start_demo_agent).
        TenantVCenter.objects.update_or_create(tenant=tenant, defaults={"url": peers.vcenter_url})
    Environment.objects.filter(tenant=tenant, name="production").update(vpc_id=peers.vpc_id)
    for environment in Environment.objects.filter(tenant=tenant):
        try:
            environment_services.environment_sync(actor=admin, environment=environment)
        except UpstreamError as exc:
            stdout.write(f"  could not sync {environment}: {exc.message}")
    for note in peers.notes:
        stdout.write(f"  {note}")


def start_demo_agent(*, portal_url: str, var_dir, stdout, vcenter=None):
    """The demo tenant's connector agent: registered through its own command with a fresh code when it has no
    working configuration yet, then run as its own process with an empty environment, speaking the same signed
    protocol to the portal as an agent in a customer's network would."""
    import socket
    import subprocess
    import sys
    import time
    import urllib.parse

    from core.connectors import services as connector_services
    from core.connectors.models import Agent

    config = var_dir / "connector" / "config.json"
    tenant = Tenant.objects.get(slug="demo")
    working = False
    if config.exists():
        import json

        agent_id = json.loads(config.read_text()).get("agent_id", "")
        working = agent_id.isdigit() and Agent.objects.filter(pk=int(agent_id), tenant=tenant, revoked_at=None
                                                              ).exclude(public_key="").exists()
    command = [sys.executable, "-m", "connector", "--config", str(config)]
    if not working:
        taken = set(Agent.objects.filter(tenant=tenant).values_list("name", flat=True))
        name = next(f"demo-connector-{n}" if n else "demo-connector" for n in range(len(taken) + 1)
                    if (f"demo-connector-{n}" if n else "demo-connector") not in taken)
        _, code = connector_services.agent_create(actor=User.objects.get(username="demo-admin"), name=name)
        address = urllib.parse.urlsplit(portal_url)
        for _ in range(60):  # the web server is starting beside us
            try:
                socket.create_connection((address.hostname, address.port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.5)
        registered = subprocess.run([*command, "register", "--portal", portal_url, "--code", code], env={},
                                    capture_output=True, text=True, timeout=60)
        if registered.returncode != 0:
            stdout.write(f"  the demo connector agent did not register: {registered.stderr.strip()[-300:]}")
            return None
        if vcenter is not None:  # the sandbox vCenter, entered on the agent as a customer would
            subprocess.run([*command, "vcenter", "--url", vcenter.vcenter_url, "--user", vcenter.vcenter_username],
                           env={"CONNECTOR_VCENTER_PASSWORD": vcenter.vcenter_password}, capture_output=True,
                           timeout=60)
    stdout.write(f"  connector agent running (configuration {config}; its logs in {var_dir / 'connector.log'})")
    log = open(var_dir / "connector.log", "a")  # noqa: SIM115 -- the agent process writes it until it stops
    return subprocess.Popen([*command, "run"], env={}, stderr=log, stdout=log)
