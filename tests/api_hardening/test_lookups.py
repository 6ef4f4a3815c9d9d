"""A detail route's id that cannot be a database id is a 404 in the error body, like an id that names no row, and
so is an /api/ URL that no route matches."""

import pytest
from django.urls import reverse

from core.api.viewsets import MAX_DB_ID, RestrictedViewSet, is_db_id
from portal.site.api_urls import router
from tests.api_hardening.conftest import error_body

NOT_IDS = [str(MAX_DB_ID + 1), "9" * 30, "9" * 5000, "-1", "0", "abc", "1.5", "1e3", "\u0661", " 1", "0x10"]


def test_only_positive_64_bit_decimal_integers_are_ids():
    assert is_db_id("1") and is_db_id(str(MAX_DB_ID)) and is_db_id(7)
    assert not any(is_db_id(value) for value in NOT_IDS)


def test_a_detail_id_that_cannot_be_a_row_is_not_found_on_every_detail_route(world, call):
    routes = [basename for _, viewset, basename in router.registry
              if issubclass(viewset, RestrictedViewSet) and hasattr(viewset, "retrieve")]
    assert {"user", "group", "auditlog", "region", "environment", "template", "instance", "migration"} <= set(routes)
    for basename in routes:
        for pk in NOT_IDS[:6] + ["abc"]:
            url = reverse(f"api:{basename}-detail", kwargs={"pk": "0"}).replace("/0/", f"/{pk}/")
            for method in ("GET", "PATCH", "DELETE"):
                response = call(world.a.admin, method, url, {"name": "x"})
                assert response.status_code in (404, 405), (method, url, response.content)
                if response.status_code == 404:
                    assert [e["code"] for e in error_body(response)] == ["not_found"], (method, url)


def test_the_role_gate_still_answers_first(world, call):
    response = call(world.a.user_general, "PATCH", f"/api/v1/groups/{2**64}/", {"name": "ops"})
    assert response.status_code == 403


def test_patching_a_group_past_64_bits_is_not_found(world, call):
    response = call(world.a.admin, "PATCH", f"/api/v1/groups/{2**64}/", {"name": "ops"})
    assert response.status_code == 404
    assert error_body(response)[0]["code"] == "not_found"


def test_detail_actions_refuse_ids_that_cannot_be_rows(world, call):
    env = world.a.environment.pk
    for method, url in (("POST", f"/api/v1/environments/{2**64}/sync/"),
                        ("POST", f"/api/v1/environments/{2**64}/permissions/"),
                        ("POST", f"/api/v1/instances/{2**64}/start/"),
                        ("POST", f"/api/v1/migrations/{2**64}/cancel/"),
                        ("DELETE", f"/api/v1/environments/{env}/permissions/group/{2**64}/"),
                        ("DELETE", f"/api/v1/environments/{env}/permissions/user/{2**64}/")):
        response = call(world.a.admin, method, url, {})
        assert response.status_code == 404, (url, response.content)
        assert error_body(response)[0]["code"] == "not_found"


@pytest.mark.parametrize("url", ["/api/v1/no-such-thing/", "/api/v1/groups/1/no-such-action/", "/api/v2/",
                                 "/api/nothing"])
def test_an_api_url_no_route_matches_answers_in_the_error_body(world, call, url):
    known_missing = call(world.a.admin, "GET", "/api/v1/groups/999999/")
    response = call(world.a.admin, "GET", url)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == known_missing.json()


def test_pages_keep_their_not_found_page(world, client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
