from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.roles import Action

MAX_DB_ID = 2**63 - 1  # the largest primary key a BigAutoField can hold


@extend_schema_field(OpenApiTypes.INT)
class RestrictedPrimaryKeyRelatedField(serializers.PrimaryKeyRelatedField):
    """A related id in a request body, resolved only among the rows the actor may `action`; anything else reads
    as "does not exist", the same answer a foreign or unknown id gets."""

    def __init__(self, *, model, action: str = Action.VIEW, **kwargs):
        self.model = model
        self.restrict_action = action
        super().__init__(**kwargs)

    def get_queryset(self):
        actor = self.context.get("actor")
        return self.model.objects.all().restrict(actor, self.restrict_action)

    def to_internal_value(self, data):
        # An id no row can have is "does not exist" before it reaches the database: SQLite raises OverflowError
        # past 64 bits on lookups Django does not range-check (a parent link's pk, such as TenantGroup's).
        if isinstance(data, int) and not isinstance(data, bool) and not 0 < data <= MAX_DB_ID:
            self.fail("does_not_exist", pk_value=data)
        if isinstance(data, str) and data.strip().isdigit() and int(data.strip()[:20]) > MAX_DB_ID:
            self.fail("does_not_exist", pk_value=data)
        return super().to_internal_value(data)


class LateChoiceField(serializers.ChoiceField):
    """A choice among values known only once the apps are ready (the registered job kinds' types, states and
    events): `choices_of` is called for each serializer, since DRF builds a field anew for every instance."""

    def __init__(self, *, choices_of, **kwargs):
        super().__init__(choices=choices_of(), **kwargs)
