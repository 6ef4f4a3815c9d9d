"""bench/connectors.py in its smallest mode: it starts the portal as production runs it (gunicorn), holds the
simulated agents' long polls, measures and prints its last line. Only that it runs and reports: no timing is
judged here (the numbers belong to bench/README.md)."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.process]
ROOT = Path(__file__).resolve().parents[2]


def test_the_connectors_bench_runs_and_prints_its_line(tmp_path):
    result = subprocess.run([sys.executable, "bench/connectors.py", "--agents", "20", "--short", "--sqlite",
                             "--scratch", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=600,
                            check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    last = result.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"connectors n=20 pickup_p95_s=\d+\.\d\d idle_cpu_pct=\d+\.\d", last), last
    assert "database sqlite" in result.stdout
