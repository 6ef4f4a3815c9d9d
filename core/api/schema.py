"""OpenAPI: drf-standardized-errors documents 400-500 for every operation; we add 409 for writes and 502 for
operations that call a peer, with the same error body."""

from drf_standardized_errors.openapi import AutoSchema
from drf_standardized_errors.openapi_serializers import ClientErrorEnum, ServerErrorEnum
from rest_framework import serializers

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


class ConflictErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    detail = serializers.CharField()
    attr = serializers.CharField(allow_null=True)


class ErrorResponse409Serializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=ClientErrorEnum.choices)
    errors = ConflictErrorSerializer(many=True)


class ErrorResponse502Serializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=ServerErrorEnum.choices)
    errors = ConflictErrorSerializer(many=True)


class PortalAutoSchema(AutoSchema):
    calls_peers = {"sync"}

    def _should_add_error_response(self, responses, status_code):
        if status_code == "409":
            return status_code not in responses and self.method.upper() in WRITE_METHODS
        if status_code == "502":
            return status_code not in responses and getattr(self.view, "action", None) in self.calls_peers
        return super()._should_add_error_response(responses, status_code)
