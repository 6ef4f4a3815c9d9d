"""Writes for launches from templates."""

from __future__ import annotations

import uuid

from django.db import transaction

from core.audit import audit_record
from core.audit_actions import AuditAction
from core.errors import Conflict, Forbidden
from core.jobs.transitions import admit
from core.models import AuditOutcome, User
from core.roles import Action
from core.validation import same_tenant, validated_save
from environments.models import Template
from lifecycle.launches.job import LAUNCH
from lifecycle.launches.models import LaunchTask


def template_launch(*, actor: User, template: Template, idempotency_key: str = "") -> tuple[LaunchTask, bool]:
    """Queue a launch of one instance from the template; returns (launch, created).

    The same `idempotency_key` from the same user for the same template returns the first launch (created False)
    instead of launching again; reused for anything else it is refused (409), as AWS refuses a ClientToken reused
    with other parameters."""
    same_tenant(actor, template)
    if not Template.objects.restrict(actor, Action.OPERATE).filter(pk=template.pk).exists():
        audit_record(actor=actor, action=AuditAction.LAUNCH_CREATE, obj=template, outcome=AuditOutcome.DENIED,
                     detail={"reason": "no_general_role"})
        raise Forbidden("Launching from a template needs the general role on its environment.", code="not_permitted")
    with transaction.atomic():
        if idempotency_key:
            existing = LaunchTask.objects.filter(tenant=actor.tenant, idempotency_key=idempotency_key).first()
            if existing is not None:
                if existing.template_id != template.pk or existing.created_by_id != actor.pk:
                    raise Conflict("This idempotency key was already used for another launch.",
                                   code="idempotency_key_reused", field="idempotency_key")
                return existing, False
        task = LaunchTask(
            tenant=template.tenant, environment=template.environment, template=template, template_name=template.name,
            created_by=actor, image_id=template.ami_id, instance_type=template.instance_type,
            subnet_id=template.subnet.subnet_id, security_group_id=template.security_group.group_id,
            key_name=template.key_pair.name if template.key_pair_id else "", idempotency_key=idempotency_key,
            client_token=f"launch-{uuid.uuid4().hex}", status_message="Queued")
        validated_save(task)
        audit_record(actor=actor, action=AuditAction.LAUNCH_CREATE, obj=task, detail={
            "template": template.pk, "image_id": task.image_id, "instance_type": task.instance_type})
        admit(LAUNCH, scope=template.environment.region_id)
    return task, True
