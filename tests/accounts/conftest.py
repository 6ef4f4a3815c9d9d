import pytest


@pytest.fixture
def lockout(settings):
    """A small lockout limit, so tests reach it in a few attempts."""
    settings.AXES_FAILURE_LIMIT = 3
    return settings
