# The sandbox-wired tenant of the migration tests, for the pages that talk to vCenter and AWS.
from tests.migrations.conftest import fast_jobs, setup  # noqa: F401
