"""Project-level guarantees: production settings pass Django's deploy check, the OpenAPI schema is valid and
documents errors, and django-q2 never re-delivers a tick that is still running."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.process
def test_production_settings_pass_the_deploy_check():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL"))}
    env.update({
        "DJANGO_SETTINGS_MODULE": "portal.settings", "DJANGO_DEBUG": "false",
        "SECRET_KEY": "x" * 30 + "production-secret-key-with-enough-entropy-0123456789",
        "CONNECTOR_SIGNING_KEY": "y" * 60, "ALLOWED_HOSTS": "portal.example.com",
        "FIELD_ENCRYPTION_KEYS": "3q2-7wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        "DATABASE_URL": "postgres://portal@db.example.com/portal",
    })
    result = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.process
def test_production_settings_refuse_to_start_without_secrets():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SECRET_KEY"))}
    env.update({"DJANGO_SETTINGS_MODULE": "portal.settings", "DJANGO_DEBUG": "false"})
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


@pytest.mark.process
def test_openapi_schema_is_valid_and_documents_errors(tmp_path):
    out = tmp_path / "schema.yaml"
    result = subprocess.run([sys.executable, "manage.py", "spectacular", "--validate", "--fail-on-warn", "--file",
                             str(out)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    import yaml

    schema = yaml.safe_load(out.read_text())
    grant = schema["paths"]["/api/v1/environments/{id}/permissions/"]["post"]["responses"]
    assert {"400", "401", "403", "404"} <= set(grant)
    assert "/api/v1/audit-log/" in schema["paths"]


def test_queue_never_redelivers_a_running_tick():
    q = settings.Q_CLUSTER
    assert q["retry"] > q["timeout"]
    assert q["max_attempts"] == 1
