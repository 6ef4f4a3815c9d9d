import pytest


@pytest.fixture
def call(api):
    """`call(user, method, url, body=None)`: the API answering as it would a real client, server errors included
    (the test client would raise them instead)."""
    api.raise_request_exception = False

    def request(user, method, url, body=None):
        return getattr(api.as_user(user), method.lower())(url, body, format="json")

    return request


def error_body(response) -> list[dict]:
    body = response.json()
    assert set(body) == {"type", "errors"}, body
    assert body["errors"] and all(set(e) == {"code", "detail", "attr"} for e in body["errors"]), body
    return body["errors"]
