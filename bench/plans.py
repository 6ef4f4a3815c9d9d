"""Validating a 500-VM migration plan (the plans issue): one plan of 500 sandbox VMs, each asking a private IP, is
validated against both sandboxes (the vCenter simulator as its own process, the AWS sandbox in this one) on a fresh
PostgreSQL database; the median of --runs validations is printed. See bench/README.md, section `plans.py`.

    .venv/bin/python bench/plans.py              # about a minute on 2 cores

The last line has a fixed format: `plans validate_500_s=<seconds> vms=<n> runs=<n>`.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/plans_bench"


def _inventory(count: int) -> dict:
    from sandbox.vcenter.inventory import default_inventory

    inventory = default_inventory()
    inventory["permissions"] = [p for p in inventory["permissions"] if "lab-big01" not in p["entity"]]
    inventory["datacenters"][0]["vms"] = [
        {"name": f"app{i:04d}", "folder": "Production", "guest_id": "ubuntu64Guest", "power_state": "poweredOff",
         "num_cpus": 2, "memory_mb": 2048, "disks": [{"size_mb": 1, "datastore": "datastore1"}]}
        for i in range(count)]
    return inventory


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vms", type=int, default=500)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--database-url", default=DEFAULT_DB)
    args = parser.parse_args(argv)

    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_DEBUG", "true")
    os.environ["DATABASE_URL"] = args.database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    os.environ["OUTBOUND_ALLOW_HTTP"] = "true"
    os.environ["OUTBOUND_ALLOWED_CIDRS"] = "127.0.0.0/8"
    from bench.scale import _recreate_database

    _recreate_database(args.database_url)

    from sandbox.aws.server import start_aws
    from sandbox.vcenter.server import start_vcenter

    aws = start_aws(port=0, speed=0, load_default_amis=False)
    vcenter = start_vcenter(_inventory(args.vms), https=False)
    os.environ["AWS_ENDPOINT_URL"] = aws.endpoint_url
    try:
        import logging
        import warnings

        import django

        warnings.filterwarnings("ignore", message="No directory at")
        django.setup()
        from django.conf import settings
        from django.core.management import call_command

        settings.DEBUG = False
        logging.disable(logging.INFO)
        call_command("migrate", verbosity=0)
        return _measure(args, aws, vcenter)
    finally:
        vcenter.stop()
        aws.stop()


def _measure(args, aws, vcenter) -> int:
    from core import services
    from core.models import TenantAwsAccount, TenantVCenter
    from environments import services as env_services
    from environments.choices import EnvironmentRole
    from environments.models import SecurityGroup, Subnet
    from migrations_app.plans import services as plans
    from migrations_app.plans.models import PlanVm
    from migrations_app.plans.validation import validate_plan

    aws.create_vmimport_role()
    tenant = services.tenant_create(actor=None, name="Bench", slug="bench")
    admin = services.user_create(actor=None, tenant=tenant, username="admin", role="admin",
                                 password="correct-horse-battery-9")
    alice = services.user_create(actor=None, tenant=tenant, username="alice", role="user",
                                 password="correct-horse-battery-9", vcenter_principal="VSPHERE.LOCAL\\alice")
    TenantAwsAccount.objects.create(tenant=tenant, access_key_id="AKIAIOSFODNN7EXAMPLE",
                                    secret_access_key="sandbox-secret")
    TenantVCenter.objects.create(tenant=tenant, url=vcenter.url)
    _report_inventory(tenant, admin, vcenter)
    region = env_services.region_create(actor=admin, code="us-east-1")
    environment = region.environments.get(is_default=True)
    env_services.environment_sync(actor=admin, environment=environment)
    env_services.environment_grant(actor=admin, environment=environment, principal=alice,
                                   role=EnvironmentRole.GENERAL)
    subnet = Subnet.objects.filter(environment=environment).order_by("subnet_id").first()
    security_group = SecurityGroup.objects.filter(environment=environment).first()
    plan = plans.plan_create(actor=alice, environment=environment, name="bench", subnet=subnet,
                             security_group=security_group)
    started = time.perf_counter()
    plans.plan_vms_add(actor=alice, plan=plan, specs=[
        plans.PlanVmSpec(vm=f"app{i:04d}", wave=1 + i // 100, instance_type="t2.micro") for i in range(args.vms)])
    add_s = time.perf_counter() - started
    hosts = ipaddress.ip_network(subnet.cidr_block).hosts()
    for _ in range(10):
        next(hosts)
    for plan_vm, address in zip(PlanVm.objects.filter(plan=plan).order_by("id"), hosts):
        plan_vm.private_ip = str(address)
        plan_vm.save(update_fields=["private_ip"])
    if os.environ.get("PLANS_BENCH_PROFILE"):
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        profiler.runcall(validate_plan, plan=plan, actor=alice)
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
    timings = []
    for _ in range(args.runs):
        started = time.perf_counter()
        result = validate_plan(plan=plan, actor=alice)
        timings.append(time.perf_counter() - started)
        if not result.ok:
            raise SystemExit(f"the bench plan should validate: {result.summary()}")
    print(f"added {args.vms} VMs in {add_s:.2f} s; validations: {', '.join(f'{t:.2f}' for t in timings)} s")
    print(f"plans validate_500_s={statistics.median(timings):.2f} vms={args.vms} runs={args.runs}")
    return 0


def _report_inventory(tenant, admin, vcenter) -> None:
    """The tenant's connector reports its inventory (the portal reads only that): the agent's own reading code,
    stored by the service the agent's inventory endpoint calls."""
    from datetime import datetime

    from connector import inventory
    from core.connectors import selectors as connector_selectors
    from core.connectors import services as connectors
    from core.connectors.models import Agent

    agent, _ = connectors.agent_create(actor=admin, name="bench-connector")
    Agent.objects.filter(pk=agent.pk).update(public_key="bench")  # registered: it serves the tenant
    report = inventory.take({"url": vcenter.url, "username": vcenter.username, "password": vcenter.password},
                            principals=connector_selectors.inventory_principals(tenant.pk),
                            privileges=list(connector_selectors.INVENTORY_PRIVILEGES))
    connectors.inventory_store(agent=agent, taken_at=datetime.fromisoformat(report["taken_at"]), vms=report["vms"],
                               privileges=report["privileges"], principal_errors=report["principal_errors"],
                               vcenter_version=report.get("vcenter_version", ""))


if __name__ == "__main__":
    raise SystemExit(main())
