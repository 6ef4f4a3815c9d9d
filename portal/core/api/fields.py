from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from portal.core.roles import Action


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
