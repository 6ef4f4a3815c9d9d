"""Queue positions of waiting exports, as admission (exports.job.PER_REGION_EXPORTS) orders them."""

from exports.job import EXPORT
from exports.models import ExportTask


def queue_position(task: ExportTask) -> int | None:
    """1 for the next export to start in its region; None when it is not queued."""
    return EXPORT.admission_policy().queue_position(task)


def queue_positions(region_ids) -> dict[int, int]:
    """Queue positions of every waiting export in these regions, in one query (for lists)."""
    return EXPORT.admission_policy().queue_positions(region_ids)
