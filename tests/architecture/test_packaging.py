"""The product installs without its sandbox: the wheel holds no sandbox/ or tests/, and moto is only an extra."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.process

ROOT = Path(__file__).resolve().parents[2]


def test_wheel_holds_the_product_only(tmp_path):
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps",
                             "--quiet", "-w", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    (wheel,) = tmp_path.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = archive.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    top_level = {name.split("/", 1)[0] for name in names}
    assert {"portal", "environments", "migrations_app"} <= top_level
    assert "sandbox" not in top_level and "tests" not in top_level
    assert "core/migrations/0001_initial.py" in names
    requirements = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    moto = [line for line in requirements if "moto" in line]
    assert moto and all('extra == "sandbox"' in line for line in moto), moto
    assert any(line.startswith("Requires-Dist: django") for line in requirements)
