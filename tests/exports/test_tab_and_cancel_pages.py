"""The EC2-to-S3 tab's live rows (htmx asks for the table alone, which stops polling once nothing is live), and the
cancel confirmation's `next`: a same-site path is where both answers return, anything else is ignored."""

import pytest
from django.test import Client
from django.urls import reverse

from exports.choices import ExportState
from exports.models import ExportTask

TAB = "ec2-to-s3-migrations"


def _client(user):
    client = Client()
    client.force_login(user)
    return client


def _tab_url(a):
    return reverse("ui:environment-panel", args=[a.environment.pk, TAB])


def _live(a):
    """The world's export, made live again (queued: cancelling it ends it at once, with no AWS call)."""
    ExportTask.objects.filter(pk=a.export.pk).update(state=ExportState.QUEUED, progress=0)
    return ExportTask.objects.get(pk=a.export.pk)


def test_an_htmx_request_for_the_rows_gets_the_table_alone(world):
    a = world.a
    rows_url = reverse("ui:export-rows", args=[a.environment.pk])
    tab = _client(a.admin).get(_tab_url(a)).content.decode()
    assert 'id="export-rows"' in tab and 'data-polling="off"' in tab  # the world's export has completed
    _live(a)
    tab = _client(a.admin).get(_tab_url(a)).content.decode()
    assert f'hx-get="{rows_url}"' in tab and 'data-polling="on"' in tab
    rows = _client(a.admin).get(rows_url, HTTP_HX_REQUEST="true")
    html = rows.content.decode()
    assert rows.status_code == 200
    assert html.lstrip().startswith('<div id="export-rows"') and "<html" not in html and "<h2" not in html
    assert f'id="export-{a.export.pk}"' in html and "<progress" in html and 'data-polling="on"' in html
    ExportTask.objects.filter(pk=a.export.pk).update(state=ExportState.CANCELLED)
    ended = _client(a.admin).get(rows_url, HTTP_HX_REQUEST="true").content.decode()
    assert "hx-trigger" not in ended and 'data-polling="off"' in ended


def test_the_rows_keep_the_sort_and_their_cancel_link_returns_to_the_tab(world):
    a = world.a
    _live(a)
    html = _client(a.admin).get(reverse("ui:export-rows", args=[a.environment.pk]) + "?sort=state").content.decode()
    assert "?sort=state" in html  # the next poll asks for the same order
    # The cancel link names the tab (with its sort), never the rows' own URL, as where to return.
    assert f"{reverse('ui:export-cancel', args=[a.export.pk])}?next=%2Fenvironments%2F{a.environment.pk}%2Ftabs%2F" \
           f"{TAB}%2F%3Fsort%3Dstate" in html.replace("&amp;", "&")


def test_auditors_read_the_rows_without_actions(world):
    a = world.a
    _live(a)
    html = _client(a.auditor).get(reverse("ui:export-rows", args=[a.environment.pk])).content.decode()
    assert f'id="export-{a.export.pk}"' in html
    assert reverse("ui:export-cancel", args=[a.export.pk]) not in html and "Actions" not in html


@pytest.mark.parametrize("user", ["user_owner", "user_general", "user_ro"])
def test_users_are_refused_the_export_pages(world, user):
    a = world.a
    client = _client(getattr(a, user))
    assert client.get(reverse("ui:export-rows", args=[a.environment.pk])).status_code == 403
    assert client.get(reverse("ui:export-start", args=[a.instance.pk])).status_code == 403
    assert client.get(reverse("ui:export-cancel", args=[a.export.pk])).status_code == 403
    assert client.post(reverse("ui:export-cancel", args=[a.export.pk]), {"confirm": "True"}).status_code == 403
    assert client.get(reverse("ui:export-configure")).status_code == 403


def test_cancel_returns_to_a_same_site_next(world):
    a = world.a
    task = _live(a)
    cancel = reverse("ui:export-cancel", args=[task.pk])
    back = _tab_url(a) + "?sort=state&page=1"
    page = _client(a.admin).get(cancel, {"next": back}).content.decode().replace("&amp;", "&")
    assert f'href="{back}"' in page and "No, keep it running" in page  # "No" goes back where the user was
    assert f'name="next" value="{back}"' in page
    done = _client(a.admin).post(cancel, {"confirm": "True", "next": back})
    assert done.status_code == 302 and done["Location"] == back
    assert ExportTask.objects.get(pk=task.pk).state == ExportState.CANCELLED


OFF_SITE = ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)", "relative/path"]


@pytest.mark.parametrize("next_", OFF_SITE)
def test_cancel_ignores_an_off_site_next(world, next_):
    a = world.a
    task = _live(a)
    cancel = reverse("ui:export-cancel", args=[task.pk])
    page = _client(a.admin).get(cancel, {"next": next_}).content.decode()
    assert "evil.example" not in page and "javascript:" not in page
    assert f'href="{_tab_url(a)}"' in page
    done = _client(a.admin).post(cancel, {"confirm": "True", "next": next_})
    assert done.status_code == 302 and done["Location"] == _tab_url(a)


def test_migration_cancel_returns_to_a_same_site_next_only(world):
    a = world.a
    cancel = reverse("ui:migration-cancel", args=[a.migration.pk])
    tab = reverse("ui:environment-panel", args=[a.environment.pk, "vm-to-ec2-migrations"])
    client = _client(a.user_general)
    assert f"{cancel}?next=" in client.get(tab).content.decode()
    off_site = client.get(cancel, {"next": "https://evil.example/"}).content.decode()
    assert "evil.example" not in off_site and f'href="{tab}"' in off_site and "No, keep it running" in off_site
    back = tab + "?sort=state"
    page = client.get(cancel, {"next": back}).content.decode()
    assert f'href="{back}"' in page
    done = client.post(cancel, {"next": back})
    assert done.status_code == 302 and done["Location"] == back
