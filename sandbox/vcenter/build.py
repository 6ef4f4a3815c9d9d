"""Build the vCenter sandbox binary by running build.sh (idempotent, cached).

    from sandbox.vcenter.build import build
    path = build()            # pathlib.Path of the vcsim-sandbox binary

Also runnable: ``python -m sandbox.vcenter.build [--force]`` prints the path.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BUILD_SH = HERE / "build.sh"
REPO_ROOT = HERE.parent.parent


class BuildError(RuntimeError):
    """build.sh failed; the message carries its stderr."""


def default_cache_dir() -> Path:
    return Path(os.environ.get("VCSIM_CACHE_DIR") or REPO_ROOT / "var" / "vcsim")


def build(force: bool = False, cache_dir: str | os.PathLike | None = None, timeout: float = 1800) -> Path:
    """Run build.sh (installs missing apt packages, builds only when stale) and return the binary path."""
    env = os.environ.copy()
    if cache_dir is not None:
        env["VCSIM_CACHE_DIR"] = str(cache_dir)
    cmd = ["bash", str(BUILD_SH)] + (["--force"] if force else [])
    res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, timeout=timeout)
    if res.returncode != 0:
        raise BuildError(f"{BUILD_SH} failed (exit {res.returncode}):\n{res.stderr.strip()}")
    lines = res.stdout.strip().splitlines()
    if not lines:
        raise BuildError(f"{BUILD_SH} printed no binary path:\n{res.stderr.strip()}")
    path = Path(lines[-1])
    if not path.is_file():
        raise BuildError(f"{BUILD_SH} reported {path}, which does not exist")
    return path


if __name__ == "__main__":
    print(build(force="--force" in sys.argv[1:]))
