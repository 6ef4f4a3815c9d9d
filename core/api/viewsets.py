"""The base every API view uses: each DRF action declares its `Need`; the role gate (403) and the restricted
queryset (404) are both read from it, so they cannot disagree."""

from __future__ import annotations

from django.http import Http404
from rest_framework import mixins, viewsets

from core.api.fields import MAX_DB_ID
from core.api.filters import RestrictedFilterBackend
from core.querysets import Need
from core.roles import Action, TenantRole

ALL_ROLES = frozenset(TenantRole.values)
DEFAULT_NEEDS = {
    "list": Need(Action.VIEW), "retrieve": Need(Action.VIEW), "create": Need(Action.ADMIN),
    "update": Need(Action.ADMIN), "partial_update": Need(Action.ADMIN), "destroy": Need(Action.ADMIN),
}

# Ids are 64-bit signed integers on every database we run on.


def is_db_id(value) -> bool:
    """Whether `value`, as it came in a URL, can name a row at all.

    Anything else is answered 404 before it reaches the database: on SQLite an id past 64 bits raises OverflowError
    (a 500) on the lookups Django does not range-check itself, such as a parent link's (TenantGroup's pk)."""
    text = str(value)
    # The length check first: int() of thousands of digits is slow, and refused past sys.get_int_max_str_digits().
    return 0 < len(text) <= len(str(MAX_DB_ID)) and text.isascii() and text.isdigit() and 0 < int(text) <= MAX_DB_ID


class RestrictedViewSet(viewsets.GenericViewSet):
    """Subclasses declare `base_queryset` (a RestrictedQuerySet) and, where the defaults above do not fit,
    `needs`: DRF action (or (action, HTTP method)) -> Need.

    A role that may never do something gets 403; a row the user may not act on is simply not in the
    queryset, so it answers 404 exactly like a row that does not exist."""

    base_queryset = None
    needs: dict = {}
    filter_backends = (RestrictedFilterBackend,)

    def need(self) -> Need:
        method = self.request.method if self.request is not None else None
        return self.needs.get((self.action, method)) or self.needs.get(self.action) or \
            DEFAULT_NEEDS.get(self.action, Need(Action.VIEW))

    def allowed_roles(self) -> frozenset:
        if self.action in (None, "metadata"):
            return ALL_ROLES  # OPTIONS describes the endpoint; it reads no rows
        return self.need().roles(self.base_queryset.model)

    def get_queryset(self):
        return self.base_queryset.all().restrict(self.request.user, self.need().rows)

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        # After the role gate, so a role that may never act still gets its 403. Every URL argument that names a
        # row is checked, not only the lookup: detail actions take more ids (`principal_id`), and each one reaches
        # a query.
        if any(not is_db_id(value) for name, value in kwargs.items() if self._names_a_row(name)):
            raise Http404

    def _names_a_row(self, url_kwarg: str) -> bool:
        return url_kwarg.endswith("_id") or (self.lookup_field == "pk" and url_kwarg == (self.lookup_url_kwarg or "pk"))

    def get_serializer_context(self):
        context = super().get_serializer_context()
        context["actor"] = self.request.user
        return context


class ReadOnlyRestrictedViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, RestrictedViewSet):
    pass


class QueuedJobViewSet(ReadOnlyRestrictedViewSet):
    """A kind of job that waits in a queue. Its list is the user's recent jobs (`recent`, a selector taking
    `fetched_by`) unless `since` asks for older ones, and gives each waiting job its place in the queue, counted for
    the whole page in one query (the serializer reads them from the context's `queue_positions`)."""

    recent = None
    related: tuple[str, ...] = ()

    def get_queryset(self):
        if self.action == "list" and "since" not in self.request.query_params:
            return self.recent(fetched_by=self.request.user)
        return super().get_queryset().select_related(*self.related)

    def list_page(self) -> list:
        return list(self.paginate_queryset(self.filter_queryset(self.get_queryset())))

    def list(self, request, *args, **kwargs):
        rows = self.list_page()
        kind = self.base_queryset.model.job_kind
        positions = kind.admission_policy().queue_positions({t.region_id for t in rows if t.state == kind.queued})
        context = {**self.get_serializer_context(), "queue_positions": positions}
        return self.get_paginated_response(self.get_serializer(rows, many=True, context=context).data)


class NeedView:
    """For a plain APIView: `need` says what the whole view needs (its role gate)."""

    need: Need | None = None

    def allowed_roles(self) -> frozenset:
        return self.need.roles()
