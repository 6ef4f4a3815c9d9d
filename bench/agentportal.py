"""A real portal for bench/datapath.py's `connector` mode: gunicorn on a scratch SQLite database, one tenant with a
registered agent, and one migration per run waiting for it, so that the agent's data path is measured through the
portal's API as in production (signed requests, nonces, the lease, presigning per part).

    python bench/agentportal.py --prepare DB PUBLIC_KEY     (inside: Django set up against DB)
    python bench/agentportal.py --job DB VM_MOREF VM_NAME   (a new migration waiting for the agent)

The bench's own process never imports Django: these run in children with the portal's settings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRINCIPAL = "VSPHERE.LOCAL\\carol"  # the sandbox's Lab exporter (the bench's disks are in the Lab folder)


def _django(db: str) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    os.environ["DATABASE_URL"] = f"sqlite:///{db}"
    os.environ.setdefault("DJANGO_DEBUG", "true")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def prepare(db: str, public_key: str) -> dict:
    _django(db)
    from core import services
    from core.connectors.models import Agent
    from core.models import TenantAwsAccount
    from environments import services as env_services
    from environments.choices import EnvironmentRole
    from environments.models import SecurityGroup, Subnet

    tenant = services.tenant_create(actor=None, name="Bench", slug="bench")
    admin = services.user_create(actor=None, tenant=tenant, username="bench-admin", role="admin",
                                 password="bench-password-123")
    user = services.user_create(actor=None, tenant=tenant, username="bench-user", role="user",
                                password="bench-password-123", vcenter_principal=PRINCIPAL)
    TenantAwsAccount.objects.create(tenant=tenant, access_key_id="testing", secret_access_key="testing")
    region = env_services.region_create(actor=admin, code="us-east-1")
    environment = region.environments.get(is_default=True)
    env_services.environment_grant(actor=admin, environment=environment, principal=user,
                                   role=EnvironmentRole.GENERAL)
    Subnet.objects.create(tenant=tenant, environment=environment, subnet_id="subnet-0bench000000000001",
                          cidr_block="10.0.1.0/24", availability_zone="us-east-1a")
    SecurityGroup.objects.create(tenant=tenant, environment=environment, group_id="sg-0bench000000000001",
                                 name="bench")
    agent = Agent.objects.create(tenant=tenant, name="bench", public_key=public_key)
    return {"agent_id": str(agent.pk)}


def job(db: str, vm_moref: str, vm_name: str) -> dict:
    """A migration in `exporting`, as admission leaves it, with its user's signed token; the earlier ones end
    (one live migration per VM)."""
    _django(db)
    import uuid

    from core.models import User
    from environments.models import Environment, SecurityGroup, Subnet
    from migrations_app import tokens
    from migrations_app.models import MigrationTask

    MigrationTask.objects.exclude(state__in=("completed", "failed", "cancelled")).update(state="cancelled")
    user = User.objects.get(username="bench-user")
    environment = Environment.objects.get(tenant=user.tenant, is_default=True)
    token = tokens.sign(tokens.TokenClaims(str(uuid.uuid4()), user.pk, user.tenant_id, environment.pk, vm_moref,
                                           principal=PRINCIPAL))
    task = MigrationTask.objects.create(
        tenant=user.tenant, environment=environment, region=environment.region, created_by=user, vm_moref=vm_moref,
        vm_name=vm_name, operating_system="ubuntu-22.04", instance_type="t2.micro",
        subnet=Subnet.objects.get(environment=environment), security_group=SecurityGroup.objects.get(
            environment=environment), state="exporting", import_token=token, status_message="bench")
    return {"job_id": task.pk}


def run_in_child(*args: str) -> dict:
    result = subprocess.run([sys.executable, __file__, *args], cwd=ROOT, capture_output=True, text=True,
                            timeout=300)
    if result.returncode != 0:
        raise SystemExit(f"bench/agentportal.py {args[0]} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def start(logdir: str, *, aws_url: str, ca_bundle: str | None, part_size: int, concurrency: int, port: int,
          public_key: str) -> tuple[subprocess.Popen, str, dict]:
    """Migrate a scratch database, prepare the tenant and start gunicorn as production runs it."""
    db = str(Path(logdir) / "portal.sqlite3")
    env = {**os.environ, "DJANGO_DEBUG": "true", "DATABASE_URL": f"sqlite:///{db}", "AWS_ENDPOINT_URL": aws_url,
           "MIGRATION_PART_SIZE": str(part_size), "MIGRATION_UPLOAD_CONCURRENCY": str(concurrency),
           "DJANGO_LOG_LEVEL": "WARNING", **({"AWS_CA_BUNDLE": ca_bundle} if ca_bundle else {})}
    subprocess.run([sys.executable, "manage.py", "migrate", "--verbosity", "0"], cwd=ROOT, env=env, check=True)
    facts = run_in_child("--prepare", db, public_key)
    log = open(Path(logdir) / "portal.log", "ab")
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "portal.wsgi", "-w", "1", "--threads", "8", "-b",
                             f"127.0.0.1:{port}"], cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log,
                            stderr=log, start_new_session=True)
    log.close()
    url = f"http://127.0.0.1:{port}"
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(url + "/healthz", timeout=2)
            break
        except urllib.error.HTTPError:
            break  # answering
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the portal did not start; see {logdir}/portal.log") from None
            time.sleep(0.3)
    return proc, url, {**facts, "db": db}


if __name__ == "__main__":
    command, *rest = sys.argv[1:]
    if command == "--prepare":
        print(json.dumps(prepare(*rest)))
    elif command == "--job":
        print(json.dumps(job(*rest)))
    else:
        raise SystemExit(__doc__)
