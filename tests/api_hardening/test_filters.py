"""A list filter on a related row answers an id the caller may not see (another tenant's, or one of their own
tenant's outside their grants) exactly as it answers an id that does not exist."""

import re

import pytest
from django.urls import reverse
from django_filters.filters import DateTimeFilter, QuerySetRequestMixin
from django_filters.utils import get_model_field

from core.api.filters import RestrictedFilterBackend, RestrictedFilterSet
from core.querysets import restriction_of
from portal.site.api_urls import router
from tests.world import actor

CALLERS = ("admin", "auditor", "user_general", "user_ro", "user_nogrant")


def _filtered_viewsets():
    for prefix, viewset, basename in router.registry:
        backends = getattr(viewset, "filter_backends", [])
        filterset = None
        for backend in backends:
            filterset = backend().get_filterset_class(viewset(), getattr(viewset, "base_queryset", None)) or filterset
        if filterset is not None:
            yield basename, viewset, backends, filterset


def _fk_filters():
    for basename, viewset, _, filterset in _filtered_viewsets():
        for name, filter_ in filterset.base_filters.items():
            if isinstance(filter_, QuerySetRequestMixin):
                related = get_model_field(filterset._meta.model, filter_.field_name).related_model
                yield pytest.param(basename, name, related, name in filterset.tenant_scoped_choices,
                                   id=f"{basename}?{name}")


def test_every_filtered_viewset_filters_through_the_restricted_base():
    found = list(_filtered_viewsets())
    assert {basename for basename, *_ in found} >= {"user", "auditlog", "environment", "region", "template",
                                                    "instance", "migration"}
    for basename, viewset, backends, filterset in found:
        assert all(issubclass(b, RestrictedFilterBackend) for b in backends), basename
        assert issubclass(filterset, RestrictedFilterSet), basename


def test_there_are_related_row_filters_to_check():
    assert {p.id for p in _fk_filters()} >= {"auditlog?actor", "environment?region", "template?environment",
                                             "instance?environment", "migration?environment"}


def _shape(response, replace: str):
    body = response.json()
    if response.status_code == 200:
        return 200, "rows" if body.get("results") else "empty"
    return response.status_code, body["type"], [
        (e["code"], e["attr"], e["detail"].replace(replace, "<id>")) for e in body["errors"]]


@pytest.mark.parametrize("basename, name, related, tenant_scoped", list(_fk_filters()))
def test_an_id_the_caller_may_not_see_is_answered_like_a_missing_one(world, api, basename, name, related,
                                                                      tenant_scoped):
    url = reverse(f"api:{basename}-list")
    tenant_path = restriction_of(related).tenant_path
    missing = str((related.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1000)
    checked = 0
    for caller in CALLERS:
        user = actor(world, caller)
        client = api.as_user(user)
        if client.get(url).status_code != 200:
            continue  # this caller may not list at all
        expected = _shape(client.get(url, {name: missing}), missing)
        assert expected[0] == 400, (caller, expected)
        hidden = [related.objects.filter(**{tenant_path: world.b.tenant.pk}).first()]
        if not tenant_scoped:
            visible = related.objects.all().restrict(user, "view").values("pk")
            hidden.append(related.objects.filter(**{tenant_path: world.a.tenant.pk}).exclude(pk__in=visible).first())
        hidden = [row for row in hidden if row is not None]
        assert hidden, caller
        for row in hidden:
            assert _shape(client.get(url, {name: str(row.pk)}), str(row.pk)) == expected, (caller, row)
            checked += 1
    assert checked


@pytest.mark.parametrize("caller, name, value", [
    ("admin", "environment", lambda w: w.a.environment.pk),
    ("user_general", "environment", lambda w: w.a.environment.pk),
])
def test_an_id_the_caller_may_see_still_filters(world, api, caller, name, value):
    response = api.as_user(actor(world, caller)).get(reverse("api:migration-list"), {name: value(world)})
    assert response.status_code == 200
    assert [row["id"] for row in response.json()["results"]] == [world.a.migration.pk]


def test_auditors_filter_the_log_by_any_actor_of_their_tenant(world, api):
    client = api.as_user(world.a.auditor)
    response = client.get(reverse("api:auditlog-list"), {"actor": world.a.admin.pk})
    assert response.status_code == 200
    assert response.json()["results"] and {r["actor"] for r in response.json()["results"]} == {world.a.admin.pk}
    assert re.search("valid choice", client.get(reverse("api:auditlog-list"), {"actor": world.b.admin.pk}).json()[
        "errors"][0]["detail"])


def test_times_outside_the_storable_range_are_bad_input(world, api):
    client = api.as_user(world.a.admin)
    datetime_filters = [(basename, name) for basename, _, _, filterset in _filtered_viewsets()
                        for name, filter_ in filterset.base_filters.items() if isinstance(filter_, DateTimeFilter)]
    assert {("migration", "until"), ("auditlog", "since")} <= set(datetime_filters)
    for basename, name in datetime_filters:
        url = reverse(f"api:{basename}-list")
        for value in ("0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00"):
            response = client.get(url, {name: value})
            assert response.status_code == 400, (basename, name, value, response.content)
            assert [(e["code"], e["attr"]) for e in response.json()["errors"]] == [("invalid", name)]
        # Offsets PostgreSQL would refuse in a query are fine once the time is in UTC.
        for value in ("0001-01-01T00:00:00Z", "0296-08-16T04:44:33+22:28", "2020-01-01T00:00:00-23:59"):
            assert client.get(url, {name: value}).status_code == 200, (basename, name, value)
