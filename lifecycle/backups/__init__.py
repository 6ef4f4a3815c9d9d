"""AMI backups of an environment's instances: the durable backup job (CreateImage, tagged with the job's token
because CreateImage takes no ClientToken), per-instance cron schedules run by django-q2, and retention."""
