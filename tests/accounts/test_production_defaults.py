"""Production unless asked otherwise: DEBUG is off by default, and without its keys the portal refuses to start,
naming the one that is missing."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.process

ROOT = Path(__file__).resolve().parents[2]
KEYS = {
    "SECRET_KEY": "x" * 30 + "production-secret-key-with-enough-entropy-0123456789",
    "CONNECTOR_SIGNING_KEY": "y" * 60,
    "FIELD_ENCRYPTION_KEYS": "3q2-7wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
}


def _settings(**env_vars):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", *KEYS))}
    env.update({"DJANGO_SETTINGS_MODULE": "portal.settings", "ALLOWED_HOSTS": "portal.example.com", **env_vars})
    return subprocess.run([sys.executable, "-c", "from django.conf import settings; print(settings.DEBUG)"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_debug_is_off_unless_asked_for():
    assert _settings(**KEYS).stdout.strip() == "False"
    assert _settings(DJANGO_DEBUG="true").stdout.strip() == "True"  # with development keys


@pytest.mark.parametrize("missing", sorted(KEYS))
def test_each_missing_key_is_named(missing):
    result = _settings(**{k: v for k, v in KEYS.items() if k != missing})
    assert result.returncode != 0
    assert f"ImproperlyConfigured: {missing} is not set" in result.stderr


def test_an_empty_key_counts_as_missing():
    result = _settings(**{**KEYS, "SECRET_KEY": ""})
    assert "ImproperlyConfigured: SECRET_KEY is not set" in result.stderr


def test_a_malformed_encryption_key_is_refused_without_showing_it():
    result = _settings(**{**KEYS, "FIELD_ENCRYPTION_KEYS": KEYS["FIELD_ENCRYPTION_KEYS"] + ",not-a-key"})
    assert "FIELD_ENCRYPTION_KEYS: key 2 is not a Fernet key" in result.stderr
    assert "not-a-key" not in result.stderr
