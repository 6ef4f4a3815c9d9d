"""How the API shows service errors: one error body (drf-standardized-errors), each PortalError kind mapped to
its HTTP status, denials audited."""

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from django.db.models import ProtectedError
from django.http import Http404
from drf_standardized_errors.handler import ExceptionHandler
from rest_framework import exceptions, status
from rest_framework.serializers import as_serializer_error

from core import errors
from core.audit_actions import AuditAction
from core.models import AuditOutcome

logger = logging.getLogger("core.api")


class ConflictError(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state."
    default_code = "conflict"


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request is larger than this endpoint accepts."
    default_code = "payload_too_large"


class UpstreamAPIError(exceptions.APIException):
    status_code = status.HTTP_502_BAD_GATEWAY
    default_detail = "A peer system failed."
    default_code = "upstream_error"


def _api_error(exc: errors.PortalError) -> exceptions.APIException:
    if exc.kind == "invalid":
        return exceptions.ValidationError({exc.field: [exc.message]} if exc.field else [exc.message], code=exc.code)
    if exc.kind == "forbidden":
        return exceptions.PermissionDenied(exc.message, code=exc.code)
    if exc.kind == "not_found":
        return exceptions.NotFound(exc.message, code=exc.code)
    if exc.kind == "conflict":
        return ConflictError(exc.message, code=exc.code)
    if exc.kind == "upstream":
        return UpstreamAPIError(exc.message, code=exc.code)
    raise errors.InvariantViolation(f"no HTTP answer for error kind {exc.kind!r}")


class PortalExceptionHandler(ExceptionHandler):
    def convert_known_exceptions(self, exc):
        if isinstance(exc, errors.PortalError):
            return _api_error(exc)
        if isinstance(exc, DjangoValidationError):
            return exceptions.ValidationError(as_serializer_error(exc))
        if isinstance(exc, IntegrityError):
            # A concurrent request won a uniqueness race the service's own check could not see.
            return ConflictError("The request conflicts with data written concurrently; reload and retry.")
        if isinstance(exc, ProtectedError):
            return ConflictError("Other records still use this object.", code="in_use")
        if isinstance(exc, RequestDataTooBig):
            # Django refuses a body beyond DATA_UPLOAD_MAX_MEMORY_SIZE when it is read: the caller's, not a crash.
            return PayloadTooLarge()
        return super().convert_known_exceptions(exc)

    def report_exception(self, exc, response):
        # A peer's failure is an expected condition with a message for the user, not a server bug: log it, but do
        # not signal got_request_exception (error trackers, and the test client, treat that as a crash).
        if isinstance(exc, UpstreamAPIError):
            logger.warning("peer failure: %s", exc.detail)
            return
        super().report_exception(exc, response)

    def run(self):
        response = super().run()
        self._audit_denial()
        return response

    def _audit_denial(self):
        exc = self.exc
        if not isinstance(exc, (exceptions.PermissionDenied, exceptions.NotFound, Http404, DjangoPermissionDenied)):
            return
        request = self.context.get("request")
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return
        from core.audit import audit_record

        audit_record(actor=user, action=AuditAction.API_DENIED, outcome=AuditOutcome.DENIED, detail={
            "method": request.method, "path": request.get_full_path()[:500],
            "status": 404 if not isinstance(exc, (exceptions.PermissionDenied, DjangoPermissionDenied)) else 403,
        })
