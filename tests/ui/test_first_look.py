"""What a user sees first: the dashboard (their work, through `restrict()`), the grouped header, and the side tree
whose regions load on demand, so that a page's size and queries do not grow with the tenant's environments."""

import datetime
import re

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from environments.models import Environment, Region
from environments.selectors import TREE_REGION_CAP
from migrations_app.models import MigrationTask


def _client(user):
    client = Client()
    client.force_login(user)
    return client


def _html(user, url, **params):
    response = _client(user).get(url, params)
    assert response.status_code == 200, (url, response.status_code)
    return response.content.decode()


def _migration(t, environment, *, state, finished_at=None, vm="vm", **fields):
    return MigrationTask.objects.create(
        tenant=t.tenant, environment=environment, region=environment.region, created_by=t.user_general,
        vm_moref=f"vm-{vm}", vm_name=vm, operating_system="ubuntu-22.04", instance_type="t3.micro", subnet=t.subnet,
        security_group=t.security_group, state=state, finished_at=finished_at, **fields)


def _more_environments(t, region, count, prefix="bulk"):
    Environment.objects.bulk_create([Environment(tenant=t.tenant, region=region, name=f"{prefix}-{k:05d}")
                                     for k in range(count)])


#
# Dashboard
#


def test_dashboard_shows_live_work_with_progress_and_recent_failures(world):
    a = world.a
    running = _migration(a, a.environment, state="uploading", vm="running-vm", bytes_total=100, bytes_exported=100,
                         bytes_uploaded=50)
    failed = _migration(a, a.environment, state="failed", vm="broken-vm", finished_at=timezone.now(),
                        status_message="vCenter refused the lease")
    html = _html(a.admin, reverse("ui:home"))
    assert f'id="dash-migration-{running.pk}"' in html
    assert f'id="dash-migration-{a.migration.pk}"' in html and "waiting for a slot" in html  # the world's is queued
    assert 'aria-label="Progress of running-vm"' in html and 'value="50"' in html
    assert f'id="dash-failed-migration-{failed.pk}"' in html and "vCenter refused the lease" in html
    assert "VPC CIDR block" in html and "Vpc cidr block" not in html


def test_dashboard_lists_only_what_the_user_may_see(world):
    a, b = world.a, world.b
    ungranted = _migration(a, a.other_environment, state="exporting", vm="dev-vm")
    ungranted_failure = _migration(a, a.other_environment, state="failed", vm="dev-broken",
                                   finished_at=timezone.now())
    theirs = _migration(b, b.environment, state="exporting", vm="their-vm")
    html = _html(a.user_general, reverse("ui:home"))
    assert f'id="dash-migration-{a.migration.pk}"' in html
    for hidden in (ungranted, theirs):
        assert f'id="dash-migration-{hidden.pk}"' not in html
    assert f'id="dash-failed-migration-{ungranted_failure.pk}"' not in html and "dev-broken" not in html
    assert "their-vm" not in html and "dev-vm" not in html
    # The auditor reads the whole tenant's work, and the other tenant's stays out.
    audited = _html(a.auditor, reverse("ui:home"))
    assert f'id="dash-migration-{ungranted.pk}"' in audited and "their-vm" not in audited


def test_failures_older_than_seven_days_are_not_shown(world):
    a = world.a
    old = _migration(a, a.environment, state="failed", vm="old-broken",
                     finished_at=timezone.now() - datetime.timedelta(days=8))
    recent = _migration(a, a.environment, state="failed", vm="new-broken",
                        finished_at=timezone.now() - datetime.timedelta(days=6))
    html = _html(a.admin, reverse("ui:home"))
    assert f'id="dash-failed-migration-{recent.pk}"' in html
    assert f'id="dash-failed-migration-{old.pk}"' not in html and "old-broken" not in html


def test_migrate_a_vm_only_for_those_who_may_migrate(world):
    a = world.a
    action = f'<a href="{reverse("ui:vms")}" role="button" class="dash-action">Migrate a VM</a>'
    for who in (a.admin, a.user_general, a.user_owner):
        assert action in _html(who, reverse("ui:home")), who.username
    for who in (a.auditor, a.user_ro, a.user_nogrant):
        assert "Migrate a VM" not in _html(who, reverse("ui:home")), who.username


def test_connector_status_for_administrators_and_auditors_only(world):
    a = world.a
    for who in (a.admin, a.auditor):
        assert 'id="dash-connector"' in _html(who, reverse("ui:home"))
    assert 'id="dash-connector"' not in _html(a.user_general, reverse("ui:home"))


#
# Header
#


def test_admin_links_are_grouped_and_the_group_of_the_current_page_is_marked(world):
    a = world.a
    html = _html(a.admin, reverse("ui:users"))
    assert '<summary aria-current="true">Administration</summary>' in html
    assert "<summary>Audit</summary>" in html
    assert f'<a href="{reverse("ui:users")}" aria-current="page">Users &amp; groups</a>' in html
    for name in ("settings", "vmimport-role", "connector", "webhooks", "history", "audit-log"):
        assert f'href="{reverse("ui:" + name)}"' in html, name
    audit = _html(a.admin, reverse("ui:history"))
    assert '<summary aria-current="true">Audit</summary>' in audit
    assert "<summary>Administration</summary>" in audit
    plain = _html(a.user_general, reverse("ui:home"))
    assert "Administration" not in plain and "<summary>Audit</summary>" not in plain


#
# Tree
#


def test_region_endpoint_lists_only_the_environments_the_user_may_see(world):
    a, b = world.a, world.b
    html = _html(a.user_ro, reverse("ui:tree-region", args=[a.region.pk]))
    assert reverse("ui:environment", args=[a.environment.pk]) in html
    assert reverse("ui:environment", args=[a.other_environment.pk]) not in html
    assert reverse("ui:environment-instances", args=[a.environment.pk]) in html
    # htmx gets the list alone, to put into the tree; without JavaScript it comes as a page.
    fragment = _client(a.user_ro).get(reverse("ui:tree-region", args=[a.region.pk]), HTTP_HX_REQUEST="true")
    assert fragment.content.decode().lstrip().startswith("<ul>") and "<html" in html
    assert _client(a.user_ro).get(reverse("ui:tree-region", args=[b.region.pk])).status_code == 404
    assert _client(a.user_nogrant).get(reverse("ui:tree-region", args=[a.region.pk])).status_code == 404


def test_search_finds_only_restricted_environments(world):
    a, b = world.a, world.b
    found = _html(a.admin, reverse("ui:tree-search"), q="de")
    assert reverse("ui:environment", args=[a.other_environment.pk]) in found
    assert reverse("ui:environment", args=[b.other_environment.pk]) not in found
    ro = _html(a.user_ro, reverse("ui:tree-search"), q="d")
    assert reverse("ui:environment", args=[a.environment.pk]) in ro
    assert reverse("ui:environment", args=[a.other_environment.pk]) not in ro
    assert "No environment named like" in _html(a.user_ro, reverse("ui:tree-search"), q="zzz")


def test_current_region_is_open_and_the_others_load_when_opened(world):
    a = world.a
    other = Region.objects.create(tenant=a.tenant, code="eu-west-1")
    far = Environment.objects.create(tenant=a.tenant, region=other, name="far-away")
    html = _html(a.admin, reverse("ui:environment", args=[a.environment.pk]))
    assert f'<a href="{reverse("ui:environment", args=[a.environment.pk])}" aria-current="page">prod</a>' in html
    assert f'hx-get="{reverse("ui:tree-region", args=[other.pk])}"' in html
    assert reverse("ui:environment", args=[far.pk]) not in html
    assert reverse("ui:environment", args=[far.pk]) in _html(a.admin, reverse("ui:tree-region", args=[other.pk]))


def test_a_crowded_region_is_capped_and_keeps_the_current_environment(world):
    a = world.a
    _more_environments(a, a.region, TREE_REGION_CAP + 10, prefix="aaa")  # all sort before "prod"
    html = _html(a.admin, reverse("ui:environment", args=[a.environment.pk]))
    assert f'<a href="{reverse("ui:environment", args=[a.environment.pk])}" aria-current="page">' in html
    assert "More environments: search to find them." in html
    region = _html(a.admin, reverse("ui:tree-region", args=[a.region.pk]))
    assert len(re.findall(r'<li><a href="/environments/\d+/">', region)) == TREE_REGION_CAP
    assert "More environments: search to find them." in region


def _measure(client, url):
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured.captured_queries), len(response.content)


def test_tree_pages_do_not_grow_with_the_number_of_environments(world):
    """Deterministic stand-in for bench/scale.py's tree_ratio: queries and bytes at 100 more and 1,000 more
    environments (in the current region and in a collapsed one) are the same."""
    a = world.a
    other = Region.objects.create(tenant=a.tenant, code="eu-west-1")
    client = _client(a.admin)
    urls = [reverse("ui:home"), reverse("ui:environment", args=[a.environment.pk]),
            reverse("ui:environment-panel", args=[a.environment.pk, "vm-to-ec2-migrations"]),
            reverse("ui:tree-region", args=[a.region.pk]), reverse("ui:tree-search") + "?q=x"]
    # Names sort after the world's, so the capped lists hold the same rows at both sizes.
    _more_environments(a, a.region, 100, prefix="x-small")
    _more_environments(a, other, 100, prefix="x-small")
    small = {url: _measure(client, url) for url in urls}
    _more_environments(a, a.region, 1000, prefix="x-zlarge")
    _more_environments(a, other, 1000, prefix="x-zlarge")
    large = {url: _measure(client, url) for url in urls}
    for url in urls:
        (q_small, b_small), (q_large, b_large) = small[url], large[url]
        assert q_large == q_small, (url, q_small, q_large)
        # The counts in the tree and the table's paginator grow by a few digits, nothing more.
        assert b_large - b_small < 200, (url, b_small, b_large)


def test_dashboard_lists_every_kind_from_the_registry(world):
    """Exports, backups and launches show like migrations, without the dashboard naming them."""
    a = world.a
    a.export.state, a.export.progress = "exporting", 30
    a.export.save(update_fields=["state", "progress"])
    a.backup.state = "creating"
    a.backup.save(update_fields=["state"])
    html = _html(a.admin, reverse("ui:home"))
    assert f'id="dash-export-{a.export.pk}"' in html and 'value="30"' in html
    assert f'id="dash-backup-{a.backup.pk}"' in html
    assert f'id="dash-launch-{a.launch.pk}"' in html
    # Exports are administrators' (auditors read them); a plain user sees none of them.
    assert f'id="dash-export-{a.export.pk}"' not in _html(a.user_general, reverse("ui:home"))
