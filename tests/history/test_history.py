"""The seven-day task history: boundaries, filters, CSV, who may read it, tenant isolation, query budget, and the
retention cleanup."""

from __future__ import annotations

import csv
import datetime
import io
import itertools

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django_q.models import Schedule

from core.models import AuditLog
from exports.models import ExportTask
from lifecycle.backups.models import BackupTask
from lifecycle.launches.models import LaunchTask
from migrations_app.models import MigrationTask
from portal.site.history import CSV_HEADER, HistoryFilters, history_row, history_rows
from portal.site.services import history_cleanup

pytestmark = pytest.mark.django_db
_seq = itertools.count(1)
H = datetime.timedelta(hours=1)
D = datetime.timedelta(days=1)


def _migration(t, *, state="completed", created_at=None, by=None, environment=None):
    n = next(_seq)
    task = MigrationTask.objects.create(
        tenant=t.tenant, environment=environment or t.environment, region=t.region, created_by=by or t.user_general,
        vm_moref=f"vm-h{n}", vm_name=f"hist-{n}", operating_system="ubuntu-22.04", instance_type="t3.micro",
        subnet=t.subnet, security_group=t.security_group, state=state)
    return _at(task, created_at)


def _export(t, *, state="completed", created_at=None):
    task = ExportTask.objects.create(tenant=t.tenant, environment=t.environment, region=t.region,
                                     instance=t.instance, ec2_instance_id=t.instance.instance_id,
                                     created_by=t.admin, state=state)
    return _at(task, created_at)


def _backup(t, *, state="failed", created_at=None):
    n = next(_seq)
    task = BackupTask.objects.create(tenant=t.tenant, environment=t.environment, instance=t.instance,
                                     created_by=t.user_general, state=state, client_token=f"backup-h{n}",
                                     image_name=f"portal-backup-h{n}")
    return _at(task, created_at)


def _launch(t, *, state="completed", created_at=None):
    n = next(_seq)
    task = LaunchTask.objects.create(tenant=t.tenant, environment=t.environment, template=t.template,
                                     template_name="web", created_by=t.user_general, state=state,
                                     image_id="ami-0123456789abcdef0", instance_type="t3.micro",
                                     subnet_id=t.subnet.subnet_id, security_group_id=t.security_group.group_id,
                                     client_token=f"launch-h{n}")
    return _at(task, created_at)


def _at(task, created_at):
    if created_at is not None:
        type(task).objects.filter(pk=task.pk).update(created_at=created_at)
        task.refresh_from_db()
    return task


def _keys(rows):
    return [(r["type"], r["id"]) for r in rows]


def _selected(fetched_by, now=None, **filters):
    return _keys(history_row(r) for r in history_rows(fetched_by=fetched_by, filters=HistoryFilters(**filters), now=now))


def _world_keys(t):
    return {("migration", t.migration.pk), ("export", t.export.pk), ("backup", t.backup.pk), ("launch", t.launch.pk)}


# Boundaries


def test_seven_day_boundaries_are_exact(world):
    a = world.a
    now = timezone.now()
    inside = _migration(a, created_at=now - (7 * D - H))
    outside = _migration(a, created_at=now - (7 * D + H))
    edge = _migration(a, created_at=now - 7 * D)
    just_past_edge = _migration(a, created_at=now - 7 * D - datetime.timedelta(microseconds=1))
    got = _selected(a.admin, now=now, type="migration")
    assert ("migration", inside.pk) in got
    assert ("migration", edge.pk) in got  # exactly seven days ago is in (>=)
    assert ("migration", outside.pk) not in got
    assert ("migration", just_past_edge.pk) not in got
    # The same through the API (its clock is the real one: an hour of slack either side is plenty).
    response = world_api_get(world, a.admin, {"type": "migration"})
    ids = {r["id"] for r in response.json()["results"]}
    assert inside.pk in ids and outside.pk not in ids


def world_api_get(world, user, params=None):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(user=user)
    return client.get(reverse("api:history"), params or {})


def test_since_reaches_past_the_default_window_and_until_is_exclusive(world):
    a = world.a
    now = timezone.now()
    old = _migration(a, created_at=now - 30 * D)
    cut = now - 20 * D
    at_cut = _migration(a, created_at=cut)
    assert ("migration", old.pk) not in _selected(a.admin, now=now)
    assert _selected(a.admin, now=now, type="migration", since=now - 31 * D, until=cut) == [("migration", old.pk)]
    assert ("migration", at_cut.pk) in _selected(a.admin, now=now, type="migration", since=cut)


# Rows, order and filters


def test_every_type_newest_first_with_columns(world):
    a = world.a
    now = timezone.now()
    m = _migration(a, created_at=now - 3 * H)
    e = _export(a, created_at=now - 2 * H)
    b = _backup(a, created_at=now - 1 * H)
    launch = _launch(a, created_at=now - 4 * H)
    rows = [history_row(r) for r in history_rows(fetched_by=a.auditor, now=now)]
    ours = [r for r in rows if (r["type"], r["id"]) in {("migration", m.pk), ("export", e.pk), ("backup", b.pk),
                                                         ("launch", launch.pk)}]
    assert _keys(ours) == [("backup", b.pk), ("export", e.pk), ("migration", m.pk), ("launch", launch.pk)]
    created = [r["created_at"] for r in rows]
    assert created == sorted(created, reverse=True)
    by_type = {r["type"]: r for r in ours}
    assert by_type["migration"]["summary"] == m.vm_name
    assert by_type["migration"]["environment"] == "prod"
    assert by_type["migration"]["environment_id"] == a.environment.pk
    assert by_type["migration"]["user"] == a.user_general.username
    assert by_type["export"]["summary"] == a.instance.instance_id
    assert by_type["export"]["user"] == a.admin.username
    assert by_type["backup"]["summary"] == b.image_name  # no image yet: its name
    assert by_type["launch"]["summary"] == "ami-0123456789abcdef0"
    assert by_type["migration"]["state"] == "completed"
    assert isinstance(by_type["migration"]["created_at"], datetime.datetime)


def test_filters(world):
    a = world.a
    running = _migration(a, state="exporting", by=a.user_owner)
    in_dev = _migration(a, environment=a.other_environment)
    failed_backup = _backup(a, state="failed")
    assert _selected(a.admin, state="exporting") == [("migration", running.pk)]
    assert set(_selected(a.admin, user=a.user_owner.pk)) == {("migration", running.pk)}
    assert _selected(a.admin, environment=a.other_environment.pk) == [("migration", in_dev.pk)]
    assert set(_selected(a.admin, type="backup")) == {("backup", a.backup.pk), ("backup", failed_backup.pk)}
    assert _selected(a.admin, type="backup", state="failed") == [("backup", failed_backup.pk)]
    # The API applies the same filters.
    got = world_api_get(world, a.auditor, {"type": "backup", "state": "failed"}).json()
    assert [(r["type"], r["id"]) for r in got["results"]] == [("backup", failed_backup.pk)]
    assert got["count"] == 1
    bad = world_api_get(world, a.auditor, {"type": "nonsense"})
    assert bad.status_code == 400
    # A window with nothing in it is an empty page, on every database (a future `since`, say).
    empty = world_api_get(world, a.auditor, {"since": "2999-01-01T00:00:00Z"})
    assert empty.status_code == 200 and empty.json()["count"] == 0 and empty.json()["results"] == []


# Tenants and roles


def test_another_tenants_rows_never_appear(world):
    a, b = world.a, world.b
    theirs = _world_keys(b) | {("migration", _migration(b).pk)}
    for user in (a.admin, a.auditor):
        got = set(_selected(user))
        assert _world_keys(a) <= got
        assert not got & theirs
        api_rows = world_api_get(world, user, {"page_size": 500}).json()["results"]
        assert not {(r["type"], r["id"]) for r in api_rows} & theirs
    # Naming the other tenant's environment or user finds nothing.
    assert _selected(a.admin, environment=b.environment.pk) == []
    assert _selected(a.admin, user=b.user_general.pk) == []


def test_read_only_for_auditors_and_refused_for_users(world, client):
    a = world.a
    assert world_api_get(world, a.auditor).status_code == 200
    assert world_api_get(world, a.admin).status_code == 200
    for user in (a.user_general, a.user_owner, a.user_ro, a.user_nogrant):
        assert world_api_get(world, user).status_code == 403
    assert world_api_get(world, world.platform).status_code == 403
    from rest_framework.test import APIClient

    writer = APIClient()
    writer.force_authenticate(user=a.auditor)
    assert writer.post(reverse("api:history"), {}).status_code == 405
    assert writer.delete(reverse("api:history")).status_code == 405
    # Pages: a 403 for users, like the audit log and the API; the nav link only for those allowed.
    for user, status in ((a.user_general, 403), (a.auditor, 200), (a.admin, 200)):
        client.force_login(user)
        response = client.get(reverse("ui:history"))
        assert response.status_code == status
        home = client.get(reverse("ui:home")).content.decode()
        assert (reverse("ui:history") in home) == (status == 200)


# CSV


def _csv(text):
    return list(csv.reader(io.StringIO(text)))


def _streamed(response):
    return b"".join(response.streaming_content).decode()


def test_csv_holds_exactly_the_filtered_rows_across_pages(world, client):
    a = world.a
    now = timezone.now()
    for i in range(60):
        _migration(a, created_at=now - i * datetime.timedelta(minutes=5))
    _migration(a, created_at=now - 8 * D)  # outside the window
    _migration(world.b)  # another tenant
    _backup(a)
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(user=a.auditor)
    url = reverse("api:history")
    paged, page_url = [], f"{url}?type=migration&page_size=25"
    while page_url:
        body = api.get(page_url).json()
        paged += body["results"]
        page_url = body["next"]
    assert len(paged) == 61  # the world's migration and these sixty
    response = api.get(url, {"type": "migration", "format": "csv"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    lines = _csv(_streamed(response))
    assert tuple(lines[0]) == CSV_HEADER
    assert [(line[0], int(line[1])) for line in lines[1:]] == [(r["type"], r["id"]) for r in paged]
    assert [line[6] for line in lines[1:]] == [
        datetime.datetime.fromisoformat(r["created_at"].replace("Z", "+00:00")).isoformat() for r in paged]
    # The page's download link gives the same rows for the same filters.
    client.force_login(a.auditor)
    page = client.get(reverse("ui:history"), {"type": "migration"})
    assert page.status_code == 200
    csv_query = page.context["csv_query"]
    assert "format=csv" in csv_query and "type=migration" in csv_query
    from_page = _csv(_streamed(client.get(f"{reverse('ui:history')}?{csv_query}")))
    assert from_page == lines


def test_command_lists_and_writes_csv(world):
    a = world.a
    out = io.StringIO()
    call_command("task_history", "--user", a.auditor.username, "--type", "export", "--csv", stdout=out)
    lines = _csv(out.getvalue())
    assert tuple(lines[0]) == CSV_HEADER
    assert [(line[0], int(line[1])) for line in lines[1:]] == [("export", a.export.pk)]
    out = io.StringIO()
    call_command("task_history", "--user", a.admin.username, stdout=out)
    assert len(out.getvalue().splitlines()) == 4
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("task_history", "--user", a.user_general.username)


# Query budget


def _queries_for_a_page(world, count):
    a = world.a
    MigrationTask.objects.filter(tenant=a.tenant).exclude(pk=a.migration.pk).delete()
    for _ in range(count):
        _migration(a)
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(user=a.auditor)
    with CaptureQueriesContext(connection) as captured:
        response = api.get(reverse("api:history"), {"page_size": 100})
    assert response.status_code == 200
    assert response.json()["count"] == count + 4
    return len(captured)


def test_query_count_does_not_grow_with_rows(world):
    assert _queries_for_a_page(world, 10) == _queries_for_a_page(world, 50)


def test_page_query_count_does_not_grow_with_rows(world, client):
    a = world.a
    client.force_login(a.auditor)

    def page_queries(count):
        MigrationTask.objects.filter(tenant=a.tenant).exclude(pk=a.migration.pk).delete()
        for _ in range(count):
            _migration(a)
        with CaptureQueriesContext(connection) as captured:
            assert client.get(reverse("ui:history")).status_code == 200
        return len(captured)

    assert page_queries(10) == page_queries(50)


# Retention


def test_cleanup_deletes_only_old_finished_jobs_and_audits_per_tenant(world, settings):
    settings.HISTORY_RETENTION_DAYS = 90
    a, b = world.a, world.b
    now = timezone.now()
    old = now - 91 * D
    recent = now - 89 * D
    gone = [_migration(a, created_at=old), _migration(a, state="failed", created_at=old),
            _export(a, state="cancelled", created_at=old), _backup(a, state="failed", created_at=old),
            _backup(a, state="deleted", created_at=old), _launch(a, state="completed", created_at=old),
            _migration(b, state="cancelled", created_at=old)]
    kept = [_migration(a, state="exporting", created_at=old), _migration(a, created_at=recent),
            _export(a, state="exporting", created_at=old), _backup(a, state="creating", created_at=old),
            _backup(a, state="available", created_at=old),  # its image still exists in AWS
            _launch(a, state="launching", created_at=old), _launch(a, created_at=recent)]
    audit_before = AuditLog.objects.count()
    result = history_cleanup(now=now)
    for task in gone:
        assert not type(task).objects.filter(pk=task.pk).exists(), task
    for task in kept:
        assert type(task).objects.filter(pk=task.pk).exists(), task
    for t in (a, b):  # the world's own rows are recent
        for task in (t.migration, t.export, t.backup, t.launch):
            assert type(task).objects.filter(pk=task.pk).exists()
    assert result[a.tenant.pk] == {"migration": 2, "plan": 0, "export": 1, "backup": 2, "launch": 1}
    assert result[b.tenant.pk] == {"migration": 1, "plan": 0, "export": 0, "backup": 0, "launch": 0}
    rows = AuditLog.objects.filter(action="history.cleanup").order_by("id")
    assert AuditLog.objects.count() == audit_before + 2
    assert {r.tenant_id: r.detail["deleted"] for r in rows} == {a.tenant.pk: result[a.tenant.pk],
                                                                b.tenant.pk: result[b.tenant.pk]}
    # A second pass has nothing left to do and writes nothing.
    assert history_cleanup(now=now) == {}
    assert AuditLog.objects.count() == audit_before + 2


def test_cleanup_schedule_is_created_by_the_migration():
    schedule = Schedule.objects.get(name="history-cleanup")
    assert schedule.func == "portal.site.tasks.history_cleanup"
    assert schedule.schedule_type == Schedule.DAILY


def test_cleanup_task_runs_the_service(world, settings):
    from portal.site.tasks import history_cleanup as task

    settings.HISTORY_RETENTION_DAYS = 90
    _migration(world.a, created_at=timezone.now() - 100 * D)
    assert task() == {str(world.a.tenant.pk): {"migration": 1, "plan": 0, "export": 0, "backup": 0, "launch": 0}}


# CSV formula injection (issue 20): names anyone can set (a VM's name in vCenter, an environment's name, an audited
# object's repr) reach an auditor's spreadsheet; every cell that a spreadsheet would read as a formula is prefixed
# with a quote, in every CSV the portal writes.

FORMULAS = ["=HYPERLINK(\"http://evil.example/\",\"x\")", "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(1+1)",
            "\tleading-tab", "\rleading-cr"]


def _hostile_rows(a):
    a.environment.__class__.objects.filter(pk=a.environment.pk).update(name="=1+1")
    tasks = []
    for name in FORMULAS:
        task = _migration(a)
        MigrationTask.objects.filter(pk=task.pk).update(vm_name=name)
        tasks.append(task)
    return tasks


def _assert_neutralised(lines):
    cells = [cell for line in lines[1:] for cell in line]
    assert "'=1+1" in cells
    for name in FORMULAS:
        assert "'" + name in cells, name
    assert not [cell for cell in cells if cell[:1] in ("=", "+", "-", "@", "\t", "\r")]


def test_history_csv_neutralises_formulas_in_the_api_the_page_and_the_command(world, client):
    a = world.a
    _hostile_rows(a)
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(user=a.auditor)
    _assert_neutralised(_csv(_streamed(api.get(reverse("api:history"), {"type": "migration", "format": "csv"}))))
    client.force_login(a.auditor)
    _assert_neutralised(_csv(_streamed(client.get(reverse("ui:history"), {"type": "migration", "format": "csv"}))))
    out = io.StringIO()
    call_command("task_history", "--user", a.auditor.username, "--type", "migration", "--csv", stdout=out)
    _assert_neutralised(_csv(out.getvalue()))


def test_audit_log_csv_neutralises_formulas(world, client):
    a = world.a
    for name in FORMULAS:
        AuditLog.objects.create(tenant=a.tenant, actor=a.admin, actor_username=a.admin.username,
                                action="environment.update", object_type="environment",
                                object_id=str(a.environment.pk), object_repr=name)
    client.force_login(a.auditor)
    response = client.get(reverse("ui:audit-log"), {"format": "csv"})
    assert response.status_code == 200
    lines = _csv(_streamed(response))
    reprs = [line[6] for line in lines[1:]]
    for name in FORMULAS:
        assert "'" + name in reprs, name
    assert not [cell for line in lines[1:] for cell in line if cell[:1] in ("=", "+", "-", "@", "\t", "\r")]


def test_cleanup_keeps_a_completed_job_until_its_results_carry_the_result_tag(world):
    """A job that completed before results were tagged keeps its row until the orphan sweep has tagged them:
    without either, nothing would tell the sweep that its instance or OVA is not an orphan (issue 20)."""
    a = world.a
    old = timezone.now() - 100 * D
    migration = _migration(a, created_at=old)
    MigrationTask.objects.filter(pk=migration.pk).update(instance_id="i-0aaaaaaaaaaaaaaaa", results_tagged=False)
    export = _export(a, created_at=old)
    ExportTask.objects.filter(pk=export.pk).update(s3_bucket="b", s3_key="vms/x.ova", results_tagged=False)
    history_cleanup()
    assert MigrationTask.objects.filter(pk=migration.pk).exists() and ExportTask.objects.filter(pk=export.pk).exists()
    MigrationTask.objects.filter(pk=migration.pk).update(results_tagged=True)
    ExportTask.objects.filter(pk=export.pk).update(results_tagged=True)
    history_cleanup()
    assert not MigrationTask.objects.filter(pk=migration.pk).exists()
    assert not ExportTask.objects.filter(pk=export.pk).exists()


def test_the_command_validates_its_filters_as_the_api_does(world):
    a = world.a
    with pytest.raises(CommandError, match="--type: .*not a valid choice"):
        call_command("task_history", "--user", a.auditor.username, "--type", "nonsense")
    with pytest.raises(CommandError, match="--since: "):
        call_command("task_history", "--user", a.auditor.username, "--since", "yesterday")
    out = io.StringIO()
    call_command("task_history", "--user", a.auditor.username, "--state", "queued", "--type", "migration",
                 "--since", "2000-01-01T00:00Z", stdout=out)
    assert all(" migration " in line and " queued " in line for line in out.getvalue().splitlines())
