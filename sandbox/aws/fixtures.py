"""pytest fixtures for the AWS sandbox (loaded as a plugin by tests/conftest.py for every session).

* ``aws_sandbox`` (session): one sandbox server per test session, clock frozen (speed 0), moto's stock AMIs
  not loaded (fast resets; launch from imported or ``register_image`` AMIs), RunInstances validates AMI ids.
* ``aws`` (function): the same sandbox, reset before the test (moto state incl. all tasks, faults, clock
  back to 0 and frozen, default settings); yields the :class:`sandbox.aws.server.AWSSandbox`.

No moto import at module import time: it happens inside the fixtures.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from sandbox.aws.server import AWSSandbox


@pytest.fixture(scope="session")
def aws_sandbox() -> Iterator[AWSSandbox]:
    from sandbox.aws.server import start_aws

    sandbox = start_aws(port=0, speed=0, load_default_amis=False)
    try:
        yield sandbox
    finally:
        sandbox.stop()


@pytest.fixture
def aws(aws_sandbox: AWSSandbox) -> Iterator[AWSSandbox]:
    aws_sandbox.reset()
    yield aws_sandbox
