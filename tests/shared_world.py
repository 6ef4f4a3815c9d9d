"""One `world` build shared by consecutive tests, each isolated by a savepoint.

Building the two-tenant world through the services costs 0.6-0.9 s, and about 350 tests (the permission matrix,
the IDOR replays, the page and API checks) ask for it. For non-transactional tests the world is built once inside
an outer transaction that stays open while consecutive tests use it; each test's own `TestCase` atomic becomes a
savepoint inside it, so whatever a test writes is rolled back and the next test sees the world exactly as built.
Each test gets a deep copy of the namespace (as Django's `setUpTestData` does), so in-memory changes to the model
instances do not leak either.

The outer transaction is closed (rolled back) before any test that does not use the shared world starts: a test
without `world` must see an empty database, and a transactional test (another thread or process must see its
rows, and its teardown flushes every table) must not run inside an open transaction. Collection puts each module's
shared-world tests first, so a module builds its world once however its tests are interleaved.
"""

from __future__ import annotations

import copy

import pytest
from django.db import connection, transaction

from tests.world import build_world

TRANSACTIONAL_FIXTURES = {"transactional_db", "live_server", "django_db_reset_sequences"}


def is_transactional(item: pytest.Item) -> bool:
    marker = item.get_closest_marker("django_db")
    if marker is not None and (marker.kwargs.get("transaction") or marker.kwargs.get("reset_sequences")):
        return True
    return bool(TRANSACTIONAL_FIXTURES & set(getattr(item, "fixturenames", ())))


def uses_shared_world(item: pytest.Item) -> bool:
    return "world" in getattr(item, "fixturenames", ()) and not is_transactional(item)


class SharedWorld:
    """The open outer transaction and the world built in it (one per test process)."""

    def __init__(self):
        self._atomic = None
        self._world = None
        self._blocker = None

    @property
    def is_open(self) -> bool:
        return self._atomic is not None

    def open(self, blocker) -> None:
        if self.is_open:
            return
        self._blocker = blocker
        with blocker.unblock():
            if connection.in_atomic_block:
                # Something opened the test's transaction first (a `django_db` mark's autouse fixture): nesting
                # the world outside it is no longer possible, so this test builds its own.
                return
            self._atomic = transaction.atomic()
            self._atomic.__enter__()
            try:
                self._world = build_world()
            except BaseException:
                self.close()
                raise

    def copy(self):
        if not self.is_open:
            raise RuntimeError("the shared world is not open")
        return copy.deepcopy(self._world)

    def close(self) -> None:
        if not self.is_open:
            return
        atomic, self._atomic, self._world = self._atomic, None, None
        with self._blocker.unblock():
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)


SHARED = SharedWorld()


def group_shared_world_tests(items: list[pytest.Item]) -> None:
    """Within each run of consecutive items from one module, the shared-world tests go first (order otherwise
    kept), so a module opens its world once. Runs only ever hold one of pytest-django's groups (non-transactional
    database tests, transactional ones, the rest), which it has already sorted, so that order is kept too."""
    ordered: list[pytest.Item] = []
    run: list[pytest.Item] = []

    def flush_run():
        ordered.extend(sorted(run, key=lambda item: not uses_shared_world(item)))
        run.clear()

    for item in items:
        if run and getattr(item, "module", None) is not getattr(run[0], "module", None):
            flush_run()
        run.append(item)
    flush_run()
    items[:] = ordered
