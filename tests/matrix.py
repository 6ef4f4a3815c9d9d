"""What the API's and the pages' permission matrices share: replaying one request as every kind of caller of the
world (tests/world.py), and checking that the matrix has exactly one row per route the resolver knows."""

from __future__ import annotations

from django.db import transaction

from tests.world import ROLES


def answers_by_role(send) -> dict[str, int]:
    """The status code `send(role)` gets as each kind of caller, each request inside a savepoint rolled back after it
    (so every caller meets the world as built)."""
    got = {}
    for role in ROLES:
        with transaction.atomic():
            got[role] = send(role).status_code
            transaction.set_rollback(True)
    return got


def differences(got: dict[str, int], expected: dict[str, int]) -> str:
    return ", ".join(f"{r}: got {got[r]} want {expected[r]}" for r in ROLES if got[r] != expected[r])


def assert_one_row_each(found: set, matrix: dict, what: str, at_least: int) -> None:
    """Every route found has a row and every row a route: a new route cannot go unchecked, nor a row go stale."""
    assert len(found) > at_least
    missing = sorted(found - set(matrix))
    stale = sorted(set(matrix) - found)
    assert not missing, f"{what} without a permission-matrix row: {missing}"
    assert not stale, f"matrix rows for {what} that no longer exist: {stale}"
