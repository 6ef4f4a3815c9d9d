"""The base every API view uses: querysets always come from `restrict()` with the action the request needs."""

from rest_framework import mixins, viewsets

from portal.roles import Action, TenantRole

ALL_ROLES = frozenset(TenantRole.values)
ADMINS = frozenset({TenantRole.ADMIN})


class RestrictedViewSet(viewsets.GenericViewSet):
    """Subclasses declare `base_queryset` (a RestrictedQuerySet), and per DRF action the permission action
    (`restrict_actions`) and the tenant roles that may attempt it at all (`role_gates`).

    A role that may never do something gets 403; a row the user may not act on is simply not in the
    queryset, so it answers 404 exactly like a row that does not exist."""

    base_queryset = None
    restrict_actions: dict[str, str] = {}
    role_gates: dict[str, frozenset] = {}
    default_restrict_actions = {
        "list": Action.VIEW, "retrieve": Action.VIEW, "create": Action.ADMIN, "update": Action.ADMIN,
        "partial_update": Action.ADMIN, "destroy": Action.ADMIN,
    }

    def allowed_roles(self) -> frozenset:
        gate = self.role_gates.get(self.action)
        if gate is not None:
            return gate
        return ALL_ROLES if self.restrict_action() == Action.VIEW or self.action is None else \
            (ALL_ROLES - {TenantRole.AUDITOR} if self.restrict_action() != Action.ADMIN else ADMINS)

    def restrict_action(self) -> str:
        return self.restrict_actions.get(self.action) or self.default_restrict_actions.get(self.action, Action.VIEW)

    def get_queryset(self):
        return self.base_queryset.all().restrict(self.request.user, self.restrict_action())

    def get_serializer_context(self):
        context = super().get_serializer_context()
        context["actor"] = self.request.user
        return context


class ReadOnlyRestrictedViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, RestrictedViewSet):
    pass
