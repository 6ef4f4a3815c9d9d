"""`python -m sandbox.selfcheck` (both sandboxes end to end) passes, as a newcomer would run it. No DB."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.process

REPO = Path(__file__).resolve().parents[2]

EXPECTED_OK = [
    r"vCenter sandbox started at http://",
    r"pyVmomi over HTTP: \d+ VMs listed: .*\bweb01\b",
    r"disk of web01 exported through NFC lease \S+: \d+ bytes counted",
    r"NFC lease \S+ completed \(state done\)",
    r"AWS sandbox started at http://",
    r"uploaded to s3://\S+/disks/web01-disk1\.vmdk",
    r"import completed in .*-> completed; ImageId ami-",
    r"RunInstances from the imported AMI: i-",
    r"export completed; OVA is \d+ bytes",
    r"OVA members: .*\.ovf, .*\.vmdk",
    r"all \d+ checks passed",
]


@pytest.mark.vcenter
@pytest.mark.aws
def test_selfcheck_passes():
    t0 = time.monotonic()
    res = subprocess.run([sys.executable, "-m", "sandbox.selfcheck"], cwd=REPO, capture_output=True, text=True,
                         timeout=180)
    elapsed = time.monotonic() - t0
    lines = res.stdout.splitlines()
    assert res.returncode == 0, f"exit {res.returncode}\n{res.stdout}\n{res.stderr[-3000:]}"
    assert lines and all(line.startswith(("OK ", "FAIL ")) for line in lines), res.stdout
    assert not [line for line in lines if line.startswith("FAIL")], res.stdout
    oks = [line[len("OK "):].strip() for line in lines]
    for pattern in EXPECTED_OK:
        assert any(re.search(pattern, line) for line in oks), f"no OK line matching {pattern!r}:\n{res.stdout}"
    assert elapsed < 60, f"the self-check took {elapsed:.1f} s"
