"""Notifications of finished jobs: per-tenant signed webhooks (durable deliveries, retried with backoff) and
e-mail to the users who opted in. Feature apps call `services.notify_job_finished(kind, job)` once a job's
terminal transition has committed."""
