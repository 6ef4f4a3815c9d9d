"""Logging in and staying logged in: who may, what a failure leaves behind, and when API tokens stop working.

The pieces are named in settings: the authentication backends (django-axes' lockout first, then the model backend
that refuses deactivated organisations), the middleware that ends their sessions, the password "validator" that
revokes API tokens on every password change, and the receiver below that audits failed logins.
"""

from __future__ import annotations

from axes.backends import AxesStandaloneBackend
from axes.helpers import get_cool_off
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.signals import user_login_failed
from django.core.exceptions import ValidationError
from django.dispatch import receiver
from django.shortcuts import redirect
from knox.models import AuthToken
from rest_framework.throttling import ScopedRateThrottle

from core.audit import audit_auth_failure
from core.middleware import client_address
from core.models import User

TENANT_DEACTIVATED = "Your organisation's account is deactivated."
LOCKED_OUT = "Too many failed logins for this account or from this address. Try again later."


def tenant_is_active(user) -> bool:
    """Platform operators belong to no tenant; everybody else only while their tenant is active."""
    return user.tenant_id is None or user.tenant.is_active


class TenantDeactivated(ValidationError):
    """The password was right but the organisation is deactivated. A ValidationError so that the login forms (the
    login page's and the admin's, which call authenticate() from their clean()) show the message as theirs."""

    def __init__(self):
        super().__init__(TENANT_DEACTIVATED, code="tenant_inactive")


class LoginLockoutBackend(AxesStandaloneBackend):
    """django-axes' lockout check. A call without a request comes from code (the test client's login(), a shell),
    not from a client over HTTP, so there is no client address to count and nothing to lock out; axes itself would
    refuse such a call outright."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


def lockout_seconds(request) -> float | None:
    """How long a lockout lasts after the last failure (AXES_COOLOFF_TIME)."""
    cool_off = get_cool_off(request)
    return cool_off.total_seconds() if cool_off else None


class PortalModelBackend(ModelBackend):
    """Django's model backend, refusing members of a deactivated tenant with that reason (only once the password
    has been checked, so it tells nothing to someone guessing), and loading each session's user with its tenant so
    the tenant checks on every request cost no query."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is not None and not tenant_is_active(user):
            audit_auth_failure(username=user.get_username(), path=_path(request), reason="tenant_inactive")
            raise TenantDeactivated()
        return user

    def get_user(self, user_id):
        user = User._default_manager.select_related("tenant").filter(pk=user_id).first()
        return user if user is not None and self.user_can_authenticate(user) else None


class DeactivatedTenantMiddleware:
    """Ends the session of a member of a deactivated tenant on their next page request and says why on the login
    page. API views are left to their authentication classes, which answer 403 with the same message."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        # Imported here: DRF's views module loads the API authentication classes (through DRF's settings), and
        # they import this module.
        from rest_framework.views import APIView

        view_class = getattr(view_func, "cls", None)
        if isinstance(view_class, type) and issubclass(view_class, APIView):
            return None
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated or tenant_is_active(user):
            return None
        logout(request)
        messages.error(request, TENANT_DEACTIVATED)
        return redirect(settings.LOGIN_URL)


@receiver(user_login_failed, dispatch_uid="core.auth.audit_failed_login")
def audit_failed_login(sender, credentials, request=None, **kwargs):
    """Every failed authenticate() (wrong password, unknown user, locked out) on any login path. Connected when
    this module is imported: by the web process's middleware chain at start-up, and in any case by authenticate()
    itself, which loads every backend (two of them live here) before it sends the signal."""
    username = str(credentials.get(User.USERNAME_FIELD) or "")
    reason = "locked_out" if getattr(request, "axes_locked_out", False) else "invalid_credentials"
    audit_auth_failure(username=username, path=_path(request), reason=reason)


def _path(request) -> str:
    return request.path if request is not None else ""


class LoginRateThrottle(ScopedRateThrottle):
    """DRF's scoped throttle ("login" rate), keyed on the same client address as the lockout and the audit log
    (DRF's own guess believes the leftmost X-Forwarded-For entry unless NUM_PROXIES is set)."""

    def get_ident(self, request):
        return client_address(request) or ""


#
# API tokens
#


class RevokeApiTokensOnPasswordChange:
    """Not a rule for passwords: Django calls every password validator's password_changed() once a new password
    is saved, whichever way it was set (the services, the platform admin's password form, `changepassword`,
    set_password() and save() anywhere), so this is the one place that sees them all. A token obtained with the old
    password must not outlive it."""

    def validate(self, password, user=None):
        return None

    def get_help_text(self):
        return "Changing the password revokes the account's API tokens."

    def password_changed(self, password, user=None):
        if user is not None and user.pk is not None:
            AuthToken.objects.filter(user=user).delete()
