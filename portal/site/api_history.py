"""GET /api/v1/history/: the seven-day task history (administrators and auditors), paged, or as CSV of every
row matching the filters (`?format=csv`). Mounted by `portal.site.api_urls` like an app's `api/urls.py`."""

from __future__ import annotations

from django.http import StreamingHttpResponse
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.renderers import BaseRenderer, BrowsableAPIRenderer, JSONRenderer
from rest_framework.views import APIView

from core import csvsafe
from core.api.fields import LateChoiceField
from core.api.pagination import PortalPagination
from core.api.permissions import IsTenantMember
from core.api.viewsets import NeedView
from portal.site.history import (
    READ_HISTORY,
    HistoryFilters,
    csv_lines,
    history_row,
    history_rows,
    history_states,
    history_types,
)


class HistoryQuerySerializer(serializers.Serializer):
    type = LateChoiceField(choices_of=history_types, required=False)
    environment = serializers.IntegerField(min_value=1, max_value=2**63 - 1, required=False,
                                           help_text="An environment id.")
    user = serializers.IntegerField(min_value=1, max_value=2**63 - 1, required=False,
                                    help_text="The id of the user who started the task.")
    state = LateChoiceField(choices_of=history_states, required=False)
    since = serializers.DateTimeField(required=False, help_text="Created at or after (default: seven days ago).")
    until = serializers.DateTimeField(required=False, help_text="Created before.")

    def filters(self) -> HistoryFilters:
        return HistoryFilters(**self.validated_data)


class HistoryRowSerializer(serializers.Serializer):
    type = LateChoiceField(choices_of=history_types)
    id = serializers.IntegerField()
    environment_id = serializers.IntegerField()
    environment = serializers.CharField()
    user_id = serializers.IntegerField()
    user = serializers.CharField()
    state = serializers.CharField()
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    summary = serializers.CharField(help_text="VM name (migration), instance id (export), image id (backup), "
                                              "instance or image id (launch).")


class CsvRenderer(BaseRenderer):
    """Lets `?format=csv` through content negotiation; the view streams the body itself."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data if isinstance(data, (bytes, str)) else b""


class _Echo:
    def write(self, value):
        return value


class HistoryView(NeedView, APIView):
    """Every migration, export, backup and launch of the tenant (last seven days unless `since` is given), newest
    first. Administrators and auditors; `?format=csv` answers every matching row, unpaged."""

    permission_classes = [IsTenantMember]
    need = READ_HISTORY
    renderer_classes = [JSONRenderer, BrowsableAPIRenderer, CsvRenderer]
    pagination_class = PortalPagination

    @extend_schema(parameters=[HistoryQuerySerializer],
                   responses={(200, "application/json"): HistoryRowSerializer(many=True),
                              (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="Every matching row.")})
    def get(self, request):
        query = HistoryQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        rows = history_rows(fetched_by=request.user, filters=query.filters())
        if request.accepted_renderer.format == "csv":
            return csv_response(rows, filename="task-history.csv")
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(rows, request, view=self)
        return paginator.get_paginated_response(HistoryRowSerializer([history_row(r) for r in page], many=True).data)


def csv_response(rows, *, filename: str) -> StreamingHttpResponse:
    writer = csvsafe.writer(_Echo())
    response = StreamingHttpResponse((writer.writerow(line) for line in csv_lines(rows)), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


routes = []
urlpatterns = [path("history/", HistoryView.as_view(), name="history")]
