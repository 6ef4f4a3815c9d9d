"""vCenter sandbox: govmomi's vcsim (Debian's 0.24) extended with ExportVm/NFC
downloads, permissions and fault switches. See README.md.

Public API (imported lazily to keep ``import sandbox.vcenter`` cheap):
``start_vcenter``, ``VCenterSandbox``, ``build``, ``default_inventory``.
"""

__all__ = ["start_vcenter", "VCenterSandbox", "build", "default_inventory"]


def __getattr__(name):
    if name in ("start_vcenter", "VCenterSandbox"):
        from . import server

        return getattr(server, name)
    if name == "build":
        from .build import build

        return build
    if name == "default_inventory":
        from .inventory import default_inventory

        return default_inventory
    raise AttributeError(name)
