"""The audit log's vocabulary (core.audit_actions: the services' AuditAction, and every job kind's transitions
from the registry): what the product writes, what it refuses, and the filters that offer it."""

import csv
import io

import pytest
from django.apps import apps
from django.test import Client
from django.urls import reverse

from core.audit import audit_record
from core.audit_actions import AuditAction, action_choices, families
from core.errors import InvariantViolation
from core.models import AuditLog


def _job_models():
    """Every model a worker drives under a lease: each of them audits its transitions as `<kind>.<state>`."""
    return [model for model in apps.get_models()
            if not model._meta.abstract and {"lease_epoch", "state"} <= {f.name for f in model._meta.fields}]


def test_every_state_of_every_job_has_its_action():
    models = _job_models()
    # The engine audits every transition as `<kind name>.<state>`; a job model outside the registry has no kind.
    kinds = {model: model.job_kind.name if model.job_kind else "" for model in models}
    assert {"migration", "export", "backup", "launch"} <= set(kinds.values()), kinds
    vocabulary = dict(action_choices())
    missing = [f"{kinds[model]}.{state}" for model in models for state, _ in model._meta.get_field("state").choices
               if f"{kinds[model]}.{state}" not in vocabulary]
    assert not [model for model, kind in kinds.items() if not kind], "a job model without an audit kind"
    assert missing == []


def test_every_family_has_a_readable_label():
    for family, label, actions in families():
        assert actions and label != family, family
        assert all(action.startswith(f"{family}.") for action, _ in actions)


def test_an_action_outside_the_vocabulary_is_refused_and_nothing_is_written(db):
    before = AuditLog.objects.count()
    for action in ("migration.teleported", "Migration.Create", "", None):
        with pytest.raises(InvariantViolation, match="not an audit action"):
            audit_record(actor=None, action=action)
    assert AuditLog.objects.count() == before


def test_a_member_or_its_value_is_recorded(db):
    # The job transitions build their action as text; it is checked against the vocabulary all the same.
    kind, to = "migration", "exporting"
    built = audit_record(actor=None, action=f"{kind}.{to}")
    member = audit_record(actor=None, action=AuditAction.BACKUP_CREATE)
    assert [AuditLog.objects.get(pk=row.pk).action for row in (built, member)] == ["migration.exporting",
                                                                                  "backup.create"]


def test_the_api_filter_refuses_an_unknown_action_and_filters_by_a_known_one(world, api):
    client = api.as_user(world.a.auditor)
    url = reverse("api:auditlog-list")
    refused = client.get(url, {"action": "environment.granted"})
    assert refused.status_code == 400
    assert (refused.json()["errors"][0]["attr"], refused.json()["errors"][0]["code"]) == ("action", "invalid_choice")
    assert "environment.granted is not an audit action" in refused.json()["errors"][0]["detail"]
    rows = client.get(url, {"action": AuditAction.ENVIRONMENT_GRANT}).json()["results"]
    assert rows and {row["action"] for row in rows} == {"environment.grant"}


def test_the_api_schema_lists_the_vocabulary(world, api):
    schema = api.as_user(world.a.auditor).get(reverse("schema"), {"format": "json"}).json()
    parameters = schema["paths"]["/api/v1/audit-log/"]["get"]["parameters"]
    action = next(p for p in parameters if p["name"] == "action")
    assert set(action["schema"]["enum"]) == set(dict(action_choices()))
    assert {"migration.exporting", "launch.completed", "environment.grant"} <= set(action["schema"]["enum"])


def _page(user, query):
    client = Client()
    client.force_login(user)
    return client.get(reverse("ui:audit-log"), query)


def test_the_page_filter_offers_the_vocabulary_grouped_by_family(world):
    html = _page(world.a.auditor, {}).content.decode()
    assert '<select name="action"' in html and '<optgroup label="Migrations">' in html
    for action, label in action_choices():
        assert f'<option value="{action}">{label} ({action})</option>' in html
    assert '<option value="backup.creating">Backup: creating the image (backup.creating)</option>' in html
    assert '<option value="migration.*">' in html


def _csv_actions(user, action):
    response = _page(user, {"action": action, "format": "csv"})
    return [row[2] for row in list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))[1:]]


def test_the_page_filters_by_an_action_or_by_its_family(world):
    a = world.a
    exact = _csv_actions(a.auditor, "environment.grant")
    assert exact and set(exact) == {"environment.grant"}
    family = _csv_actions(a.auditor, "environment.*")
    assert family and all(action.startswith("environment.") for action in family)
    assert {"environment.grant", "environment.create"} <= set(family)


def test_rows_written_before_the_vocabulary_still_read(world, api):
    a = world.a
    AuditLog.objects.create(tenant=a.tenant, action="environment.renamed")
    rows = api.as_user(a.auditor).get(reverse("api:auditlog-list")).json()["results"]
    assert "environment.renamed" in {row["action"] for row in rows}
    assert ">environment.renamed</span>" in _page(a.auditor, {}).content.decode()
    assert "environment.renamed" in _csv_actions(a.auditor, "environment.*")
