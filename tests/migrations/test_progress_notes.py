"""A worker's progress notes never overwrite a cancel it has not noticed yet (seen under load in CI: the cancel's
"Cancelled by alice" was replaced by "Exporting and uploading disk 1 of 2", and the job ended saying so)."""

from migrations_app import services
from migrations_app.choices import MigrationState
from migrations_app.models import MigrationTask
from tests.jobs_engine.drive import checkpoint, lease_claim, migration_transition


def test_a_progress_note_after_a_cancel_keeps_the_cancel_message(world):
    a = world.a
    task = a.migration
    migration_transition(task_id=task.pk, to=MigrationState.EXPORTING, expected_from={task.state})
    epoch = lease_claim(task_id=task.pk, owner="worker-1", ttl_seconds=60)
    migration_transition(task_id=task.pk, to=MigrationState.UPLOADING, epoch=epoch)
    services.migration_cancel(actor=a.user_general, task=MigrationTask.objects.get(pk=task.pk))
    checkpoint(task_id=task.pk, epoch=epoch, bytes_uploaded=42, step="uploading disk 1",
               status_message="Exporting and uploading disk 1 of 2")
    task.refresh_from_db()
    assert task.state == MigrationState.CANCELLING
    assert task.bytes_uploaded == 42  # the data still lands: the cleanup needs its checkpoints
    assert task.status_message == f"Cancelled by {a.user_general.username}"
    assert task.step == "releasing what it holds"


def test_progress_notes_land_while_nobody_cancels(world):
    a = world.a
    task = a.migration
    migration_transition(task_id=task.pk, to=MigrationState.EXPORTING, expected_from={task.state})
    epoch = lease_claim(task_id=task.pk, owner="worker-1", ttl_seconds=60)
    checkpoint(task_id=task.pk, epoch=epoch, step="exporting disks", status_message="Exporting 2 disk(s)")
    task.refresh_from_db()
    assert (task.step, task.status_message) == ("exporting disks", "Exporting 2 disk(s)")
