"""The durable-job machinery of environments' own jobs (AMI backups, launches from templates), the same pattern as
migrations: the job row is the truth, `job_transition` is the only writer of `state`, django-q2 ticks carry ids
and claim a lease whose epoch fences every later write."""
