"""Writes of notifications: webhooks, re-sends, preferences, and the one entry point feature apps call when a job
has finished (`notify_job_finished`)."""

from __future__ import annotations

import json
import logging
import socket

from django.conf import settings
from django.core import mail
from django.db import models, transaction
from django.utils import timezone

from adapters.outbound import OutboundRefused
from core.audit import audit_record, audited_delete
from core.audit_actions import AuditAction
from core.errors import Conflict, Invalid
from core.jobs.kinds import kind as job_kind
from core.models import Tenant, User
from core.notifications.choices import DeliveryState, job_events
from core.notifications.models import NotificationPreference, Webhook, WebhookDelivery, url_origin
from core.notifications.queue import enqueue_delivery
from core.notifications.signing import new_secret
from core.notifications.transport import check
from core.observability.metrics import EMAILS_SENT
from core.peers import outbound_policy
from core.roles import Action
from core.validation import model_update, same_tenant, validated_save

logger = logging.getLogger("portal.notifications")

WEBHOOK_FIELDS = ("name", "url", "events", "is_active")


#
# Finished jobs
#


def notify_job_finished(kind: str, job: models.Model) -> None:
    """Tell the tenant's webhooks and opted-in users that `job` (a migration, export, backup, ...) finished.

    Call it once the terminal transition has committed (`transaction.on_commit(..., robust=True)`): a rollback
    then notifies nobody, and a failure here never undoes the transition. Calling it twice for one job sends each
    webhook one delivery (the delivery rows are unique per job and event). Only the states its kind announces
    (`JobKind.notify`) notify anyone: cancelled jobs notify nobody, someone chose that."""
    outcome = job_kind(kind).notify.get(str(job.state))
    if outcome is None:
        return
    event = f"{kind}.{outcome}"
    if not job.tenant.is_active:
        # A deactivated organisation's endpoints and people hear nothing from the portal.
        logger.info("%s %s: %s not notified, the tenant is deactivated", kind, job.pk, event)
        return
    body = _payload(kind, job, event)
    _queue_webhooks(kind, job, event, body)
    _send_emails(kind, job, event)


def _payload(kind: str, job, event: str) -> str:
    finished = getattr(job, "finished_at", None) or timezone.now()
    return json.dumps({
        "event": event,
        "occurred_at": finished.isoformat(),
        "tenant": job.tenant.slug,
        "job": {
            "kind": kind, "id": job.pk, "name": str(job)[:200], "state": str(job.state),
            "status_message": getattr(job, "status_message", "")[:1000], "error_code": getattr(job, "error_code", ""),
            "started_at": job.started_at.isoformat() if getattr(job, "started_at", None) else None,
            "finished_at": finished.isoformat(),
        },
    }, sort_keys=True)


def _queue_webhooks(kind: str, job, event: str, body: str) -> list[int]:
    created = []
    with transaction.atomic():
        for webhook in Webhook.objects.filter(tenant_id=job.tenant_id, is_active=True):
            if event not in webhook.events:
                continue
            delivery, new = WebhookDelivery.objects.get_or_create(
                webhook=webhook, event=event, job_kind=kind, job_id=job.pk, resend_of=None,
                defaults={"tenant_id": job.tenant_id, "payload": body, "next_attempt_at": timezone.now()})
            if new:
                created.append(delivery.pk)
                enqueue_delivery(delivery.pk)
    if created:
        logger.info("%s %s: %s queued for %d webhook(s)", kind, job.pk, event, len(created))
    return created


def _send_emails(kind: str, job, event: str) -> int:
    """One message per opted-in user who may see the job (the same `restrict()` as its pages)."""
    label = job_events()[event]
    candidates = User.objects.filter(tenant_id=job.tenant_id, is_active=True).exclude(email="").filter(
        pk__in=NotificationPreference.objects.filter(event=event).values("user_id"))
    messages = []
    for user in candidates:
        if not type(job).objects.restrict(user, Action.VIEW).filter(pk=job.pk).exists():
            continue
        message = getattr(job, "status_message", "")
        messages.append(mail.EmailMessage(
            subject=f"[{settings.NOTIFICATION_EMAIL_SUBJECT_PREFIX}] {label}: {str(job)[:120]}",
            body=f"{label}: {job}\n\nState: {job.state}\n{message}\n\n"
                 f"You receive this because you asked for e-mail on \"{label}\" in your notification settings.",
            from_email=settings.DEFAULT_FROM_EMAIL, to=[user.email]))
    if not messages:
        return 0
    try:
        sent = mail.get_connection().send_messages(messages) or 0
    except (OSError, mail.BadHeaderError) as exc:
        EMAILS_SENT.labels(outcome="failed").inc(len(messages))
        logger.warning("%s %s: %d notification e-mail(s) not sent: %s", kind, job.pk, len(messages),
                       type(exc).__name__)
        return 0
    EMAILS_SENT.labels(outcome="sent").inc(sent)
    return sent


#
# Webhooks
#


def _check_url(url: str) -> None:
    try:
        check(url, outbound_policy())
    except OutboundRefused as exc:
        raise Invalid(exc.message_for("The webhook URL"), code="webhook_url_refused", field="url") from None
    except (socket.gaierror, UnicodeError):
        raise Invalid("The webhook URL's host name does not resolve.", code="webhook_url_unresolvable",
                      field="url") from None


def _check_events(events, *, allow_empty: bool = False) -> list[str]:
    known = job_events()
    if any(e not in known for e in events) or not (events or allow_empty):
        raise Invalid(f"Choose events among {', '.join(known)}.", code="invalid_events", field="events")
    return sorted(set(events))


@transaction.atomic
def webhook_create(*, actor: User, name: str, url: str, events: list[str], is_active: bool = True) -> Webhook:
    """A new webhook with a fresh signing secret (readable once, in this call's result); at most
    WEBHOOK_MAX_PER_TENANT per tenant."""
    _check_url(url)
    # Under the tenant's row lock, so two concurrent creates cannot both take the last place.
    Tenant.objects.select_for_update().filter(pk=actor.tenant_id).values_list("pk", flat=True).first()
    if Webhook.objects.filter(tenant_id=actor.tenant_id).count() >= settings.WEBHOOK_MAX_PER_TENANT:
        raise Conflict(f"Your organisation has {settings.WEBHOOK_MAX_PER_TENANT} webhooks, the most it may have; "
                       "delete one first.", code="webhook_limit")
    webhook = Webhook(tenant=actor.tenant, name=name, url=url, events=_check_events(events), is_active=is_active,
                      secret=new_secret(), created_by=actor)
    validated_save(webhook)
    # Auditors read the audit log: it keeps the URL's scheme and host, never a token in its path or query.
    audit_record(actor=actor, action=AuditAction.WEBHOOK_CREATE, obj=webhook,
                 detail={"url": url_origin(url), "events": webhook.events})
    return webhook


@transaction.atomic
def webhook_update(*, actor: User, webhook: Webhook, data: dict) -> Webhook:
    same_tenant(actor, webhook)
    if "url" in data:
        _check_url(data["url"])
    if "events" in data:
        data = {**data, "events": _check_events(data["events"])}
    model_update(instance=webhook, fields=WEBHOOK_FIELDS, data=data)
    detail = {k: v for k, v in data.items() if k in WEBHOOK_FIELDS}
    if "url" in detail:
        detail["url"] = url_origin(detail["url"])
    audit_record(actor=actor, action=AuditAction.WEBHOOK_UPDATE, obj=webhook, detail=detail)
    return webhook


@transaction.atomic
def webhook_delete(*, actor: User, webhook: Webhook) -> None:
    audited_delete(actor=actor, obj=webhook, action=AuditAction.WEBHOOK_DELETE)


@transaction.atomic
def delivery_resend(*, actor: User, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a delivery's body again, as a new delivery (fresh attempts, fresh signature timestamp)."""
    same_tenant(actor, delivery)
    again = WebhookDelivery(tenant=delivery.tenant, webhook=delivery.webhook, event=delivery.event,
                            job_kind=delivery.job_kind, job_id=delivery.job_id, payload=delivery.payload,
                            state=DeliveryState.PENDING, next_attempt_at=timezone.now(), resend_of=delivery,
                            requested_by=actor)
    validated_save(again)
    audit_record(actor=actor, action=AuditAction.WEBHOOK_RESEND, obj=again, detail={"resend_of": delivery.pk})
    enqueue_delivery(again.pk)
    return again


#
# Preferences
#


@transaction.atomic
def preferences_set(*, actor: User, events: list[str]) -> list[str]:
    """The events `actor` wants e-mail for, replacing their previous choice."""
    wanted = set(_check_events(events, allow_empty=True))
    NotificationPreference.objects.filter(user=actor).exclude(event__in=wanted).delete()
    have = set(NotificationPreference.objects.filter(user=actor).values_list("event", flat=True))
    NotificationPreference.objects.bulk_create(
        [NotificationPreference(user=actor, event=e) for e in sorted(wanted - have)])
    audit_record(actor=actor, action=AuditAction.NOTIFICATIONS_PREFERENCES, obj=actor,
                 detail={"events": sorted(wanted)})
    return sorted(wanted)
