"""Model validation shared by every service: full_clean() before save, uniqueness clashes become 409."""

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError

from portal.errors import Conflict

_UNIQUENESS_CODES = {"unique", "unique_together"}


def validated_save(obj, *, exclude: list[str] | None = None) -> None:
    try:
        obj.full_clean(exclude=exclude)
    except ValidationError as exc:
        errors = [e for field_errors in exc.error_dict.values() for e in field_errors] if hasattr(exc, "error_dict") \
            else exc.error_list
        if errors and all(e.code in _UNIQUENESS_CODES for e in errors):
            raise Conflict(" ".join(m for e in errors for m in e.messages), code="duplicate") from exc
        raise
    obj.save()


def non_field_error(message: str, code: str = "invalid") -> ValidationError:
    return ValidationError({NON_FIELD_ERRORS: [ValidationError(message, code=code)]})


def same_tenant(*objects) -> None:
    """Services receive objects that came through `restrict()`; two tenants meeting in one call is a bug, so it is
    an assertion, never a user-facing error."""
    from portal.models import Tenant

    tenants = {o.pk if isinstance(o, Tenant) else o.tenant_id for o in objects}
    assert len(tenants) == 1 and None not in tenants, "cross-tenant objects reached a service"
