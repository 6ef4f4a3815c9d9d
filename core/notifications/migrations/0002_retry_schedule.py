"""Webhook retries whose backoff has passed are picked up every minute (django-q2 schedule)."""

from django.db import migrations


def create(apps, schema_editor):
    schedule = apps.get_model("django_q", "Schedule")
    schedule.objects.update_or_create(name="webhook-retries", defaults={
        "func": "core.notifications.tasks.webhook_retry_due", "schedule_type": "I", "minutes": 1,
        "repeats": -1})


def remove(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name="webhook-retries").delete()


class Migration(migrations.Migration):
    dependencies = [("notifications", "0001_initial"), ("django_q", "0018_task_success_index")]
    operations = [migrations.RunPython(create, remove)]
