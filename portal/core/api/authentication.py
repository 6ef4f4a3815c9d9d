"""How API callers are recognised: DRF's token and session authentication, plus the portal's rules that a token
expires (API_TOKEN_LIFETIME_HOURS) and that members of a deactivated tenant are refused on every endpoint."""

from drf_spectacular.authentication import SessionScheme
from rest_framework import exceptions
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.authtoken.models import Token

from portal.core.auth import TENANT_DEACTIVATED, api_token_expired, tenant_is_active


def _refuse_deactivated_tenant(user) -> None:
    # Raised while authenticating, so it holds for views without IsTenantMember (me/) too.
    if not tenant_is_active(user):
        raise exceptions.PermissionDenied(TENANT_DEACTIVATED)


class ExpiringTokenAuthentication(TokenAuthentication):
    """`Authorization: Token <key>`; a token older than its lifetime is deleted and refused (401)."""

    model = Token

    def authenticate_credentials(self, key):
        token = Token.objects.select_related("user__tenant").filter(key=key).first()
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid token.")
        if api_token_expired(token):
            Token.objects.filter(pk=token.pk, created=token.created).delete()
            raise exceptions.AuthenticationFailed("The token has expired; obtain a new one.")
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("User inactive or deleted.")
        _refuse_deactivated_tenant(token.user)
        return token.user, token


class PortalSessionAuthentication(SessionAuthentication):
    """The browser's session (with DRF's CSRF check), refused for members of a deactivated tenant."""

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is not None:
            _refuse_deactivated_tenant(result[0])
        return result


class PortalSessionScheme(SessionScheme):
    """The OpenAPI description of the session (the token's matches subclasses by itself)."""

    target_class = PortalSessionAuthentication
