"""Model validation shared by every service: full_clean() before save, uniqueness clashes become 409, updates
that touch only the fields a service lists, and the tenant invariant."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError

from core.errors import Conflict, InvariantViolation

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


def model_update(*, instance, fields: Iterable[str], data: Mapping, exclude: list[str] | None = None) -> None:
    """Set the listed fields that `data` carries, validate and save.

    A key of `data` outside `fields` is a caller's bug (a serializer or form that lets through a field its service
    never meant to change), so it raises instead of being saved or silently dropped."""
    allowed = set(fields)
    unexpected = set(data) - allowed
    if unexpected:
        raise InvariantViolation(f"{type(instance).__name__} update cannot set {sorted(unexpected)}")
    for name, value in data.items():
        setattr(instance, name, value)
    validated_save(instance, exclude=exclude)


def non_field_error(message: str, code: str = "invalid") -> ValidationError:
    return ValidationError({NON_FIELD_ERRORS: [ValidationError(message, code=code)]})


def same_tenant(*objects) -> None:
    """Services receive objects that came through `restrict()`; two tenants meeting in one call is a bug, never a
    user-facing error."""
    from core.models import Tenant

    tenants = {o.pk if isinstance(o, Tenant) else o.tenant_id for o in objects}
    if len(tenants) != 1 or None in tenants:
        raise InvariantViolation("cross-tenant objects reached a service")
