"""One error body for the whole API (drf-standardized-errors), service errors mapped to HTTP, denials audited."""

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from django.db.models import ProtectedError
from django.http import Http404
from drf_standardized_errors.handler import ExceptionHandler
from rest_framework import exceptions, status
from rest_framework.serializers import as_serializer_error

from portal import errors
from portal.models import AuditOutcome

logger = logging.getLogger("portal.api")


class ConflictError(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state."
    default_code = "conflict"


class UpstreamAPIError(exceptions.APIException):
    status_code = status.HTTP_502_BAD_GATEWAY
    default_detail = "A peer system failed."
    default_code = "upstream_error"


class PortalExceptionHandler(ExceptionHandler):
    def convert_known_exceptions(self, exc):
        if isinstance(exc, errors.Conflict):
            return ConflictError(exc.message, code=exc.code)
        if isinstance(exc, errors.Forbidden):
            return exceptions.PermissionDenied(exc.message, code=exc.code)
        if isinstance(exc, errors.NotFound):
            return exceptions.NotFound(exc.message)
        if isinstance(exc, errors.UpstreamError):
            return UpstreamAPIError(exc.message, code=exc.code)
        if isinstance(exc, DjangoValidationError):
            return exceptions.ValidationError(as_serializer_error(exc))
        if isinstance(exc, IntegrityError):
            # A concurrent request won a uniqueness race the service's own check could not see.
            return ConflictError("The request conflicts with data written concurrently; reload and retry.")
        if isinstance(exc, ProtectedError):
            return ConflictError("Other records still use this object.", code="in_use")
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
        from portal.audit import audit_record

        audit_record(actor=user, action="api.denied", outcome=AuditOutcome.DENIED, detail={
            "method": request.method, "path": request.get_full_path()[:500],
            "status": 404 if not isinstance(exc, (exceptions.PermissionDenied, DjangoPermissionDenied)) else 403,
        })
