"""How API callers are recognised: django-rest-knox's tokens (only a SHA-512 digest and a short clear prefix are
stored; a token past its expiry is deleted and refused) and DRF's session authentication, plus the portal's rule
that members of a deactivated tenant are refused on every endpoint."""

from drf_spectacular.authentication import SessionScheme
from drf_spectacular.contrib.knox_auth_token import KnoxTokenScheme
from knox.auth import TokenAuthentication
from rest_framework import exceptions
from rest_framework.authentication import SessionAuthentication

from core.auth import TENANT_DEACTIVATED, tenant_is_active

TOKEN_EXPIRED = "The token has expired; obtain a new one."


def _refuse_deactivated_tenant(user) -> None:
    # Raised while authenticating, so it holds for views without IsTenantMember (me/) too.
    if not tenant_is_active(user):
        raise exceptions.PermissionDenied(TENANT_DEACTIVATED)


class ExpiringTokenAuthentication(TokenAuthentication):
    """`Authorization: Token <token>`. knox answers "Invalid token." for an expired one too; the caller is told it
    expired, so a script knows to obtain a new one rather than suspect a typo."""

    def authenticate_credentials(self, token):
        self._expired = False
        try:
            user, auth_token = super().authenticate_credentials(token)
        except exceptions.AuthenticationFailed:
            if self._expired:
                raise exceptions.AuthenticationFailed(TOKEN_EXPIRED) from None
            raise
        _refuse_deactivated_tenant(user)
        return user, auth_token

    def _cleanup_token(self, auth_token) -> bool:
        # Called for the tokens sharing the presented token's clear prefix, before the digest is compared.
        expired = super()._cleanup_token(auth_token)
        self._expired = self._expired or expired
        return expired


class PortalSessionAuthentication(SessionAuthentication):
    """The browser's session (with DRF's CSRF check), refused for members of a deactivated tenant."""

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is not None:
            _refuse_deactivated_tenant(result[0])
        return result


class PortalSessionScheme(SessionScheme):
    """The OpenAPI description of the session."""

    target_class = PortalSessionAuthentication


class PortalTokenScheme(KnoxTokenScheme):
    """The OpenAPI description of the token (`Authorization: Token <token>`), named as before knox."""

    target_class = ExpiringTokenAuthentication
    name = "tokenAuth"
