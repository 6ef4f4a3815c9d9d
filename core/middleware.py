"""Remembers where the current request came from, so audit rows written deep in services can say so."""

import contextvars
import ipaddress

from django.conf import settings

current_remote_addr: contextvars.ContextVar[str | None] = contextvars.ContextVar("current_remote_addr", default=None)


def client_address(request) -> str | None:
    """The client's IP address, the one thing the audit log and the login lockout (django-axes) both key on.

    With TRUSTED_PROXY_COUNT = 0 it is REMOTE_ADDR. Behind n trusted proxies that each append the address they
    received from to X-Forwarded-For, it is the n-th entry from the right: everything left of it is whatever the
    client sent, so a forged header changes nothing. A header with fewer entries than proxies means the request did
    not pass through all of them, and then only the connection's own address is believed.

    Worked out once per request and kept on it (the middleware below and the view both ask)."""
    try:
        return request._client_address
    except AttributeError:
        request._client_address = _client_address(request)
        return request._client_address


def _client_address(request) -> str | None:
    remote = _ip(request.META.get("REMOTE_ADDR", ""))
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies <= 0:
        return remote
    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    if len(hops) < proxies:
        return remote
    # A trusted proxy wrote this entry; if it is not an address the proxy is misconfigured, and the connection's
    # address (the proxy itself) is still better than text in the audit log's address column.
    return _ip(hops[-proxies]) or remote


def _ip(value: str) -> str | None:
    value = value.strip()
    if value.startswith("[") and "]" in value:  # "[2001:db8::1]:443"
        value = value[1:value.index("]")]
    elif value.count(":") == 1:  # "192.0.2.1:443"
        value = value.split(":")[0]
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


class RequestContextMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = current_remote_addr.set(client_address(request))
        try:
            return self.get_response(request)
        finally:
            current_remote_addr.reset(token)
