"""Build the connector agent's own wheel, `vm-migration-connector`: the `connector` package and the only portal
code it uses, the Django-free vSphere adapter (`adapters.vsphere`, `adapters.outbound`, `adapters.peer_errors`),
with pyVmomi and cryptography as its dependencies. A customer installs it on the host beside vCenter without the
portal, Django or any platform secret:

    python -m connector.dist DIR          # writes DIR/vm_migration_connector-<version>-py3-none-any.whl
    pip install DIR/vm_migration_connector-*.whl && vm-migration-connector --help
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from connector import __version__

ROOT = Path(__file__).resolve().parent.parent
# What the agent imports of ours, and nothing else (import-linter's "The connector agent stands alone" holds the
# agent to this).
SOURCES = ("connector", "adapters/__init__.py", "adapters/outbound.py", "adapters/peer_errors.py", "adapters/vsphere")
PYPROJECT = """\
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "vm-migration-connector"
version = "{version}"
description = "The VM migration portal's connector agent: beside vCenter, outbound HTTPS to the portal only"
requires-python = ">=3.11"
dependencies = ["pyvmomi>=8", "cryptography>=42"]

[project.scripts]
vm-migration-connector = "connector.__main__:main"

[tool.setuptools.packages.find]
include = ["connector*", "adapters*"]
"""


def build(out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="connector-dist-") as staging:
        stage = Path(staging)
        for source in SOURCES:
            origin, target = ROOT / source, stage / source
            target.parent.mkdir(parents=True, exist_ok=True)
            if origin.is_dir():
                shutil.copytree(origin, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            else:
                shutil.copy2(origin, target)
        (stage / "pyproject.toml").write_text(PYPROJECT.format(version=__version__))
        subprocess.run([sys.executable, "-m", "pip", "wheel", str(stage), "--no-deps",
                        "--quiet", "-w", str(out_dir)], check=True)
    (wheel,) = out_dir.glob(f"vm_migration_connector-{__version__}-*.whl")
    return wheel


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    print(build(Path(sys.argv[1])))
