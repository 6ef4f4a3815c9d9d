"""The base of every API FilterSet. A filter on a related row (`?environment=3`) chooses only among the rows the
requester may see, so another tenant's id, or one of their own tenant they may not see, is refused exactly like
an id that does not exist. django-filter on its own validates against the whole table: a foreign id would filter
to an empty page while a missing one is a 400, which tells the caller that the foreign id exists."""

from __future__ import annotations

import datetime

from django.core.exceptions import ImproperlyConfigured, ValidationError
from django_filters import rest_framework as filters
from django_filters.filters import QuerySetRequestMixin
from django_filters.utils import get_model_field

from core.querysets import restriction_of
from core.roles import Action


class RestrictedFilterSet(filters.FilterSet):
    """Subclass it (the viewsets' filter backend refuses any other FilterSet).

    `tenant_scoped_choices` names related-row filters whose choices are every row of the requester's tenant instead
    of the rows they may view: the audit log's `actor`, which auditors filter on but may not view users through."""

    tenant_scoped_choices: tuple[str, ...] = ()

    def __init__(self, data=None, queryset=None, *, request=None, prefix=None):
        super().__init__(data, queryset, request=request, prefix=prefix)
        user = getattr(request, "user", None)
        for name, filter_ in self.filters.items():
            if isinstance(filter_, QuerySetRequestMixin):
                model = get_model_field(self._meta.model, filter_.field_name).related_model
                filter_.queryset = self._choices(model, user, tenant_scoped=name in self.tenant_scoped_choices)

    def is_valid(self) -> bool:
        return super().is_valid() and self._datetimes_in_utc()

    def _datetimes_in_utc(self) -> bool:
        """Times are compared in UTC, as the database stores them. A parsed time may still be unstorable: its
        offset beyond what PostgreSQL accepts (+22:28), or past year 1 or 9999 once in UTC (SQLite's conversion
        raises OverflowError); either would be a 500 in the query. It is the caller's bad input."""
        valid = True
        for name, value in list(self.form.cleaned_data.items()):
            if isinstance(value, datetime.datetime) and value.tzinfo is not None:
                try:
                    self.form.cleaned_data[name] = value.astimezone(datetime.UTC)
                except OverflowError:
                    self.form.add_error(name, ValidationError(
                        "Enter a date and time between the years 1 and 9999 in UTC.", code="invalid"))
                    valid = False
        return valid

    @staticmethod
    def _choices(model, user, *, tenant_scoped: bool):
        if not tenant_scoped:
            return model.objects.all().restrict(user, Action.VIEW)
        if user is None or not user.is_authenticated or not user.is_active or user.tenant_id is None:
            return model.objects.none()
        return model.objects.filter(**{restriction_of(model).tenant_path: user.tenant_id})


class RestrictedFilterBackend(filters.DjangoFilterBackend):
    """`filterset_fields` get a RestrictedFilterSet too; a hand-written FilterSet must derive from it."""

    filterset_base = RestrictedFilterSet

    def get_filterset_class(self, view, queryset=None):
        filterset_class = super().get_filterset_class(view, queryset)
        if filterset_class is not None and not issubclass(filterset_class, RestrictedFilterSet):
            raise ImproperlyConfigured(f"{type(view).__name__}.filterset_class must derive from "
                                       "core.api.filters.RestrictedFilterSet")
        return filterset_class


class JobFilter(RestrictedFilterSet):
    """The filters every job kind's list takes: the created-at window, and `state` (when Meta.fields names it) as a
    multiple choice among the model's states, so `?state=queued&state=failed` reads both."""

    since = filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    until = filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    @classmethod
    def filter_for_lookup(cls, field, lookup_type):
        if field.name == "state" and lookup_type == "exact":
            return filters.MultipleChoiceFilter, {"choices": field.choices}
        return super().filter_for_lookup(field, lookup_type)
