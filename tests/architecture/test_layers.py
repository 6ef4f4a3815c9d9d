"""The layer rules are checked, not remembered: the contracts in pyproject.toml hold on this tree, and each one
fails, naming itself, the moment someone adds the import it forbids."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("portal", "core", "adapters", "environments", "migrations_app", "exports", "lifecycle", "sandbox",
            "connector")
PRODUCT = ("portal", "core", "adapters", "environments", "migrations_app", "exports", "lifecycle", "connector")
LINT = "from importlinter.cli import lint_imports_command; lint_imports_command()"


def _lint(tree: Path) -> subprocess.CompletedProcess:
    # PYTHONPATH puts the tree first, ahead of the editable install that maps these packages to the checkout.
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run([sys.executable, "-c", LINT], cwd=tree, env=env, capture_output=True, text=True,
                          timeout=120)


def _copy_tree(tmp_path: Path) -> Path:
    tree = tmp_path / "tree"
    tree.mkdir()
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tree / package, ignore=shutil.ignore_patterns("__pycache__", "go"))
    shutil.copy(ROOT / "pyproject.toml", tree / "pyproject.toml")
    return tree


@pytest.mark.process
def test_the_contracts_hold_on_this_tree():
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 6 kept, 0 broken." in result.stdout


@pytest.mark.parametrize(("module", "line", "contract", "edge"), [
    # The core reaching up into a feature app (what portal/ used to do through the UI and apps.get_model).
    ("core/errors.py", "from migrations_app import models as _m", "Layers: site > feature apps",
     "core.errors -> migrations_app.models"),
    # environments reaching up into a feature app.
    ("environments/services.py", "import migrations_app.pipeline", "Layers: site > feature apps",
     "environments.services -> migrations_app.pipeline"),
    # An adapter reaching into the product it serves.
    ("adapters/aws/client.py", "from core import models as _m", "Layers: site > feature apps",
     "adapters.aws.client -> core.models"),
    ("migrations_app/services.py", "import boto3", "Only the AWS adapter imports boto3 and botocore",
     "migrations_app.services -> boto3"),
    ("environments/selectors.py", "from pyVmomi import vim", "Only the vSphere adapter imports pyVmomi",
     "environments.selectors -> pyVmomi"),
    ("portal/site/ui/views.py", "import sandbox.aws", "The sandbox peers (and moto) are imported only by",
     "portal.site.ui.views -> sandbox.aws"),
    # The agent reaching for the portal's settings or models (it runs where neither exists).
    ("connector/agent.py", "from django.conf import settings as _s", "The connector agent stands alone",
     "connector.agent -> django"),
    ("connector/transport.py", "from core import models as _m", "The connector agent stands alone",
     "connector.transport -> core.models"),
])
@pytest.mark.process
def test_a_forbidden_import_breaks_its_contract(tmp_path, module, line, contract, edge):
    tree = _copy_tree(tmp_path)
    target = tree / module
    target.write_text(target.read_text() + f"\n{line}  # added by the test\n")
    result = _lint(tree)
    assert result.returncode != 0
    broken = [name for name in re.findall(r"^(.*) BROKEN\b", result.stdout, re.M)]
    assert any(name.startswith(contract) for name in broken), result.stdout
    assert edge in result.stdout, result.stdout


def test_no_assert_statements_in_product_code():
    """Invariants raise; `assert` vanishes under `python -O`."""
    found = []
    for package in PRODUCT:
        for path in (ROOT / package).rglob("*.py"):
            for number, text in enumerate(path.read_text().splitlines(), 1):
                if re.match(r"^\s*assert\b", text):
                    found.append(f"{path.relative_to(ROOT)}:{number}: {text.strip()}")
    assert not found, "\n".join(found)
