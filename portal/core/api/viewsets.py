"""The base every API view uses: each DRF action declares its `Need`; the role gate (403) and the restricted
queryset (404) are both read from it, so they cannot disagree."""

from __future__ import annotations

from rest_framework import mixins, viewsets

from portal.core.querysets import Need
from portal.core.roles import Action, TenantRole

ALL_ROLES = frozenset(TenantRole.values)
DEFAULT_NEEDS = {
    "list": Need(Action.VIEW), "retrieve": Need(Action.VIEW), "create": Need(Action.ADMIN),
    "update": Need(Action.ADMIN), "partial_update": Need(Action.ADMIN), "destroy": Need(Action.ADMIN),
}


class RestrictedViewSet(viewsets.GenericViewSet):
    """Subclasses declare `base_queryset` (a RestrictedQuerySet) and, where the defaults above do not fit,
    `needs`: DRF action (or (action, HTTP method)) -> Need.

    A role that may never do something gets 403; a row the user may not act on is simply not in the
    queryset, so it answers 404 exactly like a row that does not exist."""

    base_queryset = None
    needs: dict = {}

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

    def get_serializer_context(self):
        context = super().get_serializer_context()
        context["actor"] = self.request.user
        return context


class ReadOnlyRestrictedViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, RestrictedViewSet):
    pass


class NeedView:
    """For a plain APIView: `need` says what the whole view needs (its role gate)."""

    need: Need | None = None

    def allowed_roles(self) -> frozenset:
        return self.need.roles()
