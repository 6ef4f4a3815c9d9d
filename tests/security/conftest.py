"""The migration fixtures (a tenant wired to both sandboxes), for the tests that follow a refusal through a job."""

from tests.migrations.conftest import fast_jobs, setup, start_migration  # noqa: F401
