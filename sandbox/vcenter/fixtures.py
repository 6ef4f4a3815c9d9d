"""pytest fixtures for the vCenter sandbox (filled in by the sandbox work)."""
