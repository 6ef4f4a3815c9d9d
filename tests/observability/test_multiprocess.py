"""Multiprocess mode: a counter incremented in one process (a worker) shows on /metrics served by another (web),
through PROMETHEUS_MULTIPROC_DIR. Real processes, because prometheus-client picks its storage at import time."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.process

ROOT = Path(__file__).resolve().parents[2]

WORKER = """
import django
django.setup()
from core import observability
observability.admission_refused("export", "aws_limit")
observability.admission_refused("export", "aws_limit")
"""

WEB = """
import django
django.setup()
from django.test import Client
from django.test.utils import setup_test_environment
from unittest import mock
setup_test_environment()
# The database figures are not the point here: answer them from nothing.
with mock.patch("portal.site.metrics.DatabaseCollector.collect", return_value=iter(())):
    response = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer multi-0123456789")
print(response.status_code)
print(response.content.decode())
"""


def _run(code: str, directory: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.update({"DJANGO_SETTINGS_MODULE": "portal.settings", "DJANGO_DEBUG": "true",
                "PROMETHEUS_MULTIPROC_DIR": str(directory), "METRICS_TOKEN": "multi-0123456789"})
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_a_workers_counter_is_served_by_the_web_process(tmp_path):
    _run(WORKER, tmp_path)
    _run(WORKER, tmp_path)
    status, _, text = _run(WEB, tmp_path).partition("\n")
    assert status == "200"
    assert 'portal_admission_refusals_total{kind="export",reason="aws_limit"} 4.0' in text
