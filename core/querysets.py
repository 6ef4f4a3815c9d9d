"""Who may do what, said once: every queryset that reaches a view, serializer, form, command or task goes through
`restrict()`, and the 403 role gates of views are read from the same declarations (`Need`).

Order matters and is fixed: tenant scope first, then the tenant role, then (for plain users) the model's user
scope, which a lower app supplies (environments: guardian object permissions on environments). A model-level
permission never widens anything, and superusers get no tenant data through this path at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from django.db import models

from core.roles import Action, TenantRole

USER_ACTIONS = frozenset({Action.VIEW, Action.OPERATE, Action.MANAGE})


@dataclass(frozen=True)
class Restriction:
    """How one model is scoped.

    tenant_path: lookup from the model to its tenant's id.
    auditor_can_view: auditors read every row of their tenant.
    user_scope: for plain users, a function (user, action) -> Q of the rows they may act on, or None when
        plain users get nothing of this model.
    user_actions: the actions `user_scope` answers for; plain users get nothing for the others.
    """

    tenant_path: str = "tenant"
    auditor_can_view: bool = True
    user_scope: Callable | None = None
    user_actions: frozenset = USER_ACTIONS

    def roles_for(self, action: str) -> frozenset:
        """The tenant roles that may ever get a row for `action`; the others are refused before any lookup
        (403). Mirrors `apply`, which decides the rows."""
        _check_action(action)
        roles = {TenantRole.ADMIN}
        if action == Action.VIEW and self.auditor_can_view:
            roles.add(TenantRole.AUDITOR)
        if self.user_scope is not None and action in self.user_actions:
            roles.add(TenantRole.USER)
        return frozenset(roles)

    def apply(self, queryset: models.QuerySet, user, action: str) -> models.QuerySet:
        _check_action(action)
        if user is None or not user.is_authenticated or not user.is_active or user.tenant_id is None:
            return queryset.none()
        # Fail closed for a deactivated tenant, whichever way the request came in. `user.tenant` is cached on the
        # instance (and the login backends load it with the user), so this costs a query at most once per user.
        if not user.tenant.is_active:
            return queryset.none()
        queryset = queryset.filter(**{self.tenant_path: user.tenant_id})
        if user.role not in self.roles_for(action):
            return queryset.none()
        if user.role == TenantRole.USER:
            return queryset.filter(self.user_scope(user, action))
        return queryset


def _check_action(action: str) -> None:
    if action not in Action.ALL:
        raise ValueError(f"unknown action {action!r}")


ADMIN_ONLY = Restriction(auditor_can_view=False)


class RestrictedQuerySet(models.QuerySet):
    def restrict(self, user, action: str = Action.VIEW) -> models.QuerySet:
        """The rows of this queryset that `user` may perform `action` on."""
        return restriction_of(self.model).apply(self, user, action)


def restriction_of(model) -> Restriction:
    restriction = getattr(model, "restriction", None)
    if restriction is None:
        raise TypeError(f"{model.__name__} declares no `restriction`; it cannot be exposed")
    return restriction


@dataclass(frozen=True)
class Need:
    """What one view, page or command step needs, in `restrict()`'s words.

    action: what the caller does. The restriction of `of` says which tenant roles may ever do it; the others are
        refused with 403 before anything is looked up.
    of: the model whose restriction decides the role gate (the view's own model unless named).
    find: the action that decides which rows the caller may address (default: `action`); a row outside them
        answers 404 like a row that does not exist. It differs from `action` when the caller may see a row but
        doing the action on it needs more (a migration's viewer may not cancel it: 403 with the reason).
    """

    action: str
    of: type | None = None
    find: str | None = None

    def roles(self, default_model=None) -> frozenset:
        model = self.of or default_model
        if model is None:
            raise TypeError("Need has no model to ask")
        return restriction_of(model).roles_for(self.action)

    def allows(self, user, default_model=None) -> bool:
        """Whether `user`'s tenant role may ever do this (the 403 gate); rows are still `restrict()`'s to decide."""
        return bool(user and user.is_authenticated and user.tenant_id and user.role in self.roles(default_model))

    @property
    def rows(self) -> str:
        return self.find or self.action
