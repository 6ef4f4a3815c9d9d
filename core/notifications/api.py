"""The notifications API: webhooks and their delivery log (administrators; auditors read), and each member's own
e-mail preferences. The site mounts `routes` and `urlpatterns` under /api/v1/."""

from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.fields import LateChoiceField
from core.api.permissions import IsTenantMember
from core.api.viewsets import NeedView, RestrictedViewSet
from core.notifications import selectors, services
from core.notifications.choices import event_choices
from core.notifications.models import NotificationPreference, Webhook, WebhookDelivery
from core.querysets import Need
from core.roles import Action

MANAGE = Need(Action.ADMIN, of=Webhook)


class WebhookSerializer(serializers.ModelSerializer):
    events = serializers.ListField(child=LateChoiceField(choices_of=event_choices), allow_empty=False)

    class Meta:
        model = Webhook
        fields = ["id", "name", "url", "events", "is_active", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]

    def to_representation(self, webhook):
        data = super().to_representation(webhook)
        # Only who manages the webhook sees its whole URL: auditors get the scheme and host (tokens live in paths
        # and queries).
        actor = self.context.get("actor")
        if actor is None or not MANAGE.allows(actor):
            data["url"] = webhook.url_origin
        return data


class WebhookCreatedSerializer(WebhookSerializer):
    """The answer to a create: the only time the signing secret is shown."""

    secret = serializers.CharField(read_only=True)

    class Meta(WebhookSerializer.Meta):
        fields = [*WebhookSerializer.Meta.fields, "secret"]


class DeliverySerializer(serializers.ModelSerializer):
    webhook_name = serializers.CharField(source="webhook.name", read_only=True)

    class Meta:
        model = WebhookDelivery
        fields = ["id", "webhook", "webhook_name", "event", "job_kind", "job_id", "state", "attempts",
                  "next_attempt_at", "last_attempt_at", "response_status", "error", "delivered_at", "resend_of",
                  "created_at", "payload"]
        read_only_fields = fields


class WebhookViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                     mixins.UpdateModelMixin, mixins.DestroyModelMixin, RestrictedViewSet):
    """The tenant's webhooks: signed POSTs when a migration, export or backup completes or fails (README,
    Webhooks). Administrators manage them; auditors read them. The secret is shown once, in the create answer."""

    base_queryset = Webhook.objects.all()
    serializer_class = WebhookSerializer
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return super().get_queryset().order_by("name")

    @extend_schema(responses={201: WebhookCreatedSerializer})
    def create(self, request, *args, **kwargs):
        serializer = WebhookSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        webhook = services.webhook_create(actor=request.user, **serializer.validated_data)
        return Response(WebhookCreatedSerializer(webhook, context=self.get_serializer_context()).data,
                        status=status.HTTP_201_CREATED)

    def update(self, request, *args, **kwargs):
        webhook = self.get_object()
        serializer = WebhookSerializer(webhook, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        webhook = services.webhook_update(actor=request.user, webhook=webhook, data=serializer.validated_data)
        return Response(WebhookSerializer(webhook, context=self.get_serializer_context()).data)

    def destroy(self, request, *args, **kwargs):
        services.webhook_delete(actor=request.user, webhook=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookDeliveryViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, RestrictedViewSet):
    """The delivery log: every event sent (or being retried) to the tenant's webhooks, newest first.
    Administrators may re-send one; auditors read."""

    base_queryset = WebhookDelivery.objects.all()
    serializer_class = DeliverySerializer
    # Auditors see a delivery but may not re-send it (403); other tenants' deliveries do not exist (404).
    needs = {"resend": Need(Action.ADMIN, find=Action.VIEW)}

    def get_queryset(self):
        return super().get_queryset().select_related("webhook").order_by("-id")

    @extend_schema(request=None, responses={202: DeliverySerializer})
    @action(detail=True, methods=["post"])
    def resend(self, request, pk=None):
        """Send this delivery's body again, as a new delivery."""
        again = services.delivery_resend(actor=request.user, delivery=self.get_object())
        return Response(DeliverySerializer(again).data, status=status.HTTP_202_ACCEPTED)


class PreferencesSerializer(serializers.Serializer):
    events = serializers.ListField(child=LateChoiceField(choices_of=event_choices), allow_empty=True)


class NotificationPreferencesView(NeedView, APIView):
    """Your own e-mail notifications: the events (a migration, export or backup you may see completed or failed)
    you want an e-mail for. PUT replaces the list."""

    permission_classes = [IsTenantMember]
    need = Need(Action.VIEW, of=NotificationPreference)

    @extend_schema(responses={200: PreferencesSerializer})
    def get(self, request):
        return Response({"events": selectors.preferences_of(user=request.user)})

    @extend_schema(request=PreferencesSerializer, responses={200: PreferencesSerializer})
    def put(self, request):
        serializer = PreferencesSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        events = services.preferences_set(actor=request.user, events=serializer.validated_data["events"])
        return Response({"events": events})


routes = [
    ("webhooks", WebhookViewSet, "webhook"),
    ("webhook-deliveries", WebhookDeliveryViewSet, "webhook-delivery"),
]
urlpatterns = [
    path("me/notifications/", NotificationPreferencesView.as_view(), name="notification-preferences"),
]
