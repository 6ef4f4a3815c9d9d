"""Figures at scale (issue 11), on PostgreSQL: task lists and history at 10k and 1M job rows (P4), a user's permitted
environments among 10k (P5), and admission under 4 concurrent worker processes (P6). Prints ratios and one summary
line last. See bench/README.md, section `scale.py`.

    .venv/bin/python bench/scale.py                 # about 6-8 minutes on 2 cores
    .venv/bin/python bench/scale.py --large 200000  # quicker, smaller large case

The database (default postgres://postgres@127.0.0.1:5432/scale_bench) is dropped and re-created on every run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/scale_bench"

TENANTS = 100
ENVS_PER_TENANT = 100  # 10k environments
USERS_PER_TENANT = 50  # 5k users: 1 administrator, 1 auditor, 48 plain users per tenant
GRANTS = 100_000
REGIONS = ("us-east-1", "eu-west-1")
RECENT_FRACTION = 0.01  # of the job rows, created within the last seven days
# Tenant 0, whose people are measured, is the busy one: 20 % of the older rows and 90 % of the last seven days' (so
# that even at 10k rows every measured page is full), half of them in its environment 14 (the first one the
# measured user holds; its Migrations tab is measured).
BENCH_TENANT_SHARE = 0.20
BENCH_TENANT_RECENT_SHARE = 0.90
HOT_ENV_SHARE = 0.50
BENCH_USER_K = 2  # tenant 0's first plain user
HOT_ENV_K = 14  # = (BENCH_USER_K * 7 + 0) % 100, see the grants below


def _setup(database_url: str, *, migrate: bool = False) -> None:
    # Dev defaults for keys; DEBUG itself is switched off after setup (query logging and debug pages off).
    os.environ.setdefault("DJANGO_DEBUG", "true")
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    sys.path.insert(0, str(ROOT))
    import logging
    import warnings

    import django

    warnings.filterwarnings("ignore", message="No directory at")

    django.setup()
    from django.conf import settings

    settings.DEBUG = False
    logging.disable(logging.INFO)
    if migrate:
        from django.core.management import call_command

        call_command("migrate", verbosity=0)


def _recreate_database(database_url: str) -> None:
    import psycopg

    name = database_url.rsplit("/", 1)[1]
    admin_url = database_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def _sql(statement: str, params=None):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        if cursor.description:
            return cursor.fetchall()
    return None


#
# Seeding (multi-row INSERT ... SELECT generate_series; the ids are looked up through small mapping tables)
#


def seed_people_and_environments() -> None:
    from django.contrib.auth.models import Permission

    _sql("SELECT setseed(0.42)")
    _sql("""INSERT INTO portal_tenant (name, slug, is_active, created_at, updated_at, bucket_suffix)
            SELECT 'Tenant ' || t, 'tenant-' || t, true, now(), now(), lpad(to_hex(t), 8, '0')
            FROM generate_series(0, %s - 1) t""", [TENANTS])
    _sql("""CREATE UNLOGGED TABLE bench_tenant AS
            SELECT (row_number() OVER (ORDER BY id) - 1)::int AS t, id AS tenant_id FROM portal_tenant""")
    _sql("""INSERT INTO environments_region (created_at, updated_at, code, name, tenant_id)
            SELECT now(), now(), r.code, '', bt.tenant_id FROM bench_tenant bt
            CROSS JOIN unnest(%s::text[]) WITH ORDINALITY AS r(code, i) ORDER BY bt.t, r.i""", [list(REGIONS)])
    _sql("""INSERT INTO environments_environment (created_at, updated_at, name, description, vpc_id, vpc_cidr_block,
                                                  is_default, sync_error, tenant_id, region_id)
            SELECT now(), now(), 'env-' || k, '', CASE WHEN k < 2 THEN '' ELSE 'vpc-' || lpad(to_hex(k), 17, '0') END,
                   '10.0.0.0/16', k < 2, '', bt.tenant_id,
                   (SELECT id FROM environments_region r WHERE r.tenant_id = bt.tenant_id ORDER BY id
                    OFFSET (k %% 2) LIMIT 1)
            FROM bench_tenant bt CROSS JOIN generate_series(0, %s - 1) k ORDER BY bt.t, k""", [ENVS_PER_TENANT])
    _sql("""CREATE UNLOGGED TABLE bench_env AS
            SELECT bt.t, (row_number() OVER (PARTITION BY e.tenant_id ORDER BY e.id) - 1)::int AS k, e.id AS env_id,
                   e.region_id, e.tenant_id, 0::bigint AS subnet_id, 0::bigint AS sg_id, 0::bigint AS instance_id
            FROM environments_environment e JOIN bench_tenant bt ON bt.tenant_id = e.tenant_id""")
    _sql("""INSERT INTO environments_subnet (created_at, updated_at, subnet_id, cidr_block, availability_zone, name,
                                             environment_id, tenant_id)
            SELECT now(), now(), 'subnet-' || lpad(to_hex(env_id), 17, '0'), '10.0.1.0/24', 'us-east-1a', '',
                   env_id, tenant_id FROM bench_env ORDER BY env_id""")
    _sql("""INSERT INTO environments_securitygroup (created_at, updated_at, group_id, name, description,
                                                    environment_id, tenant_id)
            SELECT now(), now(), 'sg-' || lpad(to_hex(env_id), 17, '0'), 'default', '', env_id, tenant_id
            FROM bench_env ORDER BY env_id""")
    _sql("""INSERT INTO environments_importedinstance (created_at, updated_at, instance_id, source_vm_moref,
                                                       source_vm_name, instance_type, image_id, state, environment_id,
                                                       tenant_id, origin)
            SELECT now(), now(), 'i-' || lpad(to_hex(env_id), 17, '0'), 'vm-' || env_id, 'vm ' || env_id, 't3.micro',
                   'ami-' || lpad(to_hex(env_id), 17, '0'), 'running', env_id, tenant_id, 'imported'
            FROM bench_env ORDER BY env_id""")
    _sql("""UPDATE bench_env b SET subnet_id = s.id, sg_id = g.id, instance_id = i.id
            FROM environments_subnet s, environments_securitygroup g, environments_importedinstance i
            WHERE s.environment_id = b.env_id AND g.environment_id = b.env_id AND i.environment_id = b.env_id""")
    _sql("CREATE UNIQUE INDEX ON bench_env (t, k)")
    _sql("""INSERT INTO portal_user (password, is_superuser, username, first_name, last_name, email, is_staff,
                                     is_active, date_joined, role, vcenter_principal, tenant_id)
            SELECT '!', false, 'u' || bt.t || '-' || k, '', '', '', false, true, now(),
                   CASE k WHEN 0 THEN 'admin' WHEN 1 THEN 'auditor' ELSE 'user' END, '', bt.tenant_id
            FROM bench_tenant bt CROSS JOIN generate_series(0, %s - 1) k ORDER BY bt.t, k""", [USERS_PER_TENANT])
    _sql("""CREATE UNLOGGED TABLE bench_user AS
            SELECT bt.t, (row_number() OVER (PARTITION BY u.tenant_id ORDER BY u.id) - 1)::int AS k, u.id AS user_id
            FROM portal_user u JOIN bench_tenant bt ON bt.tenant_id = u.tenant_id""")
    _sql("CREATE UNIQUE INDEX ON bench_user (t, k)")
    # 100k direct-FK guardian rows: per tenant 1000, i.e. each plain user holds "view" on ~21 environments
    # (k = 7u .. 7u+20 mod 100), and on the first 5 of them "operate" too, on top of the 100k.
    view = Permission.objects.get(content_type__app_label="environments", codename="view_environment").pk
    operate = Permission.objects.get(content_type__app_label="environments", codename="operate_environment").pk
    plain = USERS_PER_TENANT - 2
    _sql("""INSERT INTO environments_environmentuserobjectpermission (content_object_id, permission_id, user_id)
            SELECT e.env_id, %s, u.user_id FROM generate_series(0, %s - 1) n
            JOIN bench_user u ON u.t = n %% %s AND u.k = 2 + (n / %s) %% %s
            JOIN bench_env e ON e.t = n %% %s AND e.k = ((2 + (n / %s) %% %s) * 7 + (n / %s) / %s) %% %s""",
         [view, GRANTS, TENANTS, TENANTS, plain, TENANTS, TENANTS, plain, TENANTS, plain, ENVS_PER_TENANT])
    _sql("""INSERT INTO environments_environmentuserobjectpermission (content_object_id, permission_id, user_id)
            SELECT e.env_id, %s, u.user_id FROM bench_user u
            JOIN generate_series(0, 4) j ON true
            JOIN bench_env e ON e.t = u.t AND e.k = (u.k * 7 + j) %% %s WHERE u.k >= 2""",
         [operate, ENVS_PER_TENANT])


def seed_jobs(first: int, last: int) -> None:
    """Job rows first..last (inclusive): 90 % migrations, 5 % exports, 5 % backups; about 1 % created within the last
    seven days, the rest over the year before; tenant 0's share as said above."""
    _sql("SELECT setseed(%s)", [(first % 1000) / 1000.0])
    _sql("DROP TABLE IF EXISTS bench_job")
    _sql("""CREATE UNLOGGED TABLE bench_job AS
            SELECT n, kind, t, CASE WHEN t = 0 AND z < %s THEN %s ELSE floor(random() * %s)::int END AS k, recent,
                   CASE WHEN recent THEN now() - random() * interval '6 days 23 hours'
                        ELSE now() - interval '7 days 1 hour' - random() * interval '358 days' END AS created_at,
                   floor(random() * %s)::int AS uk, random() AS r
            FROM (SELECT n, kind, recent, z,
                         CASE WHEN y < (CASE WHEN recent THEN %s ELSE %s END) THEN 0
                              ELSE 1 + floor(random() * %s)::int END AS t
                  FROM (SELECT n, random() < %s AS recent, random() AS y, random() AS z,
                               CASE WHEN x < 0.90 THEN 'migration' WHEN x < 0.95 THEN 'export' ELSE 'backup' END AS kind
                        FROM (SELECT n, random() AS x FROM generate_series(%s, %s) n) raw) j) jt""",
         [HOT_ENV_SHARE, HOT_ENV_K, ENVS_PER_TENANT, USERS_PER_TENANT, BENCH_TENANT_RECENT_SHARE, BENCH_TENANT_SHARE,
          TENANTS - 1, RECENT_FRACTION, first, last])
    # Old rows are finished; recent ones are mostly finished too, with a few queued or running.
    _sql("""INSERT INTO migrations_app_migrationtask (
                created_at, updated_at, vm_moref, vm_name, operating_system, instance_type, power_off_requested, state,
                step, status_message, error_code, cancel_requested, started_at, finished_at, bytes_total,
                bytes_exported, bytes_uploaded, conversion_progress, nfc_lease_moref, s3_bucket, disks,
                import_client_token, import_task_id, image_id, run_client_token, instance_id, lease_owner,
                lease_epoch, attempts, created_by_id, environment_id, region_id, security_group_id, subnet_id,
                tenant_id, results_tagged, license_type)
            SELECT j.created_at, j.created_at, 'vm-b' || j.n, 'vm ' || j.n, 'ubuntu-22.04', 't3.micro', false,
                   CASE WHEN j.recent AND j.r < 0.02 THEN 'queued' WHEN j.recent AND j.r < 0.05 THEN 'uploading'
                        WHEN j.r < 0.15 THEN 'failed' WHEN j.r < 0.18 THEN 'cancelled' ELSE 'completed' END,
                   '', 'bench row', '', false, j.created_at, CASE WHEN j.recent AND j.r < 0.05 THEN NULL
                   ELSE j.created_at + interval '40 minutes' END, 10737418240, 10737418240, 10737418240, 100, '',
                   '', '[]'::jsonb, '', 'import-ami-' || j.n, 'ami-' || lpad(to_hex(j.n), 17, '0'), '',
                   CASE WHEN j.r >= 0.18 THEN 'i-' || lpad(to_hex(j.n), 17, '0') ELSE '' END, '', 0, 1,
                   u.user_id, e.env_id, e.region_id, e.sg_id, e.subnet_id, e.tenant_id, true, ''
            FROM bench_job j JOIN bench_env e ON e.t = j.t AND e.k = j.k JOIN bench_user u ON u.t = j.t AND u.k = j.uk
            WHERE j.kind = 'migration'""")
    _sql("""INSERT INTO exports_exporttask (
                created_at, updated_at, ec2_instance_id, s3_prefix, state, step, status_message, error_code,
                cancel_requested, started_at, finished_at, progress, aws_state, intent_token, export_task_id,
                s3_bucket, s3_key, lease_owner, lease_epoch, attempts, created_by_id, environment_id, instance_id,
                region_id, tenant_id, results_tagged)
            SELECT j.created_at, j.created_at, 'i-' || lpad(to_hex(j.n), 17, '0'), 'exports/', CASE WHEN j.r < 0.1
                   THEN 'failed' ELSE 'completed' END, '', '', '', false, j.created_at,
                   j.created_at + interval '20 minutes', 100, 'completed', 'bench-' || j.n, 'export-i-' || j.n, '',
                   '', '', 0, 1, u.user_id, e.env_id, e.instance_id, e.region_id, e.tenant_id, true
            FROM bench_job j JOIN bench_env e ON e.t = j.t AND e.k = j.k JOIN bench_user u ON u.t = j.t AND u.k = j.uk
            WHERE j.kind = 'export'""")
    _sql("""INSERT INTO lifecycle_backuptask (
                created_at, updated_at, step, status_message, error_code, started_at, finished_at, lease_owner,
                lease_epoch, attempts, state, reboot, client_token, image_name, image_id, image_state, snapshot_ids,
                progress, created_by_id, environment_id, instance_id, tenant_id)
            SELECT j.created_at, j.created_at, '', '', '', j.created_at, j.created_at + interval '5 minutes', '', 0,
                   1, CASE WHEN j.r < 0.5 THEN 'deleted' ELSE 'available' END, false, 'bench-' || j.n,
                   'backup ' || j.n, 'ami-' || lpad(to_hex(j.n), 17, '0'), 'available', '[]'::jsonb, 100, u.user_id,
                   e.env_id, e.instance_id, e.tenant_id
            FROM bench_job j JOIN bench_env e ON e.t = j.t AND e.k = j.k JOIN bench_user u ON u.t = j.t AND u.k = j.uk
            WHERE j.kind = 'backup'""")
    _sql("DROP TABLE bench_job")
    if first == 1:
        # A few live rows at every size (the newest two of the measured environment: one queued, one uploading), so
        # that each page runs the same queries (queue positions, cancellable rows) whatever the table holds.
        _sql("""UPDATE migrations_app_migrationtask SET
                    state = CASE WHEN s.rn = 1 THEN 'queued' ELSE 'uploading' END, finished_at = NULL,
                    started_at = CASE WHEN s.rn = 1 THEN NULL ELSE started_at END, instance_id = ''
                FROM (SELECT id, row_number() OVER (ORDER BY created_at DESC) AS rn FROM migrations_app_migrationtask
                      WHERE environment_id = (SELECT env_id FROM bench_env WHERE t = 0 AND k = %s)) s
                WHERE s.id = migrations_app_migrationtask.id AND s.rn <= 2""", [HOT_ENV_K])
    for table in ("migrations_app_migrationtask", "exports_exporttask", "lifecycle_backuptask",
                  "lifecycle_launchtask", "environments_environment",
                  "environments_environmentuserobjectpermission", "portal_user"):
        _sql(f"VACUUM ANALYZE {table}")


def job_count() -> int:
    return sum(_sql(f"SELECT count(*) FROM {t}")[0][0] for t in (
        "migrations_app_migrationtask", "exports_exporttask", "lifecycle_backuptask", "lifecycle_launchtask"))


#
# P4: pages and APIs
#


def _people():
    from environments.models import Environment
    from core.models import User

    def user(k):
        return User.objects.select_related("tenant").get(username=f"u0-{k}")

    admin, plain = user(0), user(BENCH_USER_K)
    hot = Environment.objects.get(tenant=admin.tenant, name=f"env-{HOT_ENV_K}")
    return admin, plain, hot


def p4_endpoints():
    """(label, user, path): the seven-day migration lists and the task history, API and page."""
    admin, plain, hot = _people()
    tab = f"/environments/{hot.pk}/tabs/vm-to-ec2-migrations/"
    return [
        ("api migrations (user)", plain, "/api/v1/migrations/"),
        ("api migrations (admin)", admin, "/api/v1/migrations/"),
        ("migrations tab (user)", plain, tab),
        ("migrations tab rows (user)", plain, f"/environments/{hot.pk}/migrations/rows/"),
        ("api history (admin)", admin, "/api/v1/history/"),
        ("history page (admin)", admin, "/history/"),
    ]


def use_database(name: str) -> None:
    """Point the default connection at another database of the same server (the next query reconnects)."""
    from django.db import connection

    connection.close()
    connection.settings_dict["NAME"] = name


def measure_p4(databases: dict, reps: int, *, explain: str | None = None) -> dict:
    """Per endpoint and database: queries of one request, and the median time of `reps` requests. The databases
    are visited in turn, request by request, so that load from other processes on the machine falls on both."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    results = {size: {} for size in databases}
    for label, user, path in p4_endpoints():
        clients = {}
        for size, name in databases.items():
            use_database(name)
            clients[size] = Client()
            clients[size].force_login(user)  # the same user (same ids in both databases), a session in each
            for _ in range(2):  # warm-up: templates, caches
                response = clients[size].get(path)
                if response.status_code != 200:
                    raise SystemExit(f"{label}: GET {path} answered {response.status_code} ({size})")
            connection.queries_log.clear()  # request_started clears it too; the context must start from empty
            with CaptureQueriesContext(connection) as captured:
                clients[size].get(path)
            statements = [q["sql"] for q in captured.captured_queries]  # read now: the next request clears it
            results[size][label] = {"queries": len(statements), "times": [], "sql": statements}
        for _ in range(reps):
            for size, name in databases.items():
                use_database(name)
                start = time.perf_counter()
                clients[size].get(path)
                results[size][label]["times"].append(time.perf_counter() - start)
        for size in databases:
            results[size][label]["ms"] = statistics.median(results[size][label]["times"]) * 1000
    if explain:
        use_database(databases[explain])
        for label, row in results[explain].items():
            _explain(label, row["sql"])
    return results


_JOB_TABLES = ("migrations_app_migrationtask", "exports_exporttask", "lifecycle_backuptask",
               "lifecycle_launchtask")


def _explain(label: str, statements: list[str]) -> None:
    from django.db import connection

    for sql in statements:
        if not any(f'"{t}"' in sql for t in _JOB_TABLES) or not sql.lstrip().upper().startswith(("SELECT", "(")):
            continue
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, COSTS OFF, SUMMARY ON) " + sql)
            plan = [row[0] for row in cursor.fetchall()]
        print(f"\n--- EXPLAIN {label}: {sql[:160]}{'...' if len(sql) > 160 else ''}")
        for line in plan:
            print("    " + line)


def print_p4(small: dict, large: dict, n_small: int, n_large: int) -> tuple[int, int, float]:
    print(f"\nP4  {'endpoint':<28} {'q@' + str(n_small):>9} {'q@' + str(n_large):>10} "
          f"{'ms@small':>9} {'ms@large':>9} {'ratio':>6}")
    worst = 0.0
    for label, s in small.items():
        g = large[label]
        ratio = g["ms"] / s["ms"]
        worst = max(worst, ratio)
        print(f"    {label:<28} {s['queries']:>9} {g['queries']:>10} {s['ms']:>9.1f} {g['ms']:>9.1f} {ratio:>6.2f}")
    q_small = max(v["queries"] for v in small.values())
    q_large = max(v["queries"] for v in large.values())
    equal = all(small[k]["queries"] == large[k]["queries"] for k in small)
    print(f"    queries per page equal at both sizes: {equal}; most queries on one page: small {q_small}, large "
          f"{q_large} (target <= 12); worst time ratio {worst:.2f} (target <= 1.3)")
    return q_small if equal else -q_small, q_large, worst


#
# Tree: the pages that carry the side tree, for an administrator of 100 and of 10,000 environments
#

TREE_SIZES = (100, 10_000)


def _tree_tenant(size: int):
    """A tenant with `size` environments over REGIONS (bulk_create), an administrator, and in its first environment
    a running, a queued and a failed migration, so that the dashboard and the tab show rows. Kept between runs."""
    from django.utils import timezone

    from core import services
    from core.models import Tenant, User
    from environments import services as env_services
    from environments.models import Environment, SecurityGroup, Subnet
    from migrations_app.models import MigrationTask

    slug = f"tree-{size}"
    tenant = Tenant.objects.filter(slug=slug).first()
    if tenant is None:
        tenant = services.tenant_create(actor=None, name=f"Tree {size}", slug=slug)
        admin = services.user_create(actor=None, tenant=tenant, username=f"{slug}-admin", role="admin",
                                     password="bench-password-9")
        regions = [env_services.region_create(actor=admin, code=code) for code in REGIONS]
        Environment.objects.bulk_create(
            [Environment(tenant=tenant, region=regions[k % len(regions)], name=f"env-{k:05d}",
                         vpc_id=f"vpc-{k:017x}", vpc_cidr_block="10.0.0.0/16") for k in range(size - len(regions))],
            batch_size=2000)
        env = Environment.objects.get(tenant=tenant, name="env-00000")
        subnet = Subnet.objects.create(tenant=tenant, environment=env, subnet_id="subnet-00000000000000001",
                                       cidr_block="10.0.1.0/24", availability_zone="us-east-1a")
        sg = SecurityGroup.objects.create(tenant=tenant, environment=env, group_id="sg-00000000000000001",
                                          name="default")
        now = timezone.now()
        for n, (state, finished) in enumerate((("uploading", None), ("queued", None), ("failed", now))):
            MigrationTask.objects.create(
                tenant=tenant, environment=env, region=env.region, created_by=admin, vm_moref=f"vm-{n}",
                vm_name=f"vm {n}", operating_system="ubuntu-22.04", instance_type="t3.micro", subnet=subnet,
                security_group=sg, state=state, finished_at=finished, bytes_total=100, bytes_exported=100,
                bytes_uploaded=40)
    _sql("ANALYZE environments_environment")  # the statistics a database that grew over time would have
    admin = User.objects.select_related("tenant").get(username=f"{slug}-admin")
    env = Environment.objects.get(tenant=tenant, name="env-00000")
    assert Environment.objects.filter(tenant=tenant).count() == size
    return admin, env


def measure_tree(reps: int) -> float:
    """The dashboard, an environment page and its migrations tab, as the administrator of 100 and of 10,000
    environments, alternating request by request; prints time, size and queries, and returns the worst page's
    median time ratio (10,000 over 100)."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    people = {size: _tree_tenant(size) for size in TREE_SIZES}
    pages = [("dashboard", lambda env: "/"), ("environment page", lambda env: f"/environments/{env.pk}/"),
             ("migrations tab", lambda env: f"/environments/{env.pk}/tabs/vm-to-ec2-migrations/")]
    small, large = TREE_SIZES
    heads = [f"ms@{small}", f"ms@{large}", "ratio", f"KB@{small}", f"KB@{large}", f"q@{small}", f"q@{large}"]
    print("\nTREE " + f"{'page':<18} " + " ".join(f"{h:>9}" for h in heads))
    worst = 0.0
    for label, path_of in pages:
        clients, times, sizes, queries = {}, {}, {}, {}
        for size, (admin, env) in people.items():
            clients[size] = Client()
            clients[size].force_login(admin)
            for _ in range(2):  # warm-up: templates, caches
                response = clients[size].get(path_of(env))
                if response.status_code != 200:
                    raise SystemExit(f"{label}: GET {path_of(env)} answered {response.status_code} ({size})")
            with CaptureQueriesContext(connection) as captured:
                sizes[size] = len(clients[size].get(path_of(env)).content)
            queries[size] = len(captured.captured_queries)
            times[size] = []
        for _ in range(reps):
            for size, (_, env) in people.items():
                start = time.perf_counter()
                clients[size].get(path_of(env))
                times[size].append(time.perf_counter() - start)
        ms = {size: statistics.median(times[size]) * 1000 for size in TREE_SIZES}
        ratio = ms[large] / ms[small]
        worst = max(worst, ratio)
        cells = [f"{ms[small]:.1f}", f"{ms[large]:.1f}", f"{ratio:.2f}", f"{sizes[small] / 1024:.1f}",
                 f"{sizes[large] / 1024:.1f}", str(queries[small]), str(queries[large])]
        print(f"     {label:<18} " + " ".join(f"{c:>9}" for c in cells))
    print(f"     worst time ratio {worst:.2f} (target <= 1.3)")
    return worst


#
# P5: a user's permitted environments
#


def measure_p5(reps: int) -> float:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from environments.models import Environment, permitted_environment_ids
    from core.roles import Action

    _, plain, _ = _people()
    rows = {}
    for label, run in (
        ("permitted_environment_ids", lambda: list(permitted_environment_ids(plain, Action.VIEW))),
        ("Environment.restrict(VIEW)", lambda: list(Environment.objects.restrict(plain, Action.VIEW))),
    ):
        run()
        with CaptureQueriesContext(connection) as captured:
            found = run()
        times = []
        for _ in range(reps):
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
        rows[label] = statistics.median(times) * 1000
        print(f"P5  {label:<28} {len(found)} rows of {Environment.objects.count()} environments, "
              f"{len(captured)} quer{'y' if len(captured) == 1 else 'ies'}, median {rows[label]:.2f} ms "
              f"(p95 {sorted(times)[int(0.95 * len(times))] * 1000:.2f} ms)")
        if label.startswith("Environment"):
            _explain_any("P5 " + label, captured.captured_queries[-1]["sql"])
    return max(rows.values())


def _explain_any(label, sql):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, COSTS OFF, SUMMARY ON) " + sql)
        plan = [row[0] for row in cursor.fetchall()]
    print(f"\n--- EXPLAIN {label}: {sql[:160]}...")
    for line in plan:
        print("    " + line)


#
# P6: admission under concurrent workers
#


def p6_prepare() -> dict:
    """A tenant of its own with one region; the limit is whatever the admission policy says (read after the run
    from the rows: the most that were ever active at once)."""
    from environments.models import Environment, Region, SecurityGroup, Subnet
    from core.models import Tenant, User

    tenant = Tenant.objects.create(name="P6", slug="p6")
    region = Region.objects.create(tenant=tenant, code="us-west-2")
    env = Environment.objects.create(tenant=tenant, region=region, name="p6", is_default=True)
    subnet = Subnet.objects.create(tenant=tenant, environment=env, subnet_id="subnet-0p6", cidr_block="10.0.0.0/24",
                                   availability_zone="us-west-2a")
    sg = SecurityGroup.objects.create(tenant=tenant, environment=env, group_id="sg-0p6", name="default")
    user = User.objects.create(username="p6", tenant=tenant, role="admin", password="!")
    return {"tenant": tenant.pk, "region": region.pk, "env": env.pk, "subnet": subnet.pk, "sg": sg.pk,
            "user": user.pk}


def p6_worker(worker: int, events: int, ids: dict) -> None:
    """One worker process: alternately submit a migration (insert it queued, then admit) and finish an active one
    (walk it to completed through the engine's `transition`, whose commit admits the next)."""
    import random

    from migrations_app.choices import ACTIVE, MigrationState
    from migrations_app.job import MIGRATION
    from migrations_app.models import MigrationTask
    from core.jobs import transitions

    def no_tick(*args, **kwargs):
        return None

    # No django-q2 cluster runs: ticks are neither enqueued nor scheduled (patched wherever the names were imported).
    tick_functions = ("enqueue_tick", "schedule_tick", "unschedule_tick")
    for module in list(sys.modules.values()):
        if getattr(module, "__name__", "").startswith(("migrations_app", "core.jobs")):
            for name in tick_functions:
                if hasattr(module, name):
                    setattr(module, name, no_tick)
    try:
        import django_q.tasks

        django_q.tasks.async_task = no_tick
    except ImportError:
        pass

    S = MigrationState
    walk = [(S.EXPORTING, S.UPLOADING), (S.UPLOADING, S.CONVERTING), (S.CONVERTING, S.LAUNCHING),
            (S.LAUNCHING, S.COMPLETED)]
    rng = random.Random(worker)
    for i in range(events):
        if i % 2 == 0:
            task = MigrationTask(
                tenant_id=ids["tenant"], environment_id=ids["env"], region_id=ids["region"],
                created_by_id=ids["user"], vm_moref=f"p6-{worker}-{i}", vm_name=f"p6 {worker}/{i}",
                operating_system="ubuntu-22.04", instance_type="t3.micro", subnet_id=ids["subnet"],
                security_group_id=ids["sg"])
            MigrationTask.objects.bulk_create([task])
            transitions.admit(MIGRATION, scope=ids["region"])
            continue
        candidates = list(MigrationTask.objects.filter(region_id=ids["region"], state__in=ACTIVE).values_list(
            "pk", "state")[:8])
        rng.shuffle(candidates)
        for pk, state in candidates:
            steps = [step for step in walk if walk.index(step) >= [w[0] for w in walk].index(state)]
            moved = True
            for source, target in steps:
                if transitions.transition(MIGRATION, job_id=pk, to=target, expected_from={source},
                                          status_message="bench") is None:
                    moved = False
                    break
            if moved:
                break


def measure_p6(database_url: str, workers: int, events: int) -> tuple[int, float, int]:
    import datetime
    import json

    from migrations_app.choices import ACTIVE
    from migrations_app.models import MigrationTask

    ids = p6_prepare()
    env = {**os.environ, "DATABASE_URL": database_url}
    start = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, __file__, "--p6-worker", str(w), "--p6-events", str(events),
                               "--p6-ids", json.dumps(ids), "--database-url", database_url], env=env)
             for w in range(workers)]
    failed = [p.wait() for p in procs]
    elapsed = time.perf_counter() - start
    if any(failed):
        raise SystemExit(f"P6 worker exit codes: {failed}")
    rows = list(MigrationTask.objects.filter(region_id=ids["region"]).values_list(
        "created_at", "started_at", "finished_at", "state"))
    # Events on one time line: +1 at each start, -1 at each finish. Timestamps are taken inside the transaction
    # that holds the region lock, so a start admitted by a finish is always later than that finish.
    timeline = sorted([(s, 1) for _, s, _, _ in rows if s] + [(f, -1) for _, _, f, _ in rows if f],
                      key=lambda e: (e[0], e[1]))
    active, peak = 0, 0
    for _, delta in timeline:
        active += delta
        peak = max(peak, active)
    from django.conf import settings

    # A tenant with one region: its region's limit, under the tenant and shared caps.
    limit = min(settings.MIGRATION_MAX_ACTIVE_PER_REGION, settings.MIGRATION_MAX_ACTIVE_PER_TENANT,
                getattr(settings, "MIGRATION_MAX_ACTIVE_SHARED", settings.MIGRATION_MAX_ACTIVE_PER_REGION))
    active = 0
    over = 0
    for _, delta in timeline:
        active += delta
        if delta == 1 and active > limit:
            over += 1
    # Latency: each freed slot while someone waited (created before the free, not yet started) to the next start.
    starts = sorted(s for _, s, _, _ in rows if s)
    waits = []
    import bisect

    for created, started, finished, _ in rows:
        if not finished:
            continue
        waiting = any(c <= finished and (s is None or s > finished) for c, s, _, _ in rows)
        if not waiting:
            continue
        nxt = bisect.bisect_right(starts, finished)
        if nxt < len(starts):
            waits.append((starts[nxt] - finished) / datetime.timedelta(seconds=1))
        else:
            waits.append(float("inf"))
    waits.sort()
    p95 = waits[int(0.95 * (len(waits) - 1))] if waits else float("nan")
    started = sum(1 for _, s, _, _ in rows if s)
    finished = sum(1 for _, _, f, _ in rows if f)
    still_active = sum(1 for *_, st in rows if st in ACTIVE)
    print(f"\nP6  {workers} workers x {events} events in {elapsed:.1f} s: {len(rows)} submitted, {started} started, "
          f"{finished} finished, {still_active} active at the end; limit {limit}, peak active {peak}, starts over the "
          f"limit {over}")
    print(f"    slot freed -> next queued job started ({len(waits)} frees with a queue): median "
          f"{statistics.median(waits) * 1000 if waits else float('nan'):.1f} ms, p95 {p95 * 1000:.1f} ms, "
          f"max {waits[-1] * 1000 if waits else float('nan'):.1f} ms")
    return over, p95, peak


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get("SCALE_DATABASE_URL", DEFAULT_DB),
                        help="the large case's database; the small case and P6 use it with _small / _p6 appended")
    parser.add_argument("--small", type=int, default=10_000, help="job rows in the small case (default 10k)")
    parser.add_argument("--large", type=int, default=1_000_000, help="job rows in the large case (default 1M)")
    parser.add_argument("--reps", type=int, default=15, help="timed requests per endpoint and size")
    parser.add_argument("--p5-reps", type=int, default=200)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--p6-events", type=int, default=1000, help="submit/finish events per worker")
    parser.add_argument("--skip-p6", action="store_true")
    parser.add_argument("--tree-reps", type=int, default=30, help="timed requests per tree page and size")
    parser.add_argument("--reuse", action="store_true", help="measure the databases a previous run seeded")
    parser.add_argument("--p6-worker", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--p6-ids", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.p6_worker is not None:
        import json

        _setup(args.database_url)
        p6_worker(args.p6_worker, args.p6_events, json.loads(args.p6_ids))
        return

    began = time.perf_counter()
    base = args.database_url.rsplit("/", 1)
    databases = {"small": base[1] + "_small", "large": base[1]}
    _setup(args.database_url)
    from django.core.management import call_command

    for size, rows in (("small", args.small), ("large", args.large)):
        if args.reuse:
            break
        t = time.perf_counter()
        _recreate_database(f"{base[0]}/{databases[size]}")
        use_database(databases[size])
        call_command("migrate", verbosity=0)
        seed_people_and_environments()
        step = 250_000
        for first in range(1, rows + 1, step):
            seed_jobs(first, min(first + step - 1, rows))
        print(f"{size}: seeded {TENANTS} tenants, {TENANTS * ENVS_PER_TENANT} environments, "
              f"{TENANTS * USERS_PER_TENANT} users, "
              f"{_sql('SELECT count(*) FROM environments_environmentuserobjectpermission')[0][0]} grants and "
              f"{job_count()} job rows in {time.perf_counter() - t:.1f} s")

    use_database(databases["large"])
    p5 = measure_p5(args.p5_reps)
    use_database(databases["small"])
    n_small = job_count()
    use_database(databases["large"])
    n_large = job_count()
    p4 = measure_p4(databases, args.reps, explain="large")
    q_small, q_large, ratio = print_p4(p4["small"], p4["large"], n_small, n_large)
    # In the small case's database: two more tenants, seeded once (--reuse keeps them).
    use_database(databases["small"])
    tree_ratio = measure_tree(args.tree_reps)

    over, p95 = 0, float("nan")
    if not args.skip_p6:
        p6_url = f"{base[0]}/{base[1]}_p6"
        _recreate_database(p6_url)
        use_database(base[1] + "_p6")
        call_command("migrate", verbosity=0)
        over, p95, _ = measure_p6(p6_url, args.workers, args.p6_events)
    print(f"\ntotal {time.perf_counter() - began:.0f} s")
    print(f"scale p4_queries_small={q_small} p4_queries_large={q_large} p4_time_ratio={ratio:.2f} p5_ms={p5:.2f} "
          f"p6_over_limit={over} p6_p95_s={p95:.3f} tree_ratio={tree_ratio:.2f}")


if __name__ == "__main__":
    main()
