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


def test_the_connector_installs_and_runs_on_its_own(tmp_path):
    """The agent's wheel holds the connector and the vSphere adapter only, and runs with nothing but its two
    dependencies beside it: no Django, no portal module, no boto3 (`python -S`: no site-packages at all)."""
    import os

    built = subprocess.run([sys.executable, "-m", "connector.dist", str(tmp_path / "dist")], cwd=ROOT,
                           capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = (tmp_path / "dist").glob("vm_migration_connector-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = archive.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert {name.split("/", 1)[0] for name in names if not name.startswith("vm_migration_connector-")} == {
        "connector", "adapters"}
    assert not [n for n in names if n.startswith("adapters/aws")]
    requirements = sorted(line.split()[1] for line in metadata.splitlines() if line.startswith("Requires-Dist:"))
    assert [r.split(">")[0] for r in requirements] == ["cryptography", "pyvmomi"]
    installed = tmp_path / "installed"
    assert subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target",
                           str(installed), str(wheel)], capture_output=True, timeout=300).returncode == 0
    # Only the two dependencies (and what they need) on the path, taken from this environment.
    deps = tmp_path / "deps"
    deps.mkdir()
    import cffi
    import cryptography
    import pyVim
    import pyVmomi
    import six

    site = Path(pyVmomi.__file__).parent.parent
    for module in (pyVmomi, pyVim, cryptography, cffi):
        (deps / Path(module.__file__).parent.name).symlink_to(Path(module.__file__).parent)
    (deps / "six.py").symlink_to(six.__file__)
    for backend in site.glob("_cffi_backend*.so"):
        (deps / backend.name).symlink_to(backend)
    probe = ("import connector.__main__, connector.work, connector.agent, sys; "
             "print(sorted(m for m in sys.modules if m.split('.')[0] in "
             "('django', 'core', 'portal', 'migrations_app', 'boto3', 'botocore')))")
    env = {"PYTHONPATH": f"{installed}{os.pathsep}{deps}"}
    ran = subprocess.run([sys.executable, "-S", "-c", probe], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=60)
    assert ran.returncode == 0 and ran.stdout.strip() == "[]", ran.stdout + ran.stderr
    helped = subprocess.run([sys.executable, "-S", "-m", "connector", "--help"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=60)
    assert helped.returncode == 0 and "register" in helped.stdout and "run" in helped.stdout
