"""The vmimport role's region is checked against the AWS region codes before anything uses it."""

from urllib.parse import urlencode

from tests.api_hardening.conftest import error_body

URL = "/api/v1/settings/vmimport-role/"


UNKNOWN = ["0000000000000000", "0" * 40, "us-middle-7", "\u00fc", "\u0443\u0441-east-1", "US-EAST-1", "eu-west-1/../x",
           "us-east-1\x00", ""]


def test_an_unknown_region_is_a_400_on_the_region_field(world, call):
    for region in UNKNOWN:
        for method, response in (("GET", call(world.a.admin, "GET", f"{URL}?{urlencode({'region': region})}")),
                                 ("POST", call(world.a.admin, "POST", URL, {"region": region}))):
            assert response.status_code == 400, (region, method, response.content)
            assert {e["attr"] for e in error_body(response)} == {"region"}, (region, method)


def test_a_known_region_gets_past_validation(world, call):
    # No AWS account is configured: the answer is about that, not about the region.
    for response in (call(world.a.admin, "GET", f"{URL}?region=eu-west-1"),
                     call(world.a.admin, "POST", URL, {"region": "eu-west-1"})):
        assert response.status_code != 500
        assert "region" not in [e["attr"] for e in error_body(response)]
