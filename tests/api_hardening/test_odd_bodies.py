"""Request bodies the fuzzer (and a reviewer) found answering 500: each is a 400 on its field now."""

from django.urls import reverse


def test_a_related_id_past_64_bits_is_an_unknown_id(world, api):
    a = world.a
    url = reverse("api:environment-permissions", kwargs={"pk": a.environment.pk})
    for body in ({"group": 2**64, "role": "general"}, {"user": str(2**70), "role": "general"}):
        response = api.as_user(a.admin).post(url, body, format="json")
        assert response.status_code == 400, response.content
        (error,) = response.json()["errors"]
        assert error["code"] == "does_not_exist" and error["attr"] in ("group", "user")


def test_a_non_ascii_ca_certificate_is_a_field_error(world, api):
    response = api.as_user(world.a.admin).put(reverse("api:settings-vcenter"), {
        "ca_certificate_pem": "\u0006-\u0080\U0001f600", "url": "https://vc.example.com/sdk"},
        format="json")
    assert response.status_code == 400, response.content
    assert [e["attr"] for e in response.json()["errors"]] == ["ca_certificate_pem"]
