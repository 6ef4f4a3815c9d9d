"""Secrets never reach error pages or error reports: frame variables, dict keys and POST fields whose names look
secret are hidden in every frame (DEBUG or not), and the adapters' connection values do not print their secrets."""

import logging
import sys

import pytest
from django.core import mail
from django.http import HttpResponse
from django.test import Client, RequestFactory
from django.urls import path
from django.utils.log import AdminEmailHandler
from django.views.debug import technical_500_response
from pyVmomi import SoapStubAdapter, vim

from adapters.aws.client import AwsCredentials
from adapters.vsphere.client import VCenterConnection

# Built at run time: the source lines around each frame are part of the report too.
SECRET = "-".join(["Hunter2", "vcenter", "Pa55"])


def _connect(host, user, pwd):
    connection = VCenterConnection(url=f"https://{host}/sdk", username=user, password=pwd)
    credentials = AwsCredentials(access_key_id="AKIAIOSFODNN7EXAMPLE", secret_access_key=SECRET + "-aws",
                                 session_token=SECRET + "-session")
    options = {"user": user, "password": pwd, "nested": {"api_key": SECRET + "-key"}}
    url = f"redis://:{SECRET}-redis@cache.example.com:6379/0"
    raise ConnectionError(f"cannot reach {host} ({connection.url}, {len(options)} options, {url.split('@')[1]})")


def boom(request):
    password = SECRET  # noqa: F841 (a local of the failing view, like the adapter's)
    _connect("vc.example.com", "svc", SECRET)
    return HttpResponse()


urlpatterns = [path("boom/", boom)]


@pytest.fixture
def boom_urls(settings):
    settings.ROOT_URLCONF = __name__


def test_the_adapters_values_do_not_print_their_secrets():
    connection = VCenterConnection(url="https://vc/sdk", username="svc", password=SECRET)
    credentials = AwsCredentials(access_key_id="AKIA", secret_access_key=SECRET, session_token=SECRET,
                                 external_id=SECRET)
    assert SECRET not in repr(connection) and "svc" in repr(connection)
    assert SECRET not in repr(credentials) and "AKIA" in repr(credentials)
    assert connection.password == SECRET and credentials.secret_access_key == SECRET


def test_the_debug_500_page_shows_no_secret(db, boom_urls, settings):
    settings.DEBUG = True
    client = Client(raise_request_exception=False)
    response = client.post("/boom/?x=1", {"password": SECRET, "api_token": SECRET, "note": "visible-note"})
    page = response.content.decode()
    assert response.status_code == 500 and "ConnectionError" in page
    assert "_connect" in page and "vc.example.com" in page and "visible-note" in page  # still useful
    assert SECRET not in page
    assert "********************" in page


def test_the_mailed_and_logged_report_shows_no_secret(db, boom_urls, settings, caplog):
    settings.DEBUG = False
    settings.ADMINS = [("ops", "ops@example.com")]
    handler = AdminEmailHandler(include_html=True)  # Django's own mail_admins handler sends the text only
    logger = logging.getLogger("django.request")
    logger.addHandler(handler)
    try:
        with caplog.at_level(logging.ERROR, logger="django.request"):
            response = Client(raise_request_exception=False).post("/boom/", {"password": SECRET})
    finally:
        logger.removeHandler(handler)
    assert response.status_code == 500
    assert SECRET not in caplog.text and "ConnectionError" in caplog.text
    assert mail.outbox
    assert all("_connect" in m.body and SECRET not in m.body for m in mail.outbox)
    # The HTML report carries every frame's variables: the names are there, the values are not.
    html = [content for m in mail.outbox for content, _ in m.alternatives]
    assert html and all("pwd" in page and "_connect" in page and SECRET not in page for page in html)


def test_pyvmomi_frames_of_a_failed_login_show_no_password(settings):
    settings.DEBUG = True
    stub = SoapStubAdapter(host="127.0.0.1", port=-9, path="/sdk", httpConnectionTimeout=2)  # nothing listens
    try:
        vim.SessionManager("SessionManager", stub).Login("svc", SECRET, None)
    except OSError:
        exc_info = sys.exc_info()
    page = technical_500_response(RequestFactory().get("/"), *exc_info).content.decode()
    assert "SoapAdapter.py" in page and "posargs" in page
    assert SECRET not in page
